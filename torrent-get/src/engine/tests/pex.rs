//! BEP 11 against a hostile peer (issue 18): PEX floods cannot keep the
//! addresses trackers give from being dialled.

use crate::announce::AnnounceResult;
use crate::disk::{DiskEvent, DiskJob};
use crate::engine::candidates::{Source, MAX_PEX_PER_SENDER};
use crate::engine::fuzz::{fuzz_config, make_torrent};
use crate::engine::{Action, ConnKind, Engine, Input, Job};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::peer::extension::ExtendedHandshake;
use torrent_core::peer::handshake::Handshake;
use torrent_core::peer::message::Message;
use torrent_core::peer::pex::{PexMessage, MAX_ADDED, UT_PEX};
use torrent_core::tracker::client::TierAnswer;
use torrent_core::tracker::AnnounceResponse;

/// Run the engine's actions; dials fail at once (nobody there). The
/// addresses dialled.
fn drain(e: &mut Engine, now: Instant) -> Vec<SocketAddr> {
    let mut dialled = Vec::new();
    while let Some(a) = e.poll_action() {
        match a {
            Action::Disk(DiskJob::Open { torrent, info, .. }) => {
                let n = info.pieces.len();
                e.handle(Input::Disk(DiskEvent::Opened { torrent, have: vec![false; n], rechecked: true }), now);
            }
            Action::Dial { torrent, addr, .. } => {
                dialled.push(addr);
                e.handle(Input::DialFailed { torrent, addr }, now);
            }
            Action::Send { peer, .. } => e.handle(Input::Sent { peer, pending: 0 }, now),
            _ => {}
        }
    }
    dialled
}

fn pex_message(batch: usize) -> Vec<u8> {
    let added = (0..200).map(|i| (format!("127.1.{batch}.{}:1", i + 1).parse().unwrap(), 0)).collect();
    let mut b = Vec::new();
    Message::Extended { id: crate::engine::pex::OUR_UT_PEX, payload: PexMessage { added, dropped: vec![], ..Default::default() }.encode() }.encode_into(&mut b);
    b
}

#[test]
fn a_pex_flood_does_not_stop_tracker_peers_being_tried() {
    let (meta, _) = make_torrent(8 * 32 * 1024, 32 * 1024, 5);
    let mut now = Instant::now();
    let mut cfg = fuzz_config();
    cfg.seed = false;
    let mut e = Engine::new(cfg, *b"-TE0001-pexpexpexpex", 6881, Some(3), now);
    e.add(Job::Torrent { meta: Box::new(meta.clone()), select: None }, now);
    drain(&mut e, now);
    // A peer with ut_pex sends 12 messages of 200 dead addresses, one a second.
    let flooder: SocketAddr = "127.0.0.9:4000".parse().unwrap();
    e.handle(Input::Accepted { peer: 0, addr: flooder, kind: ConnKind::Tcp }, now);
    let mut hs = Handshake::new(meta.info_hash, [9; 20]);
    hs.set_extended(true);
    let mut bytes = hs.encode().to_vec();
    let mut ext = ExtendedHandshake::ours(3, None, None);
    ext.m.insert(UT_PEX.to_string(), 4);
    Message::Extended { id: 0, payload: ext.encode() }.encode_into(&mut bytes);
    e.feed(0, &bytes, now);
    drain(&mut e, now);
    for batch in 0..12 {
        e.feed(0, &pex_message(batch), now);
        now += Duration::from_secs(1);
        e.handle(Input::Tick, now);
        drain(&mut e, now);
    }
    let t = e.torrent(0).unwrap();
    let pex = t.candidates.values().filter(|c| matches!(c.source, Source::Pex(_))).count();
    assert!(pex <= MAX_ADDED, "one message a minute, 50 added each: {pex} PEX candidates");
    // The tracker names the real peer: it is dialled on the next tick.
    let seeder: SocketAddr = "127.0.0.1:9999".parse().unwrap();
    let response = AnnounceResponse { interval: 1800, min_interval: None, peers: vec![seeder], complete: None, incomplete: None, warning: None, tracker_id: None };
    let answer = TierAnswer { url: "http://127.0.0.1:1/announce".into(), response, failures: vec![] };
    e.handle(Input::Announced(AnnounceResult { torrent: 0, tiers: None, result: Ok(answer) }), now);
    now += Duration::from_millis(1100);
    e.handle(Input::Tick, now);
    let dialled = drain(&mut e, now);
    assert!(dialled.first() == Some(&seeder), "tracker peer not dialled first: {dialled:?}");
    // A minute later the flooder is heard again, up to its share.
    for batch in 12..20 {
        now += Duration::from_secs(61);
        e.feed(0, &pex_message(batch), now);
        e.handle(Input::Tick, now);
        drain(&mut e, now);
    }
    let t = e.torrent(0).unwrap();
    let pex = t.candidates.values().filter(|c| matches!(c.source, Source::Pex(_))).count();
    assert!(pex <= MAX_PEX_PER_SENDER, "{pex} PEX candidates from one peer");
    assert!(pex > MAX_ADDED, "later messages are heard: {pex}");
}
