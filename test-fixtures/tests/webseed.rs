//! Web seeds end to end: the torrent-core web-seed scheduler and fetcher
//! download from the embedded web seed (honest and hostile) and from a
//! real nginx; every piece is verified with torrent-core's storage and the
//! files compared byte for byte.

use std::path::Path;
use std::time::{Duration, Instant};
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::webseed::{Nginx, Switches, WebSeedServer};
use torrent_core::storage::Storage;
use torrent_core::webseed::blocking::{download, DownloadOptions, DownloadReport};
use torrent_core::webseed::{Config, FetchConfig, MirrorState};

const FILES: &[(&str, u64)] = &[
    ("a b.txt", 70_001),
    ("dir with space/caf\u{e9} \u{fc}.bin", 200_000),
    ("empty", 0),
    ("x/y/z%20?#.dat", 33_333),
];

fn payload(dir: &Path) -> Payload {
    make_payload(dir, "My Torrent \u{2603}", FILES, 16_384, &[], 7).unwrap()
}

fn opts() -> DownloadOptions {
    DownloadOptions {
        scheduler: Config {
            requests_per_mirror: 2,
            run_bytes: 48 << 10,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_millis(400),
            stall_timeout: Duration::from_secs(2),
            ..Config::default()
        },
        fetch: FetchConfig { workers: 4, chunk: 16 << 10, ..FetchConfig::default() },
        timeout: Some(Duration::from_secs(60)),
        verbose: true,
    }
}

/// Every piece verifies and every file equals the source.
fn assert_complete(p: &Payload, out: &Path) {
    let mut st = Storage::new(out, &p.meta.info).unwrap();
    for i in 0..p.meta.info.piece_count() {
        assert!(st.verify_piece(i).unwrap(), "piece {i} does not verify");
    }
    let name = &p.meta.info.name;
    if p.meta.info.multi_file {
        for (rel, _) in FILES {
            let a = std::fs::read(p.dir.join(name).join(rel)).unwrap();
            let b = std::fs::read(out.join(name).join(rel)).unwrap();
            assert!(a == b, "{rel} differs");
        }
    } else {
        assert!(std::fs::read(p.dir.join(name)).unwrap() == std::fs::read(out.join(name)).unwrap());
    }
}

fn run(p: &Payload, mirrors: &[String], o: &DownloadOptions) -> (tempfile::TempDir, Result<DownloadReport, String>) {
    let out = tempfile::tempdir().unwrap();
    let r = download(&p.meta, out.path(), mirrors, o);
    (out, r)
}

#[test]
fn multi_file_torrent_from_the_embedded_web_seed() {
    let src = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let server = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let (out, r) = run(&p, &[server.url()], &opts());
    let r = r.unwrap();
    assert_complete(&p, out.path());
    let total = p.meta.info.total_length;
    // Nothing fetched twice, nothing wasted.
    assert_eq!(r.received, total);
    // (The server counts a chunk after writing it: give its thread a moment.)
    let t = Instant::now();
    while server.bytes_sent() < total && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.bytes_sent(), total);
    assert_eq!(r.mirrors[0].stats.pieces_ok as usize, p.meta.info.piece_count());
    assert_eq!(r.mirrors[0].stats.wasted, 0);
    // The server saw the real (decoded) names, one range per file per run.
    let ranges = server.ranges();
    assert!(ranges.iter().any(|(path, _, _)| path == "/My Torrent \u{2603}/dir with space/caf\u{e9} \u{fc}.bin"));
    assert!(ranges.iter().any(|(path, _, _)| path == "/My Torrent \u{2603}/x/y/z%20?#.dat"));
    assert!(!ranges.iter().any(|(path, _, _)| path.ends_with("/empty")), "zero-length file requested");
}

#[test]
fn single_file_url_as_is_and_directory_url() {
    let src = tempfile::tempdir().unwrap();
    let p = make_payload(src.path(), "one file \u{e9}.iso", &[("", 150_000)], 32_768, &[], 3).unwrap();
    let server = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    // The url-list entry names the file (no trailing slash): used as is,
    // even though the file on the mirror could be called anything.
    std::fs::create_dir(p.dir.join("renamed")).unwrap();
    std::fs::copy(p.dir.join(&p.meta.info.name), p.dir.join("renamed/latest.iso")).unwrap();
    let (out, r) = run(&p, &[format!("{}renamed/latest.iso", server.url())], &opts());
    r.unwrap();
    assert_complete(&p, out.path());
    assert!(server.ranges().iter().all(|(path, _, _)| path == "/renamed/latest.iso"));
    // A directory URL gets the torrent's name appended.
    let (out, r) = run(&p, &[server.url()], &opts());
    r.unwrap();
    assert_complete(&p, out.path());
}

#[test]
fn corrupt_mirror_is_dropped_while_an_honest_one_completes() {
    let src = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let bad = WebSeedServer::start(&p.dir, Switches { wrong_bytes: true, ..Default::default() }).unwrap();
    let good = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let (out, r) = run(&p, &[bad.url(), good.url()], &opts());
    let r = r.unwrap();
    assert_complete(&p, out.path());
    let b = &r.mirrors[0];
    assert!(matches!(&b.state, MirrorState::Dropped { reason } if reason.contains("failed the hash check")), "{:?}", b.state);
    assert_eq!(b.stats.pieces_ok, 0);
    assert!(b.stats.pieces_bad >= 1);
    assert!(b.stats.wasted > 0);
    let g = &r.mirrors[1];
    assert_eq!(g.stats.pieces_ok as usize, p.meta.info.piece_count());
    assert!(!matches!(g.state, MirrorState::Dropped { .. }));
    // Over-download is reported: what the bad mirror sent on top.
    assert_eq!(r.received, p.meta.info.total_length + b.stats.bytes);
}

