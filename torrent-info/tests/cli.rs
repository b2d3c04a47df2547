//! Behaviour of the torrent-info binary: show (default command), --json,
//! magnet, verify, create; malformed input; closed stdout.

mod common;

use common::{flip_byte, run, run_in, Run, BIN};
use std::path::Path;
use std::process::Command;
use test_fixtures::payload::{make_payload, Payload};
use torrent_core::bencode::OwnedValue as O;

const TRACKER: &str = "http://127.0.0.1:6969/announce";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Multi-file payload: 3 files, 16 KiB pieces, sizes not multiples of it.
fn multi(dir: &Path) -> Payload {
    make_payload(
        dir,
        "multi",
        &[("a.bin", 40_000), ("d/e/b.bin", 30_000), ("d/small", 5)],
        16_384,
        &[TRACKER, "udp://127.0.0.1:6970"],
        7,
    )
    .unwrap()
}

/// A run must end with exit 2 and a one-line `error: ...` message,
/// not a panic.
fn expect_input_error(r: Run, must_contain: &[&str]) {
    let r = r.expect_code(2);
    assert!(r.stdout.is_empty(), "stdout on error: {}", r.stdout);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    for m in must_contain {
        assert!(r.stderr.contains(m), "stderr lacks {m:?}: {}", r.stderr);
    }
}

// ------------------------------------------------------------------ show --

#[test]
fn show_is_the_default_command() {
    let dir = tempfile::tempdir().unwrap();
    let p = multi(dir.path());
    let t = s(&p.torrent_path);
    let a = run(&[t]).expect_code(0);
    let b = run(&["show", t]).expect_code(0);
    assert_eq!(a.stdout, b.stdout);
    let h = a.stdout;
    let ih = p.meta.info_hash.to_hex();
    assert!(h.starts_with("name:          multi\n"), "{h}");
    assert!(h.contains(&format!("\ninfo hash:     {ih}\n")), "{h}");
    assert!(
        h.contains("\ntotal size:    70005 bytes (68.4 KiB)\n"),
        "{h}"
    );
    assert!(h.contains("\npiece length:  16384 bytes (16 KiB)\n"), "{h}");
    assert!(h.contains("\npieces:        5\n"), "{h}");
    assert!(h.contains("\nprivate:       no\n"), "{h}");
    assert!(
        h.contains("\ncreated by:    torrent-toolkit test-fixtures\n"),
        "{h}"
    );
    assert!(
        h.contains(&format!(
            "\ntrackers:      tier 1: {TRACKER}\n               tier 2: udp://127.0.0.1:6970\n"
        )),
        "{h}"
    );
    assert!(
        h.contains(&format!(
            "\nmagnet:        magnet:?xt=urn:btih:{ih}&dn=multi&tr="
        )),
        "{h}"
    );
    assert!(h.ends_with("files:         3\n  1  40000  multi/a.bin\n  2  30000  multi/d/e/b.bin\n  3      5  multi/d/small\n"), "{h}");
    // Flags may come before or after the path, with or without `show`.
    let j1 = run(&["--json", t]).expect_code(0).stdout;
    let j2 = run(&[t, "--json"]).expect_code(0).stdout;
    let j3 = run(&["show", "--json", t]).expect_code(0).stdout;
    assert_eq!(j1, j2);
    assert_eq!(j1, j3);
}

#[test]
fn show_json_has_derived_fields() {
    let dir = tempfile::tempdir().unwrap();
    let p = multi(dir.path());
    let j = run(&["show", "--json", s(&p.torrent_path)])
        .expect_code(0)
        .json();
    assert_eq!(j["type"], "torrent");
    assert_eq!(j["info_hash"], p.meta.info_hash.to_hex());
    assert_eq!(j["info_hash_v2"], serde_json::Value::Null);
    assert_eq!(j["name"], "multi");
    assert_eq!(j["total_size"], 70_005);
    assert_eq!(j["piece_length"], 16_384);
    assert_eq!(j["piece_count"], 5);
    assert_eq!(j["private"], false);
    assert_eq!(j["created_by"], "torrent-toolkit test-fixtures");
    assert_eq!(j["creation_date"], serde_json::Value::Null);
    assert_eq!(j["comment"], serde_json::Value::Null);
    assert_eq!(
        j["trackers"],
        serde_json::json!([[TRACKER], ["udp://127.0.0.1:6970"]])
    );
    assert_eq!(j["web_seeds"], serde_json::json!([]));
    assert_eq!(
        j["files"],
        serde_json::json!([
            {"index": 1, "path": "multi/a.bin", "length": 40000, "offset": 0, "first_piece": 0, "last_piece": 2, "padding": false},
            {"index": 2, "path": "multi/d/e/b.bin", "length": 30000, "offset": 40000, "first_piece": 2, "last_piece": 4, "padding": false},
            {"index": 3, "path": "multi/d/small", "length": 5, "offset": 70000, "first_piece": 4, "last_piece": 4, "padding": false},
        ])
    );
    let magnet = j["magnet"].as_str().unwrap();
    let m = torrent_core::Magnet::parse(magnet).unwrap();
    assert_eq!(m.info_hash, p.meta.info_hash);
    assert_eq!(
        m.trackers,
        vec![TRACKER.to_string(), "udp://127.0.0.1:6970".into()]
    );
    // One line of JSON.
    let text = run(&["show", "--json", s(&p.torrent_path)]).stdout;
    assert_eq!(text.lines().count(), 1);
}

