//! `--stdout`: one file's bytes streamed to a pipe, in order and verified,
//! from swarms of embedded seeders (rate-limited, lying), from a magnet, into
//! `head -c`, and with `--no-save` in bounded memory.

mod common;

use common::*;
use sha1::{Digest, Sha1};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};

const MIB: u64 = 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(120);

fn seeders(p: &Payload, kinds: &[SeederOptions]) -> Vec<Seeder> {
    kinds.iter().map(|o| Seeder::start(&p.meta, &p.dir, o.clone()).expect("seeder")).collect()
}

fn with_peers(c: &mut Command, s: &[Seeder]) {
    for x in s {
        c.arg("--peer").arg(x.addr().to_string());
    }
}

struct Streamed {
    code: i32,
    bytes: u64,
    sha1: [u8; 20],
    first_mib: Option<Duration>,
    total: Duration,
    stderr: String,
    /// Highest VmHWM (peak RSS) seen in /proc, KiB.
    peak_rss_kib: u64,
}

/// Run `c`, hashing its stdout as it comes and watching its peak RSS.
fn stream_run(mut c: Command) -> Streamed {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = c.spawn().expect("spawn torrent-get");
    let pid = child.id();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut h = Sha1::new();
        let mut n = 0u64;
        let mut first = None;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    h.update(&buf[..k]);
                    n += k as u64;
                    if first.is_none() && n >= MIB {
                        first = Some(start.elapsed());
                    }
                }
            }
        }
        (n, <[u8; 20]>::from(h.finalize()), first)
    });
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut peak = 0;
    let status = loop {
        if let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(v) = st.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()) {
                peak = peak.max(v);
            }
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("torrent-get --stdout did not end in {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let total = start.elapsed();
    let (bytes, sha1, first_mib) = reader.join().unwrap();
    Streamed { code: status.code().unwrap_or(-1), bytes, sha1, first_mib, total, stderr: errs.join().unwrap(), peak_rss_kib: peak }
}

fn file_sha1(path: &std::path::Path) -> [u8; 20] {
    Sha1::digest(std::fs::read(path).unwrap()).into()
}

#[test]
fn streams_one_file_of_a_multi_file_torrent_early_and_exactly() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let files: &[(&str, u64)] = &[("a.bin", 3 * MIB + 5), ("movie.bin", 24 * MIB + 777), ("c.bin", MIB)];
    let p = make_payload(seed.path(), "multi", files, 64 * 1024, &[], 41).unwrap();
    // Rate-limited seeders (one of them slow) and a liar.
    let s = seeders(
        &p,
        &[
            SeederOptions::behaviour(Behaviour::Slow(1024 * 1024)),
            SeederOptions::behaviour(Behaviour::Slow(1024 * 1024)),
            SeederOptions::behaviour(Behaviour::Slow(128 * 1024)),
            SeederOptions::behaviour(Behaviour::WrongData),
        ],
    );
    // By number, 1-based as torrent-info lists them.
    let n = p.meta.info.files.iter().position(|f| f.path.last().unwrap() == "movie.bin").unwrap() + 1;
    let mut c = cmd(100);
    c.arg("-o").arg(out.path()).arg("--stdout").arg("--file").arg(n.to_string()).arg(&p.torrent_path);
    with_peers(&mut c, &s);
    let r = stream_run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let want = p.dir.join("multi/movie.bin");
    assert_eq!(r.bytes, 24 * MIB + 777, "{}", r.stderr);
    assert_eq!(r.sha1, file_sha1(&want), "streamed bytes differ from the file");
    let first = r.first_mib.expect("a first MiB");
    eprintln!("first MiB after {first:?}, all {} bytes after {:?}", r.bytes, r.total);
    assert!(first.as_secs_f64() < 0.2 * r.total.as_secs_f64(), "first MiB after {first:?} of {:?}", r.total);
    // Saved as well (resumable, seedable), and only that file was fetched.
    assert_eq!(file_sha1(&out.path().join("multi/movie.bin")), file_sha1(&want));
    assert!(!out.path().join("multi/a.bin").exists() || std::fs::metadata(out.path().join("multi/a.bin")).unwrap().len() < 3 * MIB);
}

