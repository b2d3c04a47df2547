//! Connection slots and early peer memory (issue 18), one engine driven by
//! hand with a simulated clock: idle peers cannot hold every slot, a burst
//! of accepts cannot pass --max-peers, silent connections go in 10 s, the
//! per-IP cap, and what a peer can make us keep before the metadata.

use crate::disk::{DiskEvent, DiskJob};
use crate::engine::fuzz::{fuzz_config, make_torrent};
use crate::engine::slots::{EVICT_IDLE, INCOMING_HANDSHAKE_TIMEOUT};
use crate::engine::{Action, CloseReason, Config, ConnKind, Engine, Input, Job, PeerKey};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::peer::handshake::Handshake;
use torrent_core::peer::message::Message;
use torrent_core::Metainfo;

struct Bench {
    e: Engine,
    meta: Metainfo,
    now: Instant,
    closed: HashMap<PeerKey, CloseReason>,
    dials: Vec<SocketAddr>,
    reads: usize,
}

impl Bench {
    /// An engine with one torrent: complete (a seeder) or empty (a leecher).
    fn new(cfg: Config, seeding: bool) -> Bench {
        let (meta, _) = make_torrent(8 * 32 * 1024, 32 * 1024, 5);
        let now = Instant::now();
        let mut e = Engine::new(cfg, *b"-TE0001-slotsslotsxx", 6881, Some(7), now);
        e.add(Job::Torrent { meta: Box::new(meta.clone()), select: None }, now);
        let mut b = Bench { e, meta, now, closed: HashMap::new(), dials: Vec::new(), reads: 0 };
        while let Some(a) = b.e.poll_action() {
            match a {
                Action::Disk(DiskJob::Open { torrent, .. }) => {
                    b.e.handle(Input::Disk(DiskEvent::Opened { torrent, have: vec![seeding; 8], rechecked: true }), now)
                }
                Action::Dial { addr, .. } => b.dials.push(addr),
                _ => {}
            }
        }
        b
    }

    fn drain(&mut self) {
        while let Some(a) = self.e.poll_action() {
            match a {
                Action::Close { peer, reason } => {
                    self.closed.insert(peer, reason);
                }
                Action::Dial { addr, .. } => self.dials.push(addr),
                Action::Disk(DiskJob::Read { .. }) => self.reads += 1,
                _ => {}
            }
        }
    }

    fn accept(&mut self, key: PeerKey, addr: &str) {
        self.closed.remove(&key);
        self.e.handle(Input::Accepted { peer: key, addr: addr.parse().unwrap(), kind: ConnKind::Tcp }, self.now);
        self.drain();
    }

    /// Accept and send a handshake (fast extension, our torrent).
    fn join(&mut self, key: PeerKey, addr: &str) {
        self.accept(key, addr);
        let mut hs = Handshake::new(self.meta.info_hash, [key as u8 + 1; 20]);
        hs.set_fast(true);
        self.e.feed(key, &hs.encode(), self.now);
        self.drain();
    }

    fn send(&mut self, key: PeerKey, msgs: &[Message]) {
        let mut bytes = Vec::new();
        for m in msgs {
            m.encode_into(&mut bytes);
        }
        self.e.feed(key, &bytes, self.now);
        self.drain();
    }

    /// Let `d` pass, ticking every second.
    fn wait(&mut self, d: Duration) {
        let until = self.now + d;
        while self.now < until {
            self.now += Duration::from_secs(1);
            self.e.handle(Input::Tick, self.now);
            self.drain();
        }
    }

    fn attached(&self) -> usize {
        self.e.torrent(0).unwrap().peers.iter().filter(|k| self.e.peer(**k).is_some_and(|p| p.active())).count()
    }

    fn open(&self, key: PeerKey) -> bool {
        self.e.peer(key).is_some_and(|p| p.live())
    }
}

fn cfg(max_peers: usize) -> Config {
    let mut c = fuzz_config();
    c.max_peers = max_peers;
    c
}

