//! Uploads: the peer's requests (checked by its state machine) are served
//! from the disk thread for pieces we have, within the upload rate limit, a
//! bound on reads in flight per peer and on bytes waiting to be sent.

use super::peer::MAX_OUT_BUFFER;
use super::{Action, Engine, PeerKey, TorrentId};
use crate::disk::DiskJob;
use std::time::Instant;
use torrent_core::peer::message::{piece_header, BlockRef, Message};

/// Most reads for one peer's requests waiting for the disk at once.
pub const MAX_READS_PER_PEER: usize = 32;

impl Engine {
    pub(crate) fn on_request(&mut self, key: PeerKey, tid: TorrentId, b: BlockRef, now: Instant) {
        // Streaming without saving: nothing is kept to serve.
        let have = !self.stream_no_save(tid) && self.torrents[tid].as_ref().and_then(|t| t.life.picker()).is_some_and(|pk| pk.has(b.index));
        let p = self.peers[key].as_mut().expect("live peer");
        if !have {
            p.st.drop_peer_request(&b);
            if p.st.fast {
                p.send(&Message::RejectRequest { index: b.index, begin: b.begin, length: b.length }, now);
            }
            return;
        }
        self.dispatch_reads(key, now);
    }

    /// Send queued upload requests to the disk thread, within limits.
    pub(crate) fn dispatch_reads(&mut self, key: PeerKey, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        let Some(tid) = p.torrent else { return };
        while p.reads_in_flight < super::upload::MAX_READS_PER_PEER && p.out_pending() < MAX_OUT_BUFFER {
            let Some(b) = p.st.peek_peer_request() else { break };
            if !self.up_bucket.take(now, b.length as u64) {
                break;
            }
            p.st.pop_peer_request();
            p.reads_in_flight += 1;
            self.actions.push_back(Action::Disk(DiskJob::Read { torrent: tid, peer: key, conn: p.serial, piece: b.index, begin: b.begin, len: b.length }));
        }
    }

    pub(crate) fn on_read_done(&mut self, tid: TorrentId, key: PeerKey, conn: u64, piece: u32, begin: u32, data: Vec<u8>, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        // The key may be another connection's by now.
        if p.serial != conn || p.torrent != Some(tid) || !p.live() {
            return;
        }
        p.reads_in_flight = p.reads_in_flight.saturating_sub(1);
        if p.st.am_choking {
            return; // choked meanwhile: the request is void
        }
        p.queue_raw(&piece_header(piece, begin, data.len()), now);
        p.queue_raw(&data, now);
        p.up.add(now, data.len() as u64);
        p.last_useful = now;
        if let Some(t) = self.torrents[tid].as_mut() {
            t.up.add(now, data.len() as u64);
            t.uploaded += data.len() as u64;
        }
        self.dispatch_reads(key, now);
    }
}
