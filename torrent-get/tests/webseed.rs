//! Web seeds (BEP 19) in torrent-get: downloads from the embedded web seed
//! of test-fixtures (honest and hostile) and from Debian's nginx, alone and
//! together with peers; the files must equal the source byte for byte.

mod common;

use common::*;
use std::time::Duration;
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Seeder, SeederOptions};
use test_fixtures::webseed::{Nginx, Switches, WebSeedServer};

const LIMIT: Duration = Duration::from_secs(90);
// Names that need percent-encoding (space, non-ASCII, `%`, `?`, `#`) and
// zero-length files, which are never asked for (`bytes=x-(x-1)` is not a
// range) but created empty.
const FILES: &[(&str, u64)] = &[
    ("a b.txt", 70_001),
    ("empty", 0),
    ("dir with space/caf\u{e9} \u{fc}.bin", 600_000),
    ("dir with space/empty #2", 0),
    ("x/y/z%20?#.dat", 33_333),
];

/// No range request for a zero-length file, and every name came through.
fn assert_ranges(ws: &WebSeedServer) {
    let r = ws.ranges();
    assert!(r.iter().all(|(path, _, _)| !path.contains("empty")), "a zero-length file was asked for: {r:?}");
    for f in ["a b.txt", "caf\u{e9} \u{fc}.bin", "z%20?#.dat"] {
        assert!(r.iter().any(|(path, _, _)| path.ends_with(f)), "{f} never asked for: {r:?}");
    }
}

/// A copy of the payload's torrent with a url-list (and no tracker).
fn with_url_list(p: &Payload, urls: &[String]) -> std::path::PathBuf {
    let opts = torrent_core::create::CreateOptions {
        piece_length: Some(p.meta.info.piece_length),
        web_seeds: urls.to_vec(),
        created_by: Some("torrent-toolkit test-fixtures".into()),
        ..Default::default()
    };
    let bytes = torrent_core::create::create_torrent(&p.dir.join(&p.meta.info.name), &opts).unwrap();
    let m = torrent_core::Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.info_hash, p.meta.info_hash);
    let path = p.dir.join("url-list-many.torrent");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn payload(dir: &std::path::Path) -> Payload {
    make_payload(dir, "My Torrent \u{2603}", FILES, 16_384, &[], 7).unwrap()
}

fn get(p: &Payload, out: &std::path::Path, extra: &[String]) -> Run {
    let mut c = cmd_loud(60);
    c.arg("--json").arg("-v").arg("-o").arg(out).arg(&p.torrent_path).args(extra);
    run(c, LIMIT)
}

fn mirrors(r: &Run) -> Vec<serde_json::Value> {
    r.last_event("webseeds")["mirrors"].as_array().cloned().unwrap_or_default()
}

#[test]
fn multi_file_torrent_downloads_from_a_web_seed_alone() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let ws = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let r = get(&p, out.path(), &["--web-seed".into(), ws.url()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["pieces_ok"].as_u64().unwrap() as usize, p.meta.info.piece_count(), "{m:?}");
    assert_eq!(m[0]["pieces_bad"], 0);
    assert_eq!(m[0]["wasted"], 0, "{m:?}");
    // Every byte fetched once, no request left over.
    assert_eq!(m[0]["bytes"].as_u64().unwrap(), p.meta.info.total_length, "{m:?}");
    assert_eq!(m[0]["state"], "idle", "{m:?}");
    assert_eq!(m[0]["reason"], serde_json::Value::Null, "{m:?}");
    assert_eq!(m[0]["errors"], 0, "{m:?}");
    assert!(ws.requests() > 0);
    assert_ranges(&ws);
    assert_eq!(r.last_event("done")["hash_failures"], 0);
    // Progress events show the mirror next to the peers.
    // (From the check of the data on, when the mirrors start.)
    let prog: Vec<_> = r.events().into_iter().filter(|e| e["event"] == "progress" && e["mirrors_known"] != 0).collect();
    assert!(!prog.is_empty(), "{}", r.stdout);
    for e in &prog {
        assert_eq!((e["mirrors"].as_u64(), e["mirrors_known"].as_u64()), (Some(1), Some(1)), "{e}");
        assert_eq!(e["webseeds"][0]["url"], ws.url(), "{e}");
        assert!(["active", "idle"].contains(&e["webseeds"][0]["state"].as_str().unwrap()), "{e}");
    }
}

