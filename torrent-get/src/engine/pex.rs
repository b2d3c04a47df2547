//! BEP 11 peer exchange: peers' `ut_pex` messages add connection
//! candidates; once a minute each PEX-capable peer hears which peers of the
//! same torrent we are connected to now (added) and no longer (dropped).
//! Never for private torrents (BEP 27).
//!
//! As BEP 11 says, a peer's message counts at most once a minute (others
//! are ignored) and adds at most 50 addresses; the candidate table caps
//! what PEX may hold ([`super::candidates`]), so a peer cannot crowd out
//! the addresses trackers and the DHT give.

use super::candidates::Source;
use super::{CloseReason, Engine, PeerKey, TorrentId};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::peer::message::Message;
use torrent_core::peer::pex::{PexMessage, MAX_ADDED};


/// The id we ask peers to use for ut_pex messages to us.
pub const OUR_UT_PEX: u8 = 2;
pub const PEX_EVERY: Duration = Duration::from_secs(60);
/// A peer's messages closer together than this are ignored (a minute, less
/// some slack for its timer).
pub const PEX_IN_EVERY: Duration = Duration::from_secs(55);

impl Engine {
    pub(crate) fn on_pex(&mut self, key: PeerKey, tid: TorrentId, payload: &[u8], now: Instant) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        if !self.cfg.pex || t.is_private() {
            return; // not offered
        }
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        match PexMessage::parse(payload) {
            Ok(m) => {
                if p.last_pex_in.is_some_and(|l| now.duration_since(l) < PEX_IN_EVERY) {
                    return; // more than one a minute
                }
                p.last_pex_in = Some(now);
                let from = p.addr;
                for (a, f) in m.added.into_iter().take(MAX_ADDED) {
                    t.add_candidate(a, Source::Pex(from), now);
                    if m.flags_given {
                        t.pex_flags(a, f);
                    }
                }
            }
            Err(e) => p.close(CloseReason::Protocol(format!("bad ut_pex message: {e}"))),
        }
    }

    pub(crate) fn send_pex(&mut self, now: Instant) {
        if !self.cfg.pex {
            return;
        }
        for t in self.torrents.iter().flatten() {
            if t.is_private() {
                continue;
            }
            let current: Vec<(SocketAddr, u8)> = t
                .peers
                .iter()
                .filter_map(|k| self.peers[*k].as_ref())
                .filter(|p| p.active())
                .filter_map(|p| p.reachable_addr().map(|a| (a, our_flags(p))))
                .collect();
            for &k in &t.peers {
                let Some(p) = self.peers[k].as_mut() else { continue };
                let Some(id) = p.ut_pex else { continue };
                if !p.active() || p.last_pex.is_some_and(|l| now.duration_since(l) < PEX_EVERY) {
                    continue;
                }
                let me = p.reachable_addr();
                let added: Vec<(SocketAddr, u8)> =
                    current.iter().filter(|(a, _)| Some(*a) != me && !p.pex_sent.contains(a)).take(MAX_ADDED).copied().collect();
                let dropped: Vec<SocketAddr> =
                    p.pex_sent.iter().filter(|a| !current.iter().any(|(c, _)| c == *a)).take(MAX_ADDED).copied().collect();
                if added.is_empty() && dropped.is_empty() {
                    continue;
                }
                for (a, _) in &added {
                    p.pex_sent.insert(*a);
                }
                for a in &dropped {
                    p.pex_sent.remove(a);
                }
                p.last_pex = Some(now);
                p.send(&Message::Extended { id, payload: PexMessage { added, dropped, ..Default::default() }.encode() }, now);
            }
        }
    }
}

/// The `added.f` byte we send for a connected peer (BEP 11): what we know
/// first hand. uTP when we talk to it over uTP, encryption when over RC4,
/// seed when it has every piece, reachable when we dialled it.
pub(crate) fn our_flags(p: &super::peer::Peer) -> u8 {
    use torrent_core::peer::pex::flags;
    use torrent_core::transport::TransportKind;
    let mut f = 0;
    if p.kind.transport == TransportKind::Utp {
        f |= flags::SUPPORTS_UTP;
    }
    if p.kind.method == super::Method::Rc4 {
        f |= flags::PREFERS_ENCRYPTION;
    }
    if p.st.peer_pieces().is_some_and(|b| b.is_complete()) {
        f |= flags::SEED;
    }
    if p.outgoing {
        f |= flags::REACHABLE;
    }
    f
}