#[test]
fn show_reads_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let p = multi(dir.path());
    let bytes = std::fs::read(&p.torrent_path).unwrap();
    let r = test_fixtures::harness::run_bounded(
        Command::new(BIN).args(["show", "--json", "-"]),
        Some(&bytes),
        std::time::Duration::from_secs(60),
    )
    .expect_code(0);
    assert_eq!(r.json()["info_hash"], p.meta.info_hash.to_hex());
}

#[test]
fn show_magnet_and_info_hash() {
    let link = "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=My+File&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&x.pe=127.0.0.1:6881";
    let h = run(&[link]).expect_code(0).stdout;
    assert!(
        h.contains("info hash:     c12fe1c06bba254a9dc9f519b335aa7c1367a88a\n"),
        "{h}"
    );
    assert!(h.contains("name:          My File\n"), "{h}");
    assert!(
        h.contains(&format!("trackers:      tier 1: {TRACKER}\n")),
        "{h}"
    );
    assert!(h.contains("peers:         127.0.0.1:6881\n"), "{h}");
    let j = run(&["show", "--json", link]).expect_code(0).json();
    assert_eq!(j["type"], "magnet");
    assert_eq!(j["name"], "My File");
    assert_eq!(j["trackers"], serde_json::json!([[TRACKER]]));
    assert_eq!(j["peers"], serde_json::json!(["127.0.0.1:6881"]));
    // Base32 info-hash alone.
    let j = run(&["--json", "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK"])
        .expect_code(0)
        .json();
    assert_eq!(j["info_hash"], "c12fe1c06bba254a9dc9f519b335aa7c1367a88a");
    assert_eq!(j["name"], serde_json::Value::Null);
    expect_input_error(
        run(&["magnet:?xt=urn:btih:1234"]),
        &["magnet:?xt=urn:btih:1234: ", "xt"],
    );
}

#[test]
fn magnet_prints_only_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let p = multi(dir.path());
    let r = run(&["magnet", s(&p.torrent_path)]).expect_code(0);
    assert_eq!(r.stdout.lines().count(), 1);
    let m = torrent_core::Magnet::parse(r.stdout.trim_end()).unwrap();
    assert_eq!(m.info_hash, p.meta.info_hash);
    assert_eq!(m.display_name.as_deref(), Some("multi"));
    // A magnet link in gives the same magnet link out.
    let again = run(&["magnet", r.stdout.trim_end()]).expect_code(0);
    assert_eq!(again.stdout, r.stdout);
}

// ------------------------------------------------------------ malformed --

fn info_multi(paths: &[&[&str]]) -> O {
    let files = paths
        .iter()
        .map(|p| {
            O::dict()
                .with("length", O::Int(10))
                .with("path", O::List(p.iter().map(|c| O::from(*c)).collect()))
        })
        .collect();
    let n = paths.len();
    O::dict()
        .with("files", O::List(files))
        .with("name", "root".into())
        .with("piece length", O::Int(16384))
        .with("pieces", O::Bytes(vec![0; 20 * (n * 10).div_ceil(16384)]))
}

