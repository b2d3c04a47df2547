//! BEP 9 against hostile peers (issue 18): one engine fetching a magnet's
//! metadata from scripted peers, on a simulated clock. Whatever one hostile
//! peer does, an honest peer's metadata arrives in bounded time, the right
//! peer is blamed, and metadata that hashes right but is invalid fails the
//! torrent as an input error.

use crate::engine::fuzz::{fuzz_config, make_torrent};
use crate::engine::{Action, CloseReason, ConnKind, Engine, Input, Job, Lifecycle, Outcome};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::peer::codec::Decoder;
use torrent_core::peer::extension::{ExtendedHandshake, MetadataMessage, UT_METADATA};
use torrent_core::peer::handshake::Handshake;
use torrent_core::peer::message::Message;
use torrent_core::InfoHash;

/// The id our scripted peers want ut_metadata messages on.
const THEIR_ID: u8 = 3;
const PIECE: usize = 16384;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Honest,
    /// Announces this size and never answers a request (keep-alives only).
    SilentSize(usize),
    /// Announces the true size and answers every request with garbage.
    Garbage,
    /// Answers with a short piece.
    Short,
    /// Announces the true size, answers nothing asked and pushes garbage
    /// for every piece unasked.
    Pusher,
}

struct Peer {
    mode: Mode,
    addr: SocketAddr,
    tap: Decoder,
    asked: usize,
}

struct World {
    e: Engine,
    now: Instant,
    start: Instant,
    info: Vec<u8>,
    peers: HashMap<usize, Peer>,
    closed: Vec<(SocketAddr, CloseReason)>,
    logs: Vec<String>,
}

impl World {
    fn new(info: Vec<u8>, hash: InfoHash) -> World {
        let now = Instant::now();
        let mut e = Engine::new(fuzz_config(), *b"-TE0001-metametameta", 6881, Some(7), now);
        let magnet = torrent_core::Magnet { info_hash: hash, display_name: None, trackers: vec![], peers: vec![], web_seeds: vec![] };
        e.add(Job::Magnet { magnet, select: None }, now);
        let mut w = World { e, now, start: now, info, peers: HashMap::new(), closed: Vec::new(), logs: Vec::new() };
        w.pump();
        w
    }

    fn connect(&mut self, key: usize, mode: Mode) {
        self.attach(key, mode);
        self.pump();
    }

    /// Connect without letting anyone answer yet.
    fn attach(&mut self, key: usize, mode: Mode) {
        let addr: SocketAddr = format!("127.0.0.{}:{}", 10 + key, 7000 + key).parse().unwrap();
        let hash = match self.e.torrent(0) {
            Some(t) => t.info_hash,
            None => unreachable!(),
        };
        self.e.handle(Input::Accepted { peer: key, addr, kind: ConnKind::Tcp }, self.now);
        let mut hs = Handshake::new(hash, [key as u8 + 1; 20]);
        hs.set_extended(true);
        hs.set_fast(true);
        let mut bytes = hs.encode().to_vec();
        let size = match mode {
            Mode::SilentSize(s) => s,
            _ => self.info.len(),
        };
        let mut ext = ExtendedHandshake::ours(THEIR_ID, Some(size), None);
        ext.m.insert(UT_METADATA.to_string(), THEIR_ID as i64);
        Message::Extended { id: 0, payload: ext.encode() }.encode_into(&mut bytes);
        Message::HaveNone.encode_into(&mut bytes);
        self.peers.insert(key, Peer { mode, addr, tap: Decoder::new(), asked: 0 });
        self.e.feed(key, &bytes, self.now);
        if mode == Mode::Pusher {
            let mut push = Vec::new();
            for piece in 0..self.info.len().div_ceil(PIECE) as u32 {
                let len = PIECE.min(self.info.len() - piece as usize * PIECE);
                let m = MetadataMessage::Data { piece, total_size: self.info.len() as u64, data: vec![0xAB; len] };
                Message::Extended { id: crate::engine::metadata::OUR_UT_METADATA, payload: m.encode() }.encode_into(&mut push);
            }
            self.e.feed(key, &push, self.now);
        }
    }