/// One misbehaving mirror next to an honest one: the download completes,
/// nothing bad reaches the hash check, and the misbehaving mirror had
/// errors (and, for `expect_reason`, is dropped with it). Then the same
/// mirror alone: the download fails with `alone_reason` after a bounded
/// number of requests.
fn hostile_next_to_honest(sw: Switches, expect_reason: &str, alone_reason: &str) {
    let src = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let bad = WebSeedServer::start(&p.dir, sw.clone()).unwrap();
    let good = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let (out, r) = run(&p, &[bad.url(), good.url()], &opts());
    let r = r.unwrap();
    assert_complete(&p, out.path());
    let b = &r.mirrors[0];
    assert_eq!(b.stats.pieces_bad, 0, "no bad data may reach the hash check");
    assert!(b.stats.errors >= 1, "{b:?}");
    if !expect_reason.is_empty() {
        assert!(
            matches!(&b.state, MirrorState::Dropped { reason } if reason.contains(expect_reason)),
            "{:?}",
            b.state
        );
    }
    drop(bad);
    let bad = WebSeedServer::start(&p.dir, sw).unwrap();
    let o = opts();
    let (_out, r) = run(&p, &[bad.url()], &o);
    let e = r.unwrap_err();
    assert!(e.contains(alone_reason), "{e}");
    let most = (o.scheduler.max_errors as usize * o.scheduler.requests_per_mirror) as u64;
    assert!(bad.requests() <= most * (1 + o.fetch.max_redirects as u64), "{} requests", bad.requests());
}

#[test]
fn mirror_ignoring_range_is_dropped() {
    hostile_next_to_honest(Switches { ignore_range: true, ..Default::default() }, "ignores Range", "ignores Range");
}

#[test]
fn mirror_with_short_bodies_is_dropped() {
    hostile_next_to_honest(Switches { short_body: true, ..Default::default() }, "", "5 errors in a row");
}

#[test]
fn mirror_answering_404_is_dropped() {
    hostile_next_to_honest(Switches { not_found: true, ..Default::default() }, "", "5 errors in a row, the last: HTTP 404");
}

#[test]
fn redirect_loop_is_cut_and_the_mirror_dropped() {
    hostile_next_to_honest(Switches { redirect_loop: true, ..Default::default() }, "", "the last: too many redirects");
}

#[test]
fn slow_mirror_is_treated_like_a_slow_peer() {
    // 2 KB/s: no 16 KiB chunk within the 2 s stall timeout.
    hostile_next_to_honest(Switches { slow: Some(2_000), ..Default::default() }, "", "no data for 2.0 s");
}

#[test]
fn unavailable_mirror_is_retried_after_retry_after() {
    let src = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let s = WebSeedServer::start(&p.dir, Switches { unavailable: 2, retry_after: Some(1), ..Default::default() }).unwrap();
    let t = Instant::now();
    let (out, r) = run(&p, &[s.url()], &opts());
    let r = r.unwrap();
    assert_complete(&p, out.path());
    assert!(t.elapsed() >= Duration::from_secs(1), "Retry-After not respected: {:?}", t.elapsed());
    assert_eq!(r.mirrors[0].stats.errors, 2);
}

#[test]
fn redirect_is_followed() {
    let src = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let s = WebSeedServer::start(&p.dir, Switches { redirect_once: true, ..Default::default() }).unwrap();
    let (out, r) = run(&p, &[s.url()], &opts());
    r.unwrap();
    assert_complete(&p, out.path());
    // Every range was asked for twice: at the old and at the new location.
    assert_eq!(s.requests(), 2 * s.ranges().len() as u64);
}

#[test]
fn every_mirror_bad_is_an_error() {
    let src = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let bad = WebSeedServer::start(&p.dir, Switches { wrong_bytes: true, ..Default::default() }).unwrap();
    let gone = WebSeedServer::start(&p.dir, Switches { not_found: true, ..Default::default() }).unwrap();
    let (_out, r) = run(&p, &[bad.url(), gone.url()], &opts());
    let e = r.unwrap_err();
    assert!(e.contains("every web seed failed") && e.contains("hash check") && e.contains("HTTP 404"), "{e}");
}

#[test]
fn nginx_serves_the_files() {
    let src = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let nginx = Nginx::start(&p.dir).expect("nginx (Debian package nginx-light, see .ci/run)");
    let (out, r) = run(&p, &[nginx.url()], &opts());
    let r = r.unwrap();
    assert_complete(&p, out.path());
    assert_eq!(r.received, p.meta.info.total_length);
    // Single-file torrent from nginx as well.
    let s = make_payload(src.path(), "single \u{e9}.bin", &[("", 100_000)], 16_384, &[], 9).unwrap();
    let (out, r) = run(&s, &[nginx.url()], &opts());
    r.unwrap();
    assert_complete(&s, out.path());
}

#[test]
fn torrent_file_over_http() {
    use torrent_core::source::{fetch_url, Source};
    let src = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let s = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let name = p.torrent_path.file_name().unwrap().to_str().unwrap().to_string();
    // The name has spaces and a non-ASCII character: sent percent-encoded.
    let url = format!("{}{name}", s.url());
    let loaded = Source::load(&url).unwrap();
    assert_eq!(loaded.info_hash(), p.meta.info_hash);
    let e = fetch_url(&url, 100).unwrap_err();
    assert!(e.ends_with("larger than 100 bytes"), "{e}");
    let e = Source::load(&format!("{}missing.torrent", s.url())).unwrap_err();
    assert!(e.ends_with("missing.torrent: HTTP 404"), "{e}");
    let refused = format!("http://127.0.0.1:{}/x.torrent", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let e = Source::load(&refused).unwrap_err();
    assert!(e.starts_with(&refused), "{e}");
}
