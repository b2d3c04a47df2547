//! Magnet links: the info dictionary is fetched from peers (BEP 9), then the
//! data is downloaded.

mod common;

use common::*;
use std::time::Duration;
use test_fixtures::payload::make_payload;
use test_fixtures::seeder::{Seeder, SeederOptions};
use test_fixtures::tracker::{Tracker, TrackerOptions};

const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn magnet_with_peer_in_link() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    // An info dictionary bigger than one 16 KiB metadata piece (many piece
    // hashes), so the metadata comes in several pieces.
    let p = make_payload(seed.path(), "mag", &[("a.bin", 14_000_000), ("b/c.bin", 123_457)], 16 * 1024, &[], 31).unwrap();
    assert!(p.meta.info_bytes.len() > 16 * 1024);
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let magnet = format!("magnet:?xt=urn:btih:{}&x.pe=127.0.0.1:{}", p.meta.info_hash.to_hex(), s.addr().port());
    let mut c = cmd(60);
    c.arg("--json").arg("--no-listen").arg("-o").arg(out.path()).arg(&magnet);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let meta = r.last_event("metadata");
    assert_eq!(meta["name"], "mag");
    assert_eq!(meta["size"], p.meta.info.total_length);
    let done = r.last_event("done");
    assert_eq!(done["status"], "done");
    assert!(s.metadata_pieces_sent() >= 2, "metadata came from somewhere else?");
    assert_same_tree(&seed.path().join("mag"), &out.path().join("mag"));
}

#[test]
fn magnet_plain_output_and_peer_that_refuses_metadata() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "mag2", &[("x", 400_001), ("y", 5)], 32 * 1024, &[], 32).unwrap();
    let refuses = Seeder::start(&p.meta, &p.dir, SeederOptions { serve_metadata: false, ..Default::default() }).unwrap();
    let serves = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    // Only the info-hash and a display name in the link; peers from --peer.
    let magnet = format!("magnet:?xt=urn:btih:{}&dn=mag2", p.meta.info_hash.to_hex());
    let mut c = cmd(60);
    c.arg("-o").arg(out.path());
    c.arg("--peer").arg(refuses.addr().to_string()).arg("--peer").arg(serves.addr().to_string());
    c.arg(&magnet);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let want = format!("{}\tdone\t{}", p.meta.info_hash, out.path().join("mag2").display());
    assert!(r.stdout.lines().any(|l| l == want), "{}", r.describe());
    assert_eq!(refuses.metadata_pieces_sent(), 0);
    assert!(serves.metadata_pieces_sent() >= 1);
    assert_same_tree(&seed.path().join("mag2"), &out.path().join("mag2"));
}

#[test]
fn magnet_through_tracker() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
    let p = make_payload(seed.path(), "mag3.bin", &[("", 600_000)], 32 * 1024, &[], 33).unwrap();
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    tracker.add_peer(&p.meta.info_hash, s.addr());
    let tr: String = tracker
        .http_announce_url()
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'.' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let magnet = format!("magnet:?xt=urn:btih:{}&tr={tr}", p.meta.info_hash.to_hex());
    let mut c = cmd(60);
    c.arg("-o").arg(out.path()).arg(&magnet);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert!(tracker.http_announces() >= 1);
    assert_eq!(
        std::fs::read(seed.path().join("mag3.bin")).unwrap(),
        std::fs::read(out.path().join("mag3.bin")).unwrap()
    );
}
