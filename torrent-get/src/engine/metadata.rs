//! BEP 9 (ut_metadata): fetching the info dictionary for magnet links from
//! peers that offer it (four pieces in flight per peer, the SHA-1 checked by
//! torrent-core's `MetadataAssembler`), and serving ours.

use super::{CloseReason, Engine, Lifecycle, PeerKey, TorrentId};
use std::time::{Duration, Instant};
use torrent_core::peer::extension::{MetadataAssembler, MetadataMessage};
use torrent_core::peer::message::Message;

/// The id we ask peers to use for ut_metadata messages to us.
pub const OUR_UT_METADATA: u8 = 1;
const METADATA_PIECE: usize = 16384;
const IN_FLIGHT: usize = 4;
const METADATA_TIMEOUT: Duration = Duration::from_secs(15);

impl Engine {
    pub(crate) fn on_metadata_message(&mut self, key: PeerKey, tid: TorrentId, payload: &[u8], now: Instant) {
        let p = self.peers[key].as_mut().expect("live peer");
        let msg = match MetadataMessage::parse(payload) {
            Ok(m) => m,
            Err(e) => {
                p.close(CloseReason::Protocol(format!("bad ut_metadata message: {e}")));
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
            MetadataMessage::Reject { piece } => {
                p.metadata_in_flight = p.metadata_in_flight.saturating_sub(1);
                p.ut_metadata = None; // do not ask this peer again
                if let Lifecycle::FetchingMetadata { assembler: Some(a) } = t.life.settled_mut() {
                    a.unrequest(piece);
                }
            }
            MetadataMessage::Data { piece, total_size, data } => {
                p.metadata_in_flight = p.metadata_in_flight.saturating_sub(1);
                let trackers = t.trackers.clone();
                let name = t.name.clone();
                let Lifecycle::FetchingMetadata { assembler: Some(a) } = t.life.settled_mut() else { return };
                match a.add_piece(piece, total_size, &data) {
                    Ok(false) => self.request_metadata(key, now),
                    Ok(true) => match a.finish(trackers) {
                        Ok(meta) => self.metadata_ready(tid, meta, true),
                        Err(e) => {
                            let addr = p.addr;
                            p.close(CloseReason::MetadataMismatch);
                            self.log(format!("{name}: metadata from {addr} rejected: {e}"));
                        }
                    },
                    Err(e) => p.close(CloseReason::Protocol(format!("bad metadata piece: {e}"))),
                }
            }
        }
    }

    /// Ask this peer for metadata pieces (magnet links).
    pub(crate) fn request_metadata(&mut self, key: PeerKey, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        let Some(tid) = p.torrent else { return };
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let info_hash = t.info_hash;
        let Lifecycle::FetchingMetadata { assembler } = &mut t.life else { return };
        let (Some(their_id), Some(size)) = (p.ut_metadata, p.metadata_size) else { return };
        if assembler.is_none() {
            match MetadataAssembler::new(info_hash, size as i64) {
                Ok(a) => *assembler = Some(a),
                Err(e) => {
                    p.close(CloseReason::Protocol(format!("bad metadata_size: {e}")));
                    return;
                }
            }
        }
        let a = assembler.as_mut().expect("just set");
        if a.size() != size {
            return; // disagrees with the peer we started with; ignore it
        }
        while p.metadata_in_flight < IN_FLIGHT {
            let Some(piece) = a.next_request() else { break };
            p.metadata_in_flight += 1;
            p.send(&Message::Extended { id: their_id, payload: MetadataMessage::Request { piece }.encode() }, now);
        }
    }

    /// A peer that does not answer metadata requests is not asked again.
    pub(crate) fn metadata_timeout(&mut self, key: PeerKey, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        if p.metadata_in_flight == 0 || now.duration_since(p.last_recv) <= METADATA_TIMEOUT {
            return;
        }
        p.metadata_in_flight = 0;
        p.ut_metadata = None;
        let Some(tid) = p.torrent else { return };
        if let Some(Lifecycle::FetchingMetadata { assembler: Some(a) }) = self.torrents[tid].as_mut().map(|t| t.life.settled_mut()) {
            a.unrequest_all();
        }
    }
}