fn write_torrent(dir: &Path, name: &str, info: O) -> String {
    let bytes = O::dict()
        .with("announce", TRACKER.into())
        .with("info", info)
        .encode();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// Unsafe names are made safe, not refused (issue 12): every command
/// loads the torrent and warns on stderr; `--json` shows the original
/// next to the safe path.
#[test]
fn unsafe_names_are_made_safe_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = write_torrent(
        d,
        "traversal.torrent",
        info_multi(&[&["ok"], &["..", "etc", "passwd"], &["a/b"], &["ok"]]),
    );
    for cmd in [&["show"][..], &["magnet"]] {
        let mut args = cmd.to_vec();
        args.push(&t);
        let r = run(&args).expect_code(0);
        assert!(!r.stdout.is_empty());
        let w = format!("torrent-info: warning: {t}: file 2 \"../etc/passwd\" is stored as \"_/etc/passwd\" (unsafe characters or components)");
        assert!(r.stderr.contains(&w), "{}", r.stderr);
        assert!(r.stderr.contains("file 3 \"a/b\" is stored as \"ab\""), "{}", r.stderr);
        assert!(r.stderr.contains("file 4 \"ok\" is stored as \"ok.1\" (another file has the same path)"), "{}", r.stderr);
    }
    let r = run(&["show", "--json", &t]).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["files"][1]["path"], "root/_/etc/passwd");
    assert_eq!(v["files"][1]["original_path"], serde_json::json!(["..", "etc", "passwd"]));
    assert_eq!(v["files"][2]["path"], "root/ab");
    assert_eq!(v["files"][3]["path"], "root/ok.1");
    assert_eq!(v["files"][3]["original_path"], serde_json::json!(["ok"]));
    assert!(v["files"][0].get("original_path").is_none());
    assert!(v.get("original_name").is_none());

    let t = write_torrent(
        d,
        "name.torrent",
        info_multi(&[&["a"]]).with("name", "..".into()),
    );
    let r = run(&["show", "--json", &t]).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["name"], v["info_hash"]);
    assert_eq!(v["original_name"], "..");
    assert!(r.stderr.contains("torrent name \"..\" is stored as"), "{}", r.stderr);
    // A safe torrent gets no warning.
    let t = write_torrent(d, "fine.torrent", info_multi(&[&["a"], &["b"]]));
    let r = run(&["show", &t]).expect_code(0);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn malformed_torrents_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let t = write_torrent(
        d,
        "count.torrent",
        info_multi(&[&["a"]]).with("pieces", O::Bytes(vec![0; 40])),
    );
    expect_input_error(run(&[&t]), &["info.pieces"]);
    let t = write_torrent(
        d,
        "plen.torrent",
        info_multi(&[&["a"]]).with("piece length", O::Int(0)),
    );
    expect_input_error(run(&[&t]), &["info.piece length"]);
    let t = write_torrent(
        d,
        "type.torrent",
        info_multi(&[&["a"]]).with("files", O::Int(3)),
    );
    expect_input_error(run(&[&t]), &["info.files", "expected list"]);

    // Truncated in the middle of the piece hashes: the bencode error is
    // placed in its field.
    let p = multi(&d.join("data"));
    let full = std::fs::read(&p.torrent_path).unwrap();
    let cut = d.join("truncated.torrent");
    std::fs::write(&cut, &full[..full.len() - 30]).unwrap();
    expect_input_error(
        run(&[s(&cut)]),
        &["truncated.torrent: info.pieces: bencode error at byte"],
    );
    std::fs::write(&cut, &full[..full.len() - 1]).unwrap();
    expect_input_error(run(&[s(&cut)]), &["bencode error", "unexpected end"]);

    std::fs::write(d.join("empty.torrent"), b"").unwrap();
    expect_input_error(run(&[s(&d.join("empty.torrent"))]), &["empty"]);
    std::fs::write(d.join("list.torrent"), b"le").unwrap();
    expect_input_error(
        run(&[s(&d.join("list.torrent"))]),
        &["torrent: expected dictionary"],
    );
    expect_input_error(
        run(&[s(&d.join("nope.torrent"))]),
        &["nope.torrent: No such file"],
    );
    expect_input_error(run(&[s(d)]), &["is a directory"]);
}

