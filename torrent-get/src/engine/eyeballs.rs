//! Happy eyeballs for uTP and TCP (issue 14), the way libtorrent tries
//! both: a dial over uTP under `--transport both` gets a head start
//! ([`HEAD_START`]); if its transport is not up by then, TCP is dialled to
//! the same address too, and whichever comes up first wins. The other is
//! closed with [`CloseReason::Superseded`], which is no failure of the peer
//! (no back-off, no blame). A peer whose UDP port drops datagrams silently
//! (no uTP, no ICMP error) costs 250 ms, not the uTP connect timeout.
//!
//! What came up is remembered per candidate (`Candidate::transport`, and
//! `Candidate::utp_ok` for uTP working or failing), so the next dial uses
//! that transport first ([`super::encryption::dial_kind`]); a dial over a
//! remembered TCP is not raced. With one transport allowed (`--transport
//! tcp|utp`, `--no-utp`) nothing is raced.
//!
//! Each attempt of a race is a connection attempt of its own, counted
//! against the half-open limit ([`MAX_HALF_OPEN`](super::trackers::MAX_HALF_OPEN),
//! [`Engine::half_open`]) from its dial until it connects, fails or is
//! closed, so the limit holds as a ceiling on the connects under way, as
//! libtorrent's and Windows' half-open limits do. A head start that runs
//! out with no room (the limit reached, or the connection budget) leaves
//! the TCP attempt waiting ([`Tcp::Waiting`]; no timer): the first attempt
//! to end frees a slot, which goes to the waiting racers, oldest first,
//! before any new candidate is dialled (a peer being tried is tried
//! through before new ones start, the way libtorrent's connection queue
//! goes in order). A waiting racer is dropped when its uTP attempt comes up
//! (nothing to race) or ends (then the usual TCP fallback dials, in the
//! slot uTP leaves), or when the torrent stops wanting peers. A TCP racer
//! that cannot even start (`DialFailed`) leaves uTP going, blames no one,
//! and is remembered as a TCP failure, so if uTP fails too the candidate
//! is backed off once, with no TCP fallback dialled again.

use super::peer::Phase;
use super::{Action, CloseReason, ConnKind, Engine, PeerKey, TorrentId, TransportKind, Transports};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long uTP has alone before TCP is dialled too.
pub const HEAD_START: Duration = Duration::from_millis(250);

/// Two attempts at one address, uTP first.
#[derive(Debug, Clone)]
pub struct Race {
    pub torrent: TorrentId,
    pub addr: SocketAddr,
    /// The uTP attempt's key (None until the loop reports `Dialing`).
    pub utp: Option<PeerKey>,
    pub tcp: Tcp,
    pub kind: ConnKind,
}

/// Where the TCP attempt of a race is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tcp {
    /// Dialled at this instant if uTP is not up by then.
    At(Instant),
    /// The head start ran out with no room to dial: dialled when an
    /// attempt ends and frees a slot, before any new candidate.
    Waiting,
    /// Dialled; its key once the loop reported `Dialing`.
    Dialled(Option<PeerKey>),
}

impl Race {
    fn tcp_key(&self) -> Option<PeerKey> {
        match self.tcp {
            Tcp::Dialled(k) => k,
            _ => None,
        }
    }

    fn has(&self, key: PeerKey) -> bool {
        self.utp == Some(key) || self.tcp_key() == Some(key)
    }

    fn other(&self, key: PeerKey) -> Option<PeerKey> {
        if self.utp == Some(key) {
            self.tcp_key()
        } else {
            self.utp
        }
    }
}

/// The races under way.
#[derive(Debug, Default)]
pub struct Races {
    pub list: Vec<Race>,
}

impl Races {
    /// The earliest head-start deadline (for [`Engine::poll_timeout`]).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.list.iter().filter_map(|r| if let Tcp::At(d) = r.tcp { Some(d) } else { None }).min()
    }

    fn find(&self, key: PeerKey) -> Option<usize> {
        self.list.iter().position(|r| r.has(key))
    }
}

impl Engine {
    /// Dial `addr` with `kind` (the first attempt); over uTP with TCP
    /// allowed and not known to fail, TCP follows at the head start.
    pub(crate) fn dial_first(&mut self, torrent: TorrentId, addr: SocketAddr, kind: ConnKind, now: Instant) {
        self.dialling += 1;
        self.actions.push_back(Action::Dial { torrent, addr, kind });
        let race = self.cfg.transports == Transports::Both
            && kind.transport == TransportKind::Utp
            && !self.failed.tcp.contains(&addr)
            && !self.races.list.iter().any(|r| r.torrent == torrent && r.addr == addr);
        if race {
            self.races.list.push(Race { torrent, addr, utp: None, tcp: Tcp::At(now + HEAD_START), kind });
        }
    }

    /// The loop reported `Dialing` for `key`: which attempt of a race it is.
    pub(crate) fn eyeballs_dialing(&mut self, key: PeerKey, torrent: TorrentId, addr: SocketAddr, kind: ConnKind) {
        let Some(r) = self.races.list.iter_mut().find(|r| r.torrent == torrent && r.addr == addr) else { return };
        match kind.transport {
            TransportKind::Utp if r.utp.is_none() && !matches!(r.tcp, Tcp::Dialled(_)) => r.utp = Some(key),
            TransportKind::Tcp if r.tcp == Tcp::Dialled(None) => r.tcp = Tcp::Dialled(Some(key)),
            _ => {}
        }
    }

