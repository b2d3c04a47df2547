//! `torrent-get remote stream` (`POST /v1/torrents/{hash}/files/{n}/stream`)
//! against a daemon downloading from test-fixtures seeders on loopback: the
//! second file of a multi-file torrent streamed while it downloads (its
//! SHA-1 equal to the file's, done before the torrent is), an offset in the
//! middle of a piece and a file named by name, a single-file torrent's
//! stream without a file number, the API's refusals, an early
//! close (`| head -c 1000`) that leaves the daemon downloading, and several
//! readers at once with a remove that cuts one off.

mod common;

use common::*;
use common::daemon::*;
use sha1::{Digest, Sha1};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::harness::wait_for;
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};

const PIECE: u64 = 64 * 1024;

/// ~6 MiB in 64 KiB pieces; the second file is 3 MB, starting and ending
/// inside pieces.
fn payload(dir: &Path, name: &str, seed: u64) -> Payload {
    make_payload(dir, name, &[("a.bin", 1_000_003), ("b/second.bin", 3_000_017), ("c.bin", 2_000_029)], PIECE, &[], seed).unwrap()
}

/// The seeder's copy of file `i` (0-based) of the payload.
fn file_bytes(p: &Payload, i: usize) -> Vec<u8> {
    let f = &p.meta.info.files[i];
    std::fs::read(p.dir.join(&p.meta.info.name).join(f.path.join("/"))).unwrap()
}

fn sha1(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha1::digest(b))
}

