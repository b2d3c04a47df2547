//! Liars among honest peers, in the simulated world: pieces mixed from
//! several peers fail, go on parole (fetched again from one peer), and the
//! liars (only they) are banned within a bounded number of failures, while
//! every piece completes. Downloads to disk and `--no-save` streams.

use super::sim::{config, torrent, Liar, Sim};
use crate::engine::stream::{FileChoice, StreamSpec};
use crate::engine::CloseReason;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

const KIB: usize = 1024;

struct World {
    leecher: usize,
    honest: Vec<SocketAddr>,
    liars: Vec<SocketAddr>,
}

/// `honest` seeders, one liar per entry of `cunning` (true: good bytes for
/// pieces on parole), and a leecher that knows them all (streaming with
/// `stream`). Every seeder is equally fast, so pieces mix all of them.
fn world(sim: &mut Sim, meta: &torrent_core::Metainfo, data: &[u8], honest: usize, cunning: &[bool], stream: Option<StreamSpec>) -> World {
    let n = meta.info.pieces.len();
    let mut lcfg = config();
    let mut seeders = Vec::new();
    for i in 0..honest + cunning.len() {
        let mut scfg = config();
        scfg.seed = true;
        let s = sim.add_node(scfg, 10 + i as u64);
        sim.add_torrent(s, meta, data, vec![true; n]);
        lcfg.extra_peers.push(sim.addr(s));
        seeders.push(s);
    }
    let leecher = sim.add_node(lcfg, 2);
    let dummy = vec![0u8; data.len()];
    sim.add_torrent(leecher, meta, &dummy, vec![false; n]);
    if let Some(spec) = stream {
        sim.nodes[leecher].engine.stream_file(0, spec).unwrap();
    }
    for (i, c) in cunning.iter().enumerate() {
        sim.liars.insert(seeders[honest + i], Liar { victim: leecher, honest_on_parole: *c });
    }
    World {
        leecher,
        honest: seeders[..honest].iter().map(|&s| sim.addr(s)).collect(),
        liars: seeders[honest..].iter().map(|&s| sim.addr(s)).collect(),
    }
}

/// Run to the end; check that every liar and no honest peer is banned and
/// that the data is right. Returns the hash failures.
fn run_and_check(sim: &mut Sim, w: &World, data: &[u8], streaming: bool) -> u32 {
    let l = w.leecher;
    let until = sim.now + Duration::from_secs(120);
    let done = |s: &Sim| match s.nodes[l].engine.stream() {
        Some(st) => st.done(),
        None => s.complete(l, 0),
    };
    assert!(sim.run_until(until, done), "not done after 120 simulated seconds");
    if streaming {
        let mut out = Vec::new();
        for (off, b) in &sim.nodes[l].streamed {
            assert_eq!(*off as usize, out.len(), "streamed out of order");
            out.extend_from_slice(b);
        }
        assert_eq!(out, data, "streamed bytes differ");
    } else {
        assert_eq!(sim.nodes[l].disk[&0], data, "every piece completes, with the right bytes");
    }
    let t = sim.nodes[l].engine.torrent(0).unwrap();
    let banned: BTreeSet<SocketAddr> = t.banned.keys().copied().collect();
    let liars: BTreeSet<SocketAddr> = w.liars.iter().copied().collect();
    assert_eq!(banned, liars, "banned {banned:?}, liars {liars:?}, honest {:?}", w.honest);
    let closed: BTreeSet<SocketAddr> = sim.nodes[l].closed.iter().filter(|c| c.1 == CloseReason::BannedNow).map(|c| c.0).collect();
    assert_eq!(closed, liars, "connections closed for a ban");
    assert_eq!(t.blame.parole_len(), 0, "pieces left on parole");
    let b = &t.blame;
    eprintln!("  {} hash failures, {} shared (parole), {} liars found by comparison, {:?}", t.hash_failures, b.shared_failures, b.found_by_comparison, sim.elapsed());
    assert!(b.shared_failures >= 1, "no piece mixed a liar with honest peers: nothing tested");
    t.hash_failures
}

