//! Per-torrent seeding limits ([`Command::SetSeedLimits`]): a torrent's own
//! limit outweighs the configuration's, and one that reaches its limit is
//! done while the others go on seeding.

use super::sim::{config, torrent, Sim};
use crate::engine::lifecycle::Lifecycle;
use crate::engine::{Command, SeedLimits};
use std::time::Duration;

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
    sim.command(s, Command::SetSeedLimits(tids[0], SeedLimits { ratio: None, time: Some(Duration::from_secs(2)) }));
    sim.command(s, Command::SetSeedLimits(tids[2], SeedLimits { ratio: None, time: Some(Duration::from_secs(10)) }));
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
    sim.command(s, Command::SetSeedLimits(tid, SeedLimits { ratio: Some(1.0), time: None }));
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
    let (meta, data) = torrent(4 * 64 * KIB, 64 * KIB, 35);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    let mut cfg = config();
    cfg.seed = true;
    let s = sim.add_node(cfg, 1);
    let a = sim.add_torrent(s, &meta, &data, vec![true; n]);
    let (meta2, data2) = torrent(4 * 64 * KIB, 64 * KIB, 36);
    let b = sim.add_torrent(s, &meta2, &data2, vec![true; n]);
    // a: uploaded twice its size before; b: half of it.
    sim.nodes[s].engine.set_uploaded_before(a, 2 * data.len() as u64);
    sim.nodes[s].engine.set_uploaded_before(b, data2.len() as u64 / 2);
    for tid in [a, b] {
        sim.command(s, Command::SetSeedLimits(tid, SeedLimits { ratio: Some(2.0), time: None }));
    }
    sim.run_for(Duration::from_secs(2));
    assert_eq!((state(&sim, s, a), state(&sim, s, b)), ("done", "seeding"));
}
