//! Connection policy (the loop runs the handshakes and transports): what
//! to dial a peer with (MSE or plaintext, uTP or TCP), and the retry after
//! a failed attempt.

use super::candidates::Hints;
use super::peer::{Peer, Phase};
use super::{Action, CloseReason, ConnKind, Engine, Method, Policy, TorrentId, TransportKind};
use std::collections::HashSet;
use std::net::SocketAddr;
use torrent_core::mse::{Attempt, PeerHint};

/// Which transports to dial and accept (`--transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transports {
    /// TCP only (no UDP socket at all).
    #[default]
    Tcp,
    /// uTP only.
    Utp,
    /// Dial uTP first and fall back to TCP (per peer, remembered); accept both.
    Both,
}

impl Transports {
    pub fn utp(self) -> bool {
        self != Transports::Tcp
    }
}

impl std::str::FromStr for Transports {
    type Err = String;
    fn from_str(s: &str) -> Result<Transports, String> {
        match s {
            "tcp" => Ok(Transports::Tcp),
            "utp" => Ok(Transports::Utp),
            "both" => Ok(Transports::Both),
            _ => Err(format!("unknown transport {s:?} (expected tcp, utp or both)")),
        }
    }
}

/// The kind to put in [`Action::Dial`] for an attempt.
fn attempt_kind(transport: TransportKind, a: Attempt) -> ConnKind {
    ConnKind::new(
        transport,
        match a {
            Attempt::Plain => Method::Plain,
            // The loop offers what the policy provides; RC4 stands for "MSE".
            Attempt::Mse => Method::Rc4,
        },
    )
}

/// What the engine remembers of peers that failed one way.
#[derive(Debug, Default)]
pub struct Failed {
    pub mse: HashSet<SocketAddr>,
    pub utp: HashSet<SocketAddr>,
    /// A TCP connect (made first because PEX said the peer has no uTP)
    /// failed: uTP first from now on.
    pub tcp: HashSet<SocketAddr>,
}

/// How to dial `addr` first. What we saw ourselves (the transport that
/// came up last time, `worked`; a failed attempt, the peer's own `e`)
/// outweighs what others said (`hints`, from PEX): under `--transport
/// both` the transport that worked goes first, else uTP unless uTP failed or the peer was
/// flagged without uTP (then TCP first, unless TCP failed); under
/// `--encrypt prefer` MSE goes first unless it failed (see
/// [`Engine::on_encryption_hint`] for the peer's `e` = 1).
pub(crate) fn dial_kind(policy: Policy, transports: Transports, failed: &Failed, addr: SocketAddr, hints: Hints, worked: Option<TransportKind>) -> ConnKind {
    let hint = if failed.mse.contains(&addr) {
        PeerHint::MseFailed
    } else if hints.encryption {
        PeerHint::PrefersEncryption
    } else {
        PeerHint::Unknown
    };
    let transport = match (transports, worked) {
        (Transports::Tcp, _) => TransportKind::Tcp,
        (Transports::Utp, _) => TransportKind::Utp,
        (Transports::Both, Some(t)) => t,
        (Transports::Both, None) if failed.utp.contains(&addr) => TransportKind::Tcp,
        (Transports::Both, None) if failed.tcp.contains(&addr) => TransportKind::Utp,
        (Transports::Both, None) if hints.utp == Some(false) => TransportKind::Tcp,
        (Transports::Both, None) => TransportKind::Utp,
    };
    attempt_kind(transport, policy.first_attempt(hint))
}

