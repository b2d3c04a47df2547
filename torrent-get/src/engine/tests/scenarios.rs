use super::sim::{config, torrent, Sim};
use crate::engine::lifecycle::Lifecycle;
use crate::engine::{CloseReason, Command, Job};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// A seeding node with all of `data`, and a leecher that knows its address.
fn seed_and_leecher(sim: &mut Sim, meta: &torrent_core::Metainfo, data: &[u8], leecher_cfg: crate::engine::Config) -> (usize, usize) {
    let mut scfg = config();
    scfg.seed = true;
    let s = sim.add_node(scfg, 1);
    let n = meta.info.pieces.len();
    sim.add_torrent(s, meta, data, vec![true; n]);
    let mut lcfg = leecher_cfg;
    lcfg.extra_peers.push(sim.addr(s));
    let l = sim.add_node(lcfg, 2);
    sim.add_torrent(l, meta, data, vec![false; n]);
    (s, l)
}

#[test]
fn downloads_from_a_seed_and_the_bytes_match() {
    let (meta, data) = torrent(3 * MIB + 1234, 256 * 1024, 7);
    let mut sim = Sim::new();
    let (_, l) = seed_and_leecher(&mut sim, &meta, &data, config());
    let until = sim.now + Duration::from_secs(30);
    assert!(sim.run_until(until, |s| s.complete(l, 0)), "not complete after 30 s");
    assert_eq!(sim.nodes[l].disk[&0], data);
    assert!(matches!(sim.nodes[l].engine.lifecycle(0), Some(Lifecycle::Done(_))));
    assert_eq!(sim.nodes[l].engine.finished(), Some(crate::engine::Outcome::Done));
}

#[test]
fn endgame_cancels_and_bounds_duplicates() {
    // One fast and one very slow seed: the last blocks asked of the slow one
    // are duplicated to the fast one in endgame, and the slow copies are
    // cancelled.
    let (meta, data) = torrent(2 * MIB, 64 * 1024, 8);
    let mut sim = Sim::new();
    let (_, l) = seed_and_leecher(&mut sim, &meta, &data, config());
    let mut scfg = config();
    scfg.seed = true;
    let slow = sim.add_node(scfg, 3);
    sim.add_torrent(slow, &meta, &data, vec![true; meta.info.pieces.len()]);
    sim.slow.insert(slow, 64.0 * 1024.0);
    let (addr, now) = (sim.addr(slow), sim.now);
    sim.nodes[l].engine.torrents[0].as_mut().unwrap().add_candidate(addr, crate::engine::candidates::Source::Tracker, now);
    let until = sim.now + Duration::from_secs(60);
    assert!(sim.run_until(until, |s| s.complete(l, 0)), "not complete");
    assert_eq!(sim.nodes[l].disk[&0], data);
    let cancels = sim.nodes[l].sent.get("cancel").copied().unwrap_or(0);
    assert!(cancels > 0, "endgame sent no cancel: {:?}", sim.nodes[l].sent);
    let t = sim.nodes[l].engine.torrent(0).unwrap();
    // Duplicates are bounded: at most ENDGAME_DEPTH blocks per peer beyond
    // what was needed (two peers here), far from re-downloading everything.
    let requests = sim.nodes[l].sent["request"];
    let blocks = data.len() / 16384;
    assert!(requests <= blocks + 2 * super::super::download::ENDGAME_DEPTH + cancels, "{requests} requests for {blocks} blocks");
    assert!(t.wasted <= 2 * 8 * 16384, "wasted {} bytes", t.wasted);
}

#[test]
fn liar_is_banned_and_its_pieces_come_from_the_honest_peer() {
    let (meta, data) = torrent(2 * MIB, 64 * 1024, 9);
    let mut sim = Sim::new();
    let (honest, l) = seed_and_leecher(&mut sim, &meta, &data, config());
    // The liar claims every piece but its bytes are wrong.
    let mut scfg = config();
    scfg.seed = true;
    let liar = sim.add_node(scfg, 4);
    let mut bad = data.clone();
    bad.iter_mut().for_each(|b| *b ^= 0x5a);
    sim.add_torrent(liar, &meta, &bad, vec![true; meta.info.pieces.len()]);
    let (addr, now) = (sim.addr(liar), sim.now);
    sim.nodes[l].engine.torrents[0].as_mut().unwrap().add_candidate(addr, crate::engine::candidates::Source::Tracker, now);
    // The honest seed is slow, so the liar contributes several pieces.
    sim.slow.insert(honest, 200.0 * 1024.0);
    let until = sim.now + Duration::from_secs(120);
    assert!(sim.run_until(until, |s| s.complete(l, 0)), "not complete");
    assert_eq!(sim.nodes[l].disk[&0], data);
    let t = sim.nodes[l].engine.torrent(0).unwrap();
    // At least its first piece failed (a piece of its alone bans it at once).
    assert!(t.hash_failures >= 1, "{} hash failures", t.hash_failures);
    let liar_addr = sim.addr(liar);
    let banned: Vec<_> = sim.nodes[l].closed.iter().filter(|c| c.1 == CloseReason::BannedNow).collect();
    assert_eq!(banned.len(), 1, "{banned:?}");
    // The leecher dialled the liar, so the ban is on the liar's address.
    assert_eq!(banned[0].0, liar_addr);
    assert!(t.banned.contains_key(&liar_addr));
    assert!(!t.banned.contains_key(&sim.addr(honest)), "the honest peer was banned");
}