/// Every truncation and many single-byte changes of a real torrent are
/// either accepted or rejected with a message; never a panic. Library
/// level (the binary is a thin wrapper), plus the binary on a sample.
#[test]
fn damaged_torrents_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = multi(dir.path());
    let full = p.torrent_bytes.clone();
    let mut rejected = 0;
    for len in 0..full.len() {
        let e = torrent_core::load::parse_torrent(&full[..len])
            .expect_err("a truncated torrent must be rejected");
        assert!(!e.is_empty());
        rejected += 1;
    }
    assert_eq!(rejected, full.len());
    let mut buf = full.clone();
    for i in 0..full.len() {
        for b in [b'0', b'e', b'i', b'l', b'd', b':', 0xff, b'-'] {
            let old = buf[i];
            buf[i] = b;
            if let Err(e) = torrent_core::load::parse_torrent(&buf) {
                assert!(!e.is_empty());
            }
            buf[i] = old;
        }
    }
    for len in [1, 10, full.len() / 2, full.len() - 2] {
        let path = dir.path().join(format!("cut{len}.torrent"));
        std::fs::write(&path, &full[..len]).unwrap();
        expect_input_error(run(&[s(&path)]), &[]);
    }
}

// --------------------------------------------------------------- verify --

#[test]
fn verify_good_damaged_and_missing_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = multi(dir.path());
    let t = s(&p.torrent_path);
    let d = s(&p.dir);
    let r = run(&["verify", t, d]).expect_code(0);
    assert_eq!(r.stdout, "pieces ok: 5/5\n");
    // stderr is not a terminal here: no progress bar, just the summary.
    assert!(
        !r.stderr.contains('\r') && !r.stderr.contains('\u{1b}'),
        "{:?}",
        r.stderr
    );
    // Where it looked, then the summary.
    assert_eq!(r.stderr.lines().count(), 2, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!("looking for the data in {d}/multi\n")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("MB/s"), "{}", r.stderr);
    // DIR defaults to the current directory.
    run_in(&p.dir, &["verify", t]).expect_code(0);

    // One byte in b.bin at offset 10_000: stream offset 50_000, piece 3.
    let b = p.dir.join("multi/d/e/b.bin");
    flip_byte(&b, 10_000);
    let r = run(&["verify", t, d]).expect_code(1);
    assert_eq!(
        r.stdout,
        "pieces ok: 4/5\ndamaged: pieces 3  files: multi/d/e/b.bin\n"
    );
    // A byte of a.bin in piece 2, which a.bin shares with b.bin.
    flip_byte(&p.dir.join("multi/a.bin"), 35_000);
    let r = run(&["verify", t, d]).expect_code(1);
    assert_eq!(
        r.stdout,
        "pieces ok: 3/5\ndamaged: pieces 2-3  files: multi/a.bin, multi/d/e/b.bin\n"
    );

    std::fs::remove_file(p.dir.join("multi/d/small")).unwrap();
    let r = run(&["verify", t, d]).expect_code(1);
    assert_eq!(
        r.stdout,
        "pieces ok: 2/5\ndamaged: pieces 2-3  files: multi/a.bin, multi/d/e/b.bin\nmissing: pieces 4  files: multi/d/small (missing)\n"
    );
    let j = run(&["verify", "--json", t, d]).expect_code(1).json();
    assert_eq!(j["pieces_total"], 5);
    assert_eq!(j["pieces_ok"], 2);
    assert_eq!(j["complete"], false);
    assert_eq!(
        j["damaged_pieces"],
        serde_json::json!([{"first": 2, "last": 3}])
    );
    assert_eq!(
        j["missing_pieces"],
        serde_json::json!([{"first": 4, "last": 4}])
    );
    assert_eq!(
        j["files"],
        serde_json::json!([
            {"path": "multi/a.bin", "length": 40000, "status": "damaged"},
            {"path": "multi/d/e/b.bin", "length": 30000, "status": "damaged"},
            {"path": "multi/d/small", "length": 5, "status": "missing"},
        ])
    );

    // A short file.
    let a = std::fs::OpenOptions::new()
        .write(true)
        .open(p.dir.join("multi/a.bin"))
        .unwrap();
    a.set_len(20_000).unwrap();
    let r = run(&["verify", t, d]).expect_code(1);
    assert!(
        r.stdout
            .contains("multi/a.bin (short: 20000 of 40000 bytes)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.starts_with("pieces ok: 1/5\n"), "{}", r.stdout);
}

#[test]
fn verify_bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = multi(dir.path());
    let t = s(&p.torrent_path);
    expect_input_error(
        run(&["verify", t, s(&dir.path().join("nope"))]),
        &["not a directory"],
    );
    expect_input_error(
        run(&["verify", "c12fe1c06bba254a9dc9f519b335aa7c1367a88a", "."]),
        &["no piece hashes"],
    );
    expect_input_error(
        run(&["verify", s(&dir.path().join("x.torrent"))]),
        &["x.torrent"],
    );
    let r = run(&["verify", t, s(&p.dir), "--threads", "0"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn verify_single_file_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let p = make_payload(dir.path(), "one.bin", &[("", 1_000_003)], 16_384, &[], 3).unwrap();
    for threads in ["1", "2", "5"] {
        let r = run(&[
            "verify",
            "--threads",
            threads,
            s(&p.torrent_path),
            s(&p.dir),
        ])
        .expect_code(0);
        assert_eq!(r.stdout, "pieces ok: 62/62\n");
    }
    // Damage the last (short) piece and one in the middle of a batch.
    flip_byte(&p.dir.join("one.bin"), 1_000_002);
    flip_byte(&p.dir.join("one.bin"), 300 * 1024);
    let r = run(&["verify", s(&p.torrent_path), s(&p.dir)]).expect_code(1);
    assert_eq!(
        r.stdout,
        "pieces ok: 60/62\ndamaged: pieces 18,61  files: one.bin\n"
    );
}

// --------------------------------------------------------------- create --

#[test]
fn create_options() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/inner")).unwrap();
    test_fixtures::payload::write_pseudo_random_file(&d.join("src/x.bin"), 600_000, 1).unwrap();
    test_fixtures::payload::write_pseudo_random_file(&d.join("src/inner/y.bin"), 10, 2).unwrap();
    let out = d.join("out.torrent");
    let r = run(&[
        "create",
        s(&d.join("src")),
        "-o",
        s(&out),
        "--piece-length",
        "256K",
        "--tracker",
        "http://127.0.0.1:1/a,http://127.0.0.1:2/a",
        "--tracker",
        "udp://127.0.0.1:3",
        "--web-seed",
        "http://127.0.0.1:4/w",
        "--private",
        "--comment",
        "hello",
        "--no-date",
        "--name",
        "given",
    ])
    .expect_code(0);
    let bytes = std::fs::read(&out).unwrap();
    let m = torrent_core::Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(r.stdout, format!("{}\n", m.info_hash));
    assert_eq!(m.info.piece_length, 262_144);
    assert_eq!(m.info.name, "given");
    assert!(m.info.private);
    assert_eq!(
        m.tracker_tiers(),
        vec![
            vec![
                "http://127.0.0.1:1/a".to_string(),
                "http://127.0.0.1:2/a".to_string()
            ],
            vec!["udp://127.0.0.1:3".to_string()]
        ]
    );
    assert_eq!(m.url_list, vec!["http://127.0.0.1:4/w".to_string()]);
    assert_eq!(m.comment.as_deref(), Some("hello"));
    assert_eq!(m.creation_date, None);
    assert!(m
        .created_by
        .as_deref()
        .unwrap()
        .starts_with("torrent-info "));
    let paths: Vec<String> = m.info.files.iter().map(|f| f.path_string()).collect();
    assert_eq!(paths, vec!["inner/y.bin", "x.bin"]);

    // Existing output is kept unless --force; the same input and options
    // with --no-date give the same bytes.
    expect_input_error(
        run(&["create", s(&d.join("src")), "-o", s(&out)]),
        &["already exists"],
    );
    let r2 = run(&[
        "create",
        s(&d.join("src")),
        "-o",
        s(&out),
        "--force",
        "-l",
        "262144",
        "--tracker",
        "http://127.0.0.1:1/a,http://127.0.0.1:2/a",
        "--tracker",
        "udp://127.0.0.1:3",
        "--web-seed",
        "http://127.0.0.1:4/w",
        "--private",
        "--comment",
        "hello",
        "--no-date",
        "--name",
        "given",
    ])
    .expect_code(0);
    assert_eq!(r2.stdout, r.stdout);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);

    // Defaults: a creation date, auto piece length, name from the path;
    // the data then verifies in place.
    let out2 = d.join("auto.torrent");
    run(&["create", s(&d.join("src")), "-o", s(&out2)]).expect_code(0);
    let m = torrent_core::Metainfo::from_bytes(&std::fs::read(&out2).unwrap()).unwrap();
    assert_eq!(m.info.name, "src");
    assert_eq!(m.info.piece_length, 16_384);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - m.creation_date.unwrap()).abs() < 300);
    assert_eq!(
        run(&["verify", s(&out2), s(d)]).expect_code(0).stdout,
        "pieces ok: 37/37\n"
    );
}

