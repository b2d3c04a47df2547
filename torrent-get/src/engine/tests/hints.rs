//! Hints for the first attempt (issue 14): PEX `added.f` flags pick uTP or
//! TCP first, a peer's `e` = 1 brings MSE back first under `prefer`, and
//! the flags we send in our own PEX say what we know of each peer.

use crate::disk::{DiskEvent, DiskJob};
use crate::engine::fuzz::{fuzz_config, make_torrent};
use crate::engine::{Action, CloseReason, ConnKind, Engine, Input, Job, Method, Policy, Transports};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::metainfo::Metainfo;
use torrent_core::peer::codec::Decoder;
use torrent_core::peer::extension::ExtendedHandshake;
use torrent_core::peer::handshake::Handshake;
use torrent_core::peer::message::Message;
use torrent_core::peer::pex::{flags, PexMessage, UT_PEX};
use torrent_core::transport::TransportKind;

/// The engine's actions carried out: the torrent opens with `have`; every
/// dial is recorded and answered by `dial` (None: refused at once, as a
/// closed port); bytes sent are kept per peer.
struct Net {
    dials: Vec<(SocketAddr, ConnKind)>,
    next_key: usize,
    sent: HashMap<usize, Vec<u8>>,
}

impl Net {
    fn new() -> Net {
        Net { dials: Vec::new(), next_key: 100, sent: HashMap::new() }
    }

    fn drain(&mut self, e: &mut Engine, now: Instant, have: bool, refuse: &dyn Fn(SocketAddr, ConnKind) -> Option<CloseReason>) {
        while let Some(a) = e.poll_action() {
            match a {
                Action::Disk(DiskJob::Open { torrent, info, .. }) => {
                    let n = info.pieces.len();
                    e.handle(Input::Disk(DiskEvent::Opened { torrent, have: vec![have; n], rechecked: true }), now);
                }
                Action::Dial { torrent, addr, kind } => {
                    self.dials.push((addr, kind));
                    let peer = self.next_key;
                    self.next_key += 1;
                    e.handle(Input::Dialing { peer, torrent, addr, kind }, now);
                    match refuse(addr, kind) {
                        Some(reason) => e.handle(Input::Closed { peer, reason }, now),
                        None => e.handle(Input::Connected { peer, local: None }, now),
                    }
                }
                Action::Send { peer, data } => {
                    self.sent.entry(peer).or_default().extend_from_slice(&data);
                    e.handle(Input::Sent { peer, pending: 0 }, now);
                }
                _ => {}
            }
        }
    }

    /// The kinds `addr` was dialled with, in order.
    fn kinds(&self, addr: SocketAddr) -> Vec<ConnKind> {
        self.dials.iter().filter(|(a, _)| *a == addr).map(|(_, k)| *k).collect()
    }
}

fn refused(_: SocketAddr, _: ConnKind) -> Option<CloseReason> {
    Some(CloseReason::Io("connect failed: Connection refused".into()))
}

/// An incoming peer of `meta` at `addr`, over `kind`, through its
/// handshakes (ut_pex offered with id 4, listening on `port`; `have_all`
/// makes it a seed).
fn accept(e: &mut Engine, key: usize, meta: &Metainfo, addr: SocketAddr, kind: ConnKind, port: u16, have_all: bool, now: Instant) {
    e.handle(Input::Accepted { peer: key, addr, kind }, now);
    let mut hs = Handshake::new(meta.info_hash, [key as u8; 20]);
    hs.set_extended(true);
    let mut bytes = hs.encode().to_vec();
    let mut ext = ExtendedHandshake::ours(3, None, Some(port));
    ext.m.insert(UT_PEX.to_string(), 4);
    Message::Extended { id: 0, payload: ext.encode() }.encode_into(&mut bytes);
    if have_all {
        Message::HaveAll.encode_into(&mut bytes);
    }
    e.feed(key, &bytes, now);
}

