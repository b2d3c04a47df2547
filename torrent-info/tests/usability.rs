//! What a person sees (issue 13): the numbered file list and --select,
//! where verify looked, "not downloaded" against "damaged", create's
//! conventions (-o -, NAME.torrent, symlinks, non-UTF-8 names, URL checks,
//! --source), inputs by URL, completions and man pages; and the terminal
//! as tmux shows it, TERM=dumb included.

mod common;

use common::{run, run_in, write_file, BIN};
use std::path::Path;
use std::time::Duration;
use test_fixtures::harness::{self, HttpFiles, Tmux};
use torrent_core::bencode::OwnedValue as O;
use torrent_core::Metainfo;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A torrent laid out as libtorrent does by default: a padding file after
/// every file but the last (BEP 47), so that `b.bin` is file index 2 but
/// file number 2.
fn padded_torrent(dir: &Path) -> std::path::PathBuf {
    let file = |path: &[&str], len: i64, pad: bool| {
        let mut d = O::dict()
            .with("length", O::Int(len))
            .with("path", O::List(path.iter().map(|c| (*c).into()).collect()));
        if pad {
            d.insert("attr", "p".into());
        }
        d
    };
    let files = O::List(vec![
        file(&["a.bin"], 1000, false),
        file(&[".pad", "15384"], 15384, true),
        file(&["b.bin"], 20000, false),
        file(&[".pad", "12768"], 12768, true),
        file(&["readme.txt"], 10, false),
    ]);
    let total = 1000 + 15384 + 20000 + 12768 + 10;
    let pieces = (total as usize).div_ceil(16384);
    let info = O::dict()
        .with("files", files)
        .with("name", "padded".into())
        .with("piece length", O::Int(16384))
        .with("pieces", O::Bytes(vec![7; pieces * 20]));
    let t = O::dict().with("info", info).encode();
    let p = dir.join("padded.torrent");
    std::fs::write(&p, t).unwrap();
    p
}

