//! Happy eyeballs (issue 14, [`crate::engine::eyeballs`]) on the simulated
//! clock: a uTP dial has [`HEAD_START`] alone, then TCP is dialled too; the
//! first transport up wins and the other is closed as superseded, which is
//! no failure of the peer; what worked is dialled first next time.

use crate::disk::{DiskEvent, DiskJob};
use crate::engine::eyeballs::HEAD_START;
use crate::engine::fuzz::{fuzz_config, make_torrent};
use crate::engine::{Action, CloseReason, ConnKind, Engine, Input, Job, Report, Transports};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::transport::TransportKind;

const X: &str = "127.0.9.1:7001";

/// One torrent with one `--peer` (X); dials are recorded and reported as
/// `Dialing`, nothing connects by itself.
struct Net {
    e: Engine,
    t0: Instant,
    /// (key, kind, when) of every dial.
    dials: Vec<(usize, ConnKind, Duration)>,
    closes: Vec<(usize, CloseReason)>,
    errors: Vec<String>,
    /// TCP dials cannot even start (answered with `DialFailed`, key 0).
    fail_tcp: bool,
}

impl Net {
    fn new(transports: Transports) -> Net {
        let (meta, _) = make_torrent(8 * 32 * 1024, 32 * 1024, 7);
        let t0 = Instant::now();
        let mut cfg = fuzz_config();
        cfg.seed = false;
        cfg.transports = transports;
        cfg.extra_peers = vec![X.parse().unwrap()];
        let mut e = Engine::new(cfg, *b"-TE0001-eyeballseyes", 6881, Some(5), t0);
        e.add(Job::Torrent { meta: Box::new(meta), select: None }, t0);
        let mut n = Net { e, t0, dials: Vec::new(), closes: Vec::new(), errors: Vec::new(), fail_tcp: false };
        n.drain(Duration::ZERO);
        n.tick(Duration::ZERO);
        n
    }

    fn at(&self, ms: Duration) -> Instant {
        self.t0 + ms
    }

    fn drain(&mut self, t: Duration) {
        let now = self.at(t);
        while let Some(a) = self.e.poll_action() {
            match a {
                Action::Disk(DiskJob::Open { torrent, info, .. }) => {
                    let have = vec![false; info.pieces.len()];
                    self.e.handle(Input::Disk(DiskEvent::Opened { torrent, have, rechecked: true }), now);
                }
                Action::Dial { torrent, addr, kind } => {
                    assert_eq!(addr, X.parse::<SocketAddr>().unwrap());
                    if self.fail_tcp && kind.transport == TransportKind::Tcp {
                        self.dials.push((0, kind, t));
                        self.e.handle(Input::DialFailed { torrent, addr }, now);
                        continue;
                    }
                    let peer = 100 + self.dials.len();
                    self.dials.push((peer, kind, t));
                    self.e.handle(Input::Dialing { peer, torrent, addr, kind }, now);
                }
                Action::Close { peer, reason } => self.closes.push((peer, reason)),
                Action::Send { peer, .. } => self.e.handle(Input::Sent { peer, pending: 0 }, now),
                Action::Report(Report::Json(v)) if v["event"] == "peer_error" => self.errors.push(v.to_string()),
                _ => {}
            }
        }
    }

    fn tick(&mut self, t: Duration) {
        self.e.handle(Input::Tick, self.at(t));
        self.drain(t);
    }

    fn input(&mut self, i: Input, t: Duration) {
        self.e.handle(i, self.at(t));
        self.drain(t);
    }

    fn kinds(&self) -> Vec<TransportKind> {
        self.dials.iter().map(|d| d.1.transport).collect()
    }

    fn key(&self, n: usize) -> usize {
        self.dials[n].0
    }

    fn candidate(&self) -> &crate::engine::candidates::Candidate {
        &self.e.torrent(0).unwrap().candidates[&X.parse().unwrap()]
    }

