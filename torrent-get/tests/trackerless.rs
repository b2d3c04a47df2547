//! Trackerless downloads: a magnet link found through a DHT of our own nodes
//! on loopback (BEP 5), and a second seeder learned only through peer
//! exchange (BEP 11).

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;
use test_fixtures::dht::DhtNet;
use test_fixtures::payload::make_payload;
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};

const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn magnet_without_trackers_downloads_through_the_dht() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "dht", &[("a.bin", 300_000), ("b.bin", 70_000)], 32 * 1024, &[], 21).unwrap();
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let net = DhtNet::start(8).unwrap();
    let acked = net.announce(p.meta.info_hash, seeder.addr().port());
    assert!(acked >= 1, "no DHT node stored the seeder");

    let magnet = format!("magnet:?xt=urn:btih:{}", p.meta.info_hash);
    let state = out.path().join("dht.dat");
    let mut c = Command::new(bin());
    c.args(["--listen", "127.0.0.1:0", "-q", "--timeout", "60", "--json"])
        .arg("--dht-bootstrap")
        .arg(net.bootstrap_addr().to_string())
        .arg("--dht-state")
        .arg(&state)
        .arg("-o")
        .arg(out.path())
        .arg(&magnet);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(r.last_event("done")["status"], "done");
    assert!(r.events().iter().any(|e| e["event"] == "metadata"), "{}", r.describe());
    assert_same_tree(&seed.path().join("dht"), &out.path().join("dht"));
    // The node table was saved for the next run.
    let saved = std::fs::read(&state).expect("DHT state saved");
    let st = torrent_core::dht::persist::SavedState::from_bytes(&saved).unwrap();
    assert!(!st.nodes.is_empty(), "saved DHT state has no nodes");
}

#[test]
fn second_seeder_learned_only_through_pex() {
    let seed = tempfile::tempdir().unwrap();
    let mid = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "pex", &[("a.bin", 1_000_000)], 32 * 1024, &[], 22).unwrap();
    // A slow seeder keeps the first leecher busy (and connected) for seconds.
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(Behaviour::Slow(150 * 1024))).unwrap();
    let port = free_port();
    let mut first = Command::new(bin());
    first.args(["--no-dht", "-q", "--timeout", "60"]).arg("--listen").arg(format!("127.0.0.1:{port}"));
    first.arg("-o").arg(mid.path()).arg(&p.torrent_path).arg("--peer").arg(s.addr().to_string());
    let first = Live::spawn(first);
    // Wait until the first leecher is connected to the seeder.
    let t0 = std::time::Instant::now();
    while s.connections() < 1 {
        assert!(t0.elapsed() < Duration::from_secs(10), "first leecher never reached the seeder");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The second leecher knows only the first; the seeder's address can only
    // come from the first leecher's ut_pex message.
    let mut second = cmd(60);
    second.arg("-o").arg(out.path()).arg(&p.torrent_path).arg("--peer").arg(format!("127.0.0.1:{port}"));
    let r = run(second, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert!(s.connections() >= 2, "the second leecher never connected to the seeder (connections: {})", s.connections());
    assert_same_tree(&seed.path().join("pex"), &out.path().join("pex"));
    drop(first);
}

#[test]
fn private_torrents_never_use_the_dht() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let data = seed.path().join("priv.bin");
    test_fixtures::payload::write_pseudo_random_file(&data, 100_000, 23).unwrap();
    let opts = torrent_core::create::CreateOptions { private: true, piece_length: Some(16384), ..Default::default() };
    let bytes = torrent_core::create::create_torrent(&data, &opts).unwrap();
    let meta = torrent_core::Metainfo::from_bytes(&bytes).unwrap();
    assert!(meta.info.private);
    let torrent = seed.path().join("priv.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let seeder = Seeder::start(&meta, seed.path(), SeederOptions::default()).unwrap();
    let net = DhtNet::start(8).unwrap();
    assert!(net.announce(meta.info_hash, seeder.addr().port()) >= 1);

    // The same setup finds the seeder for a public torrent (see above); a
    // private one must not ask the DHT, so nothing is found.
    let mut c = Command::new(bin());
    c.args(["--listen", "127.0.0.1:0", "-q", "--timeout", "8", "--json"])
        .arg("--dht-bootstrap")
        .arg(net.bootstrap_addr().to_string())
        .arg("--dht-state")
        .arg(out.path().join("dht.dat"))
        .arg("-o")
        .arg(out.path())
        .arg(&torrent);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 1, "{}", r.describe());
    assert_eq!(seeder.connections(), 0, "a private torrent found its seeder through the DHT");
    assert!(!r.events().iter().any(|e| e["event"] == "dht"), "a DHT lookup ran for a private torrent");
}
