//! A disk slower than the network: requests wait for the disk and hash
//! threads' backlog ([`MAX_IN_FLIGHT`]), no block is dropped or fetched
//! twice, and the download goes at the disk's speed. And a `--no-save`
//! stream, whose pieces stay with the stream after hashing, gets their
//! charges back and goes on far past the budget.

use super::sim::{config, torrent, Sim};
use crate::engine::stream::{FileChoice, StreamSpec, DEFAULT_BUFFER};
use crate::engine::download::{ENDGAME_DEPTH, MAX_IN_FLIGHT};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

#[test]
fn a_slow_disk_holds_requests_back_and_loses_nothing() {
    let len = 24 * MIB + 5000;
    let (meta, data) = torrent(len, 256 * 1024, 31);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    sim.bandwidth = 20e6;
    let mut lcfg = config();
    let mut seeds = Vec::new();
    for i in 0..3 {
        let mut scfg = config();
        scfg.seed = true;
        let s = sim.add_node(scfg, 10 + i);
        sim.add_torrent(s, &meta, &data, vec![true; n]);
        lcfg.extra_peers.push(sim.addr(s));
        seeds.push(s);
    }
    let l = sim.add_node(lcfg, 2);
    // 60 MB/s from the three peers, 4 MB/s to the disk.
    let rate = 4e6;
    sim.nodes[l].disk_rate = Some(rate);
    sim.add_torrent(l, &meta, &data, vec![false; n]);
    let until = sim.now + Duration::from_secs(30);
    assert!(sim.run_until(until, |s| s.complete(l, 0)), "not complete after 30 s");
    let node = &sim.nodes[l];
    assert_eq!(node.disk[&0], data);
    // The disk was the bottleneck (the backlog filled) yet received data
    // plus what was asked for never passed the bound.
    assert!(node.max_backlog > MAX_IN_FLIGHT / 2, "backlog only reached {}", node.max_backlog);
    assert!(node.max_in_flight <= MAX_IN_FLIGHT, "{} bytes in flight", node.max_in_flight);
    // The engine's own count (its charges less the releases) kept it too,
    // and every charge was released in the end.
    assert!(node.max_charged <= MAX_IN_FLIGHT, "{} bytes counted in flight", node.max_charged);
    assert!(node.max_charged >= node.max_in_flight, "counted {} of {} in flight", node.max_charged, node.max_in_flight);
    assert_eq!(node.engine.budget_held(), 0);
    // Nothing dropped and fetched again: beyond the payload only the
    // endgame's few duplicates (at most ENDGAME_DEPTH per peer).
    let t = node.engine.torrent(0).unwrap();
    let dupes = (3 * ENDGAME_DEPTH * 16384) as u64;
    assert!(t.wasted <= dupes, "wasted {}", t.wasted);
    assert_eq!(t.downloaded, len as u64 + t.wasted);
    assert_eq!(t.hash_failures, 0);
    let blocks = len.div_ceil(16384);
    let requests = node.sent["request"];
    assert!(requests <= blocks + 3 * ENDGAME_DEPTH, "{requests} requests for {blocks} blocks");
    // At the disk's speed: it never sat idle for long.
    let ideal = len as f64 / rate;
    assert!(sim.elapsed().as_secs_f64() < ideal * 1.15 + 0.5, "{:?} for {ideal:.1} s of writing", sim.elapsed());
}

#[test]
fn a_fast_disk_never_holds_requests_back() {
    let (meta, data) = torrent(20 * MIB, 1024 * 1024, 32);
    let mut sim = Sim::new();
    let (_, l) = sim.seeder_and_leecher(&meta, &data);
    let until = sim.now + Duration::from_secs(30);
    assert!(sim.run_until(until, |s| s.complete(l, 0)), "not complete");
    assert_eq!(sim.nodes[l].disk[&0], data);
    assert!(!sim.nodes[l].engine.held_back());
    assert_eq!(sim.nodes[l].max_backlog, 16384, "each block is written at once");
    assert_eq!(sim.nodes[l].engine.budget_held(), 0);
}

#[test]
fn a_no_save_stream_shares_its_pieces_with_the_hasher_and_goes_far_past_the_budget() {
    // Four times the budget: had a piece stayed counted while the stream
    // holds it (the hash job shares its buffer), requests would stop for
    // good after the first MAX_IN_FLIGHT bytes.
    let len = 4 * MAX_IN_FLIGHT as usize + 5000;
    let plen = 256 * 1024;
    let (meta, data) = torrent(len, plen, 33);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    let mut lcfg = config();
    for i in 0..2 {
        let mut scfg = config();
        scfg.seed = true;
        let s = sim.add_node(scfg, 10 + i);
        sim.add_torrent(s, &meta, &data, vec![true; n]);
        lcfg.extra_peers.push(sim.addr(s));
    }
    let l = sim.add_node(lcfg, 2);
    sim.add_torrent(l, &meta, &vec![0; len], vec![false; n]);
    let spec = StreamSpec { file: FileChoice::Only, no_save: true, buffer: DEFAULT_BUFFER };
    sim.nodes[l].engine.stream_file(0, spec).unwrap();
    let until = sim.now + Duration::from_secs(60);
    let done = sim.run_until(until, |s| s.nodes[l].engine.stream().unwrap().done());
    let node = &sim.nodes[l];
    let st = node.engine.stream().unwrap();
    assert!(done, "stream stalled at {} of {len} bytes, {} counted in flight", st.emitted, node.engine.budget_held());
    let streamed: Vec<u8> = node.streamed.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    assert!(streamed == data, "streamed bytes differ");
    // Whole pieces hashed, nothing written, every charge released.
    assert_eq!(node.released.written, 0);
    assert_eq!(node.released.hashed, len as u64);
    assert_eq!(node.engine.budget_held(), 0);
    // Memory stayed bounded: the budget, and the stream's buffers by its
    // window (half the buffer) and the piece being assembled.
    assert!(node.max_charged <= MAX_IN_FLIGHT, "{} bytes counted in flight", node.max_charged);
    assert!(st.peak_buffered <= DEFAULT_BUFFER / 2 + plen as u64, "buffered {} bytes", st.peak_buffered);
}