    /// A dial could not even start. True if it was the TCP attempt of a
    /// race whose uTP attempt is still going: then it is not the peer's
    /// failure (not yet), and TCP counts as failed (no TCP fallback if uTP
    /// fails too; one back-off then).
    pub(crate) fn eyeballs_dial_failed(&mut self, torrent: TorrentId, addr: SocketAddr) -> bool {
        let Some(i) = self.races.list.iter().position(|r| r.torrent == torrent && r.addr == addr) else { return false };
        let r = self.races.list.remove(i);
        // The TCP dial (made at the deadline, not yet reported) failed.
        let utp_live = r.utp.is_some_and(|k| self.peers.get(k).is_some_and(|p| p.as_ref().is_some_and(|p| p.live())));
        let tcp_failed = r.tcp == Tcp::Dialled(None) && utp_live;
        if tcp_failed {
            self.transport_failed(torrent, addr, TransportKind::Tcp);
        }
        tcp_failed
    }

    /// After every input, and before new candidates are dialled: head
    /// starts that ran out with uTP not up get their TCP dial if there is
    /// room ([`Engine::dial_room`]); else they wait for it, in order.
    pub(crate) fn eyeballs_due(&mut self, now: Instant) {
        let mut room = None;
        let mut i = 0;
        while i < self.races.list.len() {
            let r = &self.races.list[i];
            let waited = match r.tcp {
                Tcp::At(deadline) if now >= deadline => false,
                Tcp::Waiting => true,
                _ => {
                    i += 1;
                    continue;
                }
            };
            let utp = r.utp.and_then(|k| self.peers.get(k)).and_then(|p| p.as_ref());
            let wants_peers = self.torrents.get(r.torrent).and_then(|t| t.as_ref()).is_some_and(|t| t.life.wants_peers());
            if !utp.is_some_and(|p| p.live() && p.phase == Phase::Connecting) || !wants_peers {
                self.races.list.remove(i);
                continue;
            }
            let free = *room.get_or_insert_with(|| self.dial_room());
            if free == 0 {
                self.races.list[i].tcp = Tcp::Waiting;
                i += 1;
                continue;
            }
            room = Some(free - 1);
            let r = &mut self.races.list[i];
            r.tcp = Tcp::Dialled(None);
            let (torrent, addr) = (r.torrent, r.addr);
            let kind = ConnKind { transport: TransportKind::Tcp, ..r.kind };
            self.dialling += 1;
            self.actions.push_back(Action::Dial { torrent, addr, kind });
            if self.cfg.verbose {
                let wait = if waited { " (then waited for a half-open slot)" } else { "" };
                self.log(format!("peer {addr}: uTP not connected after {} ms{wait}, dialling TCP too", HEAD_START.as_millis()));
            }
            i += 1;
        }
    }

    /// The transport of dialled connection `key` is up (before its
    /// encryption handshake, or at [`Input::Connected`](super::Input::Connected)):
    /// it wins its race, the other attempt is superseded; the candidate
    /// remembers the transport.
    pub(crate) fn eyeballs_up(&mut self, key: PeerKey) {
        let Some(Some(p)) = self.peers.get(key) else { return };
        if !p.outgoing || !p.live() {
            return;
        }
        let (addr, transport, tid) = (p.addr, p.kind.transport, p.torrent);
        if let Some(c) = tid.and_then(|t| self.torrents.get_mut(t)).and_then(|t| t.as_mut()).and_then(|t| t.candidates.get_mut(&addr)) {
            c.transport = Some(transport);
            if transport == TransportKind::Utp {
                c.utp_ok = Some(true);
            }
        }
        match transport {
            TransportKind::Utp => self.failed.utp.remove(&addr),
            TransportKind::Tcp => self.failed.tcp.remove(&addr),
        };
        let Some(i) = self.races.find(key) else { return };
        let r = self.races.list.remove(i);
        if let Some(Some(loser)) = r.other(key).and_then(|k| self.peers.get_mut(k)) {
            loser.close(CloseReason::Superseded);
        }
    }

    /// Dialled connection `key` is going with `reason` before its race was
    /// decided. True if the other attempt is still going: then this is not
    /// the peer's failure, and no fallback is dialled (the other attempt
    /// is it). What failed is remembered (`failed`, `utp_ok`).
    pub(crate) fn eyeballs_gone(&mut self, key: PeerKey, addr: SocketAddr, transport: TransportKind, reason: &CloseReason) -> bool {
        let Some(i) = self.races.find(key) else { return false };
        let r = self.races.list.remove(i);
        let other_live = r.other(key).and_then(|k| self.peers.get(k)).is_some_and(|p| p.as_ref().is_some_and(|p| p.live()));
        if !other_live {
            return false;
        }
        if matches!(reason, CloseReason::Io(_) | CloseReason::Timeout(_)) {
            self.transport_failed(r.torrent, addr, transport);
        }
        // The one left races no more: its own failure is judged as usual.
        true
    }

    /// A connect over `transport` to `addr` failed: remembered engine-wide
    /// (`failed`) and by the candidate (no longer the transport that
    /// works; for uTP, `utp_ok` false).
    pub(crate) fn transport_failed(&mut self, torrent: TorrentId, addr: SocketAddr, transport: TransportKind) {
        match transport {
            TransportKind::Utp => self.failed.utp.insert(addr),
            TransportKind::Tcp => self.failed.tcp.insert(addr),
        };
        if let Some(c) = self.torrents.get_mut(torrent).and_then(|t| t.as_mut()).and_then(|t| t.candidates.get_mut(&addr)) {
            if c.transport == Some(transport) {
                c.transport = None;
            }
            if transport == TransportKind::Utp {
                c.utp_ok = Some(false);
            }
        }
    }
}