/// `remote stream` with its stdout in `out` (bytes), stderr piped.
fn stream(state: &Path, args: &[&str], out: &Path) -> Child {
    let mut c = Command::new(bin());
    c.arg("remote").arg("--state").arg(state).arg("stream").args(args);
    c.stdin(Stdio::null()).stdout(File::create(out).unwrap()).stderr(Stdio::piped());
    c.spawn().expect("start remote stream")
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn setup(seeders: &[&Seeder], work: &Path) -> (Daemon, PathBuf, PathBuf) {
    let (state, out) = (work.join("state"), work.join("dl"));
    let mut args = Vec::new();
    for s in seeders {
        args.push("--peer".to_string());
        args.push(s.addr().to_string());
    }
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let d = Daemon::start(&state, &out, &args);
    (d, state, out)
}

fn add(state: &Path, p: &Payload) {
    let r = remote(state, &["add", p.torrent_path.to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
}

#[test]
fn streams_the_second_file_while_it_downloads() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let p = payload(seed.path(), "multi", 1);
    // 1 MiB/s: the whole torrent takes about 6 s, its second file 3.
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(Behaviour::Slow(1 << 20))).unwrap();
    let (d, state, out) = setup(&[&s], work.path());
    let h = hex(&p);
    add(&state, &p);
    let got = work.path().join("second.out");
    let r = wait_bounded(stream(&state, &[&h[..8], "--file", "2"], &got), LIMIT);
    assert_eq!(r.code(), 0, "{}\ndaemon log:\n{}", r.describe(), d.log());
    // The stream went first: it ended before the torrent did.
    let t = d.list().into_iter().find(|t| t.info_hash == h).unwrap();
    assert!(t.have_bytes < p.meta.info.total_length, "the torrent finished before its streamed file: {t:?}");
    let want = file_bytes(&p, 1);
    let bytes = std::fs::read(&got).unwrap();
    assert_eq!(bytes.len(), want.len());
    assert_eq!(sha1(&bytes), sha1(&want), "the streamed bytes differ from the file");
    assert!(d.log().contains("multi: stream of file 2 ended: the end of the file"), "{}", d.log());
    // And the download goes on to the end.
    d.wait_torrent(&h, LIMIT, "complete", complete);
    assert_same_tree(&p.dir.join("multi"), &out.join("multi"));
}

#[test]
fn offset_in_the_middle_of_a_piece_by_name_and_refusals() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let p = payload(seed.path(), "offsets", 2);
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(Behaviour::Slow(2 << 20))).unwrap();
    let one = make_payload(seed.path(), "single.bin", &[("", 700_001)], PIECE, &[], 6).unwrap();
    let s1 = Seeder::start(&one.meta, &one.dir, SeederOptions::default()).unwrap();
    let (d, state, _out) = setup(&[&s, &s1], work.path());
    let h = hex(&p);
    add(&state, &p);
    add(&state, &one);
    // A single-file torrent needs no --file (`/v1/torrents/HASH/stream`).
    let got = work.path().join("single.out");
    let r = wait_bounded(stream(&state, &["single.bin", "--offset", "1"], &got), LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert!(std::fs::read(&got).unwrap() == std::fs::read(one.dir.join("single.bin")).unwrap()[1..], "the single file's bytes differ");
    let want = file_bytes(&p, 1);
    let offset = 100_000u64;
    assert_ne!((p.meta.info.files[1].offset + offset) % PIECE, 0, "the offset must fall inside a piece");
    let got = work.path().join("offset.out");
    let r = wait_bounded(stream(&state, &["offsets", "--file", "second.bin", "--offset", &offset.to_string()], &got), LIMIT);
    assert_eq!(r.code(), 0, "{}\ndaemon log:\n{}", r.describe(), d.log());
    let bytes = std::fs::read(&got).unwrap();
    assert_eq!(bytes.len(), want.len() - offset as usize);
    assert!(bytes == want[offset as usize..], "the bytes from the offset differ from the file's");

    // At the end: nothing, exit 0; beyond it: refused, exit 1.
    let len = want.len().to_string();
    let r = wait_bounded(stream(&state, &[&h, "--file", "b/second.bin", "--offset", &len], &got), LIMIT);
    assert_eq!((r.code(), size(&got)), (0, 0), "{}", r.describe());
    let beyond = (want.len() + 1).to_string();
    let r = wait_bounded(stream(&state, &[&h, "--file", "2", "--offset", &beyond], &got), LIMIT);
    assert_eq!(r.code(), 1, "{}", r.describe());
    assert!(r.stderr.contains("beyond the end"), "{}", r.stderr);
    // No --file on a torrent of three files; no file 4; no such name.
    for (args, text) in [(vec![h.as_str()], "3 files"), (vec![&h, "--file", "4"], "4"), (vec![&h, "--file", "nope.bin"], "no such file")] {
        let r = wait_bounded(stream(&state, &args, &got), LIMIT);
        assert_eq!(r.code(), 1, "{args:?}: {}", r.describe());
        assert!(r.stderr.contains("error: ") && r.stderr.contains(text), "{args:?}: {}", r.stderr);
    }
    // The token is needed; GET is refused; a bad offset is a 400.
    let (_, token) = d.endpoint();
    let path = format!("/v1/torrents/{h}/files/2/stream");
    assert_eq!(http(&d, "POST", &path, None, None).0, 401);
    assert_eq!(http(&d, "POST", &path, Some("0".repeat(64).as_str()), None).0, 401);
    assert_eq!(http(&d, "GET", &path, Some(&token), None).0, 405);
    assert_eq!(http(&d, "POST", &format!("{path}?offset=x"), Some(&token), None).0, 400);
    assert_eq!(http(&d, "POST", &format!("/v1/torrents/{}/files/1/stream", "ab".repeat(20)), Some(&token), None).0, 404);
    // A stream of a paused torrent is refused.
    assert_eq!(remote(&state, &["pause", &h]).code(), 0);
    let r = wait_bounded(stream(&state, &[&h, "--file", "1"], &got), LIMIT);
    assert_eq!(r.code(), 1, "{}", r.describe());
    assert!(r.stderr.contains("paused"), "{}", r.stderr);
}

