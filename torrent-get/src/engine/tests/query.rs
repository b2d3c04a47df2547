//! The controller's queries ([`crate::engine::query`]): status, detail and
//! the diagnosis of a stuck download; periodic resume saves; removal with
//! the data.

use super::sim::{config, torrent, Sim};
use crate::engine::Command;
use std::time::Duration;

const KIB: usize = 1024;

#[test]
fn a_download_stuck_on_pieces_nobody_has_says_so() {
    let (meta, data) = torrent(32 * 64 * KIB, 64 * KIB, 21);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    let mut scfg = config();
    scfg.seed = true;
    let s = sim.add_node(scfg, 1);
    // The only seed has the first three quarters.
    sim.add_torrent(s, &meta, &data, (0..n).map(|i| i < 24).collect());
    let mut lcfg = config();
    lcfg.extra_peers.push(sim.addr(s));
    let l = sim.add_node(lcfg, 2);
    sim.add_torrent(l, &meta, &data, vec![false; n]);
    let until = sim.now + Duration::from_secs(30);
    let got_all = |sim: &Sim| sim.nodes[l].engine.torrent(0).and_then(|t| t.life.picker()).is_some_and(|p| p.have_count() == 24);
    assert!(sim.run_until(until, got_all), "the seed's pieces did not arrive");
    sim.run_for(Duration::from_secs(2));
    let now = sim.now;
    let st = sim.nodes[l].engine.status(0, now).unwrap();
    assert_eq!(st.state, "downloading");
    assert_eq!(st.have_bytes, 24 * 64 * KIB as u64);
    assert_eq!(st.total_bytes, data.len() as u64);
    assert!((st.progress - 0.75).abs() < 1e-9, "{st:?}");
    assert_eq!(st.peers, 1);
    assert_eq!(st.stalled.as_deref(), Some("8 of the 8 missing pieces: no connected peer has them"));
    let d = sim.nodes[l].engine.detail(0, now).unwrap();
    assert_eq!(d.diagnosis, vec!["8 of the 8 missing pieces: no connected peer has them".to_string()]);
    assert_eq!(d.peers_detail.len(), 1);
    let p = &d.peers_detail[0];
    assert_eq!(p.addr, sim.addr(s).to_string());
    // Not interested: it has nothing more we want.
    assert!((p.progress - 0.75).abs() < 1e-9 && !p.am_interested && !p.peer_choking, "{p:?}");
    assert_eq!(d.files.len(), meta.info.files.iter().filter(|f| !f.padding).count());
    assert_eq!(d.files[0].index, 1);
    // The partial seed wants the same pieces, and the leecher has none.
    let ss = sim.nodes[s].engine.status(0, now).unwrap();
    assert_eq!(ss.state, "downloading");
    assert_eq!(ss.stalled.as_deref(), Some("8 of the 8 missing pieces: no connected peer has them"));
    assert!(ss.uploaded >= 24 * 64 * KIB as u64);
    // Paused: the state says so, and a paused torrent is not "stalled".
    sim.command(l, Command::Pause(0));
    let st = sim.nodes[l].engine.status(0, sim.now).unwrap();
    assert_eq!((st.state.as_str(), st.stalled, st.peers), ("paused", None, 0));
}

#[test]
fn removal_with_data_deletes_after_close_and_writes_no_resume_data() {
    let (meta, data) = torrent(16 * 64 * KIB, 64 * KIB, 22);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    sim.bandwidth = 256.0 * 1024.0;
    let (_, l) = sim.seeder_and_leecher(&meta, &data);
    let saves = |sim: &Sim| sim.nodes[l].disk_log.iter().filter(|e| *e == "resume 0").count();
    let until = sim.now + Duration::from_secs(10);
    let some = |sim: &Sim| sim.nodes[l].engine.have_pieces(0).is_some_and(|h| h.iter().any(|x| *x));
    assert!(sim.run_until(until, some), "no piece verified");
    let have = sim.nodes[l].engine.have_pieces(0).unwrap().iter().filter(|h| **h).count();
    assert!(have < n, "complete before the test could look: {have}");
    let before = saves(&sim);

    sim.command(l, Command::RemoveWithData(0));
    assert!(sim.nodes[l].engine.torrent(0).is_none());
    let log = &sim.nodes[l].disk_log;
    let close = log.iter().position(|e| e == "close 0").expect("closed");
    assert_eq!(log[close + 1], format!("delete {} true", meta.info_hash), "{log:?}");
    assert_eq!(saves(&sim), before, "no resume file is written for data being deleted");
    assert_eq!(sim.nodes[l].engine.find(&meta.info_hash), None);
}
