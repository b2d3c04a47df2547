//! Readers of a file as it downloads ([`crate::engine::readers`]) in the
//! simulated world: window first, verified bytes only, in order from an
//! offset, the backlog bound, and the ends (complete, pause, client gone).

use super::sim::{config, torrent, Sim};
use crate::engine::readers::{ReaderEnd, ReaderOut, MAX_BACKLOG, READ_CHUNK};
use crate::engine::{Command, Input};
use std::time::Duration;

const KIB: usize = 1024;

/// A seeder of `meta` and a leecher (node returned) that has nothing.
fn world(sim: &mut Sim, meta: &torrent_core::Metainfo, data: &[u8]) -> usize {
    let n = meta.info.pieces.len();
    let mut scfg = config();
    scfg.seed = true;
    let s = sim.add_node(scfg, 10);
    sim.add_torrent(s, meta, data, vec![true; n]);
    let mut lcfg = config();
    lcfg.extra_peers.push(sim.addr(s));
    let l = sim.add_node(lcfg, 2);
    sim.add_torrent(l, meta, &vec![0u8; data.len()], vec![false; n]);
    l
}

/// The data handed out so far, checked to be in order from `from`.
fn read_bytes(sim: &Sim, l: usize, from: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for o in &sim.nodes[l].reader_out {
        if let ReaderOut::Data { at, data, .. } = o {
            assert_eq!(*at, from + out.len() as u64, "reader data out of order");
            out.extend_from_slice(data);
        }
    }
    out
}

fn ends(sim: &Sim, l: usize) -> Vec<(u64, ReaderEnd)> {
    sim.nodes[l].reader_out.iter().filter_map(|o| if let ReaderOut::End { reader, why } = o { Some((*reader, why.clone())) } else { None }).collect()
}

fn have(sim: &Sim, l: usize) -> usize {
    sim.nodes[l].engine.torrent(0).and_then(|t| t.life.picker()).map(|p| p.have_count()).unwrap_or(0)
}

#[test]
fn verified_bytes_in_order_from_an_offset_window_first_and_bounded() {
    let (meta, data) = torrent(12 * 1024 * KIB, 64 * KIB, 41);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    sim.bandwidth = 4e6;
    let l = world(&mut sim, &meta, &data);
    let offset = 5_000_001u64; // inside piece 76
    let o = sim.nodes[l].engine.open_reader(0, 0, offset, sim.now).unwrap();
    assert_eq!(o.length, data.len() as u64);
    let until = sim.now + Duration::from_secs(120);
    assert!(sim.run_until(until, |s| !s.nodes[l].reader_out.is_empty()), "nothing read");
    // The window after the offset came first.
    let first = have(&sim, l);
    assert!(first <= n / 8, "first bytes only after {first} of {n} pieces");
    // Nobody reports writing anything: the reader stops at its bound.
    assert!(sim.run_until(until, |s| s.complete(l, 0)));
    sim.run_for(Duration::from_secs(2));
    let held = read_bytes(&sim, l, offset).len() as u64;
    assert!((MAX_BACKLOG..=MAX_BACKLOG + READ_CHUNK).contains(&held), "{held} bytes handed out without a backlog report");
    assert!(ends(&sim, l).is_empty());
    // Written: it goes on to the end of the file, then ends.
    for _ in 0..100 {
        if !ends(&sim, l).is_empty() {
            break;
        }
        sim.nodes[l].engine.handle(Input::ReaderBacklog { reader: o.reader, bytes: 0 }, sim.now);
        sim.run_for(Duration::from_millis(100));
    }
    assert_eq!(ends(&sim, l), vec![(o.reader, ReaderEnd::Complete)]);
    assert!(read_bytes(&sim, l, offset) == data[offset as usize..], "reader bytes differ from the file's");
    assert_eq!(sim.nodes[l].reader_unverified, 0, "data handed out before its piece was verified");
    assert_eq!(sim.nodes[l].engine.reader_count(), 0);
}

#[test]
fn pause_ends_readers_and_a_closed_reader_is_forgotten() {
    let (meta, data) = torrent(4 * 1024 * KIB, 64 * KIB, 42);
    let mut sim = Sim::new();
    sim.bandwidth = 1e6;
    let l = world(&mut sim, &meta, &data);
    let a = sim.nodes[l].engine.open_reader(0, 0, 0, sim.now).unwrap().reader;
    let b = sim.nodes[l].engine.open_reader(0, 0, 2_000_000, sim.now).unwrap().reader;
    assert!(sim.nodes[l].engine.open_reader(0, 0, data.len() as u64 + 1, sim.now).is_err(), "an offset beyond the end");
    assert!(sim.nodes[l].engine.open_reader(0, 1, 0, sim.now).is_err(), "no second file");
    sim.run_for(Duration::from_millis(500));
    sim.command(l, Command::Pause(0));
    let mut e = ends(&sim, l);
    e.sort_by_key(|x| x.0);
    assert_eq!(e, vec![(a, ReaderEnd::Paused), (b, ReaderEnd::Paused)]);
    assert_eq!(sim.nodes[l].engine.reader_count(), 0);
    assert!(sim.nodes[l].engine.open_reader(0, 0, 0, sim.now).unwrap_err().contains("paused"));
    sim.command(l, Command::Resume(0));
    let c = sim.nodes[l].engine.open_reader(0, 0, 3_000_000, sim.now).unwrap().reader;
    assert_eq!(sim.nodes[l].engine.reader_windows(0).len(), 1);
    sim.nodes[l].engine.handle(Input::ReaderClosed(c), sim.now);
    assert!(sim.nodes[l].engine.reader_windows(0).is_empty(), "a closed reader keeps no window");
    let before = sim.nodes[l].reader_out.len();
    let until = sim.now + Duration::from_secs(60);
    assert!(sim.run_until(until, |s| s.complete(l, 0)));
    assert_eq!(sim.nodes[l].reader_out.len(), before, "nothing for a closed reader");
    assert_eq!(sim.nodes[l].reader_unverified, 0);
}
