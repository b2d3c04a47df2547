//! Connection slots: which connections we keep when there are more than
//! the limits allow (issue 18). The rules, all here:
//!
//! - every connection counts from the moment it exists (the loop reports
//!   an accepted one at once, before its encryption handshake), and all of
//!   them together stay under [`Config::max_connections`] (the loop sets it
//!   from `RLIMIT_NOFILE`, keeping descriptors in reserve);
//! - incoming connections still waiting for their BitTorrent handshake are
//!   at most [`Engine::pending_in_limit`]; when another arrives the oldest
//!   waiting one is dropped (an honest peer sends its handshake at once, a
//!   silent one has no claim), and each gets [`INCOMING_HANDSHAKE_TIMEOUT`];
//! - at most [`Config::per_ip_limit`] connections per IP address;
//! - `--max-peers` per torrent is checked when the handshake names the
//!   torrent (a burst of accepts cannot get past it), and incoming peers
//!   may hold at most `max_peers - outgoing_reserve(max_peers)` of them:
//!   the rest is for peers we dial;
//! - when the table is full a newcomer takes the slot of the least useful
//!   peer: one that sent or took no block for [`EVICT_IDLE`] (since it
//!   connected), first those where neither side is interested, then the
//!   longest idle. If every peer is useful the newcomer is refused.

use super::peer::{Peer, Phase};
use super::{Action, CloseReason, Config, ConnKind, Engine, PeerKey, TorrentId};
use std::cmp::Reverse;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// An incoming connection must have sent its handshake (the encryption
/// handshake included) within this time.
pub const INCOMING_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer that exchanged no block for this long (counted from its
/// connection) may lose its slot to a newcomer when the table is full.
pub const EVICT_IDLE: Duration = Duration::from_secs(20);
/// Connections per IP address unless `--max-peers-per-ip` says otherwise
/// (loopback addresses: no limit by default, local test swarms share them).
pub const DEFAULT_PER_IP: usize = 8;
/// Fewest incoming connections allowed to wait for their handshake at once.
pub const MIN_PENDING_IN: usize = 32;

impl Config {
    /// Most connections with one IP address.
    pub fn per_ip_limit(&self, ip: IpAddr) -> usize {
        match self.max_per_ip {
            Some(0) => usize::MAX,
            Some(n) => n,
            None if ip.is_loopback() => usize::MAX,
            None => DEFAULT_PER_IP,
        }
    }
}

/// Slots of a torrent that incoming peers cannot take (kept for the peers
/// we dial): a fifth of `max_peers`, none when there is only one.
pub fn outgoing_reserve(max_peers: usize) -> usize {
    max_peers.div_ceil(5).min(max_peers.saturating_sub(1))
}

/// An incoming connection whose handshake has not arrived (it belongs to no
/// torrent yet).
fn waiting_in(p: &Peer) -> bool {
    !p.outgoing && p.torrent.is_none() && p.live()
}

impl Engine {
    /// Most incoming connections waiting for their handshake at once.
    pub fn pending_in_limit(&self) -> usize {
        (self.cfg.max_peers * self.torrents.len().max(1)).max(MIN_PENDING_IN).min(self.cfg.max_connections.max(1))
    }

    /// Live connections, every phase.
    pub fn connection_count(&self) -> usize {
        self.peers.iter().flatten().filter(|p| p.live()).count()
    }

    /// Incoming connections waiting for their handshake.
    pub fn waiting_count(&self) -> usize {
        self.peers.iter().flatten().filter(|p| waiting_in(p)).count()
    }

    /// `Input::Accepted`: keep the connection, possibly dropping the oldest
    /// one still waiting for its handshake, or refuse it.
    pub(crate) fn on_accepted(&mut self, key: PeerKey, addr: SocketAddr, kind: ConnKind, now: Instant) {
        let same_ip = self.peers.iter().flatten().filter(|p| p.live() && p.addr.ip() == addr.ip()).count();
        if same_ip >= self.cfg.per_ip_limit(addr.ip()) {
            return self.refuse(key, addr, "over the per-IP connection limit");
        }
        let waiting: Vec<(Instant, PeerKey)> =
            self.peers.iter().enumerate().filter_map(|(k, p)| p.as_ref().filter(|p| waiting_in(p)).map(|p| (p.started, k))).collect();
        if self.connection_count() >= self.cfg.max_connections || waiting.len() >= self.pending_in_limit() {
            // The oldest connection still waiting for its handshake makes
            // room; with none waiting, every slot is a real peer: refuse.
            match waiting.iter().min() {
                Some(&(_, old)) => {
                    self.refused += 1;
                    if let Some(p) = self.peers[old].as_mut() {
                        p.close(CloseReason::Limit("no handshake while others waited"));
                    }
                }
                None => return self.refuse(key, addr, "over the connection limit"),
            }
        }
        self.insert_peer(key, Peer::new(addr, kind, false, None, now));
    }

    fn refuse(&mut self, key: PeerKey, addr: SocketAddr, why: &'static str) {
        self.refused += 1;
        if self.cfg.verbose {
            self.log(format!("peer {addr}: refused ({why})"));
        }
        self.actions.push_back(Action::Close { peer: key, reason: CloseReason::Limit(why) });
    }

    /// An incoming peer's handshake named torrent `tid`: may it join? When
    /// the torrent is full, the least useful peer makes room (closed here),
    /// or the newcomer is refused (false; the caller closes it).
    pub(crate) fn admit_incoming(&mut self, key: PeerKey, tid: TorrentId, now: Instant) -> bool {
        let Some(t) = self.torrents[tid].as_ref() else { return false };
        let max = self.cfg.max_peers;
        let mut total = 0;
        let mut incoming = 0;
        for k in t.peers.iter().filter(|k| **k != key) {
            if let Some(p) = self.peers[*k].as_ref().filter(|p| p.live()) {
                total += 1;
                incoming += usize::from(!p.outgoing);
            }
        }
        let incoming_quota = max - outgoing_reserve(max);
        if total < max && incoming < incoming_quota {
            return true;
        }
        // Full: the table (any peer may go) or the incoming share (an
        // incoming peer must go, the reserve stays for dialling).
        let only_incoming = total < max;
        let Some(victim) = self.least_useful(tid, only_incoming, now) else { return false };
        self.evicted += 1;
        if let Some(p) = self.peers[victim].as_mut() {
            p.close(CloseReason::Evicted);
        }
        true
    }

    /// The peer of `tid` that has been of least use, if any may be evicted
    /// (see the module docs).
    pub(crate) fn least_useful(&self, tid: TorrentId, only_incoming: bool, now: Instant) -> Option<PeerKey> {
        let t = self.torrents[tid].as_ref()?;
        t.peers
            .iter()
            .filter_map(|&k| {
                let p = self.peers[k].as_ref()?;
                if !p.active() || (only_incoming && p.outgoing) {
                    return None;
                }
                let idle = now.saturating_duration_since(p.last_useful);
                if idle < EVICT_IDLE {
                    return None;
                }
                let tier = u8::from(p.st.peer_interested || p.st.am_interested);
                Some(((tier, Reverse(idle)), k))
            })
            .min()
            .map(|(_, k)| k)
    }

    /// How long a connection in `phase` may take to get through its
    /// handshake.
    pub(crate) fn handshake_timeout(p: &Peer) -> Duration {
        match (p.phase, p.outgoing) {
            (Phase::Handshaking, false) => INCOMING_HANDSHAKE_TIMEOUT,
            _ => super::HANDSHAKE_TIMEOUT,
        }
    }
}