    /// Carry out the engine's actions; scripted peers answer what they are
    /// asked (after 10 ms).
    fn pump(&mut self) {
        loop {
            let mut replies: Vec<(usize, Vec<u8>)> = Vec::new();
            while let Some(a) = self.e.poll_action() {
                match a {
                    Action::Send { peer, data } => {
                        self.e.handle(Input::Sent { peer, pending: 0 }, self.now);
                        let Some(p) = self.peers.get_mut(&peer) else { continue };
                        p.tap.feed(&data).unwrap();
                        if !p.tap.handshake_done() && p.tap.next_handshake().unwrap().is_none() {
                            continue;
                        }
                        while let Some(m) = p.tap.next_message().unwrap() {
                            let Message::Extended { id: THEIR_ID, payload } = m else { continue };
                            let Ok(MetadataMessage::Request { piece }) = MetadataMessage::parse(&payload) else { continue };
                            p.asked += 1;
                            let reply = match p.mode {
                                Mode::Honest => Some(false),
                                Mode::Garbage => Some(true),
                                Mode::Short => {
                                    let m = MetadataMessage::Data { piece, total_size: self.info.len() as u64, data: vec![1; 10] };
                                    let mut b = Vec::new();
                                    Message::Extended { id: crate::engine::metadata::OUR_UT_METADATA, payload: m.encode() }.encode_into(&mut b);
                                    replies.push((peer, b));
                                    None
                                }
                                Mode::SilentSize(_) | Mode::Pusher => None,
                            };
                            if let Some(garbage) = reply {
                                let s = piece as usize * PIECE;
                                let mut data = self.info[s..(s + PIECE).min(self.info.len())].to_vec();
                                if garbage {
                                    data.iter_mut().for_each(|b| *b ^= 0x5A);
                                }
                                let m = MetadataMessage::Data { piece, total_size: self.info.len() as u64, data };
                                let mut b = Vec::new();
                                Message::Extended { id: crate::engine::metadata::OUR_UT_METADATA, payload: m.encode() }.encode_into(&mut b);
                                replies.push((peer, b));
                            }
                        }
                    }
                    Action::Close { peer, reason } => {
                        if let Some(p) = self.peers.remove(&peer) {
                            self.closed.push((p.addr, reason));
                        }
                        self.e.handle(Input::Closed { peer, reason: CloseReason::PeerClosed }, self.now);
                    }
                    Action::Disk(crate::disk::DiskJob::LoadMetadata { torrent, .. }) => {
                        self.e.handle(Input::Disk(crate::disk::DiskEvent::MetadataLoaded { torrent, meta: None }), self.now)
                    }
                    Action::Report(crate::engine::Report::Log(l)) => self.logs.push(l),
                    _ => {}
                }
            }
            if replies.is_empty() {
                return;
            }
            self.now += Duration::from_millis(10);
            for (k, b) in replies {
                if self.peers.contains_key(&k) {
                    self.e.feed(k, &b, self.now);
                }
            }
        }
    }

    fn fetching(&self) -> bool {
        matches!(self.e.lifecycle(0), Some(Lifecycle::FetchingMetadata { .. }))
    }

    /// Run the clock (ticks) until the metadata is known or `limit` passes;
    /// the simulated time it took.
    fn run(&mut self, limit: Duration) -> Option<Duration> {
        let until = self.now + limit;
        while self.now < until {
            if !self.fetching() {
                return Some(self.now - self.start);
            }
            self.now = self.e.poll_timeout().max(self.now + Duration::from_millis(1)).min(until);
            self.e.handle(Input::Tick, self.now);
            self.pump();
        }
        (!self.fetching()).then(|| self.now - self.start)
    }

    fn closed_for(&self, key: usize, why: &CloseReason) -> bool {
        let addr: SocketAddr = format!("127.0.0.{}:{}", 10 + key, 7000 + key).parse().unwrap();
        self.closed.iter().any(|(a, r)| *a == addr && r == why)
    }
}

/// An info dictionary of `pieces` 16 KiB metadata pieces (a torrent with
/// that many SHA-1s).
fn info(pieces: usize) -> (Vec<u8>, InfoHash) {
    let plen = 16 * 1024;
    let n = pieces * PIECE / 20;
    let (meta, _) = make_torrent(n * plen, plen, 42);
    let hash = meta.info_hash;
    (meta.info_bytes.to_vec(), hash)
}

#[test]
fn a_wrong_size_from_the_first_peer_does_not_stop_the_honest_one() {
    let (b, h) = info(3);
    for wrong in [b.len() + 1, 16 << 20] {
        let mut w = World::new(b.clone(), h);
        w.connect(0, Mode::SilentSize(wrong));
        w.connect(1, Mode::Honest);
        let took = w.run(Duration::from_secs(60)).expect("metadata from the honest peer");
        assert!(took < Duration::from_secs(2), "metadata took {took:?} with a first peer saying {wrong}");
        assert!(matches!(w.e.lifecycle(0), Some(Lifecycle::Checking { .. })));
    }
}

