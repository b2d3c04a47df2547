//! Wire handling: connections coming up, handshakes (ours and theirs), the
//! opening messages (extension handshake, bitfield / have all / have none),
//! decoding the byte stream and dispatching each message through the peer's
//! protocol state machine (torrent-core `PeerState`, tolerant policy) to the
//! part of the engine that owns it.

use super::peer::{tolerant_state, Phase, MAX_PEER_REQUESTS};
use super::{metadata, pex, Action, CloseReason, Engine, Lifecycle, PeerKey, TorrentId};
use std::net::SocketAddr;
use std::time::Instant;
use torrent_core::peer::bitfield::Bitfield;
use torrent_core::peer::connection::Event;
use torrent_core::peer::extension::{ExtendedHandshake, UT_METADATA};
use torrent_core::peer::handshake::Handshake;
use torrent_core::peer::message::Message;
use torrent_core::peer::pex::UT_PEX;

impl Engine {
    pub(crate) fn on_connected(&mut self, key: PeerKey, local: Option<SocketAddr>, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        if p.phase != Phase::Connecting || !p.live() {
            return;
        }
        p.phase = Phase::Handshaking;
        p.local = local;
        p.last_recv = now;
        let Some(tid) = p.torrent else { return };
        self.send_handshake(key, tid, now);
        // A connect slot came free: the next candidate is dialled now, not
        // at the next tick (a batch of torrents from one seeder waited a
        // second for every 16 connections).
        self.connect_more(now);
    }

    fn send_handshake(&mut self, key: PeerKey, tid: TorrentId, now: Instant) {
        let Some(t) = self.torrents[tid].as_ref() else { return };
        let mut hs = Handshake::new(t.info_hash, self.peer_id);
        hs.set_extended(true);
        hs.set_fast(true);
        hs.set_dht(self.dht_port.is_some() && !t.is_private());
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        p.queue_raw(&hs.encode(), now);
        p.sent_handshake = true;
    }

    pub(crate) fn on_received(&mut self, key: PeerKey, n: usize, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        p.decoder.advance(n);
        if n > 0 {
            p.last_recv = now;
        }
        loop {
            let Some(Some(p)) = self.peers.get_mut(key) else { return };
            if !p.live() {
                return;
            }
            if p.phase != Phase::Active {
                match p.decoder.next_handshake() {
                    Ok(None) => return,
                    Ok(Some(hs)) => {
                        if !self.on_handshake(key, hs, now) {
                            return;
                        }
                        self.report_peer(key);
                        continue;
                    }
                    Err(e) => {
                        p.close(CloseReason::BadHandshake(e.to_string()));
                        return;
                    }
                }
            }
            match p.decoder.next_message() {
                Ok(None) => return,
                Ok(Some(msg)) => self.on_message(key, msg, now),
                Err(e) => {
                    p.close(CloseReason::Protocol(e.to_string()));
                    return;
                }
            }
        }
    }