#[test]
fn a_closed_stdout_ends_quietly_and_the_daemon_keeps_downloading() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let p = payload(seed.path(), "headed", 3);
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(Behaviour::Slow(1 << 20))).unwrap();
    let (d, state, out) = setup(&[&s], work.path());
    let h = hex(&p);
    add(&state, &p);
    let got = work.path().join("head.out");
    let mut c = Command::new("bash");
    c.arg("-c").arg(r#"set -o pipefail; "$0" remote --state "$1" stream "$2" --file 2 | head -c 1000 > "$3""#);
    c.arg(bin()).arg(&state).arg(&h).arg(&got);
    c.stdin(Stdio::null());
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "a closed stdout is a quiet end: {}", r.describe());
    assert_eq!(r.stderr, "", "nothing said on stderr");
    assert!(std::fs::read(&got).unwrap() == file_bytes(&p, 1)[..1000], "the first 1000 bytes differ");
    // The daemon notices at its next write, drops the reader, goes on.
    wait_for(Duration::from_secs(20), "the daemon dropping the reader", || d.log().contains("headed: stream of file 2 ended: the client went away"));
    d.wait_torrent(&h, LIMIT, "complete", complete);
    assert_same_tree(&p.dir.join("headed"), &out.join("headed"));
}

#[test]
fn several_readers_at_once_and_a_remove_cuts_one_off() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let a = payload(seed.path(), "cut", 4);
    let b = payload(seed.path(), "kept", 5);
    // `cut` slowly (its second file takes 12 s), `kept` faster.
    let sa = Seeder::start(&a.meta, &a.dir, SeederOptions::behaviour(Behaviour::Slow(256 << 10))).unwrap();
    let sb = Seeder::start(&b.meta, &b.dir, SeederOptions::behaviour(Behaviour::Slow(2 << 20))).unwrap();
    let (d, state, out) = setup(&[&sa, &sb], work.path());
    add(&state, &a);
    add(&state, &b);
    let (ha, hb) = (hex(&a), hex(&b));
    let path = |n: &str| work.path().join(n);
    let cut = stream(&state, &[&ha, "--file", "2"], &path("cut.out"));
    let kept: Vec<(Child, PathBuf, usize, usize)> = [(0usize, 0usize), (2, 0), (2, 777_777), (1, 0)]
        .iter()
        .enumerate()
        .map(|(k, &(file, offset))| {
            let out = path(&format!("kept{k}.out"));
            let (n, o) = ((file + 1).to_string(), offset.to_string());
            (stream(&state, &[&hb, "--file", &n, "--offset", &o], &out), out, file, offset)
        })
        .collect();
    let deadline = Instant::now() + LIMIT;
    while size(&path("cut.out")) == 0 {
        assert!(Instant::now() < deadline, "no byte of the stream to cut\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = remote(&state, &["remove", &ha]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let r = wait_bounded(cut, LIMIT);
    assert_eq!(r.code(), 1, "a cut stream is a failure: {}", r.describe());
    assert!(r.stderr.contains("ended after") && r.stderr.contains("the torrent was removed"), "{}", r.stderr);
    let partial = std::fs::read(path("cut.out")).unwrap();
    let whole = file_bytes(&a, 1);
    assert!(!partial.is_empty() && partial.len() < whole.len(), "{} of {} bytes", partial.len(), whole.len());
    assert!(partial == whole[..partial.len()], "the bytes before the cut differ from the file's");
    assert!(d.log().contains("cut: stream of file 2 ended: torrent removed"), "{}", d.log());

    for (child, out_path, file, offset) in kept {
        let r = wait_bounded(child, LIMIT);
        assert_eq!(r.code(), 0, "file {} from {offset}: {}\ndaemon log:\n{}", file + 1, r.describe(), d.log());
        let want = file_bytes(&b, file);
        let got = std::fs::read(&out_path).unwrap();
        assert_eq!(sha1(&got), sha1(&want[offset..]), "file {} from {offset}", file + 1);
    }
    // The daemon is fine: one torrent left, which completes.
    let list = d.list();
    assert_eq!(list.iter().map(|t| t.info_hash.as_str()).collect::<Vec<_>>(), vec![hb.as_str()]);
    d.wait_torrent(&hb, LIMIT, "complete", complete);
    assert_same_tree(&b.dir.join("kept"), &out.join("kept"));
}