#[test]
fn magnet_fetches_metadata_then_downloads() {
    let (meta, data) = torrent(MIB + 99, 32 * 1024, 10);
    let mut sim = Sim::new();
    let mut scfg = config();
    scfg.seed = true;
    let s = sim.add_node(scfg, 1);
    sim.add_torrent(s, &meta, &data, vec![true; meta.info.pieces.len()]);
    let l = sim.add_node(config(), 2);
    let magnet = torrent_core::Magnet {
        info_hash: meta.info_hash,
        display_name: None,
        trackers: vec![],
        peers: vec![sim.addr(s).to_string()],
        web_seeds: vec![],
    };
    sim.nodes[l].engine.add(Job::Magnet { magnet, select: None }, sim.now);
    sim.settle();
    assert!(matches!(sim.nodes[l].engine.lifecycle(0), Some(Lifecycle::FetchingMetadata { .. })));
    let until = sim.now + Duration::from_secs(30);
    assert!(sim.run_until(until, |s| s.complete(l, 0)), "not complete");
    assert_eq!(sim.nodes[l].disk[&0], data);
    assert_eq!(sim.nodes[l].saved_metadata, 1, "fetched metadata is saved (on the disk thread)");
    assert_eq!(sim.nodes[l].engine.torrent(0).unwrap().name, meta.info.name);
}

#[test]
fn choke_rotation_and_optimistic_unchoke() {
    // A seed with one upload slot and four slow leechers: at most two are
    // unchoked at any time, and the optimistic slot moves around.
    let (meta, data) = torrent(8 * MIB, 256 * 1024, 11);
    let mut sim = Sim::new();
    sim.bandwidth = 100.0 * 1024.0;
    let mut scfg = config();
    scfg.seed = true;
    scfg.upload_slots = 1;
    scfg.fixed_upload_slots = true;
    let s = sim.add_node(scfg, 1);
    sim.add_torrent(s, &meta, &data, vec![true; meta.info.pieces.len()]);
    let mut leechers = Vec::new();
    for i in 0..4 {
        let mut c = config();
        c.extra_peers.push(sim.addr(s));
        let l = sim.add_node(c, 10 + i);
        sim.add_torrent(l, &meta, &data, vec![false; meta.info.pieces.len()]);
        leechers.push(l);
    }
    let mut ever_unchoked = std::collections::BTreeSet::new();
    let mut optimistic = std::collections::BTreeSet::new();
    for _ in 0..20 {
        sim.run_for(Duration::from_secs(5));
        let e = &sim.nodes[s].engine;
        let unchoked: Vec<usize> = (0..e.peers.len()).filter(|&k| e.peer(k).is_some_and(|p| p.active() && !p.st.am_choking)).collect();
        assert!(unchoked.len() <= 2, "{} unchoked with one slot + one optimistic", unchoked.len());
        ever_unchoked.extend(unchoked);
        optimistic.extend(e.choker.optimistic);
    }
    assert!(ever_unchoked.len() >= 3, "only {ever_unchoked:?} were ever unchoked");
    assert!(optimistic.len() >= 2, "the optimistic unchoke did not rotate: {optimistic:?}");
    assert!(sim.nodes[s].sent.get("choke").copied().unwrap_or(0) >= 1, "nobody was ever choked again");
}

#[test]
fn two_engines_exchange_halves() {
    let (meta, data) = torrent(2 * MIB, 128 * 1024, 12);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    let mut a_cfg = config();
    a_cfg.seed = true;
    let a = sim.add_node(a_cfg, 1);
    let mut b_cfg = config();
    b_cfg.seed = true;
    b_cfg.extra_peers.push(sim.addr(a));
    let b = sim.add_node(b_cfg, 2);
    sim.add_torrent(a, &meta, &data, (0..n).map(|i| i < n / 2).collect());
    sim.add_torrent(b, &meta, &data, (0..n).map(|i| i >= n / 2).collect());
    let until = sim.now + Duration::from_secs(30);
    assert!(sim.run_until(until, |s| s.complete(a, 0) && s.complete(b, 0)), "not both complete");
    assert_eq!(sim.nodes[a].disk[&0], data);
    assert_eq!(sim.nodes[b].disk[&0], data);
    assert!(sim.nodes[a].engine.torrent(0).unwrap().uploaded >= MIB as u64);
    assert!(sim.nodes[b].engine.torrent(0).unwrap().uploaded >= MIB as u64);
}