#[test]
fn create_bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("f"), b"data").unwrap();
    let out = d.join("o.torrent");
    for pl in ["15", "100K", "abc", "8K"] {
        let r = run(&[
            "create",
            s(&d.join("f")),
            "-o",
            s(&out),
            "--piece-length",
            pl,
        ]);
        assert_eq!(r.code, 2, "piece length {pl}: {}", r.stderr);
        assert!(
            r.stderr.contains("piece length") || r.stderr.contains("size"),
            "{}",
            r.stderr
        );
    }
    expect_input_error(
        run(&["create", s(&d.join("missing")), "-o", s(&out)]),
        &[
            &format!("error: {}: ", d.join("missing").display()),
            "No such file",
        ],
    );
    expect_input_error(
        run(&[
            "create",
            s(&d.join("f")),
            "-o",
            s(&out),
            "--name",
            "../evil",
        ]),
        &["name"],
    );
    std::fs::create_dir(d.join("empty")).unwrap();
    expect_input_error(
        run(&["create", s(&d.join("empty")), "-o", s(&out)]),
        &["no files"],
    );
    std::fs::write(d.join("zero"), b"").unwrap();
    expect_input_error(
        run(&["create", s(&d.join("zero")), "-o", s(&out)]),
        &["every file is empty"],
    );
    assert!(!out.exists());
    // Without -o: NAME.torrent in the current directory, never replaced.
    run_in(d, &["create", "f", "--tracker", TRACKER]).expect_code(0);
    assert!(d.join("f.torrent").is_file());
    expect_input_error(run_in(d, &["create", "f"]), &["f.torrent: already exists"]);
    // Tracker and web-seed URLs that are not URLs.
    for (flag, url, why) in [
        ("--tracker", "tracker.example.org:6969", "is not a URL"),
        ("--tracker", "udp://tracker.example.org", "needs a port"),
        ("--tracker", "http://a/announce,ftp://b/", "scheme"),
        ("--web-seed", "udp://h:1/", "scheme"),
    ] {
        expect_input_error(run(&["create", s(&d.join("f")), "-o", s(&out), flag, url]), &[flag, why]);
    }
    assert!(!out.exists());
}

