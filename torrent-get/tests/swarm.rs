//! Downloads from swarms of embedded seeders (honest and misbehaving), found
//! through the embedded tracker or given with --peer.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};
use test_fixtures::tracker::{Tracker, TrackerOptions};

const LIMIT: Duration = Duration::from_secs(90);

/// Files of awkward sizes so pieces cross file boundaries (and one piece
/// spans three files).
const SMALL_FILES: &[(&str, u64)] = &[("a.bin", 100_001), ("b/tiny", 3), ("b/c.bin", 250_000), ("z", 1)];

fn seeders(p: &Payload, kinds: &[SeederOptions]) -> Vec<Seeder> {
    kinds.iter().map(|o| Seeder::start(&p.meta, &p.dir, o.clone()).expect("seeder")).collect()
}

fn check_done_line(r: &Run, p: &Payload, out: &Path) {
    assert_eq!(r.code(), 0, "{}", r.describe());
    let want = format!("{}\tdone\t{}", p.meta.info_hash, out.join(&p.meta.info.name).display());
    assert!(r.stdout.lines().any(|l| l == want), "no line {want:?} in stdout\n{}", r.describe());
}

#[test]
fn multi_file_through_tracker_with_misbehaving_seeders() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
    let p = make_payload(seed.path(), "multi", SMALL_FILES, 32 * 1024, &[&tracker.http_announce_url()], 11).unwrap();
    assert!(p.meta.info.piece_count() > 8);
    let s = seeders(
        &p,
        &[
            SeederOptions::behaviour(Behaviour::DisconnectMidPiece),
            SeederOptions::behaviour(Behaviour::ChokeForever),
            SeederOptions::behaviour(Behaviour::Slow(64 * 1024)),
            SeederOptions::behaviour(Behaviour::WrongData),
            SeederOptions::default(),
            SeederOptions::default(),
        ],
    );
    for x in &s {
        tracker.add_peer(&p.meta.info_hash, x.addr());
    }
    let mut c = cmd(60);
    c.arg("-o").arg(out.path()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    check_done_line(&r, &p, out.path());
    assert_same_tree(&seed.path().join("multi"), &out.path().join("multi"));
    assert!(tracker.http_announces() >= 1, "the tracker was never asked");
}

#[test]
fn wrong_data_is_detected_and_repaired() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
    let p = make_payload(
        seed.path(),
        "wrong",
        &[("x.bin", 1_000_000), ("y.bin", 48_577)],
        32 * 1024,
        &[&tracker.http_announce_url()],
        12,
    )
    .unwrap();
    // The liar is fast; the honest seeder is slowed down so that the liar
    // surely delivers some pieces.
    let s = seeders(
        &p,
        &[
            SeederOptions::behaviour(Behaviour::WrongData),
            SeederOptions::behaviour(Behaviour::Slow(2 * 1024 * 1024)),
        ],
    );
    for x in &s {
        tracker.add_peer(&p.meta.info_hash, x.addr());
    }
    let mut c = cmd(60);
    c.arg("--json").arg("-o").arg(out.path()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let done = r.last_event("done");
    assert_eq!(done["status"], "done", "{}", r.describe());
    assert_eq!(done["info_hash"], p.meta.info_hash.to_hex());
    assert_eq!(done["total_bytes"], p.meta.info.total_length);
    assert!(done["hash_failures"].as_u64().unwrap() >= 1, "no hash failure counted: {done}");
    assert!(s[0].bytes_uploaded() > 0, "the liar sent nothing, the test proves nothing");
    assert_same_tree(&seed.path().join("wrong"), &out.path().join("wrong"));
}