#[test]
fn peers_and_a_mirror_share_the_download_without_double_fetching() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    // A slow mirror, so the peer gets a share of the pieces too.
    let ws = WebSeedServer::start(&p.dir, Switches { slow: Some(400_000), ..Default::default() }).unwrap();
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let r = get(&p, out.path(), &["--web-seed".into(), ws.url(), "--peer".into(), seeder.addr().to_string()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    let from_mirror = m[0]["bytes"].as_u64().unwrap();
    let done = r.last_event("done");
    let total = p.meta.info.total_length;
    let downloaded = done["downloaded"].as_u64().unwrap();
    assert!(m[0]["pieces_ok"].as_u64().unwrap() > 0, "the mirror contributed nothing: {m:?}");
    assert!(from_mirror < total, "the peer contributed nothing: {m:?}\n{}", r.stderr);
    // No piece is fetched from both (no endgame sharing between them): the
    // over-download is what a cancelled mirror request had in flight.
    assert!(downloaded <= total + total / 10, "downloaded {downloaded} of {total}\n{}", r.stderr);
}

#[test]
fn a_mirror_serving_wrong_bytes_is_dropped_and_no_peer_is_blamed() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let bad = WebSeedServer::start(&p.dir, Switches { wrong_bytes: true, ..Default::default() }).unwrap();
    let good = WebSeedServer::start(&p.dir, Switches { slow: Some(2_000_000), ..Default::default() }).unwrap();
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let r = get(
        &p,
        out.path(),
        &["--web-seed".into(), bad.url(), "--web-seed".into(), good.url(), "--peer".into(), seeder.addr().to_string()],
    );
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    let b = m.iter().find(|x| x["url"] == bad.url()).unwrap();
    let g = m.iter().find(|x| x["url"] == good.url()).unwrap();
    assert_eq!(b["dropped"], true, "{m:?}");
    assert_eq!(b["state"], "dropped", "{m:?}");
    assert!(b["reason"].as_str().unwrap().contains("failed the hash check"), "{m:?}");
    assert!(b["pieces_bad"].as_u64().unwrap() >= 1);
    assert_eq!(b["pieces_ok"], 0);
    assert_eq!(g["dropped"], false, "{m:?}");
    assert!(r.events().iter().any(|e| e["event"] == "webseed_dropped" && e["url"] == bad.url()));
    assert!(!r.stderr.contains("banned"), "a peer was blamed for the mirror:\n{}", r.stderr);
    assert!(r.stderr.contains("from a web seed failed the hash check"), "{}", r.stderr);
}

#[test]
fn hostile_mirror_alone_with_an_honest_mirror() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let bad = WebSeedServer::start(&p.dir, Switches { wrong_bytes: true, ..Default::default() }).unwrap();
    let good = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let r = get(&p, out.path(), &["--web-seed".into(), bad.url(), "--web-seed".into(), good.url()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    assert_eq!(m.iter().find(|x| x["url"] == bad.url()).unwrap()["dropped"], true, "{m:?}");
}

#[test]
fn no_web_seeds_ignores_them() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let ws = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let mut c = cmd(3);
    c.arg("--json").arg("-o").arg(out.path()).arg(&p.torrent_path).args(["--web-seed", &ws.url(), "--no-web-seeds"]);
    let r = run(c, LIMIT);
    assert_ne!(r.code(), 0, "{}", r.describe());
    assert_eq!(ws.requests(), 0);
}

#[test]
fn nginx_serves_the_payload() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let nginx = Nginx::start(&p.dir).expect("nginx (Debian package nginx-light, see .ci/run)");
    let r = get(&p, out.path(), &["--web-seed".into(), nginx.url()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    assert_eq!(m[0]["pieces_ok"].as_u64().unwrap() as usize, p.meta.info.piece_count(), "{m:?}");
    // nginx answers an invalid range with 416: none was sent.
    assert_eq!(m[0]["errors"], 0, "{m:?}");
    assert_eq!(m[0]["bytes"].as_u64().unwrap(), p.meta.info.total_length, "{m:?}");
}

#[test]
fn the_status_line_counts_mirrors_next_to_peers() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let bad = WebSeedServer::start(&p.dir, Switches { wrong_bytes: true, ..Default::default() }).unwrap();
    let good = WebSeedServer::start(&p.dir, Switches { slow: Some(200_000), ..Default::default() }).unwrap();
    let mut c = cmd_loud(60);
    c.arg("--status-interval").arg("1").arg("-o").arg(out.path()).arg(&p.torrent_path);
    c.args(["--web-seed", &bad.url(), "--web-seed", &good.url()]);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    // "..., 0 peers, 0 connecting / 0 known, 1/2 mirrors": the bad one dropped.
    let lines: Vec<_> = r.stderr.lines().filter(|l| l.contains(" known, ")).collect();
    assert!(lines.iter().any(|l| l.ends_with("1/2 mirrors") || l.contains(" 1/2 mirrors,")), "{}", r.stderr);
    assert!(lines.iter().all(|l| l.contains("/2 mirrors")), "{}", r.stderr);
}

#[test]
fn a_slow_mirror_holding_the_last_pieces_does_not_stall_the_download() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let total = p.meta.info.total_length;
    // Alone, the slow mirror's share (two requests of two 16 KiB pieces in
    // flight) would take 13 s at 5 kB/s; the fast mirror takes it over.
    let slow = WebSeedServer::start(&p.dir, Switches { slow: Some(5_000), ..Default::default() }).unwrap();
    let fast = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let t0 = std::time::Instant::now();
    let r = get(&p, out.path(), &["--web-seed".into(), slow.url(), "--web-seed".into(), fast.url()]);
    let took = t0.elapsed();
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    let s = m.iter().find(|x| x["url"] == slow.url()).unwrap();
    let f = m.iter().find(|x| x["url"] == fast.url()).unwrap();
    eprintln!("slow + fast mirror: {took:?}; slow {s}; fast {f}");
    assert!(took < Duration::from_secs(4), "took {took:?}\n{}", r.stderr);
    assert_eq!(s["dropped"], false, "a slow mirror is not blamed: {m:?}");
    assert!(f["pieces_ok"].as_u64().unwrap() as usize > p.meta.info.piece_count() / 2, "{m:?}");
    // Over-download is reported, and bounded.
    let wasted: u64 = m.iter().map(|x| x["wasted"].as_u64().unwrap()).sum();
    let done = r.last_event("done");
    assert!(done["downloaded"].as_u64().unwrap() <= total + total / 4, "{done}");
    assert!(wasted <= total / 4, "{m:?}");
}

