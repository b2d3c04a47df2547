//! The half-open limit ([`MAX_HALF_OPEN`]) under happy eyeballs
//! ([`crate::engine::eyeballs`]): every dial attempt, each of the two of a
//! race, is half-open from the dial until its connect completes or fails or
//! the engine closes it. A world of many candidates answers each dial as
//! scripted per address and transport (connect or fail after a while, stay
//! silent, or fail to start); the world counts the attempts out and checks
//! them against the limit, and against the engine's own count, after every
//! input; no address is dialled while a connection to it is up.

use crate::disk::{DiskEvent, DiskJob};
use crate::engine::eyeballs::HEAD_START;
use crate::engine::fuzz::{fuzz_config, make_torrent};
use crate::engine::trackers::MAX_HALF_OPEN;
use crate::engine::eyeballs::Tcp;
use crate::engine::{Action, CloseReason, Command, ConnKind, Engine, Input, Job, Method, PeerKey, Policy, Transports};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::transport::TransportKind;

/// How an address answers a dial over one transport.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Connect(Duration),
    Fail(Duration),
    /// Nothing comes back (the engine's connect timeout ends it).
    Silent,
    /// The dial cannot even start (`DialFailed`).
    NoStart,
    /// The transport comes up, then the encryption handshake fails
    /// (before `Connected`, as the loop reports it).
    MseFails(Duration),
}

/// What the world sends when an answer is due.
#[derive(Debug, Clone, Copy)]
enum Due {
    Connected,
    Refused,
    MseFailed,
}

struct World {
    e: Engine,
    t0: Instant,
    now: Instant,
    addrs: Vec<SocketAddr>,
    script: fn(usize, ConnKind) -> Answer,
    /// When each scripted answer is due.
    due: BTreeMap<(Instant, u64), (PeerKey, Due)>,
    seq: u64,
    next_key: PeerKey,
    /// Attempts out: key -> (address index, transport).
    out: HashMap<PeerKey, (usize, TransportKind)>,
    most_out: usize,
    /// Connections up: key -> address index.
    up: HashMap<PeerKey, usize>,
    /// (when, address index, transport) of every dial.
    dials: Vec<(Duration, usize, TransportKind)>,
    /// TCP dials made while the same address's uTP attempt was out.
    racers: usize,
    /// The most TCP racers waiting for a slot at once.
    most_waiting: usize,
}

impl World {
    fn new(n: usize, script: fn(usize, ConnKind) -> Answer) -> World {
        World::with(n, script, Policy::Off)
    }

    fn with(n: usize, script: fn(usize, ConnKind) -> Answer, encryption: Policy) -> World {
        let (meta, _) = make_torrent(8 * 32 * 1024, 32 * 1024, 7);
        let t0 = Instant::now();
        let addrs: Vec<SocketAddr> = (0..n).map(|i| format!("127.0.{}.{}:7000", 10 + i / 200, 1 + i % 200).parse().unwrap()).collect();
        let mut cfg = fuzz_config();
        cfg.seed = false;
        cfg.transports = Transports::Both;
        cfg.max_peers = 4 * n;
        cfg.extra_peers = addrs.clone();
        cfg.encryption = encryption;
        let mut e = Engine::new(cfg, *b"-TE0001-halfopenhalf", 6881, Some(9), t0);
        e.add(Job::Torrent { meta: Box::new(meta), select: None }, t0);
        let mut w = World {
            e,
            t0,
            now: t0,
            addrs,
            script,
            due: BTreeMap::new(),
            seq: 0,
            next_key: 100,
            out: HashMap::new(),
            most_out: 0,
            up: HashMap::new(),
            dials: Vec::new(),
            racers: 0,
            most_waiting: 0,
        };
        w.drain();
        w.input(Input::Tick);
        w
    }

    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    fn index(&self, addr: SocketAddr) -> usize {
        self.addrs.iter().position(|a| *a == addr).expect("a dial to a candidate")
    }

    /// Count one more attempt out; the limit holds at every instant.
    fn count_out(&mut self, key: PeerKey, i: usize, transport: TransportKind) {
        self.out.insert(key, (i, transport));
        self.most_out = self.most_out.max(self.out.len());
        assert!(self.out.len() <= MAX_HALF_OPEN, "{} attempts out at {:?}: {:?}", self.out.len(), self.elapsed(), self.out);
    }

