//! Tests of one engine driven by hand, byte by byte, as the loop would.

use crate::disk::{DiskEvent, DiskJob};
use crate::engine::fuzz::{fuzz_config, make_torrent};
use crate::engine::{Action, CloseReason, ConnKind, Engine, Input, Job};
use std::time::Instant;
use torrent_core::peer::handshake::Handshake;
use torrent_core::peer::message::Message;

fn seeding_engine() -> (Engine, torrent_core::Metainfo, Instant) {
    let (meta, _) = make_torrent(4 * 32 * 1024, 32 * 1024, 3);
    let now = Instant::now();
    let mut e = Engine::new(fuzz_config(), *b"-TE0001-testtesttest", 6881, Some(1), now);
    e.add(Job::Torrent { meta: Box::new(meta.clone()), select: None }, now);
    while let Some(a) = e.poll_action() {
        if let Action::Disk(DiskJob::Open { torrent, .. }) = a {
            e.handle(Input::Disk(DiskEvent::Opened { torrent, have: vec![true; 4], rechecked: true }), now);
        }
    }
    (e, meta, now)
}

fn connect(e: &mut Engine, meta: &torrent_core::Metainfo, key: usize, port: u16, now: Instant) {
    e.handle(Input::Accepted { peer: key, addr: format!("127.0.0.9:{port}").parse().unwrap(), kind: ConnKind::Tcp }, now);
    let mut hs = Handshake::new(meta.info_hash, [port as u8; 20]);
    hs.set_fast(true);
    e.feed(key, &hs.encode(), now);
}

/// Drain actions; the disk reads asked for.
fn reads(e: &mut Engine) -> Vec<DiskJob> {
    let mut out = Vec::new();
    while let Some(a) = e.poll_action() {
        if let Action::Disk(j @ DiskJob::Read { .. }) = a {
            out.push(j);
        }
    }
    out
}

#[test]
fn a_late_disk_read_does_not_reach_the_next_connection_on_the_same_key() {
    let (mut e, meta, now) = seeding_engine();
    connect(&mut e, &meta, 0, 1000, now);
    let mut bytes = Vec::new();
    Message::Interested.encode_into(&mut bytes);
    Message::Request { index: 1, begin: 0, length: 16384 }.encode_into(&mut bytes);
    e.feed(0, &bytes, now);
    let r = reads(&mut e);
    assert_eq!(r.len(), 1, "an unchoked, interested peer's request is read from disk");
    let DiskJob::Read { torrent, peer, conn, piece, begin, len } = r.into_iter().next().unwrap() else { unreachable!() };
    // That connection ends; another one gets the same key.
    e.handle(Input::Closed { peer: 0, reason: CloseReason::PeerClosed }, now);
    connect(&mut e, &meta, 0, 1001, now);
    let _ = reads(&mut e);
    e.handle(Input::Disk(DiskEvent::ReadDone { torrent, peer, conn, piece, begin, data: vec![0; len as usize] }), now);
    let mut sent = 0;
    while let Some(a) = e.poll_action() {
        if let Action::Send { data, .. } = a {
            sent += data.len();
        }
    }
    assert!(sent < 16384, "the new connection got a block it never asked for ({sent} bytes)");
}

#[test]
fn protocol_violations_close_with_a_typed_reason() {
    let (mut e, meta, now) = seeding_engine();
    connect(&mut e, &meta, 0, 1000, now);
    // have_none is fine (fast), a have past the last piece is not.
    let mut bytes = Vec::new();
    Message::HaveNone.encode_into(&mut bytes);
    Message::Have(4).encode_into(&mut bytes);
    e.feed(0, &bytes, now);
    let mut closed = None;
    while let Some(a) = e.poll_action() {
        if let Action::Close { reason, .. } = a {
            closed = Some(reason);
        }
    }
    match closed {
        Some(CloseReason::Protocol(m)) => assert!(m.contains("out of range"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A handshake for another torrent.
    e.handle(Input::Accepted { peer: 1, addr: "127.0.0.9:2000".parse().unwrap(), kind: ConnKind::Tcp }, now);
    e.feed(1, &Handshake::new(torrent_core::InfoHash([9; 20]), [1; 20]).encode(), now);
    let mut closed = None;
    while let Some(a) = e.poll_action() {
        if let Action::Close { reason, .. } = a {
            closed = Some(reason);
        }
    }
    assert_eq!(closed, Some(CloseReason::UnknownTorrent));
}

/// The DHT pings the engine asks for.
fn dht_pings(e: &mut Engine) -> Vec<std::net::SocketAddr> {
    std::iter::from_fn(|| e.poll_action())
        .filter_map(|a| match a {
            Action::DhtPing { addr } => Some(addr),
            _ => None,
        })
        .collect()
}

#[test]
fn a_port_message_asks_the_dht_to_ping_that_node_once_per_connection() {
    let (mut e, meta, now) = seeding_engine();
    let port_msgs = |ports: &[u16]| {
        let mut bytes = Vec::new();
        for p in ports {
            Message::Port(*p).encode_into(&mut bytes);
        }
        bytes
    };
    // Our DHT is off: nothing to ping with.
    connect(&mut e, &meta, 0, 1000, now);
    e.feed(0, &port_msgs(&[7000]), now);
    assert!(dht_pings(&mut e).is_empty());
    // On: the first port message of a connection is pinged, later ones and port 0 are not.
    e.set_dht_port(Some(6881));
    connect(&mut e, &meta, 1, 1001, now);
    e.feed(1, &port_msgs(&[0, 7001, 7002, 7003]), now);
    assert_eq!(dht_pings(&mut e), vec!["127.0.0.9:7001".parse().unwrap()]);
}