impl Engine {
    /// A dialled connection is closing with `reason`: the attempt to make
    /// next right away (torrent, address, kind), if the policies have one:
    /// plaintext after a failed MSE handshake under `prefer`, TCP after a
    /// uTP connect that failed under `--transport both`.
    pub(crate) fn connect_fallback(&mut self, p: &Peer, reason: &CloseReason) -> Option<(TorrentId, SocketAddr, ConnKind)> {
        if !p.outgoing {
            return None;
        }
        let tid = p.torrent?;
        if matches!(reason, CloseReason::Encryption(_)) && p.kind.method != Method::Plain {
            let next = self.cfg.encryption.fallback(Attempt::Mse)?;
            self.failed.mse.insert(p.addr);
            return Some((tid, p.addr, attempt_kind(p.kind.transport, next)));
        }
        let connect_failed = p.phase == Phase::Connecting && matches!(reason, CloseReason::Io(_) | CloseReason::Timeout(_));
        if connect_failed && p.kind.transport == TransportKind::Utp && self.cfg.transports == Transports::Both {
            self.transport_failed(tid, p.addr, TransportKind::Utp);
            if self.failed.tcp.contains(&p.addr) {
                return None; // both failed: the usual back-off
            }
            return Some((tid, p.addr, ConnKind { transport: TransportKind::Tcp, ..p.kind }));
        }
        // TCP first (flagged without uTP by PEX) and refused: uTP, once.
        if connect_failed && p.kind.transport == TransportKind::Tcp && self.cfg.transports == Transports::Both {
            let first = !self.failed.tcp.contains(&p.addr);
            self.transport_failed(tid, p.addr, TransportKind::Tcp);
            if first && !self.failed.utp.contains(&p.addr) {
                return Some((tid, p.addr, ConnKind { transport: TransportKind::Utp, ..p.kind }));
            }
        }
        None
    }

    /// A peer's extended handshake said `e` = 1 (it prefers encryption):
    /// first hand, newer than an MSE attempt of ours that failed, so the
    /// next dial under `--encrypt prefer` is encrypted first again.
    pub(crate) fn on_encryption_hint(&mut self, addr: Option<SocketAddr>) {
        if let Some(a) = addr {
            self.failed.mse.remove(&a);
        }
    }

    /// Dial again at once (the fallback), not waiting for the back-off.
    /// It needs no room of its own under the half-open limit: it replaces
    /// an attempt that was still connecting (a uTP connect, or an MSE
    /// handshake, which comes before `Input::Connected`), gone by now.
    pub(crate) fn redial(&mut self, torrent: TorrentId, addr: SocketAddr, kind: ConnKind) {
        let Some(Some(t)) = self.torrents.get_mut(torrent) else { return };
        if !t.life.wants_peers() {
            return;
        }
        if let Some(c) = t.candidates.get_mut(&addr) {
            c.connected = true;
            // The failed attempt is not the peer's failure.
            c.failures = c.failures.saturating_sub(1);
        }
        self.dialling += 1;
        self.actions.push_back(Action::Dial { torrent, addr, kind });
    }
}

impl Engine {
    /// A peer's BitTorrent handshake was accepted: say over what (with -v,
    /// and as a `peer` JSON event).
    pub(crate) fn report_peer(&mut self, key: super::PeerKey) {
        let Some(Some(p)) = self.peers.get(key) else { return };
        let Some(t) = p.torrent.and_then(|t| self.torrents.get(t)).and_then(|t| t.as_ref()) else { return };
        let ev = serde_json::json!({
            "event": "peer",
            "info_hash": t.info_hash.to_hex(),
            "addr": p.addr.to_string(),
            "outgoing": p.outgoing,
            "transport": p.kind.transport.as_str(),
            "encryption": p.kind.method.as_str(),
        });
        let msg = format!("peer {}: connected ({}, {})", p.addr, p.kind, if p.outgoing { "outgoing" } else { "incoming" });
        if self.cfg.verbose {
            self.log(msg);
        }
        self.report(super::Report::Json(ev));
    }
}

impl Engine {
    /// Every torrent's info-hash: what an incoming MSE handshake may name.
    pub fn info_hashes(&self) -> Vec<torrent_core::InfoHash> {
        self.torrents.iter().flatten().map(|t| t.info_hash).collect()
    }

    /// The info-hash of torrent `tid` (the MSE `SKEY` when dialling for it).
    pub fn torrent_info_hash(&self, tid: TorrentId) -> Option<torrent_core::InfoHash> {
        self.torrents.get(tid)?.as_ref().map(|t| t.info_hash)
    }

    /// The encryption policy.
    pub fn encryption(&self) -> super::Policy {
        self.cfg.encryption
    }
}

impl Engine {
    /// -v: the loop logs what the engine does not see (e.g. incoming
    /// connections that fail their encryption handshake).
    pub fn verbose(&self) -> bool {
        self.cfg.verbose
    }
}