    /// The peer's handshake arrived. False if the connection is dropped.
    fn on_handshake(&mut self, key: PeerKey, hs: Handshake, now: Instant) -> bool {
        let p = self.peers[key].as_mut().expect("live peer");
        let tid = match p.torrent {
            Some(tid) => {
                if self.torrents[tid].as_ref().map(|t| t.info_hash) != Some(hs.info_hash) {
                    p.close(CloseReason::WrongTorrent);
                    return false;
                }
                tid
            }
            None => match self.torrents.iter().position(|t| t.as_ref().is_some_and(|t| t.info_hash == hs.info_hash)) {
                Some(tid) => tid,
                None => {
                    p.close(CloseReason::UnknownTorrent);
                    return false;
                }
            },
        };
        if hs.peer_id == self.peer_id {
            p.close(CloseReason::SelfConnection);
            // Trackers (and PEX) hand us our own address: never dial it
            // again. Seen from the accepting side, the address we dialled is
            // that of our outgoing connection whose local end is this peer.
            let incoming_from = p.addr;
            let dialled = if p.outgoing {
                Some(p.addr)
            } else {
                self.peers.iter().flatten().find(|q| q.outgoing && q.local == Some(incoming_from)).map(|q| q.addr)
            };
            if let (Some(addr), Some(t)) = (dialled, self.torrents[tid].as_mut()) {
                t.candidates.remove(&addr);
                t.banned.insert(addr, ());
            }
            return false;
        }
        let t = self.torrents[tid].as_mut().expect("found above");
        if t.banned.contains_key(&p.addr) {
            p.close(CloseReason::Banned);
            return false;
        }
        if !t.life.running() {
            p.close(match &t.life {
                Lifecycle::Paused(_) => CloseReason::TorrentPaused,
                Lifecycle::Failed { .. } => CloseReason::TorrentFailed,
                _ => CloseReason::TorrentDone,
            });
            return false;
        }
        if p.torrent.is_none() && !self.admit_incoming(key, tid, now) {
            if let Some(p) = self.peers[key].as_mut() {
                p.close(CloseReason::Limit("the torrent's peer slots are full"));
            }
            self.refused += 1;
            return false;
        }
        let t = self.torrents[tid].as_mut().expect("found above");
        let p = self.peers[key].as_mut().expect("live peer");
        p.peer_id = hs.peer_id;
        p.st = tolerant_state(hs.supports_fast(), hs.supports_extended());
        p.dht = hs.supports_dht();
        p.phase = Phase::Active;
        if p.outgoing {
            t.candidate_answered(p.addr);
        }
        if p.torrent.is_none() {
            p.torrent = Some(tid);
            t.peers.push(key);
        }
        let need_handshake = !p.sent_handshake;
        if need_handshake {
            self.send_handshake(key, tid, now);
        }
        self.peer_geometry(key, tid);
        self.send_opening(key, tid, now);
        true
    }

