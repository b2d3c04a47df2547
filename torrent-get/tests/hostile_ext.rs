//! Hostile peers over the extension protocol (issue 18), end to end: a
//! magnet's metadata arrives from the honest peer in bounded time whatever
//! one hostile peer does with ut_metadata (BEP 9); metadata that matches the
//! info-hash but is invalid fails with exit 2 and the real reason; a PEX
//! flood (BEP 11) does not stop the tracker's peer being tried.

mod common;

use common::*;
use sha1::{Digest, Sha1};
use std::time::{Duration, Instant};
use test_fixtures::hostile_ext::{ExtMode, HostileExtPeer};
use test_fixtures::payload::make_payload;
use test_fixtures::seeder::{Seeder, SeederOptions};
use test_fixtures::tracker::{Tracker, TrackerOptions};

const LIMIT: Duration = Duration::from_secs(90);
/// With the honest seeder alone the metadata and data take well under a
/// second here; this leaves room for the next announce (5 s), the 15 s
/// request timeout and a loaded machine.
const BOUND: Duration = Duration::from_secs(40);

fn magnet_with_hostile(mode: impl Fn(&torrent_core::Metainfo) -> ExtMode) {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    // Metadata of several 16 KiB pieces.
    let p = make_payload(seed.path(), "hm", &[("a.bin", 40_000_000), ("b.bin", 1234)], 16 * 1024, &[], 61).unwrap();
    assert!(p.meta.info_bytes.len() > 2 * 16 * 1024);
    let hostile = HostileExtPeer::start(p.meta.info_hash, mode(&p.meta)).unwrap();
    // The honest seeder comes later, from the tracker, once the hostile
    // peer has been asked for metadata: it is the first peer.
    let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
    let tr: String = tracker
        .http_announce_url()
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'.' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let magnet = format!("magnet:?xt=urn:btih:{}&tr={tr}", p.meta.info_hash.to_hex());
    let mut c = cmd_loud(60);
    c.arg("-v").arg("--no-listen").arg("-o").arg(out.path());
    c.arg("--peer").arg(hostile.addr().to_string());
    c.arg(&magnet);
    let live = Live::spawn(c);
    let end = Instant::now() + Duration::from_secs(20);
    while hostile.requests() == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(hostile.requests() >= 1, "the hostile peer was never asked");
    let honest = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    tracker.add_peer(&p.meta.info_hash, honest.addr());
    let added = Instant::now();
    let r = live.finish(LIMIT);
    let took = added.elapsed();
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert!(took < BOUND, "took {took:?} after the honest peer came: {}", r.describe());
    assert!(honest.metadata_pieces_sent() >= 1, "{}", r.describe());
    assert_same_tree(&seed.path().join("hm"), &out.path().join("hm"));
}

#[test]
fn magnet_completes_when_the_first_peer_claims_a_wrong_metadata_size() {
    magnet_with_hostile(|m| ExtMode::SilentSize(m.info_bytes.len() + 1));
    magnet_with_hostile(|_| ExtMode::SilentSize(16 << 20));
}

#[test]
fn magnet_completes_when_a_peer_sends_garbage_or_short_metadata() {
    magnet_with_hostile(|m| ExtMode::Garbage(m.info_bytes.to_vec()));
    magnet_with_hostile(|m| ExtMode::Short(m.info_bytes.len()));
}

#[test]
fn metadata_matching_the_hash_but_invalid_exits_2_with_the_reason() {
    let out = tempfile::tempdir().unwrap();
    // A total length of 0: every client refuses it; nothing else can ever
    // match this info-hash.
    let mut info = b"d6:lengthi0e4:name1:x12:piece lengthi16384e6:pieces20:".to_vec();
    info.extend_from_slice(&[7; 20]);
    info.push(b'e');
    let hash = torrent_core::InfoHash(Sha1::digest(&info).into());
    let hostile = HostileExtPeer::start(hash, ExtMode::Serve(info)).unwrap();
    let mut c = cmd_loud(60);
    c.arg("--no-listen").arg("-o").arg(out.path()).arg("--peer").arg(hostile.addr().to_string());
    c.arg(format!("magnet:?xt=urn:btih:{}", hash.to_hex()));
    let started = Instant::now();
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(started.elapsed() < Duration::from_secs(20), "{}", r.describe());
    assert!(r.stderr.contains("matches the info-hash but is invalid"), "{}", r.describe());
    assert!(!r.stderr.contains("does not match the info-hash"), "{}", r.describe());
    assert!(r.stdout.contains("\tfailed\t"), "{}", r.describe());
}

#[test]
fn a_pex_flood_does_not_stop_tracker_peers_being_tried() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
    let p = make_payload(seed.path(), "px.bin", &[("", 1_000_000)], 32 * 1024, &[&tracker.http_announce_url()], 62).unwrap();
    let flooder = HostileExtPeer::start(p.meta.info_hash, ExtMode::PexFlood { messages: 12, per: 200 }).unwrap();
    let mut c = cmd(60);
    c.arg("--json").arg("--no-listen").arg("-o").arg(out.path()).arg("--peer").arg(flooder.addr().to_string());
    c.arg(&p.torrent_path);
    let live = Live::spawn(c);
    // The flood is in before the tracker knows the seeder.
    let end = Instant::now() + Duration::from_secs(20);
    while flooder.pex_sent() < 12 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(flooder.pex_sent(), 12);
    std::thread::sleep(Duration::from_millis(500));
    let honest = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    tracker.add_peer(&p.meta.info_hash, honest.addr());
    let r = live.finish(LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert!(honest.bytes_uploaded() > 0);
    assert_eq!(std::fs::read(seed.path().join("px.bin")).unwrap(), std::fs::read(out.path().join("px.bin")).unwrap());
}
