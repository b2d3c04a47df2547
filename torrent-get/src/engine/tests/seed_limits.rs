//! Per-torrent seeding limits ([`Command::SetSeedLimits`]): a torrent's own
//! limit (or its own "unlimited") outweighs the configuration's, one that
//! reaches its limit is done while the others go on seeding, and a change
//! of limits is judged at once: done torrents seed again, seeding ones
//! past the new limit are done.

use super::sim::{config, torrent, Sim};
use crate::engine::lifecycle::Lifecycle;
use crate::engine::{Command, SeedLimit, SeedLimits};
use std::time::Duration;
use torrent_core::tracker::Event;

/// A seeding node with a 256 KiB torrent of four pieces (`seed` makes the
/// bytes), and the torrent and its data for leechers.
struct Seeder {
    sim: Sim,
    s: usize,
    tid: usize,
    meta: torrent_core::Metainfo,
    data: Vec<u8>,
}

fn seeder(seed: u64) -> Seeder {
    let (meta, data) = torrent(4 * 64 * KIB, 64 * KIB, seed);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    let mut cfg = config();
    cfg.seed = true;
    let s = sim.add_node(cfg, 1);
    let tid = sim.add_torrent(s, &meta, &data, vec![true; n]);
    Seeder { sim, s, tid, meta, data }
}

fn time(secs: u64) -> SeedLimits {
    SeedLimits { ratio: SeedLimit::Default, time: SeedLimit::Value(Duration::from_secs(secs)) }
}

fn ratio(r: f64) -> SeedLimits {
    SeedLimits { ratio: SeedLimit::Value(r), time: SeedLimit::Default }
}

const KIB: usize = 1024;

fn state(sim: &Sim, n: usize, tid: usize) -> &'static str {
    sim.nodes[n].engine.lifecycle(tid).map(|l| l.api_name()).unwrap_or("gone")
}

#[test]
fn a_torrents_own_seed_time_outweighs_the_default() {
    let mut sim = Sim::new();
    let mut cfg = config();
    cfg.seed = true;
    cfg.seed_time = Some(Duration::from_secs(4));
    let s = sim.add_node(cfg, 1);
    let mut tids = Vec::new();
    for seed in [31, 32, 33] {
        let (meta, data) = torrent(4 * 64 * KIB, 64 * KIB, seed);
        let n = meta.info.pieces.len();
        tids.push(sim.add_torrent(s, &meta, &data, vec![true; n]));
    }
    // 0: its own 2 s; 1: the default 4 s; 2: its own 10 s.
    sim.command(s, Command::SetSeedLimits(tids[0], time(2)));
    sim.command(s, Command::SetSeedLimits(tids[2], time(10)));
    assert_eq!(sim.nodes[s].engine.effective_seed_limits(tids[1]).time, Some(Duration::from_secs(4)));
    assert_eq!(sim.nodes[s].engine.effective_seed_limits(tids[2]).time, Some(Duration::from_secs(10)));
    let states = |sim: &Sim| tids.iter().map(|&t| state(sim, s, t)).collect::<Vec<_>>();
    assert_eq!(states(&sim), ["seeding"; 3]);
    sim.run_for(Duration::from_millis(1500));
    assert_eq!(states(&sim), ["seeding"; 3]);
    sim.run_for(Duration::from_millis(1500));
    assert_eq!(states(&sim), ["done", "seeding", "seeding"]);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(states(&sim), ["done", "done", "seeding"]);
    sim.run_for(Duration::from_secs(4));
    assert_eq!(states(&sim), ["done", "done", "seeding"], "10 s not yet reached");
    sim.run_for(Duration::from_secs(3));
    assert_eq!(states(&sim), ["done"; 3]);
    assert!(matches!(sim.nodes[s].engine.lifecycle(tids[0]), Some(Lifecycle::Done(_))));
}

#[test]
fn a_torrents_own_ratio_ends_its_seeding_once_uploaded() {
    let (meta, data) = torrent(8 * 64 * KIB, 64 * KIB, 34);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    let mut scfg = config();
    scfg.seed = true;
    let s = sim.add_node(scfg, 1);
    let tid = sim.add_torrent(s, &meta, &data, vec![true; n]);
    sim.command(s, Command::SetSeedLimits(tid, ratio(1.0)));
    sim.run_for(Duration::from_secs(5));
    assert_eq!(state(&sim, s, tid), "seeding", "nothing uploaded yet");
    let mut lcfg = config();
    lcfg.extra_peers.push(sim.addr(s));
    let l = sim.add_node(lcfg, 2);
    sim.add_torrent(l, &meta, &data, vec![false; n]);
    let until = sim.now + Duration::from_secs(30);
    assert!(sim.run_until(until, |sim| sim.complete(l, 0)), "the leecher did not finish");
    sim.run_for(Duration::from_secs(2));
    let up = sim.nodes[s].engine.torrent(tid).unwrap().uploaded;
    assert!(up >= data.len() as u64, "uploaded {up}");
    assert_eq!(state(&sim, s, tid), "done", "ratio 1 reached");
}