#[test]
fn file_numbers_skip_padding_and_match_select() {
    let dir = tempfile::tempdir().unwrap();
    let t = padded_torrent(dir.path());
    let t = s(&t);
    let h = run(&["show", t]).expect_code(0).stdout;
    assert!(
        h.ends_with(
            "  1   1000  padded/a.bin\n  2  20000  padded/b.bin\n  3     10  padded/readme.txt\n"
        ),
        "{h}"
    );
    let h = run(&["show", t, "--padding"]).expect_code(0).stdout;
    assert!(h.contains("  -  15384  padded/.pad/15384  [padding]\n  2  20000  padded/b.bin\n"), "{h}");
    // The same numbers through the shared selection: 2 is b.bin.
    for (spec, want) in [
        ("2", vec!["b.bin"]),
        ("1-2", vec!["a.bin", "b.bin"]),
        ("*.bin", vec!["a.bin", "b.bin"]),
        ("readme.txt,1", vec!["a.bin", "readme.txt"]),
        ("padded/b.bin", vec!["b.bin"]),
    ] {
        let h = run(&["show", t, "--select", spec]).expect_code(0).stdout;
        let listed: Vec<&str> = h
            .lines()
            .filter(|l| l.starts_with("  ") && l.contains("padded/"))
            .map(|l| l.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(listed, want, "--select {spec}:\n{h}");
    }
    let r = run(&["show", t, "--select", "4"]).expect_code(2);
    assert!(r.stderr.starts_with("error: --select \"4\": the torrent has 3 files"), "{}", r.stderr);
    let r = run(&["show", t, "--select", "*.iso"]).expect_code(2);
    assert!(r.stderr.contains("matches no file"), "{}", r.stderr);
    let j = run(&["show", "--json", t]).expect_code(0).json();
    let idx: Vec<serde_json::Value> = j["files"].as_array().unwrap().iter().map(|f| f["index"].clone()).collect();
    assert_eq!(idx, serde_json::json!([1, null, 2, null, 3]).as_array().unwrap().clone());
}

fn multi(dir: &Path) -> test_fixtures::payload::Payload {
    test_fixtures::payload::make_payload(
        dir,
        "multi",
        &[("a.bin", 40_000), ("d/b.bin", 30_000), ("d/small", 5)],
        16_384,
        &[],
        9,
    )
    .unwrap()
}

#[test]
fn verify_separates_not_downloaded_from_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let p = multi(dir.path());
    let (t, d) = (s(&p.torrent_path), s(&p.dir));
    // b.bin as a preallocated (sparse) file: all zeros, full length.
    let b = p.dir.join("multi/d/b.bin");
    std::fs::remove_file(&b).unwrap();
    std::fs::File::create(&b).unwrap().set_len(30_000).unwrap();
    let r = run(&["verify", t, d]).expect_code(1);
    // Pieces 2 and 4 are shared with a.bin and small, which are intact:
    // only b.bin is named, as not downloaded; nothing is damaged.
    assert_eq!(
        r.stdout,
        "pieces ok: 2/5\nnot downloaded: pieces 2-4  files: multi/d/b.bin\n",
        "{}",
        r.stderr
    );
    // A flipped byte in a.bin's own piece is damage, told apart.
    let old = common::flip_byte(&p.dir.join("multi/a.bin"), 100);
    let r = run(&["verify", t, d]).expect_code(1);
    assert_eq!(
        r.stdout,
        "pieces ok: 1/5\nnot downloaded: pieces 2-4  files: multi/d/b.bin\ndamaged: pieces 0  files: multi/a.bin\n"
    );
    common::restore_byte(&p.dir.join("multi/a.bin"), 100, old);
    // The whole torrent preallocated: nothing damaged, every file listed as
    // not downloaded.
    for (f, len) in [("multi/a.bin", 40_000), ("multi/d/small", 5)] {
        let path = p.dir.join(f);
        std::fs::remove_file(&path).unwrap();
        std::fs::File::create(&path).unwrap().set_len(len).unwrap();
    }
    let r = run(&["verify", t, d]).expect_code(1);
    assert_eq!(
        r.stdout,
        "pieces ok: 0/5\nnot downloaded: pieces 0-4  files: multi/a.bin, multi/d/b.bin, multi/d/small\n"
    );
    let j = run(&["verify", "--json", t, d]).expect_code(1).json();
    assert_eq!(j["not_downloaded_pieces"], serde_json::json!([{"first": 0, "last": 4}]));
    assert_eq!(j["damaged_pieces"], serde_json::json!([]));
    assert_eq!(j["files"][1]["status"], "not_downloaded");
    // One real byte in a.bin's first piece: that piece is damaged, the
    // others stay not downloaded.
    use std::os::unix::fs::FileExt;
    let a = std::fs::OpenOptions::new().write(true).open(p.dir.join("multi/a.bin")).unwrap();
    a.write_all_at(&[1], 100).unwrap();
    let r = run(&["verify", t, d]).expect_code(1);
    assert_eq!(
        r.stdout,
        "pieces ok: 0/5\nnot downloaded: pieces 1-4  files: multi/d/b.bin, multi/d/small\ndamaged: pieces 0  files: multi/a.bin\n"
    );
}

#[test]
fn verify_says_where_it_looked_and_suggests_the_parent() {
    let dir = tempfile::tempdir().unwrap();
    let p = multi(dir.path());
    let t = s(&p.torrent_path);
    // Pointed at the content folder itself instead of its parent.
    let content = p.dir.join("multi");
    let r = run(&["verify", t, s(&content)]).expect_code(1);
    let want = format!(
        "error: no data found under {}/multi; did you mean {} (the directory that holds multi)?",
        content.display(),
        p.dir.display()
    );
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    assert!(r.stderr.starts_with(&format!("looking for the data in {}/multi\n", content.display())), "{}", r.stderr);
    // Nowhere near: where it looked, no guess.
    let empty = tempfile::tempdir().unwrap();
    let r = run(&["verify", t, s(empty.path())]).expect_code(1);
    assert!(r.stderr.contains(&format!("error: no data found under {}/multi\n", empty.path().display())), "{}", r.stderr);
    // Data present: no such message.
    let r = run(&["verify", t, s(&p.dir)]).expect_code(0);
    assert!(!r.stderr.contains("no data found"), "{}", r.stderr);
}

