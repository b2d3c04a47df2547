//! Many torrents between one seeder and one leecher (issue 16's batch):
//! upload slots that free up or grow are used at once, and a leecher choked
//! on one torrent keeps the others busy and asks again as soon as it is
//! unchoked.

use super::sim::{config, torrent, Sim};
use crate::engine::Config;
use std::time::Duration;

const TORRENTS: usize = 8;

/// A seeder of `TORRENTS` torrents of 1 MiB (config `scfg`) and a leecher
/// of all of them that knows the seeder's address. Returns (seeder, leecher).
fn batch(sim: &mut Sim, scfg: Config) -> (usize, usize) {
    let s = sim.add_node(scfg, 1);
    let mut lcfg = config();
    lcfg.extra_peers.push(sim.addr(s));
    let l = sim.add_node(lcfg, 2);
    for k in 0..TORRENTS {
        let (meta, data) = torrent(1024 * 1024, 64 * 1024, 100 + k as u64);
        let n = meta.info.pieces.len();
        sim.add_torrent(s, &meta, &data, vec![true; n]);
        sim.add_torrent(l, &meta, &data, vec![false; n]);
    }
    (s, l)
}

fn seeder(slots: usize, fixed: bool) -> Config {
    let mut c = config();
    c.seed = true;
    c.upload_slots = slots;
    c.fixed_upload_slots = fixed;
    c
}

fn all_complete(sim: &Sim, l: usize) -> bool {
    (0..TORRENTS).all(|t| sim.complete(l, t))
}

/// How many of node `n`'s connections it has unchoked (and are interested).
fn unchoked(sim: &Sim, n: usize) -> usize {
    let e = &sim.nodes[n].engine;
    (0..e.peers.len()).filter(|&k| e.peer(k).is_some_and(|p| p.active() && !p.st.am_choking && p.st.peer_interested)).count()
}

#[test]
fn a_freed_upload_slot_goes_to_a_waiting_torrent_at_once() {
    // One fixed slot (plus the optimistic one): the torrents go two at a
    // time, each handing its slot on when it is done. Without that they
    // would wait for the 10 s rechoke, one pair per round.
    let mut sim = Sim::new();
    let (s, l) = batch(&mut sim, seeder(1, true));
    let until = sim.now + Duration::from_secs(8);
    let mut most = 0;
    let done = loop {
        if all_complete(&sim, l) {
            break true;
        }
        if sim.now >= until {
            break false;
        }
        sim.run_for(Duration::from_millis(20));
        most = most.max(unchoked(&sim, s));
    };
    assert!(done, "not all {TORRENTS} torrents done after 8 s (of 10 s to the first rechoke)");
    assert!(most <= 2, "{most} unchoked with one fixed slot + one optimistic");
}

#[test]
fn upload_slots_grow_while_every_unchoked_peer_takes_a_good_rate() {
    // Slow links (200 KiB/s each way), so the torrents last long enough
    // for the slots to grow: one at first, more every tick while each
    // unchoked peer takes its share.
    let mut sim = Sim::new();
    sim.bandwidth = 200.0 * 1024.0;
    let (s, l) = batch(&mut sim, seeder(1, false));
    let mut most = 0;
    for _ in 0..40 {
        sim.run_for(Duration::from_millis(100));
        most = most.max(unchoked(&sim, s));
    }
    assert!(most >= TORRENTS - 1, "the slots did not grow: at most {most} of {TORRENTS} unchoked");
    let until = sim.now + Duration::from_secs(60);
    assert!(sim.run_until(until, |x| all_complete(x, l)), "not complete");
}

#[test]
fn fixed_upload_slots_do_not_grow() {
    let mut sim = Sim::new();
    sim.bandwidth = 200.0 * 1024.0;
    let (s, _) = batch(&mut sim, seeder(1, true));
    for _ in 0..40 {
        sim.run_for(Duration::from_millis(100));
        assert!(unchoked(&sim, s) <= 2);
    }
}

#[test]
fn a_leecher_choked_on_one_torrent_keeps_the_others_busy_and_asks_again_when_unchoked() {
    // Two slots for eight torrents over one seeder: most of the leecher's
    // connections are choked at any time. Every connection that is
    // unchoked and still wants pieces must have requests out within one
    // step of the clock (10 ms here; links of 5 ms and 20 MB/s, which deliver what a peer
    // sends in one go as one chunk), and the transfer must
    // never stop while a torrent is unfinished.
    let mut sim = Sim::new();
    let (s, l) = batch(&mut sim, seeder(1, true));
    let until = sim.now + Duration::from_secs(30);
    let mut idle_steps: std::collections::HashMap<usize, u32> = Default::default();
    let mut last_total = 0;
    let mut stalled_steps = 0;
    while !all_complete(&sim, l) {
        assert!(sim.now < until, "not complete after 30 s");
        sim.run_for(Duration::from_millis(10));
        let e = &sim.nodes[l].engine;
        for k in 0..e.peers.len() {
            let Some(p) = e.peer(k) else { continue };
            let wants = p.torrent.is_some_and(|t| !sim.complete(l, t));
            if p.active() && wants && p.st.am_interested && !p.st.peer_choking && p.st.outstanding() == 0 {
                let n = idle_steps.entry(k).or_default();
                *n += 1;
                assert!(*n < 3, "connection {k} unchoked with nothing asked for {n} steps");
            } else {
                idle_steps.remove(&k);
            }
        }
        let total: u64 = (0..TORRENTS).filter_map(|t| e.torrent(t)).map(|t| t.downloaded).sum();
        // (Once the first bytes came: the connections take a tick to start.)
        stalled_steps = if total == last_total && total > 0 { stalled_steps + 1 } else { 0 };
        last_total = total;
        assert!(stalled_steps < 20, "nothing arrived for 200 ms with torrents unfinished (at {:?})", sim.elapsed());
    }
    assert!(sim.nodes[s].sent.get("unchoke").copied().unwrap_or(0) >= TORRENTS, "every torrent's connection was unchoked");
}