/// 50 peers from as many addresses that handshake and then say nothing
/// (keep-alives only) against a seeder with --max-peers 50.
#[test]
fn idle_peers_cannot_hold_every_slot_of_a_seeder() {
    let mut b = Bench::new(cfg(50), true);
    for k in 0..50 {
        b.join(k, &format!("10.0.{k}.1:6881"));
    }
    // A fifth of the slots stays for peers we dial.
    assert_eq!(b.attached(), 40, "incoming peers take at most max_peers - reserve");
    assert_eq!((40..50).filter(|k| matches!(b.closed.get(k), Some(CloseReason::Limit(_)))).count(), 10);
    // An honest leecher right away: every idle peer is still within its grace.
    b.join(100, "10.1.0.1:6881");
    assert!(matches!(b.closed.get(&100), Some(CloseReason::Limit(_))), "{:?}", b.closed.get(&100));
    // Later the idle peers (keep-alives do not count) make room.
    b.wait(Duration::from_secs(10));
    for k in 0..40 {
        b.send(k, &[Message::KeepAlive]);
    }
    b.wait(EVICT_IDLE - Duration::from_secs(9));
    b.join(101, "10.1.0.2:6881");
    assert!(b.open(101), "the honest peer got in: {:?}", b.closed.get(&101));
    assert_eq!(b.closed.values().filter(|r| **r == CloseReason::Evicted).count(), 1);
    assert_eq!(b.attached(), 40);
    // It is served.
    b.send(101, &[Message::Interested]);
    b.wait(Duration::from_secs(11)); // a rechoke
    b.send(101, &[Message::Request { index: 0, begin: 0, length: 16384 }]);
    assert_eq!(b.reads, 1, "the honest leecher's request is read from disk");
    // More newcomers: each takes an idle peer's slot.
    for k in 0..10 {
        b.join(200 + k, &format!("10.2.0.{k}:6881"));
        assert!(b.open(200 + k));
    }
    assert_eq!(b.closed.values().filter(|r| **r == CloseReason::Evicted).count(), 11);
}

/// The least useful peer goes first: of idle peers, one where neither side
/// is interested before one that said it is.
#[test]
fn interested_peers_are_evicted_after_uninterested_ones() {
    let mut b = Bench::new(cfg(5), true);
    for k in 0..4 {
        b.join(k, &format!("10.0.0.{k}:1"));
    }
    assert_eq!(b.attached(), 4);
    b.send(0, &[Message::Interested]);
    b.send(2, &[Message::Interested]);
    b.wait(EVICT_IDLE + Duration::from_secs(1));
    b.join(10, "10.0.1.1:1");
    b.join(11, "10.0.1.2:1");
    assert!(b.open(10) && b.open(11));
    assert_eq!(b.closed.get(&1), Some(&CloseReason::Evicted));
    assert_eq!(b.closed.get(&3), Some(&CloseReason::Evicted));
    assert!(b.open(0) && b.open(2), "the interested ones stay while others can go");
}

/// The same idle peers against a listening leecher do not stop it dialling
/// the peer it was told about.
#[test]
fn idle_incoming_peers_leave_slots_for_dialling() {
    let mut c = cfg(50);
    c.seed = false;
    c.extra_peers = vec!["10.9.9.9:6881".parse().unwrap()];
    let mut b = Bench::new(c, false);
    // Told about its seeder before the idle peers came (the dial failed:
    // the seeder was not up yet); it retries after them.
    assert_eq!(b.dials.len(), 1);
    b.e.handle(Input::DialFailed { torrent: 0, addr: b.dials[0] }, b.now);
    b.dials.clear();
    for k in 0..50 {
        b.join(k, &format!("10.0.{k}.1:6881"));
    }
    assert_eq!(b.attached(), 40);
    b.wait(Duration::from_secs(3));
    assert_eq!(b.dials, vec!["10.9.9.9:6881".parse::<SocketAddr>().unwrap()], "the leecher dials its peer");
}

/// 200 accepts at once, then 200 handshakes: --max-peers holds after the
/// handshake, and no more than the pending limit wait at once.
#[test]
fn a_burst_of_accepts_cannot_pass_max_peers() {
    let mut b = Bench::new(cfg(10), true);
    let limit = b.e.pending_in_limit();
    assert_eq!(limit, 32);
    for k in 0..200 {
        b.accept(k, &format!("10.0.{}.{}:1", k / 200, k % 200));
        assert!(b.e.waiting_count() <= limit);
    }
    // The oldest waiting ones made room for the newest.
    assert!((0..168).all(|k| !b.open(k)));
    assert!((168..200).all(|k| b.open(k)));
    for k in 0..200 {
        if b.open(k) {
            let mut hs = Handshake::new(b.meta.info_hash, [k as u8; 20]);
            hs.set_fast(true);
            b.e.feed(k, &hs.encode(), b.now);
            b.drain();
        }
    }
    assert_eq!(b.attached(), 8, "max_peers 10, 2 kept for dialling");
    assert!(b.e.connection_count() <= 10);
}

/// Connections that never send a handshake are dropped after 10 s.
#[test]
fn silent_connections_time_out_in_10_seconds() {
    let mut b = Bench::new(cfg(10), true);
    b.accept(0, "10.0.0.1:1");
    b.accept(1, "10.0.0.2:1");
    b.e.feed(1, &[19], b.now); // one byte of a handshake
    b.drain();
    b.wait(INCOMING_HANDSHAKE_TIMEOUT - Duration::from_secs(1));
    assert!(b.open(0) && b.open(1));
    b.wait(Duration::from_secs(2));
    assert_eq!(b.closed.get(&0), Some(&CloseReason::Timeout("handshake")));
    assert_eq!(b.closed.get(&1), Some(&CloseReason::Timeout("handshake")));
}