#[test]
fn create_writes_stdout_default_name_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_file(&d.join("photos/a.jpg"), 50_000, 1);
    write_file(&d.join("photos/b/c.jpg"), 10, 2);
    // -o -: the torrent on stdout, the info-hash on stderr.
    let r = run_in(d, &["create", "photos", "-o", "-", "--no-date"]).expect_code(0);
    let m = Metainfo::from_bytes(&r.stdout_bytes).unwrap();
    assert!(r.stderr.contains(&m.info_hash.to_hex()), "{}", r.stderr);
    assert!(!d.join("photos.torrent").exists());
    // No -o: NAME.torrent; same bytes as -o - with the same options.
    let r2 = run_in(d, &["create", "photos", "--no-date"]).expect_code(0);
    assert_eq!(r2.stdout.trim(), m.info_hash.to_hex());
    assert!(r2.stderr.contains("wrote photos.torrent"), "{}", r2.stderr);
    assert_eq!(std::fs::read(d.join("photos.torrent")).unwrap(), r.stdout_bytes);
    // --source goes into info (a new info-hash) and --threads does not
    // change the pieces.
    let r3 = run_in(d, &["create", "photos", "-o", "-", "--no-date", "--source", "PRIV", "--threads", "3"]).expect_code(0);
    let v = torrent_core::bencode::decode(&r3.stdout_bytes).unwrap();
    assert_eq!(v.get("info").unwrap().get("source").unwrap().as_bytes(), Some(&b"PRIV"[..]));
    let m3 = Metainfo::from_bytes(&r3.stdout_bytes).unwrap();
    assert_ne!(m3.info_hash, m.info_hash);
    assert_eq!(m3.info.pieces, m.info.pieces);
    // The made torrent verifies against its source.
    run(&["verify", s(&d.join("photos.torrent")), s(d)]).expect_code(0);
}

#[test]
fn create_symlinks_are_skipped_aloud_or_followed() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_file(&d.join("src/real.bin"), 20_000, 1);
    write_file(&d.join("elsewhere.bin"), 7_000, 2);
    symlink(d.join("elsewhere.bin"), d.join("src/link.bin")).unwrap();
    let out = d.join("x.torrent");
    let r = run(&["create", s(&d.join("src")), "-o", s(&out)]).expect_code(0);
    assert!(
        r.stderr.contains(&format!("warning: skipped symbolic link {}", d.join("src/link.bin").display())),
        "{}",
        r.stderr
    );
    let m = Metainfo::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(m.info.total_length, 20_000);
    let r = run(&["create", s(&d.join("src")), "-o", s(&out), "--force", "--follow-symlinks"]).expect_code(0);
    assert!(!r.stderr.contains("skipped"), "{}", r.stderr);
    let m = Metainfo::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(m.info.total_length, 27_000);
    let names: Vec<String> = m.info.files.iter().map(|f| f.path_string()).collect();
    assert_eq!(names, ["link.bin", "real.bin"]);
    // Reading goes through the same storage layer as downloading, which never
    // follows a symlink below the data directory (SECURITY.md): the linked
    // file reads as an error, named, and the real one verifies.
    let r = run(&["verify", s(&out), s(d)]).expect_code(1);
    assert!(r.stderr.contains("symbolic links"), "{}", r.stderr);
    assert!(r.stdout.contains("pieces ok: 1/2"), "{}", r.stdout);
    // A copy with the link replaced by the file it points to verifies whole.
    std::fs::remove_file(d.join("src/link.bin")).unwrap();
    std::fs::copy(d.join("elsewhere.bin"), d.join("src/link.bin")).unwrap();
    run(&["verify", s(&out), s(d)]).expect_code(0);
}

#[test]
fn create_keeps_non_utf8_names_as_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let raw: &[u8] = b"caf\xe9.txt";
    let src = d.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join(std::ffi::OsStr::from_bytes(raw)), vec![5u8; 3000]).unwrap();
    let r = run(&["create", s(&src), "-o", "-"]).expect_code(0);
    let v = torrent_core::bencode::decode(&r.stdout_bytes).unwrap();
    let files = v.get("info").unwrap().get("files").unwrap();
    let path = files.as_list().unwrap()[0].get("path").unwrap();
    assert_eq!(path.as_list().unwrap()[0].as_bytes(), Some(raw));
}