    fn drain(&mut self) {
        while let Some(a) = self.e.poll_action() {
            match a {
                Action::Disk(DiskJob::Open { torrent, info, .. }) => {
                    let have = vec![false; info.pieces.len()];
                    self.e.handle(Input::Disk(DiskEvent::Opened { torrent, have, rechecked: true }), self.now);
                }
                Action::Dial { torrent, addr, kind } => {
                    let i = self.index(addr);
                    let t = kind.transport;
                    assert!(!self.up.values().any(|u| *u == i), "candidate {i} dialled over {t:?} while connected, at {:?}", self.elapsed());
                    self.dials.push((self.elapsed(), i, t));
                    if t == TransportKind::Tcp && self.out.values().any(|o| *o == (i, TransportKind::Utp)) {
                        self.racers += 1;
                    }
                    let key = self.next_key;
                    self.next_key += 1;
                    self.count_out(key, i, t);
                    let (at, due) = match (self.script)(i, kind) {
                        Answer::NoStart => {
                            self.out.remove(&key);
                            self.e.handle(Input::DialFailed { torrent, addr }, self.now);
                            continue;
                        }
                        Answer::Silent => (None, Due::Refused),
                        Answer::Connect(d) => (Some(self.now + d), Due::Connected),
                        Answer::Fail(d) => (Some(self.now + d), Due::Refused),
                        Answer::MseFails(d) => (Some(self.now + d), Due::MseFailed),
                    };
                    if let Some(at) = at {
                        self.seq += 1;
                        self.due.insert((at, self.seq), (key, due));
                    }
                    self.e.handle(Input::Dialing { peer: key, torrent, addr, kind }, self.now);
                }
                Action::Close { peer, .. } => {
                    self.out.remove(&peer);
                    self.up.remove(&peer);
                }
                Action::Send { peer, .. } => self.e.handle(Input::Sent { peer, pending: 0 }, self.now),
                _ => {}
            }
        }
        assert_eq!(self.e.half_open(), self.out.len(), "the engine's count at {:?}", self.elapsed());
        let waiting = self.e.races.list.iter().filter(|r| r.tcp == Tcp::Waiting).count();
        self.most_waiting = self.most_waiting.max(waiting);
    }

    fn input(&mut self, i: Input) {
        self.e.handle(i, self.now);
        self.drain();
    }

    /// Run the world and the engine's timers until `until` (from the start).
    fn run_until(&mut self, until: Duration) {
        let end = self.t0 + until;
        loop {
            let answer = self.due.first_key_value().map(|(k, _)| k.0);
            let wake = self.e.poll_timeout();
            let next = answer.map_or(wake, |a| a.min(wake));
            if next > end {
                break;
            }
            assert!(next >= self.now, "time runs forward");
            self.now = next;
            if answer == Some(next) {
                let (_, (key, due)) = self.due.pop_first().unwrap();
                // The engine may have closed it since (superseded, timed out).
                let Some((i, _)) = self.out.remove(&key) else { continue };
                if let Due::Connected = due {
                    self.up.insert(key, i);
                }
                let input = match due {
                    Due::Connected => Input::Connected { peer: key, local: None },
                    Due::Refused => Input::Closed { peer: key, reason: CloseReason::Io("connect failed: Connection refused".into()) },
                    Due::MseFailed => Input::Closed { peer: key, reason: CloseReason::Encryption("peer closed the connection".into()) },
                };
                self.input(input);
            } else {
                self.input(Input::Tick);
            }
        }
        self.now = end;
    }

