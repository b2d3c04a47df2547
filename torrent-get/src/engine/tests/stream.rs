//! Streaming (`--stdout`) in the simulated world: window order, deadlines
//! and re-requests, nothing unverified handed out, bounded buffers.

use super::sim::{config, torrent, Sim};
use crate::engine::stream::{FileChoice, StreamSpec, DEADLINE_FIRST};
use std::time::Duration;

const KIB: usize = 1024;

fn spec(no_save: bool, buffer: u64) -> StreamSpec {
    StreamSpec { file: FileChoice::Only, no_save, buffer }
}

/// Seeders with `datas` on their disks (all pieces claimed), then a
/// leecher streaming the torrent. Returns the leecher's node.
fn world(sim: &mut Sim, meta: &torrent_core::Metainfo, datas: &[&[u8]], spec: StreamSpec) -> usize {
    let n = meta.info.pieces.len();
    let mut lcfg = config();
    for (i, d) in datas.iter().enumerate() {
        let mut scfg = config();
        scfg.seed = true;
        let s = sim.add_node(scfg, 10 + i as u64);
        sim.add_torrent(s, meta, d, vec![true; n]);
        lcfg.extra_peers.push(sim.addr(s));
    }
    let l = sim.add_node(lcfg, 2);
    let dummy = vec![0u8; meta.info.total_length as usize];
    sim.add_torrent(l, meta, &dummy, vec![false; n]);
    sim.nodes[l].engine.stream_file(0, spec).unwrap();
    l
}

fn streamed_bytes(sim: &Sim, l: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (off, b) in &sim.nodes[l].streamed {
        assert_eq!(*off as usize, out.len(), "streamed out of order");
        out.extend_from_slice(b);
    }
    out
}

fn have(sim: &Sim, l: usize) -> usize {
    sim.nodes[l].engine.torrent(0).and_then(|t| t.life.picker()).map(|p| p.have_count()).unwrap_or(0)
}

#[test]
fn window_first_bytes_arrive_early_and_in_order() {
    let (meta, data) = torrent(4 * 1024 * KIB, 64 * KIB, 31);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    sim.bandwidth = 2e6;
    let l = world(&mut sim, &meta, &[&data, &data], spec(false, 1024 * 1024));
    let until = sim.now + Duration::from_secs(60);
    assert!(sim.run_until(until, |s| !s.nodes[l].streamed.is_empty()), "nothing streamed");
    let at_first = have(&sim, l);
    assert!(at_first <= n / 8, "first byte only after {at_first} of {n} pieces");
    assert_eq!(sim.nodes[l].streamed[0].0, 0);
    assert!(sim.run_until(until, |s| s.nodes[l].engine.stream().unwrap().done()), "stream not done");
    assert_eq!(streamed_bytes(&sim, l), data);
    // Saved too: the disk has the whole file.
    assert_eq!(sim.nodes[l].disk[&0], data);
    assert_eq!(sim.nodes[l].engine.finished(), Some(crate::engine::Outcome::Done));
}

#[test]
fn rarest_first_continues_beyond_the_window() {
    // A window of 2 pieces: other pieces are still fetched meanwhile (the
    // swarm stays healthy), so more than the window is verified ahead.
    let (meta, data) = torrent(2 * 1024 * KIB, 32 * KIB, 32);
    let mut sim = Sim::new();
    let l = world(&mut sim, &meta, &[&data], spec(false, 64 * KIB as u64));
    let until = sim.now + Duration::from_secs(60);
    let far = |s: &Sim| s.nodes[l].engine.torrent(0).and_then(|t| t.life.picker()).is_some_and(|p| (8..64).any(|i| p.has(i)));
    assert!(sim.run_until(until, |s| far(s) && s.nodes[l].engine.stream().unwrap().pos < 8 * 32 * 1024 || s.nodes[l].engine.stream().unwrap().done()));
    assert!(sim.run_until(until, |s| s.nodes[l].engine.stream().unwrap().done()));
    assert_eq!(streamed_bytes(&sim, l), data);
}

#[test]
fn late_blocks_are_rerequested_from_a_faster_peer() {
    let (meta, data) = torrent(4 * 1024 * KIB, 64 * KIB, 33);
    let mut sim = Sim::new();
    sim.bandwidth = 500e3;
    let l = world(&mut sim, &meta, &[&data, &data], spec(false, 1024 * 1024));
    // Node 0 (the first seeder) sends at 20 KB/s: its blocks are late.
    sim.slow.insert(0, 20e3);
    let until = sim.now + Duration::from_secs(120);
    assert!(sim.run_until(until, |s| s.nodes[l].engine.stream().unwrap().done()), "stream not done");
    let st = sim.nodes[l].engine.stream().unwrap();
    eprintln!("elapsed {:?} rerequests {}", sim.elapsed(), st.rerequests);
    assert!(st.rerequests > 0, "no late block was asked again");
    assert_eq!(streamed_bytes(&sim, l), data);
    // 4 MiB at 500 KB/s: about 8.4 s from the fast peer alone; the slow
    // one's window blocks (16 KiB take 0.8 s each) are asked again instead
    // of holding the stream.
    assert!(sim.elapsed() < Duration::from_secs(14), "took {:?}", sim.elapsed());
    assert!(sim.elapsed() > DEADLINE_FIRST);
}

#[test]
fn no_save_hands_out_only_verified_data_and_stays_bounded() {
    let (meta, data) = torrent(4 * 1024 * KIB, 32 * KIB, 34);
    let mut bad = data.clone();
    for b in bad.iter_mut().step_by(1000) {
        *b ^= 0x55;
    }
    let mut sim = Sim::new();
    let buffer = 256 * KIB as u64;
    let l = world(&mut sim, &meta, &[&bad, &data], spec(true, buffer));
    // The honest seed (node 1) is slower, so the liar surely sends pieces.
    sim.slow.insert(1, 1e6);
    let until = sim.now + Duration::from_secs(120);
    assert!(sim.run_until(until, |s| s.nodes[l].engine.stream().unwrap().done()), "stream not done");
    assert_eq!(streamed_bytes(&sim, l), data, "a byte that failed its hash check was streamed");
    let t = sim.nodes[l].engine.torrent(0).unwrap();
    assert!(t.hash_failures > 0, "the liar sent nothing");
    // Nothing written to the (simulated) disk.
    assert!(sim.nodes[l].disk[&0].iter().all(|b| *b == 0), "no_save wrote data");
    // Nothing kept, so nothing offered to peers.
    assert_eq!(sim.nodes[l].sent.get("have"), None, "no_save advertised pieces it cannot serve");
    let st = sim.nodes[l].engine.stream().unwrap();
    assert!(st.peak_buffered <= buffer / 2 + 32 * KIB as u64, "buffered {} bytes", st.peak_buffered);
}
