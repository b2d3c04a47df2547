//! BEP 9 (ut_metadata): fetching the info dictionary for magnet links from
//! peers that offer it ([`MetadataFetch`]: sizes, requests and blame, so no
//! single peer can stall it), and serving ours.

use super::metadata_fetch::{Got, MetadataFetch};
use super::{CloseReason, Engine, Lifecycle, PeerKey, TorrentId};
use std::time::Instant;
use torrent_core::peer::extension::MetadataMessage;
use torrent_core::peer::message::Message;
use torrent_core::Metainfo;

/// The id we ask peers to use for ut_metadata messages to us.
pub const OUR_UT_METADATA: u8 = 1;
const METADATA_PIECE: usize = 16384;

impl Engine {
    pub(crate) fn on_metadata_message(&mut self, key: PeerKey, tid: TorrentId, payload: &[u8], now: Instant) {
        let p = self.peers[key].as_mut().expect("live peer");
        let msg = match MetadataMessage::parse(payload) {
            Ok(m) => m,
            Err(e) => {
                p.close(CloseReason::Protocol(format!("bad ut_metadata message: {e}")));
                if let Some(f) = self.torrents[tid].as_mut().and_then(|t| t.life.fetch_mut()) {
                    f.peer_gone(key);
                }
                return;
            }
        };
        let Some(t) = self.torrents[tid].as_mut() else { return };
        match msg {
            MetadataMessage::Request { piece } => {
                let Some(their_id) = p.ut_metadata else { return };
                let reply = match t.life.meta() {
                    Some(m) if (piece as usize) * METADATA_PIECE < m.info_bytes.len() => {
                        let start = piece as usize * METADATA_PIECE;
                        let end = (start + METADATA_PIECE).min(m.info_bytes.len());
                        MetadataMessage::Data { piece, total_size: m.info_bytes.len() as u64, data: m.info_bytes[start..end].to_vec() }
                    }
                    _ => MetadataMessage::Reject { piece },
                };
                p.send(&Message::Extended { id: their_id, payload: reply.encode() }, now);
            }
            MetadataMessage::Reject { .. } => {
                p.ut_metadata = None; // do not ask this peer again
                if let Some(f) = t.life.fetch_mut() {
                    f.withdraw(key);
                }
            }
            MetadataMessage::Data { piece, total_size, data } => {
                let addr = p.addr;
                let Some(f) = t.life.fetch_mut() else { return };
                match f.on_data(key, piece, total_size, data) {
                    Got::Stored | Got::Ignored => self.request_metadata(key, now),
                    Got::Malformed(e) => {
                        p.close(CloseReason::Protocol(format!("bad metadata piece: {e}")));
                        self.metadata_wanted(tid, now);
                    }
                    Got::Done(bytes) => self.metadata_verified(tid, &bytes),
                    Got::Mismatch { contributors, alone } => {
                        let name = t.name.clone();
                        if alone {
                            // It sent every piece: the liar.
                            t.ban(addr);
                            p.close(CloseReason::MetadataMismatch);
                            self.log(format!("{name}: metadata from {addr} does not match the info-hash: banned"));
                        } else {
                            // No one is blamed for a shared failure: each
                            // source now sends a whole copy, which names the liar.
                            let addrs: Vec<_> = contributors.iter().filter_map(|k| self.peers.get(*k)?.as_ref().map(|p| p.addr)).collect();
                            self.log(format!(
                                "{name}: metadata pieces from {} peers do not match the info-hash: fetching a whole copy from each",
                                addrs.len()
                            ));
                        }
                        self.metadata_wanted(tid, now);
                    }
                }
            }
        }
    }

    /// The SHA-1 matched: nothing else can ever match this info-hash, so an
    /// info dictionary we cannot load fails the torrent (an input error).
    fn metadata_verified(&mut self, tid: TorrentId, bytes: &[u8]) {
        let Some(t) = self.torrents[tid].as_ref() else { return };
        match Metainfo::from_info_bytes(bytes, &t.info_hash, t.trackers.clone()) {
            Ok(meta) => self.metadata_ready(tid, meta, true),
            Err(e) => self.fail_torrent_input(tid, format!("the metadata matches the info-hash but is invalid: {e}")),
        }
    }

    /// Ask every peer of the torrent for what it can send now (after
    /// requests were released).
    fn metadata_wanted(&mut self, tid: TorrentId, now: Instant) {
        let keys = self.torrents[tid].as_ref().map(|t| t.peers.clone()).unwrap_or_default();
        for k in keys {
            self.request_metadata(k, now);
        }
    }

    /// Ask this peer for metadata pieces (magnet links).
    pub(crate) fn request_metadata(&mut self, key: PeerKey, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        if !p.active() || p.closing.is_some() {
            return;
        }
        let Some(tid) = p.torrent else { return };
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let Lifecycle::FetchingMetadata { fetch } = &mut t.life else { return };
        let (Some(their_id), Some(size)) = (p.ut_metadata, p.metadata_size) else { return };
        if let Err(e) = fetch.offer(key, size) {
            p.close(CloseReason::Protocol(format!("bad metadata_size: {e}")));
            return;
        }
        for piece in fetch.requests(key, now) {
            p.send(&Message::Extended { id: their_id, payload: MetadataMessage::Request { piece }.encode() }, now);
        }
    }

    /// A peer that leaves a metadata request unanswered is not asked again;
    /// its requests go to others.
    pub(crate) fn metadata_timeout(&mut self, key: PeerKey, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        let Some(tid) = p.torrent else { return };
        let Some(f) = self.torrents[tid].as_mut().and_then(|t| t.life.fetch_mut()) else { return };
        if f.overdue(now).contains(&key) {
            p.ut_metadata = None;
            f.withdraw(key);
            self.metadata_wanted(tid, now);
        }
    }
}

impl Lifecycle {
    /// The metadata fetch, while fetching (paused or not).
    pub fn fetch_mut(&mut self) -> Option<&mut MetadataFetch> {
        match self.settled_mut() {
            Lifecycle::FetchingMetadata { fetch } => Some(fetch),
            _ => None,
        }
    }
}
