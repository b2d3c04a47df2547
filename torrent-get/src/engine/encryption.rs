//! MSE/PE policy (the loop runs the handshakes): what to dial a peer with,
//! and the plaintext retry after a failed MSE attempt under `prefer`.

use super::peer::Peer;
use super::{Action, CloseReason, ConnKind, Engine, Method, Policy, TorrentId};
use std::collections::HashSet;
use std::net::SocketAddr;
use torrent_core::mse::{Attempt, PeerHint};

/// The kind to put in [`Action::Dial`] for an attempt.
fn attempt_kind(a: Attempt) -> ConnKind {
    match a {
        Attempt::Plain => ConnKind::Tcp,
        // The loop offers what the policy provides; RC4 stands for "MSE".
        Attempt::Mse => ConnKind { method: Method::Rc4, ..ConnKind::Tcp },
    }
}

/// How to dial `addr` first (`mse_failed`: peers that failed MSE before).
pub(crate) fn dial_kind(policy: Policy, mse_failed: &HashSet<SocketAddr>, addr: SocketAddr) -> ConnKind {
    let hint = if mse_failed.contains(&addr) { PeerHint::MseFailed } else { PeerHint::Unknown };
    attempt_kind(policy.first_attempt(hint))
}

impl Engine {

    /// A dialled connection closed with `reason`: the attempt to make next
    /// right away (torrent, address, kind), if the policy has one.
    pub(crate) fn encryption_fallback(&self, p: &Peer, reason: &CloseReason) -> Option<(TorrentId, SocketAddr, ConnKind)> {
        if !p.outgoing || !matches!(reason, CloseReason::Encryption(_)) || p.kind.method == Method::Plain {
            return None;
        }
        let next = self.cfg.encryption.fallback(Attempt::Mse)?;
        Some((p.torrent?, p.addr, attempt_kind(next)))
    }

    /// Dial again at once (the fallback), not waiting for the back-off.
    pub(crate) fn redial(&mut self, torrent: TorrentId, addr: SocketAddr, kind: ConnKind) {
        self.mse_failed.insert(addr);
        let Some(Some(t)) = self.torrents.get_mut(torrent) else { return };
        if !t.life.wants_peers() {
            return;
        }
        if let Some(c) = t.candidates.get_mut(&addr) {
            c.connected = true;
            // The failed MSE attempt is not the peer's failure.
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