#[test]
fn pause_resume_and_remove_mid_download() {
    let (meta, data) = torrent(4 * MIB, 64 * 1024, 13);
    let mut sim = Sim::new();
    sim.bandwidth = 1024.0 * 1024.0;
    let (_, l) = seed_and_leecher(&mut sim, &meta, &data, config());
    sim.run_for(Duration::from_secs(2));
    let have = |sim: &Sim| sim.nodes[l].engine.torrent(0).unwrap().life.picker().unwrap().have_count();
    let before = have(&sim);
    assert!(before > 0 && !sim.complete(l, 0), "{before} pieces after 2 s");
    sim.command(l, Command::Pause(0));
    assert!(matches!(sim.nodes[l].engine.lifecycle(0), Some(Lifecycle::Paused(_))));
    sim.run_for(Duration::from_secs(10));
    assert!(sim.nodes[l].engine.torrent(0).unwrap().peers.is_empty(), "peers stay closed while paused");
    assert!(sim.nodes[l].closed.iter().any(|c| c.1 == CloseReason::TorrentPaused));
    let paused_have = have(&sim);
    assert!(paused_have >= before && paused_have < meta.info.pieces.len());
    sim.run_for(Duration::from_secs(5));
    assert_eq!(have(&sim), paused_have, "nothing downloads while paused");
    sim.command(l, Command::Resume(0));
    let until = sim.now + Duration::from_secs(30);
    assert!(sim.run_until(until, |s| s.complete(l, 0)), "not complete after resume");
    assert_eq!(sim.nodes[l].disk[&0], data);

    // Remove another download in mid-flight.
    let mut sim = Sim::new();
    sim.bandwidth = 1024.0 * 1024.0;
    let (s, l) = seed_and_leecher(&mut sim, &meta, &data, config());
    sim.run_for(Duration::from_secs(2));
    sim.command(l, Command::Remove(0));
    assert!(sim.nodes[l].engine.torrent(0).is_none());
    assert_eq!(sim.nodes[l].disk_jobs_closed, vec![0]);
    assert!(sim.nodes[l].closed.iter().any(|c| c.1 == CloseReason::TorrentRemoved));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.nodes[s].engine.torrent(0).unwrap().peers.is_empty(), "the seed saw the connection end");
    assert_eq!(sim.nodes[l].engine.finished(), Some(crate::engine::Outcome::Done), "nothing left to do");
}

#[test]
fn download_rate_limit_holds_and_can_be_changed() {
    let (meta, data) = torrent(2 * MIB, 64 * 1024, 14);
    let mut sim = Sim::new();
    let mut c = config();
    c.max_download_rate = 256 * 1024;
    let (_, l) = seed_and_leecher(&mut sim, &meta, &data, c);
    let until = sim.now + Duration::from_secs(60);
    assert!(sim.run_until(until, |s| s.complete(l, 0)));
    let limited = sim.elapsed();
    // 2 MiB at 256 KiB/s, with a one-second burst: at least 6 s.
    assert!(limited >= Duration::from_secs(6), "2 MiB in {limited:?} at 256 KiB/s");
    assert!(limited <= Duration::from_secs(12), "2 MiB in {limited:?} at 256 KiB/s");

    // Lifting the limit at run time: much faster.
    let mut sim = Sim::new();
    let mut c = config();
    c.max_download_rate = 64 * 1024;
    let (_, l) = seed_and_leecher(&mut sim, &meta, &data, c);
    sim.run_for(Duration::from_secs(3));
    assert!(!sim.complete(l, 0));
    sim.command(l, Command::SetRateLimits { download: 0, upload: 0 });
    let until = sim.now + Duration::from_secs(5);
    assert!(sim.run_until(until, |s| s.complete(l, 0)), "not complete within 5 s of lifting the limit");

    // Upload limit on the seed.
    let mut sim = Sim::new();
    let mut scfg = config();
    scfg.seed = true;
    scfg.max_upload_rate = 256 * 1024;
    let s = sim.add_node(scfg, 1);
    sim.add_torrent(s, &meta, &data, vec![true; meta.info.pieces.len()]);
    let mut lc = config();
    lc.extra_peers.push(sim.addr(s));
    let l = sim.add_node(lc, 2);
    sim.add_torrent(l, &meta, &data, vec![false; meta.info.pieces.len()]);
    let until = sim.now + Duration::from_secs(60);
    assert!(sim.run_until(until, |s| s.complete(l, 0)));
    assert!(sim.elapsed() >= Duration::from_secs(6), "upload limit: 2 MiB in {:?}", sim.elapsed());
}