#[test]
fn streams_a_magnet_by_file_name() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let files: &[(&str, u64)] = &[("x/first.bin", 300_001), ("x/second.bin", 2 * MIB + 3)];
    let p = make_payload(seed.path(), "mag", files, 32 * 1024, &[], 42).unwrap();
    let s = seeders(&p, &[SeederOptions::default(), SeederOptions::behaviour(Behaviour::Slow(512 * 1024))]);
    let magnet = format!("magnet:?xt=urn:btih:{}&x.pe={}&x.pe={}", p.meta.info_hash.to_hex(), s[0].addr(), s[1].addr());
    let mut c = cmd(60);
    c.arg("-o").arg(out.path()).arg("--stdout").arg("--file").arg("second.bin").arg(&magnet);
    let r = stream_run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.sha1, file_sha1(&p.dir.join("mag/x/second.bin")), "{}", r.stderr);
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "big.bin", &[("", 16 * MIB)], 256 * 1024, &[], 43).unwrap();
    let s = seeders(&p, &[SeederOptions::behaviour(Behaviour::Slow(2 * 1024 * 1024))]);
    let got = out.path().join("head.out");
    let script = format!(
        "set -o pipefail; {} --listen 127.0.0.1:0 --no-dht -q --timeout 60 -o {} --stdout --peer {} {} | head -c 1000 > {}",
        shell_quote(bin()),
        shell_quote(&out.path().join("dl").display().to_string()),
        s[0].addr(),
        shell_quote(&p.torrent_path.display().to_string()),
        shell_quote(&got.display().to_string()),
    );
    let start = Instant::now();
    let o = Command::new("bash").arg("-c").arg(&script).stdin(Stdio::null()).output().unwrap();
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "pipeline failed: {stderr}");
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(p.dir.join("big.bin")).unwrap()[..1000]);
    for bad in ["error", "panic", "Broken pipe", "incomplete"] {
        assert!(!stderr.contains(bad), "{bad:?} on stderr: {stderr}");
    }
    // It stopped when the reader left, not after the whole 16 MiB (8 s).
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn no_save_keeps_memory_bounded_for_a_much_larger_file() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let size = 192 * MIB;
    let p = make_payload(seed.path(), "huge.bin", &[("", size)], 256 * 1024, &[], 44).unwrap();
    let s = seeders(&p, &[SeederOptions::default(), SeederOptions::default(), SeederOptions::behaviour(Behaviour::WrongData)]);
    // Not -q: the hash failures and the ban are messages.
    let mut c = cmd_loud(100);
    c.arg("-o").arg(out.path()).arg("--stdout").arg("--no-save").arg("--stream-buffer").arg("4M").arg(&p.torrent_path);
    with_peers(&mut c, &s);
    let r = stream_run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.bytes, size);
    assert_eq!(r.sha1, file_sha1(&p.dir.join("huge.bin")), "streamed bytes differ");
    // The liar is found (every window piece mixes all three peers, so
    // its first failures are shared) and the honest seeders are not banned.
    let failures = r.stderr.lines().filter(|l| l.contains("failed the hash check (from")).count();
    let bans: Vec<&str> = r.stderr.lines().filter(|l| l.contains(": banned ")).collect();
    assert!(bans.iter().any(|l| l.contains(&format!("banned {}", s[2].addr()))), "the liar was not banned:\n{}", r.stderr);
    assert_eq!(bans.len(), 1, "an honest seeder was banned: {bans:?}");
    // At most the pieces in flight when the first verdicts came (a window
    // of 8 at 3 peers' pipelines), not one per piece of the file.
    assert!(failures <= 24, "{failures} hash failures:\n{}", r.stderr);
    eprintln!("--no-save: peak RSS {} KiB for a {} MiB file, {:?}; {failures} pieces failed in all ({})", r.peak_rss_kib, size / MIB, r.total, bans[0]);
    assert!(r.peak_rss_kib > 0, "VmHWM never read");
    assert!(r.peak_rss_kib < 48 * 1024, "peak RSS {} KiB", r.peak_rss_kib);
    // Nothing was written where a download would go.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "--no-save wrote into the download directory");
}