#[test]
fn uploads_of_earlier_runs_count_towards_the_ratio() {
    let Seeder { mut sim, s, tid: a, meta, data } = seeder(35);
    let n = meta.info.pieces.len();
    let (meta2, data2) = torrent(4 * 64 * KIB, 64 * KIB, 36);
    let b = sim.add_torrent(s, &meta2, &data2, vec![true; n]);
    // a: uploaded twice its size before; b: half of it.
    sim.nodes[s].engine.set_uploaded_before(a, 2 * data.len() as u64);
    sim.nodes[s].engine.set_uploaded_before(b, data2.len() as u64 / 2);
    for tid in [a, b] {
        sim.command(s, Command::SetSeedLimits(tid, ratio(2.0)));
    }
    sim.run_for(Duration::from_secs(2));
    assert_eq!((state(&sim, s, a), state(&sim, s, b)), ("done", "seeding"));
}

#[test]
fn a_torrents_own_unlimited_outweighs_the_default() {
    let mut sim = Sim::new();
    let mut cfg = config();
    cfg.seed = true;
    cfg.seed_time = Some(Duration::from_secs(2));
    cfg.seed_ratio = Some(0.5);
    let s = sim.add_node(cfg, 1);
    let mut tids = Vec::new();
    for seed in [41, 42, 43] {
        let (meta, data) = torrent(4 * 64 * KIB, 64 * KIB, seed);
        let n = meta.info.pieces.len();
        let tid = sim.add_torrent(s, &meta, &data, vec![true; n]);
        // Half its size uploaded before: the default ratio is reached.
        sim.nodes[s].engine.set_uploaded_before(tid, data.len() as u64 / 2);
        tids.push(tid);
    }
    // 0: no limit at all; 1: no time limit but the default ratio; 2: the defaults.
    let unlimited = SeedLimits { ratio: SeedLimit::Unlimited, time: SeedLimit::Unlimited };
    sim.command(s, Command::SetSeedLimits(tids[0], unlimited));
    sim.command(s, Command::SetSeedLimits(tids[1], SeedLimits { ratio: SeedLimit::Default, time: SeedLimit::Unlimited }));
    let e = &sim.nodes[s].engine;
    assert_eq!((e.effective_seed_limits(tids[0]).ratio, e.effective_seed_limits(tids[0]).time), (None, None));
    assert_eq!((e.effective_seed_limits(tids[1]).ratio, e.effective_seed_limits(tids[1]).time), (Some(0.5), None));
    assert_eq!(e.effective_seed_limits(tids[2]).time, Some(Duration::from_secs(2)));
    sim.run_for(Duration::from_secs(1));
    let states = |sim: &Sim| tids.iter().map(|&t| state(sim, s, t)).collect::<Vec<_>>();
    assert_eq!(states(&sim), ["seeding", "done", "done"], "the default ratio ends 1 and 2");
    sim.run_for(Duration::from_secs(60));
    assert_eq!(states(&sim)[0], "seeding", "unlimited: past the default time and ratio");
}

/// A seeder done by its ratio and a leecher it never served: raising the
/// ratio makes it seed again, and the leecher gets the torrent from it.
#[test]
fn raising_a_reached_ratio_seeds_again_to_new_peers() {
    let (meta, data) = torrent(8 * 64 * KIB, 64 * KIB, 44);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    let mut scfg = config();
    scfg.seed = true;
    let s = sim.add_node(scfg, 1);
    let tid = sim.add_torrent(s, &meta, &data, vec![true; n]);
    sim.nodes[s].engine.set_uploaded_before(tid, data.len() as u64);
    sim.command(s, Command::SetSeedLimits(tid, ratio(1.0)));
    assert_eq!(state(&sim, s, tid), "done", "ratio 1 reached by earlier runs");
    let mut lcfg = config();
    lcfg.extra_peers.push(sim.addr(s));
    let l = sim.add_node(lcfg, 2);
    sim.add_torrent(l, &meta, &data, vec![false; n]);
    sim.run_for(Duration::from_secs(10));
    assert!(!sim.complete(l, 0), "a done seeder serves nobody");
    sim.command(s, Command::SetSeedLimits(tid, ratio(3.0)));
    assert_eq!(state(&sim, s, tid), "seeding", "ratio 1 of 3: seeding again at once");
    let until = sim.now + Duration::from_secs(120);
    assert!(sim.run_until(until, |sim| sim.complete(l, 0)), "the leecher did not finish from the seeder seeding again");
    assert_eq!(state(&sim, s, tid), "seeding", "ratio 2 of 3");
}