#[test]
fn sources_by_url_and_near_miss_info_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let p = multi(dir.path());
    let bytes = std::fs::read(&p.torrent_path).unwrap();
    let srv = HttpFiles::start(vec![("/multi.torrent".into(), bytes)]);
    let url = srv.url("/multi.torrent");
    let h = run(&["show", &url]).expect_code(0).stdout;
    assert!(h.contains(&p.meta.info_hash.to_hex()), "{h}");
    run(&["verify", &url, s(&p.dir)]).expect_code(0);
    // A body over the torrent size limit is cut off, not read whole.
    let big = HttpFiles::start(vec![(
        "/big.torrent".into(),
        vec![b'd'; torrent_core::metainfo::MAX_TORRENT_SIZE + 1],
    )]);
    let r = run(&["show", &big.url("/big.torrent")]).expect_code(2);
    assert!(r.stderr.contains(&format!("larger than {} bytes", torrent_core::metainfo::MAX_TORRENT_SIZE)), "{}", r.stderr);
    let r = run(&["show", &srv.url("/gone.torrent")]).expect_code(2);
    assert!(r.stderr.starts_with(&format!("error: {}: HTTP status 404", srv.url("/gone.torrent"))), "{}", r.stderr);
    let hex39 = &p.meta.info_hash.to_hex()[..39];
    let r = run(&["show", hex39]).expect_code(2);
    assert!(r.stderr.contains("not a file, and not an info-hash: 39 hex digits"), "{}", r.stderr);
    let r = run(&["show", s(dir.path())]).expect_code(2);
    assert!(r.stderr.contains("is a directory"), "{}", r.stderr);
}

#[test]
fn completions_and_man_pages() {
    harness::check_conventions(BIN, "torrent-info", &["show", "magnet", "verify", "create"]);
}

/// The terminal as a person sees it: verify and create on a real terminal
/// (tmux), with a styled TERM and with TERM=dumb. The messages are there in
/// both; the bar only where it can be drawn.
#[test]
fn terminal_messages_survive_term_dumb() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_file(&d.join("big/x.bin"), 8 << 20, 3);
    symlink_into(d);
    for term in ["xterm-256color", "dumb"] {
        let bin = harness::shell_quote(BIN);
        let cmd = format!(
            "cd {} && {bin} create big -o - ; {bin} create big -o big-{term}.torrent --threads 1 && {bin} verify big-{term}.torrent . && {bin} verify big-{term}.torrent big",
            harness::shell_quote(s(d)),
        );
        let t = Tmux::start(&cmd, term, &[], 100, 40);
        let (code, screen) = t.wait_exit(Duration::from_secs(60));
        assert_eq!(code, 1, "{term}:\n{screen}");
        assert!(screen.contains("warning: skipped symbolic link"), "{term}:\n{screen}");
        assert!(
            screen.contains("error: refusing to write a .torrent to a terminal; redirect stdout or give -o FILE"),
            "{term}:\n{screen}"
        );
        assert!(screen.contains("wrote big-"), "{term}:\n{screen}");
        assert!(screen.contains(&format!("looking for the data in {}/big", d.display())) || screen.contains("looking for the data in ./big"), "{term}:\n{screen}");
        assert!(screen.contains("pieces ok: "), "{term}:\n{screen}");
        assert!(screen.contains("error: no data found under big/big; did you mean"), "{term}:\n{screen}");
        // No bar left behind, no escape garbage.
        assert!(!screen.contains("hashing "), "{term}:\n{screen}");
    }
}

fn symlink_into(d: &Path) {
    std::os::unix::fs::symlink(d.join("big/x.bin"), d.join("big/link")).unwrap();
}

/// While hashing on a terminal, create shows a progress bar (not with
/// TERM=dumb, where it would be noise; the result lines come either way).
#[test]
fn create_progress_bar_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Sparse: a second or more of hashing on one thread, no disk used.
    std::fs::File::create(d.join("huge.bin")).unwrap().set_len(1 << 30).unwrap();
    let cmd = format!(
        "cd {} && {} create huge.bin --threads 1 -l 16K",
        harness::shell_quote(s(d)),
        harness::shell_quote(BIN)
    );
    let t = Tmux::start(&cmd, "xterm-256color", &[], 120, 10);
    // The first frame may still read "0 B/1.00 GiB": wait for a frame with
    // bytes hashed (KiB/MiB/GiB of 1.00 GiB).
    let screen = t.wait_for_text("iB/1.00 GiB", Duration::from_secs(60));
    assert!(screen.contains("hashing "), "{screen}");
    let (code, screen) = t.wait_exit(Duration::from_secs(120));
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("wrote huge.bin.torrent"), "{screen}");
    let t = Tmux::start(&cmd.replace("create huge.bin", "create huge.bin -o dumb.torrent"), "dumb", &[], 120, 10);
    let (code, screen) = t.wait_exit(Duration::from_secs(120));
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("wrote dumb.torrent"), "{screen}");
    assert!(!screen.contains("hashing "), "{screen}");
}