#[test]
fn file_selection_changes_at_run_time() {
    let (meta, data) = torrent(MIB, 64 * 1024, 15);
    let mut sim = Sim::new();
    let (_, l) = seed_and_leecher(&mut sim, &meta, &data, config());
    // Select nothing wanted... one file torrent: select it again (all).
    sim.command(l, Command::SelectFiles(0, Some(vec![0])));
    let until = sim.now + Duration::from_secs(20);
    assert!(sim.run_until(until, |s| s.complete(l, 0)));
    sim.command(l, Command::SelectFiles(0, Some(vec![5])));
    assert!(sim.nodes[l].engine.torrent(0).unwrap().select == Some(vec![0]), "an out-of-range selection is refused");
}

/// On a long link (100 ms round trip) the request pipeline fills the link
/// within a few round trips (slow start: one more request per block
/// received), instead of running at 16 blocks per round trip until the
/// first rate sample a second later.
#[test]
fn pipeline_slow_start_fills_a_long_link_quickly() {
    let (meta, data) = torrent(16 * MIB, 256 * 1024, 11);
    let mut sim = Sim::new();
    sim.latency = Duration::from_millis(50);
    sim.bandwidth = 20e6;
    let (_, l) = seed_and_leecher(&mut sim, &meta, &data, config());
    // 0.8 s: before the first once-a-second pipeline sizing. Connection
    // set-up takes 3 round trips; at a fixed 16 blocks per round trip the
    // leecher would have 16 in flight and about 1.3 MB by now.
    sim.run_for(Duration::from_millis(800));
    let pipeline: Vec<usize> = sim.nodes[l].engine.peers.iter().flatten().map(|p| p.pipeline.depth()).collect();
    let got = sim.nodes[l].engine.torrent(0).unwrap().downloaded;
    assert!(pipeline.len() == 1 && pipeline[0] > 128, "pipeline {pipeline:?}");
    assert!(got > 3 * MIB as u64, "only {got} bytes after 0.8 s");
    let until = sim.now + Duration::from_secs(30);
    assert!(sim.run_until(until, |s| s.complete(l, 0)), "not complete after 30 s");
    assert_eq!(sim.nodes[l].disk[&0], data);
}

/// A rate-limited peer near by is asked for about its bandwidth-delay
/// product, not a second of its rate or the maximum: requests queued there
/// would only hold budget other peers need and delay the last pieces.
#[test]
fn a_rate_limited_peer_gets_its_bandwidth_delay_product() {
    let (meta, data) = torrent(8 * MIB, 256 * 1024, 12);
    let mut sim = Sim::new();
    sim.bandwidth = 1e6;
    let (_, l) = seed_and_leecher(&mut sim, &meta, &data, config());
    sim.run_for(Duration::from_secs(4));
    let p = sim.nodes[l].engine.peers.iter().flatten().next().expect("connected");
    let rtt = p.pipeline.min_rtt().expect("round trip measured");
    // 10 ms of latency plus a block at 1 MB/s (16 ms).
    assert!(rtt >= Duration::from_millis(10) && rtt < Duration::from_millis(60), "{rtt:?}");
    let rate = p.pipeline.rate();
    assert!((0.9e6..1.1e6).contains(&rate), "rate {rate}");
    // 1 MB/s for twice 26 ms plus 100 ms, plus 8: about 18 blocks.
    assert!((16..=30).contains(&p.pipeline.depth()), "depth {}", p.pipeline.depth());
}

#[test]
fn resume_data_is_recorded_periodically_while_downloading() {
    // 4 MiB at 256 KiB/s: about 16 s, so several periodic records.
    let (meta, data) = torrent(4 * MIB, 64 * 1024, 16);
    let mut sim = Sim::new();
    let mut c = config();
    c.max_download_rate = 256 * 1024;
    let (_, l) = seed_and_leecher(&mut sim, &meta, &data, c);
    let until = sim.now + Duration::from_secs(60);
    assert!(sim.run_until(until, |s| s.complete(l, 0)));
    sim.run_for(Duration::from_secs(1));
    let saves = &sim.nodes[l].resume_saves;
    let running: Vec<_> = saves.iter().filter(|s| !s.1).collect();
    assert!(running.len() >= 2, "periodic records: {saves:?}");
    for w in running.windows(2) {
        assert!(w[1].0 - w[0].0 >= crate::engine::lifecycle::RESUME_EVERY, "too often: {saves:?}");
        assert!(w[1].2 > w[0].2, "only when pieces were added: {saves:?}");
    }
    let last = saves.last().unwrap();
    assert!(last.1 && last.2 == meta.info.pieces.len(), "a clean, complete record at the end: {saves:?}");
}
