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

/// A payload seeded by embedded seeders of the given kinds, all announced by
/// an embedded tracker that is the torrent's only source.
struct TrackedSwarm {
    seed: tempfile::TempDir,
    out: tempfile::TempDir,
    tracker: Tracker,
    p: Payload,
    s: Vec<Seeder>,
}

impl TrackedSwarm {
    fn start(name: &str, files: &[(&str, u64)], piece: u64, rng: u64, kinds: impl FnOnce(&Payload) -> Vec<SeederOptions>) -> Self {
        let seed = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
        let p = make_payload(seed.path(), name, files, piece, &[&tracker.http_announce_url()], rng).unwrap();
        let s = seeders(&p, &kinds(&p));
        for x in &s {
            tracker.add_peer(&p.meta.info_hash, x.addr());
        }
        TrackedSwarm { seed, out, tracker, p, s }
    }

    /// torrent-get with `args` before `-o OUT TORRENT`.
    fn download(&self, args: &[&str]) -> Run {
        let mut c = cmd(60);
        c.args(args).arg("-o").arg(self.out.path()).arg(&self.p.torrent_path);
        run(c, LIMIT)
    }

    fn assert_same_data(&self) {
        let name = &self.p.meta.info.name;
        assert_same_tree(&self.seed.path().join(name), &self.out.path().join(name));
    }
}

#[test]
fn multi_file_through_tracker_with_misbehaving_seeders() {
    let w = TrackedSwarm::start("multi", SMALL_FILES, 32 * 1024, 11, |_| {
        vec![
            SeederOptions::behaviour(Behaviour::DisconnectMidPiece),
            SeederOptions::behaviour(Behaviour::ChokeForever),
            SeederOptions::behaviour(Behaviour::Slow(64 * 1024)),
            SeederOptions::behaviour(Behaviour::WrongData),
            SeederOptions::default(),
            SeederOptions::default(),
        ]
    });
    assert!(w.p.meta.info.piece_count() > 8);
    let r = w.download(&[]);
    check_done_line(&r, &w.p, w.out.path());
    w.assert_same_data();
    assert!(w.tracker.http_announces() >= 1, "the tracker was never asked");
}

#[test]
fn wrong_data_is_detected_and_repaired() {
    // The liar is fast; the honest seeder is slowed down so that the liar
    // surely delivers some pieces.
    let w = TrackedSwarm::start("wrong", &[("x.bin", 1_000_000), ("y.bin", 48_577)], 32 * 1024, 12, |_| {
        vec![
            SeederOptions::behaviour(Behaviour::WrongData),
            SeederOptions::behaviour(Behaviour::Slow(2 * 1024 * 1024)),
        ]
    });
    let r = w.download(&["--json"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let done = r.last_event("done");
    assert_eq!(done["status"], "done", "{}", r.describe());
    assert_eq!(done["info_hash"], w.p.meta.info_hash.to_hex());
    assert_eq!(done["total_bytes"], w.p.meta.info.total_length);
    assert!(done["hash_failures"].as_u64().unwrap() >= 1, "no hash failure counted: {done}");
    assert!(w.s[0].bytes_uploaded() > 0, "the liar sent nothing, the test proves nothing");
    w.assert_same_data();
}

#[test]
fn bigger_payload_many_seeders() {
    let files = [("one.bin", 5 * 1024 * 1024 + 17), ("two/three.bin", 3 * 1024 * 1024 - 1000), ("four", 999)];
    let w = TrackedSwarm::start("big", &files, 256 * 1024, 13, |_| {
        vec![
            SeederOptions::default(),
            SeederOptions::default(),
            SeederOptions::default(),
            SeederOptions::behaviour(Behaviour::DisconnectMidPiece),
            SeederOptions::behaviour(Behaviour::Slow(256 * 1024)),
        ]
    });
    let r = w.download(&[]);
    check_done_line(&r, &w.p, w.out.path());
    w.assert_same_data();
    // More than one seeder served data.
    let serving = w.s.iter().filter(|x| x.bytes_uploaded() > 0).count();
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
    let w = TrackedSwarm::start("halves", &[("p.bin", 700_000), ("q.bin", 300_001)], 32 * 1024, 16, |p| {
        let n = p.meta.info.piece_count();
        let even: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
        let odd: Vec<bool> = (0..n).map(|i| i % 2 == 1).collect();
        vec![
            SeederOptions { have: Some(even), ..Default::default() },
            SeederOptions { have: Some(odd), fast: false, ..Default::default() },
        ]
    });
    let r = w.download(&["--json"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let done = r.last_event("done");
    assert_eq!(done["have_bytes"], w.p.meta.info.total_length, "{done}");
    w.assert_same_data();
    for x in &w.s {
        assert!(x.bytes_uploaded() > 0, "a half seeder sent nothing");
        assert!(x.bytes_uploaded() < w.p.meta.info.total_length + 200_000);
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