/// The connection budget (descriptors) counts every phase; past it the
/// oldest waiting connection goes, and with none waiting a newcomer is refused.
#[test]
fn the_connection_budget_counts_every_phase() {
    let mut c = cfg(50);
    c.max_connections = 5;
    let mut b = Bench::new(c, true);
    for k in 0..5 {
        b.join(k, &format!("10.0.0.{k}:1"));
    }
    assert_eq!(b.e.connection_count(), 5);
    b.accept(9, "10.0.1.1:1");
    assert!(matches!(b.closed.get(&9), Some(CloseReason::Limit(_))));
    assert_eq!(b.e.connection_count(), 5);
}

#[test]
fn per_ip_cap_default_and_flag() {
    let mut b = Bench::new(cfg(50), true);
    for k in 0..10 {
        b.accept(k, &format!("10.0.0.1:{}", 1000 + k));
    }
    assert_eq!((0..10).filter(|k| b.open(*k)).count(), 8, "8 per address by default");
    // Loopback: no limit by default (local swarms share 127.0.0.1).
    for k in 20..40 {
        b.accept(k, &format!("127.0.0.1:{}", 1000 + k));
    }
    assert_eq!((20..40).filter(|k| b.open(*k)).count(), 20);
    // --max-peers-per-ip applies to loopback too.
    let mut c = cfg(50);
    c.max_per_ip = Some(3);
    let mut b = Bench::new(c, true);
    for k in 0..6 {
        b.accept(k, &format!("127.0.0.1:{}", 1000 + k));
    }
    assert_eq!((0..6).filter(|k| b.open(*k)).count(), 3);
    assert!(matches!(b.closed.get(&5), Some(CloseReason::Limit(m)) if m.contains("per-IP")));
}

/// Before the metadata (a magnet) a peer's bitfield is kept as one bit per
/// piece of the largest torrent at most, a million haves add nothing past
/// that, and a longer bitfield ends the connection.
#[test]
fn early_peer_state_before_metadata_is_capped() {
    let now = Instant::now();
    let mut e = Engine::new(cfg(50), *b"-TE0001-slotsslotsxx", 6881, Some(7), now);
    let hash = torrent_core::InfoHash([7; 20]);
    let magnet = torrent_core::Magnet::parse(&format!("magnet:?xt=urn:btih:{}", hash.to_hex())).unwrap();
    e.add(Job::Magnet { magnet, select: None }, now);
    while e.poll_action().is_some() {}
    let join = |e: &mut Engine, key: PeerKey| {
        e.handle(Input::Accepted { peer: key, addr: format!("10.0.0.{key}:1").parse().unwrap(), kind: ConnKind::Tcp }, now);
        let mut hs = Handshake::new(hash, [key as u8 + 1; 20]);
        hs.set_fast(true);
        e.feed(key, &hs.encode(), now);
    };
    // One byte of a handshake costs one small read buffer.
    e.handle(Input::Accepted { peer: 9, addr: "10.0.0.9:1".parse().unwrap(), kind: ConnKind::Tcp }, now);
    e.feed(9, &[19], now);
    assert!(e.peer(9).unwrap().decoder.capacity() <= torrent_core::peer::codec::FIRST_SPARE);

    join(&mut e, 0);
    let mut bytes = Vec::new();
    Message::Bitfield(vec![0x55; 256 * 1024]).encode_into(&mut bytes);
    let mut x: u32 = 1;
    for _ in 0..1_000_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        Message::Have(x % (1 << 21)).encode_into(&mut bytes);
    }
    e.feed(0, &bytes, now);
    let p = e.peer(0).expect("still connected");
    assert!(p.live(), "{:?}", p.closing);
    assert!(p.st.pending_bytes() <= 256 * 1024, "{} bytes of early state", p.st.pending_bytes());
    assert!(p.decoder.capacity() <= 520 * 1024, "read buffer {} bytes", p.decoder.capacity());

    // A bitfield longer than any torrent's: the connection ends.
    join(&mut e, 1);
    let mut bytes = Vec::new();
    Message::Bitfield(vec![0xff; 256 * 1024 + 1]).encode_into(&mut bytes);
    e.feed(1, &bytes, now);
    assert!(e.peer(1).is_none_or(|p| !p.live()));
    let mut closed = None;
    while let Some(a) = e.poll_action() {
        if let Action::Close { peer: 1, reason } = a {
            closed = Some(reason);
        }
    }
    assert!(matches!(closed, Some(CloseReason::Protocol(_))), "{closed:?}");
}