    fn dialled(&self, i: usize) -> Vec<(Duration, TransportKind)> {
        self.dials.iter().filter(|d| d.1 == i).map(|d| (d.0, d.2)).collect()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Every kind of peer, mixed: uTP silent and TCP quick; uTP up after a
/// while; both refused; both silent; TCP unable to start.
fn mixed(i: usize, kind: ConnKind) -> Answer {
    let late = ms(100 + (i as u64 * 37) % 900);
    match (i % 5, kind.transport) {
        (0, TransportKind::Utp) => Answer::Silent,
        (0, TransportKind::Tcp) => Answer::Connect(ms(40)),
        (1, _) => Answer::Connect(late),
        (2, TransportKind::Utp) => Answer::Fail(ms(30)),
        (2, TransportKind::Tcp) => Answer::Fail(ms(20)),
        (3, _) => Answer::Silent,
        (_, TransportKind::Utp) => Answer::Connect(late + HEAD_START),
        (_, TransportKind::Tcp) => Answer::NoStart,
    }
}

#[test]
fn many_candidates_never_have_more_than_the_limit_out_and_all_are_tried() {
    let mut w = World::new(80, mixed);
    w.run_until(Duration::from_secs(60));
    assert_eq!(w.most_out, MAX_HALF_OPEN, "the limit was reached (else this tests nothing)");
    assert!(w.racers > 0, "TCP raced uTP at times");
    assert!(w.most_waiting > 0, "racers waited for a slot at times");
    for i in 0..w.addrs.len() {
        assert!(!w.dialled(i).is_empty(), "candidate {i} was never tried");
    }
    // A peer whose uTP is silent is reached over TCP: raced, or the
    // fallback once uTP timed out.
    for i in (0..w.addrs.len()).filter(|i| i % 5 == 0) {
        assert!(w.dialled(i).iter().any(|d| d.1 == TransportKind::Tcp), "candidate {i}: {:?}", w.dialled(i));
    }
}

/// Silent uTP everywhere: the first sixteen uTP dials fill the limit, so
/// at the head start no TCP racer may start; the first attempt to end
/// frees a slot, which goes to a waiting racer before any new candidate.
fn utp_silent(i: usize, kind: ConnKind) -> Answer {
    match kind.transport {
        TransportKind::Utp if i == 0 => Answer::Connect(ms(400)),
        TransportKind::Utp => Answer::Silent,
        TransportKind::Tcp => Answer::Connect(ms(2000)),
    }
}

#[test]
fn a_racer_waits_for_a_slot_and_goes_before_new_candidates() {
    let mut w = World::new(40, utp_silent);
    assert_eq!(w.dials.len(), MAX_HALF_OPEN, "{:?}", w.dials);
    assert!(w.dials.iter().all(|d| d.2 == TransportKind::Utp));
    w.run_until(HEAD_START + ms(100));
    assert_eq!(w.dials.len(), MAX_HALF_OPEN, "no TCP racer past the limit: {:?}", &w.dials[MAX_HALF_OPEN..]);
    assert_eq!(w.e.poll_timeout(), w.t0 + Duration::from_secs(1), "waiting racers arm no timer");
    // Candidate 0's uTP comes up at 400 ms: its slot goes to a racer.
    w.run_until(ms(401));
    let after: Vec<_> = w.dials[MAX_HALF_OPEN..].to_vec();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!((after[0].0, after[0].2), (ms(400), TransportKind::Tcp), "a waiting racer, at once");
    assert_ne!(after[0].1, 0);
    assert!(after[0].1 < MAX_HALF_OPEN, "for a candidate being tried, not a new one: {after:?}");
    // The 1 s tick starts no new candidate while racers wait.
    w.run_until(ms(1500));
    assert!(w.dials.iter().all(|d| d.1 < MAX_HALF_OPEN), "{:?}", &w.dials[MAX_HALF_OPEN..]);
}

#[test]
fn pausing_ends_waiting_racers_and_counts_nothing_out() {
    let mut w = World::new(40, utp_silent);
    w.run_until(HEAD_START + ms(100));
    assert!(!w.e.races.list.is_empty());
    w.input(Input::Command(Command::Pause(0)));
    assert!(w.out.is_empty(), "every attempt closed: {:?}", w.out);
    assert!(w.e.races.list.is_empty(), "{:?}", w.e.races.list);
    let n = w.dials.len();
    w.run_until(Duration::from_secs(5));
    assert_eq!(w.dials.len(), n, "no dial while paused");
    w.input(Input::Command(Command::Resume(0)));
    w.run_until(Duration::from_secs(7));
    assert!(w.dials.len() > n, "dials again after resuming");
}

/// `--encrypt prefer`: some peers close every MSE handshake (the fallback
/// in plaintext replaces the attempt, in its slot), over either transport.
fn mse_refused(i: usize, kind: ConnKind) -> Answer {
    match (i % 3, kind.transport, kind.method) {
        (0, _, Method::Plain) => Answer::Connect(ms(50)),
        (0, _, _) => Answer::MseFails(ms(60)),
        (1, TransportKind::Utp, _) => Answer::Silent,
        (1, TransportKind::Tcp, Method::Plain) => Answer::Connect(ms(30)),
        (1, TransportKind::Tcp, _) => Answer::MseFails(ms(30)),
        _ => Answer::Connect(ms(500)),
    }
}

#[test]
fn encryption_fallbacks_stay_within_the_limit() {
    let mut w = World::with(60, mse_refused, Policy::Prefer);
    w.run_until(Duration::from_secs(30));
    assert_eq!(w.most_out, MAX_HALF_OPEN);
    assert!(w.racers > 0 && w.most_waiting > 0, "racers {}, waiting {}", w.racers, w.most_waiting);
    for i in (0..w.addrs.len()).filter(|i| i % 3 != 2) {
        let d = w.dialled(i);
        assert!(d.len() >= 2, "candidate {i}, MSE then plaintext: {d:?}");
    }
}