    /// The peer was not counted as failing: no back-off, no ban, no error.
    fn assert_not_blamed(&self) {
        let t = self.e.torrent(0).unwrap();
        let c = self.candidate();
        assert_eq!(c.failures, 0, "{c:?}");
        assert!(c.connected, "still connected: {c:?}");
        assert!(t.banned.is_empty());
        assert!(self.errors.is_empty(), "{:?}", self.errors);
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn tcp_is_dialled_exactly_at_the_head_start() {
    let mut n = Net::new(Transports::Both);
    assert_eq!(n.kinds(), [TransportKind::Utp], "uTP first, alone");
    assert_eq!(n.e.poll_timeout(), n.at(HEAD_START), "the loop wakes at the head start, not at the tick");
    n.tick(HEAD_START - ms(1));
    assert_eq!(n.kinds(), [TransportKind::Utp], "not before the head start");
    n.tick(HEAD_START);
    assert_eq!(n.kinds(), [TransportKind::Utp, TransportKind::Tcp]);
    assert_eq!(n.dials[1].2, HEAD_START);
    assert_eq!(n.dials[1].1.method, n.dials[0].1.method, "the same encryption attempt");
    assert_eq!(n.e.poll_timeout(), n.at(Duration::from_secs(1)), "back to the tick");
    n.tick(ms(600));
    assert_eq!(n.dials.len(), 2, "one TCP dial");
}

#[test]
fn utp_up_within_the_head_start_dials_no_tcp() {
    let mut n = Net::new(Transports::Both);
    n.input(Input::TransportUp { peer: n.key(0) }, ms(40));
    assert_eq!(n.e.poll_timeout(), n.at(Duration::from_secs(1)), "no deadline left");
    n.input(Input::Connected { peer: n.key(0), local: None }, ms(60));
    n.tick(HEAD_START);
    n.tick(Duration::from_secs(2));
    assert_eq!(n.kinds(), [TransportKind::Utp]);
    assert!(n.closes.is_empty(), "{:?}", n.closes);
    assert_eq!(n.candidate().transport, Some(TransportKind::Utp));
    assert_eq!(n.candidate().utp_ok, Some(true));
}

#[test]
fn tcp_up_first_supersedes_utp_and_blames_no_one() {
    let mut n = Net::new(Transports::Both);
    n.tick(HEAD_START);
    let (utp, tcp) = (n.key(0), n.key(1));
    n.input(Input::Connected { peer: tcp, local: None }, ms(251));
    assert_eq!(n.closes, [(utp, CloseReason::Superseded)]);
    // The loop may still report the uTP connect it had not seen dropped.
    n.input(Input::Connected { peer: utp, local: None }, ms(252));
    assert!(n.e.peer(utp).is_none());
    assert_eq!(n.e.peer(tcp).map(|p| p.kind.transport), Some(TransportKind::Tcp));
    assert_eq!(n.e.torrent(0).unwrap().peers, [tcp]);
    n.assert_not_blamed();
    assert_eq!(n.candidate().transport, Some(TransportKind::Tcp));
    assert_eq!(n.candidate().utp_ok, None, "uTP was slower, not failing");
    n.tick(Duration::from_secs(3));
    assert_eq!(n.dials.len(), 2, "no redial for the superseded one");
}

#[test]
fn utp_up_after_tcp_was_dialled_supersedes_tcp() {
    let mut n = Net::new(Transports::Both);
    n.tick(HEAD_START);
    let (utp, tcp) = (n.key(0), n.key(1));
    n.input(Input::TransportUp { peer: utp }, ms(270));
    assert_eq!(n.closes, [(tcp, CloseReason::Superseded)]);
    n.input(Input::Connected { peer: utp, local: None }, ms(280));
    assert_eq!(n.e.torrent(0).unwrap().peers, [utp]);
    n.assert_not_blamed();
    assert_eq!(n.candidate().utp_ok, Some(true));
}

#[test]
fn utp_failing_early_dials_tcp_at_once_and_only_once() {
    let mut n = Net::new(Transports::Both);
    n.input(Input::Closed { peer: n.key(0), reason: CloseReason::Io("uTP connect failed: Unreachable".into()) }, ms(30));
    assert_eq!(n.kinds(), [TransportKind::Utp, TransportKind::Tcp]);
    assert_eq!(n.dials[1].2, ms(30), "at once, not at the head start");
    assert_eq!(n.candidate().utp_ok, Some(false));
    n.tick(HEAD_START);
    n.tick(ms(900));
    assert_eq!(n.dials.len(), 2);
    n.input(Input::Connected { peer: n.key(1), local: None }, ms(950));
    n.assert_not_blamed();
}

#[test]
fn a_racer_failing_leaves_the_other_to_go_on() {
    let mut n = Net::new(Transports::Both);
    n.tick(HEAD_START);
    let (utp, tcp) = (n.key(0), n.key(1));
    n.input(Input::Closed { peer: tcp, reason: CloseReason::Io("connect failed: Connection refused".into()) }, ms(260));
    assert_eq!(n.dials.len(), 2, "no fallback: uTP is still trying");
    n.assert_not_blamed();
    n.input(Input::Connected { peer: utp, local: None }, ms(400));
    assert_eq!(n.e.torrent(0).unwrap().peers, [utp]);
    n.assert_not_blamed();
}

#[test]
fn a_tcp_racer_that_cannot_start_leaves_utp_going_then_one_back_off() {
    let mut n = Net::new(Transports::Both);
    n.fail_tcp = true;
    let utp = n.key(0);
    n.tick(HEAD_START);
    assert_eq!(n.kinds(), [TransportKind::Utp, TransportKind::Tcp], "TCP dialled at the head start");
    assert!(n.e.peer(utp).is_some_and(|p| p.live()), "uTP keeps trying");
    assert!(n.closes.is_empty(), "{:?}", n.closes);
    n.assert_not_blamed();
    assert!(n.e.races.list.is_empty(), "the race is over");
    assert_eq!(n.e.half_open(), 1, "only uTP is still half-open");
    n.tick(Duration::from_secs(1));
    n.tick(Duration::from_secs(2));
    assert_eq!(n.dials.len(), 2, "no second TCP dial while uTP tries");
    n.assert_not_blamed();
    // uTP times out too (3 s under `--transport both`, seen at the 4 s tick).
    let gone = Duration::from_secs(4);
    n.tick(gone);
    assert_eq!(n.closes, [(utp, CloseReason::Timeout("connect"))]);
    assert_eq!(n.dials.len(), 2, "TCP failed already: no TCP fallback");
    let c = n.candidate();
    assert_eq!((c.failures, c.connected), (1, false), "backed off once: {c:?}");
    assert_eq!(c.next_try, n.at(gone + Duration::from_secs(1)), "the first back-off, 1 s");
    assert_eq!(n.errors.len(), 1, "one peer_error: {:?}", n.errors);
    assert_eq!(n.e.half_open(), 0);
    n.tick(gone + ms(500));
    assert_eq!(n.dials.len(), 2, "not before the back-off");
    n.tick(gone + Duration::from_secs(1));
    assert_eq!(n.dials.len(), 3, "dialled again after it");
}

#[test]
fn a_redial_uses_the_transport_that_won() {
    let mut n = Net::new(Transports::Both);
    n.tick(HEAD_START);
    let tcp = n.key(1);
    n.input(Input::Connected { peer: tcp, local: None }, ms(260));
    n.input(Input::Closed { peer: tcp, reason: CloseReason::PeerClosed }, ms(500));
    // After the back-off: TCP straight away, no uTP and no race.
    n.tick(Duration::from_secs(3));
    assert_eq!(n.kinds(), [TransportKind::Utp, TransportKind::Tcp, TransportKind::Tcp]);
    assert_eq!(n.e.poll_timeout(), n.at(Duration::from_secs(4)), "no head start armed");
    n.tick(Duration::from_secs(3) + HEAD_START);
    assert_eq!(n.dials.len(), 3);

    // uTP won: uTP first again (with its head start).
    let mut n = Net::new(Transports::Both);
    let utp = n.key(0);
    n.input(Input::Connected { peer: utp, local: None }, ms(20));
    n.input(Input::Closed { peer: utp, reason: CloseReason::PeerClosed }, ms(500));
    n.tick(Duration::from_secs(3));
    assert_eq!(n.kinds(), [TransportKind::Utp, TransportKind::Utp]);
    assert_eq!(n.e.poll_timeout(), n.at(Duration::from_secs(3) + HEAD_START));
}

#[test]
fn one_transport_allowed_means_no_second_dial() {
    for (t, kind) in [(Transports::Utp, TransportKind::Utp), (Transports::Tcp, TransportKind::Tcp)] {
        let mut n = Net::new(t);
        assert_eq!(n.kinds(), [kind], "{t:?}");
        assert_eq!(n.e.poll_timeout(), n.at(Duration::from_secs(1)), "{t:?}: no head start");
        n.tick(HEAD_START);
        n.tick(Duration::from_millis(900));
        assert_eq!(n.kinds(), [kind], "{t:?}");
    }
}