fn pex(payload: Vec<u8>) -> Vec<u8> {
    let mut b = Vec::new();
    Message::Extended { id: crate::engine::pex::OUR_UT_PEX, payload }.encode_into(&mut b);
    b
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn pex_flags_pick_utp_or_tcp_first() {
    let (meta, _) = make_torrent(8 * 32 * 1024, 32 * 1024, 5);
    let now = Instant::now();
    let mut cfg = fuzz_config();
    cfg.seed = false;
    cfg.transports = Transports::Both;
    let mut e = Engine::new(cfg, *b"-TE0001-hintshintshi", 6881, Some(3), now);
    e.add(Job::Torrent { meta: Box::new(meta.clone()), select: None }, now);
    let mut net = Net::new();
    net.drain(&mut e, now, false, &refused);
    // One sender flags A with uTP and B without; another sends C with no
    // flags at all.
    let (a, b, c) = (addr("127.0.5.1:7001"), addr("127.0.5.2:7002"), addr("127.0.5.3:7003"));
    accept(&mut e, 0, &meta, addr("127.0.0.9:4000"), ConnKind::Tcp, 4000, false, now);
    accept(&mut e, 1, &meta, addr("127.0.0.8:4000"), ConnKind::Tcp, 4000, false, now);
    net.drain(&mut e, now, false, &refused);
    let flagged = PexMessage { added: vec![(a, flags::SUPPORTS_UTP), (b, flags::SEED)], ..Default::default() }.encode();
    e.feed(0, &pex(flagged), now);
    let mut unflagged = b"d5:added6:".to_vec();
    unflagged.extend_from_slice(&[127, 0, 5, 3, 0x1b, 0x5b]);
    unflagged.push(b'e');
    e.feed(1, &pex(unflagged), now);
    // Every connect is refused: the first attempt and the fallback.
    let later = now + Duration::from_millis(1100);
    e.handle(Input::Tick, later);
    net.drain(&mut e, later, false, &refused);
    assert_eq!(net.kinds(a), vec![ConnKind::Utp, ConnKind::Tcp], "flagged uTP: uTP first, then TCP");
    assert_eq!(net.kinds(b), vec![ConnKind::Tcp, ConnKind::Utp], "flags without uTP: TCP first, then uTP");
    assert_eq!(net.kinds(c), vec![ConnKind::Utp, ConnKind::Tcp], "no flags: the default, uTP first");
    // Both failed for B: the next try (after its back-off) makes one
    // attempt, no ping-pong between the transports.
    let much_later = later + Duration::from_secs(5);
    e.handle(Input::Tick, much_later);
    net.drain(&mut e, much_later, false, &refused);
    assert_eq!(net.kinds(b).len(), 3, "{:?}", net.kinds(b));
}

#[test]
fn a_peer_saying_e1_is_dialled_encrypted_first_again() {
    let (meta, _) = make_torrent(8 * 32 * 1024, 32 * 1024, 5);
    let mut now = Instant::now();
    let (x, y) = (addr("127.0.6.1:7001"), addr("127.0.6.2:7002"));
    let mut cfg = fuzz_config();
    cfg.seed = false;
    cfg.encryption = Policy::Prefer;
    cfg.extra_peers = vec![x, y];
    let mut e = Engine::new(cfg, *b"-TE0001-hintshintshi", 6881, Some(3), now);
    e.add(Job::Torrent { meta: Box::new(meta.clone()), select: None }, now);
    let mut net = Net::new();
    // MSE attempts break off; plaintext ones connect.
    let mse_fails = |_: SocketAddr, k: ConnKind| (k.method != Method::Plain).then(|| CloseReason::Encryption("peer closed the connection".into()));
    net.drain(&mut e, now, false, &mse_fails);
    now += Duration::from_millis(1100);
    e.handle(Input::Tick, now);
    net.drain(&mut e, now, false, &mse_fails);
    for p in [x, y] {
        let k: Vec<Method> = net.kinds(p).iter().map(|k| k.method).collect();
        assert_eq!(k, vec![Method::Rc4, Method::Plain], "{p}: MSE first, plaintext after it failed");
    }
    // Both plaintext connections do their handshakes; only X says e = 1.
    let keys: Vec<(usize, SocketAddr)> = net.dials.iter().enumerate().filter(|(_, (_, k))| k.method == Method::Plain).map(|(i, (a, _))| (100 + i, *a)).collect();
    for &(key, a) in &keys {
        let mut bytes = Handshake::new(meta.info_hash, [key as u8; 20]).encode().to_vec();
        let mut ext = ExtendedHandshake::ours(3, None, None);
        if a == x {
            ext.e = Some(1);
        }
        Message::Extended { id: 0, payload: ext.encode() }.encode_into(&mut bytes);
        e.feed(key, &bytes, now);
        net.drain(&mut e, now, false, &mse_fails);
    }
    // They go away; the next dials: X encrypted first again, Y plaintext.
    for &(key, _) in &keys {
        e.handle(Input::Closed { peer: key, reason: CloseReason::PeerClosed }, now);
    }
    now += Duration::from_secs(3);
    e.handle(Input::Tick, now);
    net.drain(&mut e, now, false, &|_, _| Some(CloseReason::PeerClosed));
    assert_eq!(net.kinds(x).get(2).map(|k| k.method), Some(Method::Rc4), "{:?}", net.kinds(x));
    assert_eq!(net.kinds(y).get(2).map(|k| k.method), Some(Method::Plain), "{:?}", net.kinds(y));
}

#[test]
fn our_pex_flags_say_utp_rc4_seed_and_reachable() {
    let (meta, _) = make_torrent(8 * 32 * 1024, 32 * 1024, 5);
    let mut now = Instant::now();
    let mut cfg = fuzz_config();
    cfg.seed = false;
    let mut e = Engine::new(cfg, *b"-TE0001-hintshintshi", 6881, Some(3), now);
    e.add(Job::Torrent { meta: Box::new(meta.clone()), select: None }, now);
    let mut net = Net::new();
    net.drain(&mut e, now, false, &refused);
    let utp_rc4 = ConnKind::new(TransportKind::Utp, Method::Rc4);
    accept(&mut e, 0, &meta, addr("127.0.7.1:5000"), utp_rc4, 7001, false, now);
    accept(&mut e, 1, &meta, addr("127.0.7.2:5000"), ConnKind::Tcp, 7002, true, now);
    accept(&mut e, 2, &meta, addr("127.0.7.3:5000"), ConnKind::Tcp, 7003, false, now);
    net.drain(&mut e, now, false, &refused);
    now += Duration::from_secs(61);
    e.handle(Input::Tick, now);
    net.drain(&mut e, now, false, &refused);
    // What peer 2 heard: handshake, then messages; the ut_pex one (id 4).
    let mut d = Decoder::new();
    d.feed(&net.sent[&2]).unwrap();
    d.next_handshake().unwrap().expect("our handshake");
    let mut heard = None;
    while let Ok(Some(m)) = d.next_message() {
        if let Message::Extended { id: 4, payload } = m {
            heard = Some(PexMessage::parse(&payload).unwrap());
        }
    }
    let heard = heard.expect("a ut_pex message to peer 2");
    let f: HashMap<SocketAddr, u8> = heard.added.into_iter().collect();
    assert_eq!(f.get(&addr("127.0.7.1:7001")), Some(&(flags::SUPPORTS_UTP | flags::PREFERS_ENCRYPTION)), "{f:?}");
    assert_eq!(f.get(&addr("127.0.7.2:7002")), Some(&flags::SEED), "{f:?}");
    assert!(!f.contains_key(&addr("127.0.7.3:7003")), "not its own address: {f:?}");
}