// ----------------------------------------------------------- exit codes --

#[test]
fn help_documents_exit_codes() {
    // Each command's footer has its own exit codes; only verify has 1.
    let top = run(&["--help"]).expect_code(0).stdout;
    assert!(top.contains("Exit codes:"), "{top}");
    assert!(top.contains("1  verify: data is damaged, not downloaded or missing"), "{top}");
    assert!(top.contains("completions bash|zsh|fish"), "{top}");
    let v = run(&["verify", "--help"]).expect_code(0).stdout;
    assert!(v.contains("1  some data is damaged, not downloaded, or missing"), "{v}");
    assert!(v.contains("TORRENT_INFO_THREADS"), "{v}");
    for cmd in ["show", "magnet", "create"] {
        let h = run(&[cmd, "--help"]).expect_code(0).stdout;
        let footer = h.split("Exit codes").nth(1).unwrap_or_else(|| panic!("{cmd}: {h}"));
        assert!(!footer.contains("verify"), "{cmd} repeats verify's codes:\n{h}");
        assert!(!footer.contains(" 1 "), "{cmd}: {h}");
    }
    // No arguments: usage on stderr, exit 2.
    let r = run(&[]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
}

fn big_listing(dir: &Path) -> String {
    let paths: Vec<Vec<String>> = (0..20_000)
        .map(|i| vec![format!("dir{}", i / 100), format!("file-{i:05}.dat")])
        .collect();
    let files = paths
        .iter()
        .map(|p| {
            O::dict().with("length", O::Int(1)).with(
                "path",
                O::List(p.iter().map(|c| O::from(c.as_str())).collect()),
            )
        })
        .collect();
    let info = O::dict()
        .with("files", O::List(files))
        .with("name", "many".into())
        .with("piece length", O::Int(16384))
        .with("pieces", O::Bytes(vec![0; 40]));
    write_torrent(dir, "many.torrent", info)
}

#[test]
fn closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let t = big_listing(dir.path());
    for args in [
        &[t.as_str()][..],
        &["show", "--json", t.as_str()],
        &["show", "--padding", t.as_str()],
    ] {
        let err = test_fixtures::harness::check_closed_stdout(BIN, args);
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    // The same through a shell pipeline, as a user would type it.
    let o = Command::new("bash")
        .args(["-c", &format!("set -o pipefail; '{BIN}' '{t}' | head -1")])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "name:          many\n");
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