#[test]
fn bigger_payload_many_seeders() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
    let p = make_payload(
        seed.path(),
        "big",
        &[("one.bin", 5 * 1024 * 1024 + 17), ("two/three.bin", 3 * 1024 * 1024 - 1000), ("four", 999)],
        256 * 1024,
        &[&tracker.http_announce_url()],
        13,
    )
    .unwrap();
    let s = seeders(
        &p,
        &[
            SeederOptions::default(),
            SeederOptions::default(),
            SeederOptions::default(),
            SeederOptions::behaviour(Behaviour::DisconnectMidPiece),
            SeederOptions::behaviour(Behaviour::Slow(256 * 1024)),
        ],
    );
    for x in &s {
        tracker.add_peer(&p.meta.info_hash, x.addr());
    }
    let mut c = cmd(60);
    c.arg("-o").arg(out.path()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    check_done_line(&r, &p, out.path());
    assert_same_tree(&seed.path().join("big"), &out.path().join("big"));
    // More than one seeder served data.
    let serving = s.iter().filter(|x| x.bytes_uploaded() > 0).count();
    assert!(serving >= 2, "only {serving} seeder(s) sent data");
}

#[test]
fn peers_from_command_line_only() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    // No tracker in the torrent at all.
    let p = make_payload(seed.path(), "direct", SMALL_FILES, 32 * 1024, &[], 14).unwrap();
    assert!(p.meta.announce.is_none() && p.meta.announce_list.is_empty());
    let s = seeders(&p, &[SeederOptions::default(), SeederOptions::behaviour(Behaviour::ChokeForever)]);
    let mut c = cmd(60);
    c.arg("--no-listen").arg("-o").arg(out.path());
    for x in &s {
        c.arg("--peer").arg(x.addr().to_string());
    }
    c.arg(&p.torrent_path);
    let r = run(c, LIMIT);
    check_done_line(&r, &p, out.path());
    assert_same_tree(&seed.path().join("direct"), &out.path().join("direct"));
}

#[test]
fn single_file_torrent() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "single.bin", &[("", 777_777)], 16 * 1024, &[], 15).unwrap();
    let s = seeders(&p, &[SeederOptions::default()]);
    let mut c = cmd(60);
    c.arg("--no-listen").arg("-o").arg(out.path()).arg("--peer").arg(s[0].addr().to_string()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    check_done_line(&r, &p, out.path());
    assert_eq!(
        std::fs::read(seed.path().join("single.bin")).unwrap(),
        std::fs::read(out.path().join("single.bin")).unwrap()
    );
}

#[test]
fn half_seeders_together_make_a_whole() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
    let p = make_payload(
        seed.path(),
        "halves",
        &[("p.bin", 700_000), ("q.bin", 300_001)],
        32 * 1024,
        &[&tracker.http_announce_url()],
        16,
    )
    .unwrap();
    let n = p.meta.info.piece_count();
    let even: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
    let odd: Vec<bool> = (0..n).map(|i| i % 2 == 1).collect();
    let s = seeders(
        &p,
        &[
            SeederOptions { have: Some(even), ..Default::default() },
            SeederOptions { have: Some(odd), fast: false, ..Default::default() },
        ],
    );
    for x in &s {
        tracker.add_peer(&p.meta.info_hash, x.addr());
    }
    let mut c = cmd(60);
    c.arg("--json").arg("-o").arg(out.path()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let done = r.last_event("done");
    assert_eq!(done["have_bytes"], p.meta.info.total_length, "{done}");
    assert_same_tree(&seed.path().join("halves"), &out.path().join("halves"));
    for x in &s {
        assert!(x.bytes_uploaded() > 0, "a half seeder sent nothing");
        assert!(x.bytes_uploaded() < p.meta.info.total_length + 200_000);
    }
}

#[test]
fn no_usable_peer_times_out_with_exit_1() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "stuck", &[("", 100_000)], 16 * 1024, &[], 17).unwrap();
    let s = seeders(&p, &[SeederOptions::behaviour(Behaviour::ChokeForever)]);
    let mut c = cmd(3);
    c.arg("--no-listen").arg("-o").arg(out.path()).arg("--peer").arg(s[0].addr().to_string()).arg(&p.torrent_path);
    let r = run(c, Duration::from_secs(30));
    assert_eq!(r.code(), 1, "{}", r.describe());
    let want = format!("{}\tincomplete\t", p.meta.info_hash);
    assert!(r.stdout.lines().any(|l| l.starts_with(&want)), "{}", r.describe());
}