    /// Tell the peer's state machine the torrent's shape, once known; what
    /// it said before (magnet links) is checked and counted now.
    pub(crate) fn peer_geometry(&mut self, key: PeerKey, tid: TorrentId) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let Some(meta) = t.life.meta() else { return };
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        if p.phase != Phase::Active || p.st.num_pieces().is_some() {
            return;
        }
        let info = &meta.info;
        if let Err(e) = p.st.set_geometry(info.pieces.len(), info.piece_length, info.total_length) {
            p.close(CloseReason::Protocol(e.to_string()));
            return;
        }
        // Availability is counted from here on (the picker may not exist yet:
        // it counts peers' pieces when the check ends, see on_opened).
        if let (Some(l), Some(bf)) = (t.life.loaded_mut(), p.st.peer_pieces()) {
            l.picker.peer_has_pieces(|i| bf.get(i));
        }
    }

    /// After both handshakes: extension handshake and what we have.
    fn send_opening(&mut self, key: PeerKey, tid: TorrentId, now: Instant) {
        let Some(t) = self.torrents[tid].as_ref() else { return };
        let meta_size = t.life.meta().map(|m| m.info_bytes.len());
        let port = (self.listen_port != 0).then_some(self.listen_port);
        // Streaming without saving: nothing kept, nothing to offer.
        let have = t.life.picker().map(|pk| pk.have_slice().to_vec()).filter(|_| !self.stream_no_save(tid));
        let pex = self.cfg.pex && !t.is_private();
        let dht_port = self.dht_port.filter(|_| !t.is_private());
        let p = self.peers[key].as_mut().expect("live peer");
        let (extended, fast) = (p.st.extended, p.st.fast);
        if extended {
            let mut hs = ExtendedHandshake::ours(metadata::OUR_UT_METADATA, meta_size, port);
            hs.reqq = Some(MAX_PEER_REQUESTS as i64);
            if pex {
                hs.m.insert(UT_PEX.to_string(), pex::OUR_UT_PEX as i64);
            }
            p.send(&Message::Extended { id: 0, payload: hs.encode() }, now);
        }
        match have {
            Some(h) if h.iter().all(|x| *x) && fast => p.send(&Message::HaveAll, now),
            Some(h) if h.iter().any(|x| *x) => p.send(&Message::Bitfield(Bitfield::from_bools(&h).to_bytes()), now),
            _ if fast => p.send(&Message::HaveNone, now),
            _ => {}
        }
        // BEP 5: where our node answers (the listen port: one UDP socket
        // for uTP and the DHT).
        if let (Some(port), true) = (dht_port, p.dht) {
            p.send(&Message::Port(port), now);
        }
    }

    /// BEP 5 `port`: the peer's DHT node, worth a ping when our node runs
    /// and the torrent is not private. Once per connection (a peer cannot
    /// make us ping a list of addresses).
    fn on_port(&mut self, key: PeerKey, tid: TorrentId, port: u16) {
        let private = self.torrents[tid].as_ref().is_none_or(|t| t.is_private());
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        if self.dht_port.is_none() || private || port == 0 || p.dht_pinged {
            return;
        }
        p.dht_pinged = true;
        self.actions.push_back(Action::DhtPing { addr: SocketAddr::new(p.addr.ip(), port) });
    }

    fn on_message(&mut self, key: PeerKey, msg: Message, now: Instant) {
        let p = self.peers[key].as_mut().expect("live peer");
        let Some(tid) = p.torrent else { return };
        // Requests before we know the torrent's shape cannot be checked.
        if matches!(msg, Message::Request { .. }) && p.st.num_pieces().is_none() {
            p.close(CloseReason::Protocol("request before we have metadata".into()));
            return;
        }
        // A repeated have changes nothing (and must not be counted twice).
        let repeated_have = matches!(msg, Message::Have(i) if p.st.peer_has(i));
        let ev = match p.st.on_receive(msg) {
            Ok(ev) => ev,
            Err(e) => {
                p.close(CloseReason::Protocol(e.to_string()));
                return;
            }
        };
        match ev {
            Event::Port(port) => self.on_port(key, tid, port),
            Event::None | Event::Suggest(_) | Event::Unchoked => {
                if matches!(ev, Event::Unchoked) {
                    self.fill_requests(key, now);
                }
            }
            Event::Choked { dropped } => {
                if !dropped.is_empty() {
                    if let Some(l) = self.torrents[tid].as_mut().and_then(|t| t.life.loaded_mut()) {
                        l.picker.release_peer(key);
                    }
                }
            }
            Event::Interested => self.maybe_unchoke_now(key, now),
            Event::NotInterested => {
                // Its slot is free: give it to a peer waiting for one.
                self.fill_free_slots(now);
            }
            Event::Have(_) if repeated_have => {}
            Event::Have(i) => self.on_have(key, tid, Some(i), None, now),
            Event::PiecesKnown => self.on_have(key, tid, None, None, now),
            Event::PiecesReplaced { old } => self.on_have(key, tid, None, Some(old), now),
            Event::Block { index, begin, data } => self.on_block(key, tid, index, begin, data, now),
            Event::LateBlock { length, .. } | Event::UnrequestedBlock { length, .. } => self.on_wasted(key, tid, length as u64, now),
            Event::Request(b) => self.on_request(key, tid, b, now),
            Event::RequestWhileChoked(b) | Event::RequestRefused(b) => {
                let p = self.peers[key].as_mut().expect("live peer");
                if p.st.fast {
                    p.send(&Message::RejectRequest { index: b.index, begin: b.begin, length: b.length }, now);
                }
            }
            Event::Cancel(_) => {}
            Event::Rejected(b) => {
                if let Some(l) = self.torrents[tid].as_mut().and_then(|t| t.life.loaded_mut()) {
                    l.picker.release_block(key, b);
                }
                self.fill_requests(key, now);
            }
            Event::AllowedFast(_) => self.fill_requests(key, now),
            Event::ExtendedHandshake => self.on_extended_handshake(key, now),
            Event::Extended { id, payload } => {
                if id == pex::OUR_UT_PEX {
                    self.on_pex(key, tid, &payload, now);
                } else if id == metadata::OUR_UT_METADATA {
                    self.on_metadata_message(key, tid, &payload, now);
                }
                // Anything else: an extension we did not offer; ignore.
            }
        }
    }

    fn on_extended_handshake(&mut self, key: PeerKey, now: Instant) {
        let p = self.peers[key].as_mut().expect("live peer");
        if let Some(hs) = &p.st.ext {
            p.ut_metadata = hs.extension_id(UT_METADATA);
            p.metadata_size = hs.metadata_size.and_then(|s| usize::try_from(s).ok());
            p.reqq = hs.reqq.and_then(|r| usize::try_from(r).ok()).map(|r| r.clamp(1, super::peer::MAX_PIPELINE));
            p.ut_pex = hs.extension_id(UT_PEX);
            p.listen_port = hs.port();
        }
        if p.st.ext.as_ref().is_some_and(|hs| hs.prefers_encryption()) {
            let addr = p.reachable_addr();
            self.on_encryption_hint(addr);
        }
        self.request_metadata(key, now);
    }
}