#[test]
fn a_peer_sending_garbage_is_banned_and_the_honest_one_is_not() {
    let (b, h) = info(6);
    // Alone: the garbage peer sends a whole set before the honest one comes.
    let mut w = World::new(b.clone(), h);
    w.connect(0, Mode::Garbage);
    w.connect(1, Mode::Honest);
    let took = w.run(Duration::from_secs(60)).expect("metadata");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(w.closed_for(0, &CloseReason::MetadataMismatch), "{:?}", w.closed);
    assert!(w.e.torrent(0).unwrap().banned.contains_key(&"127.0.0.10:7000".parse().unwrap()));
    // Mixed: both send pieces of one set, which fails; both are suspects,
    // each sends a whole copy: the honest copy wins, the liar is banned,
    // the honest peer stays (in either order of arrival).
    for order in [[0, 1], [1, 0]] {
        let mut w = World::new(b.clone(), h);
        for k in order {
            w.attach(k, if k == 0 { Mode::Garbage } else { Mode::Honest });
        }
        w.pump();
        let took = w.run(Duration::from_secs(60)).expect("metadata");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(w.logs.iter().any(|l| l.contains("fetching a whole copy from each")), "{:?}", w.logs);
        assert!(!w.closed.iter().any(|(a, _)| a.port() == 7001), "the honest peer was dropped: {:?}", w.closed);
        let t = w.e.torrent(0).unwrap();
        assert!(!t.banned.contains_key(&"127.0.0.11:7001".parse().unwrap()));
    }
}

#[test]
fn a_malformed_piece_is_asked_again_of_another_peer() {
    let (b, h) = info(2);
    let mut w = World::new(b, h);
    w.connect(0, Mode::Short);
    w.connect(1, Mode::Honest);
    let took = w.run(Duration::from_secs(60)).expect("metadata");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(w.closed.iter().any(|(a, r)| a.port() == 7000 && matches!(r, CloseReason::Protocol(m) if m.contains("bad metadata piece"))), "{:?}", w.closed);
}

#[test]
fn a_silent_peer_holding_every_request_is_timed_out() {
    // The silent peer is asked first (alone, before the honest one comes);
    // its requests go to the honest peer after the request timeout.
    let (b, h) = info(3);
    let mut w = World::new(b.clone(), h);
    w.connect(0, Mode::SilentSize(b.len()));
    w.connect(1, Mode::Honest);
    let took = w.run(Duration::from_secs(60)).expect("metadata");
    assert!(took <= super::super::metadata_fetch::REQUEST_TIMEOUT + Duration::from_secs(3), "{took:?}");
}

#[test]
fn unrequested_pieces_are_ignored_and_the_honest_sender_is_not_blamed() {
    let (b, h) = info(3);
    let mut w = World::new(b, h);
    w.connect(0, Mode::Pusher);
    w.connect(1, Mode::Honest);
    let took = w.run(Duration::from_secs(60)).expect("metadata");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(!w.closed_for(1, &CloseReason::MetadataMismatch), "{:?}", w.closed);
    assert_eq!(w.e.torrent(0).unwrap().hash_failures, 0);
}

#[test]
fn a_peer_that_leaves_gives_its_requests_back() {
    let (b, h) = info(4);
    let mut w = World::new(b.clone(), h);
    w.connect(0, Mode::SilentSize(b.len()));
    w.connect(1, Mode::Honest);
    w.e.handle(Input::Closed { peer: 0, reason: CloseReason::PeerClosed }, w.now);
    w.peers.remove(&0);
    w.pump();
    let took = w.run(Duration::from_secs(60)).expect("metadata");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn metadata_that_matches_but_is_invalid_fails_the_torrent_as_an_input_error() {
    // A total length of 0: the metainfo parser refuses it.
    let mut bytes = b"d6:lengthi0e4:name1:x12:piece lengthi16384e6:pieces20:".to_vec();
    bytes.extend_from_slice(&[7; 20]);
    bytes.push(b'e');
    let hash = InfoHash(Sha1::digest(&bytes).into());
    let mut w = World::new(bytes, hash);
    w.connect(0, Mode::Honest);
    w.run(Duration::from_secs(5));
    match w.e.lifecycle(0) {
        Some(Lifecycle::Failed { reason, input: true, .. }) => {
            assert!(reason.contains("matches the info-hash but is invalid"), "{reason}");
            assert!(!reason.contains("does not match"), "{reason}");
        }
        other => panic!("{:?}", other.map(|l| l.name())),
    }
    assert_eq!(w.e.finished(), Some(Outcome::Invalid));
    assert!(!w.closed_for(0, &CloseReason::MetadataMismatch));
}