#[test]
fn a_stalled_mirror_gives_its_last_pieces_to_an_idle_peer() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    // At 1 kB/s the mirror's share (two requests of two 16 KiB pieces)
    // would take a minute, its stall timeout never firing (a chunk every
    // 16 s); the peer takes the pieces over after 5 s of endgame.
    let ws = WebSeedServer::start(&p.dir, Switches { slow: Some(1_000), ..Default::default() }).unwrap();
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let t0 = std::time::Instant::now();
    let r = get(&p, out.path(), &["--web-seed".into(), ws.url(), "--peer".into(), seeder.addr().to_string()]);
    let took = t0.elapsed();
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    eprintln!("stalled mirror + peer: {took:?}; mirror {}", m[0]);
    assert!(took < Duration::from_secs(15), "took {took:?}\n{}", r.stderr);
    assert_eq!(m[0]["dropped"], false, "{m:?}");
    assert_eq!(m[0]["errors"], 0, "giving pieces to peers is not the mirror's fault: {m:?}");
}

#[test]
fn arch_style_fifty_mirrors_most_dead_no_tracker() {
    use test_fixtures::harness::RefusingPort;
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let refusing: Vec<RefusingPort> = (0..40).map(|_| RefusingPort::new()).collect();
    let missing: Vec<WebSeedServer> =
        (0..8).map(|_| WebSeedServer::start(&p.dir, Switches { not_found: true, ..Default::default() }).unwrap()).collect();
    let good: Vec<WebSeedServer> = (0..2).map(|_| WebSeedServer::start(&p.dir, Switches::default()).unwrap()).collect();
    let mut urls: Vec<String> = refusing.iter().map(|r| format!("http://127.0.0.1:{}/", r.port())).collect();
    urls.extend(missing.iter().map(|s| s.url()));
    urls.extend(good.iter().map(|s| s.url()));
    // Dead ones first and between: the order of a real url-list is arbitrary.
    urls.rotate_left(7);
    let torrent = with_url_list(&p, &urls);
    let mut c = cmd_loud(60);
    c.arg("--json").arg("-o").arg(out.path()).arg(&torrent);
    let t0 = std::time::Instant::now();
    let mut live = Live::spawn(c);
    let pid = live.child.id();
    // Threads sampled while it runs (the web-seed pool is bounded).
    let mut max_threads = 0;
    while live.child.try_wait().unwrap().is_none() && t0.elapsed() < LIMIT {
        if let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(n) = st.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse::<usize>().ok()) {
                max_threads = max_threads.max(n);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = live.finish(LIMIT);
    let took = t0.elapsed();
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    assert_eq!(m.len(), 50, "{m:?}");
    let ok: u64 = m.iter().map(|x| x["pieces_ok"].as_u64().unwrap()).sum();
    assert_eq!(ok as usize, p.meta.info.piece_count(), "{m:?}");
    for g in &good {
        assert!(m.iter().any(|x| x["url"] == g.url() && x["dropped"] == false), "{m:?}");
    }
    // Dead mirrors are backing off or dropped, with their reason.
    let dead: Vec<_> = m.iter().filter(|x| x["errors"].as_u64().unwrap() > 0).collect();
    assert!(dead.iter().all(|x| x["pieces_ok"] == 0 && !x["reason"].is_null()), "{dead:?}");
    // Bounded: 4 web-seed workers, so at most 4 requests at once and no
    // thread per mirror.
    assert!(max_threads <= 16, "{max_threads} threads");
    let served: u64 = good.iter().map(|g| g.bytes_sent()).sum();
    assert!(served <= p.meta.info.total_length * 2, "{served}");
    eprintln!("50 mirrors (40 refusing, 8 answering 404, 2 good): finished in {took:?}, at most {max_threads} threads");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn url_list_of_a_mktorrent_torrent_alone() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let ws = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    // A torrent whose only source is its url-list (no tracker, no peers).
    let torrent = src.path().join("url-list.torrent");
    let st = std::process::Command::new("mktorrent")
        .args(["-l", "15", "-w", &ws.url(), "-o"])
        .arg(&torrent)
        .arg(p.dir.join(&p.meta.info.name))
        .output()
        .expect("mktorrent (Debian package mktorrent)");
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let mut c = cmd(60);
    c.arg("--json").arg("-o").arg(out.path()).arg(&torrent);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["url"], ws.url());
    assert_eq!(m[0]["wasted"], 0, "{m:?}");
}
