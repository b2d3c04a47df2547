//! peer-fetch against the embedded seeder: every command, and every
//! misbehaviour ends with a clear error in bounded time and no unverified
//! output.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};
use torrent_core::{Magnet, Metainfo};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_peer-fetch"))
}

fn run(args: &[&str]) -> Output {
    run_stdin(args, None)
}

/// Run peer-fetch (stdin: the given text, or empty), at most two minutes.
fn run_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    let input = stdin.unwrap_or("").as_bytes();
    test_fixtures::harness::run_bounded(bin().args(args), Some(input), Duration::from_secs(120))
        .output()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn payload(dir: &Path) -> Payload {
    // 5 pieces of 64 KiB (4 blocks each) + a short last piece, two files.
    make_payload(
        dir,
        "pl",
        &[("a.bin", 200_000), ("sub/b.bin", 100_000)],
        65536,
        &["http://127.0.0.1:1/announce"],
        11,
    )
    .unwrap()
}

fn payload_bytes(p: &Payload) -> Vec<u8> {
    let mut v = std::fs::read(p.dir.join("pl/a.bin")).unwrap();
    v.extend(std::fs::read(p.dir.join("pl/sub/b.bin")).unwrap());
    v
}

#[test]
fn handshake_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let n = p.meta.info.piece_count();
    let have: Vec<bool> = (0..n).map(|i| i != 1).collect();
    let seeder = Seeder::start(
        &p.meta,
        &p.dir,
        SeederOptions {
            have: Some(have),
            ..Default::default()
        },
    )
    .unwrap();
    let t = p.torrent_path.to_str().unwrap();
    let addr = seeder.addr().to_string();
    let o = run(&[t, &addr, "handshake"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let pid = seeder.peer_id();
    assert!(out.contains(&format!("peer_id: {} ", hex(&pid))), "{out}");
    assert!(out.contains("client: torrent-toolkit"), "{out}");
    assert!(out.contains("extensions: extended fast\n"), "{out}");
    assert!(out.contains("ext_client: test-fixtures seeder"), "{out}");
    assert!(out.contains("ext_m: ut_metadata=3"), "{out}");
    assert!(
        out.contains(&format!("metadata_size: {}", p.meta.info_bytes.len())),
        "{out}"
    );
    assert!(
        out.contains(&format!("pieces: {}/{}\npiece_set: bitfield", n - 1, n)),
        "{out}"
    );

    let o = run(&[t, &addr, "handshake", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["peer_id_hex"], hex(&pid));
    assert_eq!(v["extensions"]["fast"], true);
    assert_eq!(v["extensions"]["dht"], false);
    assert_eq!(v["ext_handshake"]["m"]["ut_metadata"], 3);
    assert_eq!(v["ext_handshake"]["yourip"], "127.0.0.1");
    assert_eq!(v["pieces"]["have"], n - 1);
    assert_eq!(v["pieces"]["total"], n);

    // A magnet: piece total unknown, have_all reported.
    let full = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let o = run(&[
        &p.meta.info_hash.to_hex(),
        &full.addr().to_string(),
        "handshake",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("pieces: ?/?\npiece_set: have_all"), "{out}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn piece_pieces_and_all() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let data = payload_bytes(&p);
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let t = p.torrent_path.to_str().unwrap();
    let addr = seeder.addr().to_string();

    // One piece to stdout (a pipe).
    let o = run(&[t, &addr, "piece", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, &data[2 * 65536..3 * 65536]);
    // Last (short) piece to a file, JSON summary.
    let f = dir.path().join("last.bin");
    let o = run(&[t, &addr, "piece", "4", "-o", f.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&f).unwrap(), &data[4 * 65536..]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pieces"], 1);
    assert_eq!(v["bytes"], (300_000 - 4 * 65536) as u64);
    assert_eq!(v["verified"], true);
    // Ranges.
    let o = run(&[t, &addr, "pieces", "1..3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, &data[65536..3 * 65536]);
    let o = run(&[t, &addr, "pieces", "3..=4", "--depth", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, &data[3 * 65536..]);
    // Everything into a directory, via Storage.
    let out = dir.path().join("out");
    let o = run(&[t, &addr, "all", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(out.join("pl/a.bin")).unwrap(),
        &data[..200_000]
    );
    assert_eq!(
        std::fs::read(out.join("pl/sub/b.bin")).unwrap(),
        &data[200_000..]
    );
    // And to stdout.
    let o = run(&[t, &addr, "all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, data);
    assert!(seeder.bytes_uploaded() >= 3 * 300_000);

    // Out-of-range piece: usage error (2), nothing fetched.
    let o = run(&[t, &addr, "piece", "5"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("piece 5 is out of range: the torrent has 5 pieces"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn magnet_metadata_and_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let addr = seeder.addr().to_string();
    let magnet = Magnet::from_metainfo(&p.meta).to_uri();
    let out = dir.path().join("fetched.torrent");
    let o = run(&[&magnet, &addr, "metadata", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = Metainfo::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(m.info_hash, p.meta.info_hash);
    assert_eq!(m.info_bytes, p.meta.info_bytes);
    assert_eq!(
        m.tracker_tiers(),
        vec![vec!["http://127.0.0.1:1/announce".to_string()]]
    );
    assert!(seeder.metadata_pieces_sent() >= 1);

    // Metadata to stdout with JSON refused (needs -o); to a pipe works.
    let o = run(&[&magnet, &addr, "metadata", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[&p.meta.info_hash.to_hex(), &addr, "metadata"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        Metainfo::from_bytes(&o.stdout).unwrap().info_hash,
        p.meta.info_hash
    );

    // A piece straight from a magnet: metadata first, then the piece.
    let o = run(&[&magnet, &addr, "piece", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, &payload_bytes(&p)[..65536]);

    // A seeder that refuses metadata, and one without the extension protocol.
    let metadata_fails = |opts: SeederOptions, why: &str| {
        let seeder = Seeder::start(&p.meta, &p.dir, opts).unwrap();
        let addr = seeder.addr().to_string();
        let o = run(&[&magnet, &addr, "metadata", "-o", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains(why), "{}", stderr(&o));
    };
    metadata_fails(
        SeederOptions {
            serve_metadata: false,
            ..Default::default()
        },
        "rejected our request for metadata piece 0",
    );
    metadata_fails(
        SeederOptions {
            extended: false,
            ..Default::default()
        },
        "does not support the extension protocol",
    );
}

/// Run a fetch against a misbehaving seeder; returns (exit code, stderr,
/// elapsed) and checks nothing was left in the output path.
fn misbehaving(b: Behaviour, timeout: &str) -> (Option<i32>, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(b)).unwrap();
    let out = dir.path().join("out.bin");
    let t0 = Instant::now();
    let o = run(&[
        p.torrent_path.to_str().unwrap(),
        &seeder.addr().to_string(),
        "pieces",
        "0..2",
        "-o",
        out.to_str().unwrap(),
        "--timeout",
        timeout,
    ]);
    let el = t0.elapsed();
    assert!(!out.exists(), "{b:?}: output written despite failure");
    assert!(
        !dir.path().join("out.bin.part").exists(),
        "{b:?}: partial file left"
    );
    (o.status.code(), stderr(&o), el)
}

#[test]
fn wrong_data_is_never_written() {
    let (code, err, _) = misbehaving(Behaviour::WrongData, "5");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("piece 0 from the peer failed its SHA-1 check"),
        "{err}"
    );
    // Also to a directory: no file content from bad data.
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let seeder = Seeder::start(
        &p.meta,
        &p.dir,
        SeederOptions::behaviour(Behaviour::WrongData),
    )
    .unwrap();
    let out = dir.path().join("outdir");
    let o = run(&[
        p.torrent_path.to_str().unwrap(),
        &seeder.addr().to_string(),
        "all",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let written = std::fs::read(out.join("pl/a.bin")).unwrap_or_default();
    assert!(
        written.iter().all(|&b| b == 0),
        "unverified data reached the disk"
    );
}

#[test]
fn choke_forever_times_out() {
    let (code, err, el) = misbehaving(Behaviour::ChokeForever, "1");
    assert_eq!(code, Some(1));
    assert!(err.contains("peer kept us choked for 1.0 s"), "{err}");
    assert!(el < Duration::from_secs(8), "{el:?}");
}

#[test]
fn slow_peer_times_out() {
    // 16 KiB blocks at 2 KiB/s: 8 s per block, timeout 1 s.
    let (code, err, el) = misbehaving(Behaviour::Slow(2048), "1");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("timed out after 1.0 s waiting for blocks"),
        "{err}"
    );
    assert!(el < Duration::from_secs(8), "{el:?}");
}

#[test]
fn slow_but_steady_peer_succeeds() {
    // 1 MiB/s: progress keeps the per-step timeout from firing.
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let seeder = Seeder::start(
        &p.meta,
        &p.dir,
        SeederOptions::behaviour(Behaviour::Slow(1 << 20)),
    )
    .unwrap();
    let o = run(&[
        p.torrent_path.to_str().unwrap(),
        &seeder.addr().to_string(),
        "pieces",
        "0..2",
        "--timeout",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, &payload_bytes(&p)[..131072]);
}

#[test]
fn disconnect_mid_piece() {
    let (code, err, _) = misbehaving(Behaviour::DisconnectMidPiece, "5");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("peer closed the connection in the middle of a message"),
        "{err}"
    );
}

#[test]
fn oversized_message() {
    let (code, err, _) = misbehaving(Behaviour::OversizedMessage, "5");
    assert_eq!(code, Some(1));
    assert!(err.contains("exceeds the block limit 16384"), "{err}");
}

#[test]
fn peers_from_stdin_first_bad_then_good() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let bad = Seeder::start(
        &p.meta,
        &p.dir,
        SeederOptions::behaviour(Behaviour::WrongData),
    )
    .unwrap();
    let good = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    // A closed port, a liar, then an honest seeder.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let list = format!("{closed}\n{}\n{}\n", bad.addr(), good.addr());
    let t = p.torrent_path.to_str().unwrap();
    let o = run_stdin(&[t, "-", "pieces", "0..=4", "--timeout", "3"], Some(&list));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, payload_bytes(&p));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("peer {closed} (1/3) failed")),
        "{err}"
    );
    assert!(err.contains("failed its SHA-1 check"), "{err}");
    // All peers failing: exit 1 with a summary.
    let list = format!("{closed}\n{}\n", bad.addr());
    let o = run_stdin(&[t, "-", "piece", "0", "--timeout", "3"], Some(&list));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no peer worked (2 tried)"),
        "{}",
        stderr(&o)
    );
    // Nothing usable on stdin: usage error.
    let o = run_stdin(&[t, "-", "piece", "0"], Some("garbage\n"));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let t = p.torrent_path.to_str().unwrap();
    for args in [
        vec![t, "127.0.0.1:1", "piece"],
        vec![t, "not-an-address", "handshake"],
        vec!["/nonexistent.torrent", "127.0.0.1:1", "handshake"],
        vec![t, "127.0.0.1:1", "pieces", "3..1"],
        vec![t, "127.0.0.1:1", "handshake", "--timeout", "0"],
        vec!["-", "-", "handshake"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let o = run(&["--help"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("Exit codes:"));
    // Nothing listening: exit 1, quickly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let o = run(&[t, &closed.to_string(), "handshake"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("connecting to"), "{}", stderr(&o));
}

#[test]
fn closed_stdout_ends_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    // Big enough that the output cannot all sit in the pipe buffer.
    let p = make_payload(dir.path(), "big.bin", &[("", 3 << 20)], 262144, &[], 5).unwrap();
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let mut child = bin()
        .args([
            p.torrent_path.to_str().unwrap(),
            &seeder.addr().to_string(),
            "all",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 100];
    out.read_exact(&mut buf).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert_eq!(
        &buf[..],
        &std::fs::read(dir.path().join("big.bin")).unwrap()[..100]
    );
}

#[test]
fn missing_pieces_and_peers_without_fast_extension() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let t = p.torrent_path.to_str().unwrap();
    let have: Vec<bool> = (0..p.meta.info.piece_count()).map(|i| i != 1).collect();
    let partial = Seeder::start(
        &p.meta,
        &p.dir,
        SeederOptions {
            have: Some(have),
            ..Default::default()
        },
    )
    .unwrap();
    let o = run(&[t, &partial.addr().to_string(), "pieces", "0..3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("peer does not have piece 1 (it has 4/5)"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
    assert_eq!(
        partial.bytes_uploaded(),
        0,
        "nothing requested from a peer that lacks a piece"
    );
    // Plain BEP 3 peer (no fast extension, no extension protocol).
    let plain = Seeder::start(
        &p.meta,
        &p.dir,
        SeederOptions {
            fast: false,
            extended: false,
            ..Default::default()
        },
    )
    .unwrap();
    let o = run(&[t, &plain.addr().to_string(), "handshake"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("extensions: none\n") && out.contains("pieces: 5/5\npiece_set: bitfield"),
        "{out}"
    );
    let o = run(&[t, &plain.addr().to_string(), "all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, payload_bytes(&p));
}

#[test]
fn conventions_completions_man_and_help_text() {
    let bin = env!("CARGO_BIN_EXE_peer-fetch");
    test_fixtures::harness::check_conventions(
        bin,
        "peer-fetch",
        &["handshake", "piece", "pieces", "all", "metadata"],
    );
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    assert_eq!(help.matches("Commands:").count(), 1, "{help}");
    for sub in ["piece", "pieces"] {
        let o = run(&["x.torrent", "127.0.0.1:1", sub, "--help"]);
        let h = String::from_utf8(o.stdout).unwrap();
        // Every argument has a description (no bare `<INDEX>` line).
        let args = h
            .split("Arguments:")
            .nth(1)
            .unwrap()
            .split("Options:")
            .next()
            .unwrap();
        for l in args.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                l.trim().split_whitespace().count() > 1,
                "{sub}: undocumented {l:?}\n{h}"
            );
        }
    }
    // PEER_FETCH_TIMEOUT is --timeout: 0 is refused like the flag.
    let o = Command::new(bin)
        .args(["x.torrent", "127.0.0.1:1", "handshake"])
        .env("PEER_FETCH_TIMEOUT", "0")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
}

/// On a terminal (tmux, styled TERM and TERM=dumb): handshake lines are
/// shown, binary data is refused with an `error:` line and exit 2, and the
/// same piece through `-o` lands in the file.
#[test]
fn terminal_refuses_binary_and_shows_messages() {
    use test_fixtures::harness::{shell_quote, Tmux};
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let bin = shell_quote(env!("CARGO_BIN_EXE_peer-fetch"));
    let t = shell_quote(p.torrent_path.to_str().unwrap());
    let addr = seeder.addr().to_string();
    for term in ["xterm-256color", "dumb"] {
        let out = dir.path().join(format!("piece-{term}.bin"));
        let cmd = format!(
            "{bin} {t} {addr} handshake; {bin} {t} {addr} piece 1 -o {o} && echo saved; {bin} {t} {addr} piece 1",
            o = shell_quote(out.to_str().unwrap())
        );
        let tm = Tmux::start(&cmd, term, &[], 120, 40);
        let (code, screen) = tm.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 2, "{term}:\n{screen}");
        assert!(
            screen.contains("client: torrent-toolkit"),
            "{term}:\n{screen}"
        );
        assert!(screen.contains("saved"), "{term}:\n{screen}");
        assert!(
            screen.contains("error: refusing to write binary piece data to a terminal; use -o or redirect stdout"),
            "{term}:\n{screen}"
        );
        let data = payload_bytes(&p);
        let plen = p.meta.info.piece_length as usize;
        assert_eq!(std::fs::read(&out).unwrap(), &data[plen..2 * plen]);
    }
}