/// 16 MiB in 512 KiB pieces (32 pieces of 32 blocks): a peer's first
/// pipeline of 16 blocks covers half a piece and the next peer takes the
/// other half, so pieces mix several peers.
fn payload(seed: u64) -> (torrent_core::Metainfo, Vec<u8>) {
    torrent(16 * 1024 * KIB, 512 * KIB, seed)
}

#[test]
fn a_liar_among_three_honest_peers_is_the_only_one_banned() {
    let (meta, data) = payload(51);
    let mut sim = Sim::new();
    let w = world(&mut sim, &meta, &data, 3, &[false], None);
    let failures = run_and_check(&mut sim, &w, &data, false);
    let t = sim.nodes[w.leecher].engine.torrent(0).unwrap();
    eprintln!("one liar, 3 honest: {failures} hash failures, {} found by comparison, {:?}", t.blame.found_by_comparison, sim.elapsed());
    assert!(failures >= 1, "the liar sent nothing");
    // Bounded: the pieces in flight before the first verdicts, plus one
    // parole attempt; not one per piece of the torrent.
    assert!(failures <= 6, "{failures} hash failures for 32 pieces");
}

#[test]
fn two_liars_among_three_honest_peers_are_both_banned() {
    let (meta, data) = payload(52);
    let mut sim = Sim::new();
    let w = world(&mut sim, &meta, &data, 3, &[false, false], None);
    let failures = run_and_check(&mut sim, &w, &data, false);
    eprintln!("two liars, 3 honest: {failures} hash failures, {:?}", sim.elapsed());
    // Bounded as above, per liar (pipelines stay at 32 blocks until a
    // peer's piece passes, so early pieces mix more senders).
    assert!(failures <= 10, "{failures} hash failures for 32 pieces");
}

#[test]
fn a_liar_honest_only_on_parole_is_exposed_by_its_earlier_blocks() {
    let (meta, data) = payload(53);
    let mut sim = Sim::new();
    let w = world(&mut sim, &meta, &data, 3, &[true], None);
    let failures = run_and_check(&mut sim, &w, &data, false);
    let t = sim.nodes[w.leecher].engine.torrent(0).unwrap();
    eprintln!("cunning liar, 3 honest: {failures} hash failures, {:?}", sim.elapsed());
    // It never fails a piece of its own: only the comparison finds it.
    assert_eq!(t.blame.found_by_comparison, 1, "not found by comparison");
    assert!(failures <= 6, "{failures} hash failures for 32 pieces");
}

fn no_save(buffer: u64) -> StreamSpec {
    StreamSpec { file: FileChoice::Only, no_save: true, buffer }
}

#[test]
fn a_no_save_stream_finds_the_liar_while_every_window_piece_mixes_all_peers() {
    // 8 MiB in 256 KiB pieces, a window of 4 pieces: what the stream test
    // of the binary does, in the simulated world (the stream stalled: each
    // window piece failed, again and again).
    let (meta, data) = torrent(8 * 1024 * KIB, 256 * KIB, 54);
    for cunning in [false, true] {
        let mut sim = Sim::new();
        let w = world(&mut sim, &meta, &data, 3, &[cunning], Some(no_save(2 * 1024 * KIB as u64)));
        let failures = run_and_check(&mut sim, &w, &data, true);
        eprintln!("no_save stream, cunning {cunning}: {failures} hash failures, {:?}", sim.elapsed());
        assert!(failures <= 8, "{failures} hash failures");
        if cunning {
            assert_eq!(sim.nodes[w.leecher].engine.torrent(0).unwrap().blame.found_by_comparison, 1);
        }
        assert!(sim.nodes[w.leecher].disk[&0].iter().all(|b| *b == 0), "no_save wrote data");
    }
}

#[test]
fn two_liars_in_a_no_save_stream_are_both_banned() {
    let (meta, data) = torrent(8 * 1024 * KIB, 256 * KIB, 55);
    let mut sim = Sim::new();
    let w = world(&mut sim, &meta, &data, 3, &[false, true], Some(no_save(2 * 1024 * KIB as u64)));
    let failures = run_and_check(&mut sim, &w, &data, true);
    eprintln!("no_save stream, two liars: {failures} hash failures, {:?}", sim.elapsed());
    assert!(failures <= 12, "{failures} hash failures");
}