/// Its seeding time, raised after it was done: the time it sat done does
/// not count; `started` goes to the trackers at once, `stopped` at each
/// end. Lowered below what it seeded: done at once (no tick needed).
#[test]
fn a_changed_seed_time_is_judged_at_once_on_seeding_time_only() {
    let Seeder { mut sim, s, tid, .. } = seeder(45);
    sim.nodes[s].engine.torrents[tid].as_mut().unwrap().trackers = vec![vec!["http://127.0.0.1:9/announce".into()]];
    sim.command(s, Command::SetSeedLimits(tid, time(1)));
    let events = |sim: &Sim| sim.nodes[s].announces.iter().filter(|(t, _)| *t == tid).map(|(_, e)| *e).collect::<Vec<_>>();
    sim.run_for(Duration::from_millis(1500));
    assert_eq!(state(&sim, s, tid), "done");
    assert_eq!(events(&sim), [Event::Started, Event::Stopped]);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(events(&sim).len(), 2, "nothing announced while done");
    sim.command(s, Command::SetSeedLimits(tid, time(3)));
    assert_eq!(state(&sim, s, tid), "seeding", "seeded about 1 s of 3");
    assert_eq!(events(&sim), [Event::Started, Event::Stopped, Event::Started], "started announced at once");
    sim.run_for(Duration::from_millis(1500));
    assert_eq!(state(&sim, s, tid), "seeding", "about 2.5 s seeded (7.5 s since it completed)");
    sim.run_for(Duration::from_secs(1));
    assert_eq!(state(&sim, s, tid), "done", "3 s seeded");
    assert_eq!(events(&sim).last(), Some(&Event::Stopped));
    // Unlimited, then the default (none here): seeding again each time.
    sim.command(s, Command::SetSeedLimits(tid, SeedLimits { ratio: SeedLimit::Default, time: SeedLimit::Unlimited }));
    assert_eq!(state(&sim, s, tid), "seeding");
    sim.run_for(Duration::from_secs(5));
    sim.command(s, Command::SetSeedLimits(tid, SeedLimits::default()));
    assert_eq!(state(&sim, s, tid), "seeding", "no default limit");
    // Lowered below the 8 s it seeded: done at once.
    sim.command(s, Command::SetSeedLimits(tid, time(6)));
    assert_eq!(state(&sim, s, tid), "done");
    let ev = events(&sim);
    assert_eq!(&ev[ev.len() - 2..], [Event::Started, Event::Stopped]);
    // Raised, but not past what it seeded: stays done.
    sim.command(s, Command::SetSeedLimits(tid, time(7)));
    assert_eq!(state(&sim, s, tid), "done");
    assert_eq!(events(&sim).len(), ev.len());
}

#[test]
fn a_lowered_ratio_ends_seeding_at_once() {
    let Seeder { mut sim, s, tid, data, .. } = seeder(46);
    sim.nodes[s].engine.set_uploaded_before(tid, data.len() as u64 * 3 / 2);
    sim.command(s, Command::SetSeedLimits(tid, ratio(2.0)));
    assert_eq!(state(&sim, s, tid), "seeding", "ratio 1.5 of 2");
    sim.command(s, Command::SetSeedLimits(tid, ratio(1.0)));
    assert_eq!(state(&sim, s, tid), "done", "ratio 1.5 of 1, without waiting for a tick");
}

/// Paused time is not seeding time (the check after the resume runs at
/// the ticks, once a second: 1.2 s of running has one).
#[test]
fn a_pause_stops_the_seeding_clock() {
    let Seeder { mut sim, s, tid, .. } = seeder(47);
    sim.command(s, Command::SetSeedLimits(tid, time(3)));
    sim.run_for(Duration::from_secs(1));
    sim.command(s, Command::Pause(tid));
    sim.run_for(Duration::from_secs(5));
    sim.command(s, Command::Resume(tid));
    sim.run_for(Duration::from_millis(1200));
    assert_eq!(state(&sim, s, tid), "seeding", "2.2 s seeded of 3 (7.2 s since it completed)");
    sim.run_for(Duration::from_secs(1));
    assert_eq!(state(&sim, s, tid), "done");
}

/// Without seeding (`--seed` not given) a complete torrent is done, and
/// no limit makes it seed.
#[test]
fn without_seeding_no_limit_makes_a_done_torrent_seed() {
    let (meta, data) = torrent(4 * 64 * KIB, 64 * KIB, 48);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    let s = sim.add_node(config(), 1);
    let tid = sim.add_torrent(s, &meta, &data, vec![true; n]);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(state(&sim, s, tid), "done");
    sim.command(s, Command::SetSeedLimits(tid, SeedLimits { ratio: SeedLimit::Unlimited, time: SeedLimit::Unlimited }));
    assert_eq!(state(&sim, s, tid), "done");
}
