//! Download scheduling: interest, keeping each peer's request pipeline full
//! with blocks from the picker (slow start, depth growing with the peer's
//! rate, its `reqq`, the download rate limit, the disk backlog), endgame
//! duplicates with cancels, received blocks to the disk and hash threads,
//! hash verdicts, blame and bans.

use super::blame::Failure;
use super::pipeline::Pipeline;
use super::{Action, CloseReason, Engine, Lifecycle, PeerKey, Report, TorrentId};
use crate::disk::DiskJob;
use crate::hasher::HashJob;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use torrent_core::peer::bitfield::Bitfield;
use torrent_core::peer::message::Message;
use torrent_core::peer::BlockRef;
use torrent_core::picker::{Block, BlockOutcome, BLOCK_SIZE};

/// Most bytes of block data asked for and not yet arrived, plus those
/// arrived and not yet written and hashed (the disk and hash threads'
/// backlog): requests wait while this is reached, so received data never
/// takes more memory than this, whatever the piece size or the disk's
/// speed, and none is dropped for it. 16 MiB is the bandwidth-delay product
/// of 100 MB/s at 160 ms.
pub const MAX_IN_FLIGHT: u64 = 16 * 1024 * 1024;
/// Request pipeline depth per peer in endgame mode.
pub const ENDGAME_DEPTH: usize = 8;
/// The disk reads of failed pieces' bytes (for blame) carry this peer key.
pub const BLAME_READER: PeerKey = usize::MAX - 1;

impl Engine {
    /// A have (`one`), or the peer's piece set became known (replacing `old`).
    pub(crate) fn on_have(&mut self, key: PeerKey, tid: TorrentId, one: Option<u32>, old: Option<Bitfield>, now: Instant) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let p = self.peers[key].as_mut().expect("live peer");
        let Some(l) = t.life.loaded_mut() else { return }; // counted when the picker is made
        let picker = &mut l.picker;
        match one {
            Some(i) => {
                // The state machine has set the bit; count it once.
                if old.is_none() && p.st.peer_pieces().is_some() {
                    picker.peer_has_piece(i);
                }
                if !p.st.am_interested && picker.is_wanted(i) && !picker.has(i) {
                    p.send(&Message::Interested, now);
                }
            }
            None => {
                if let Some(old) = old {
                    picker.peer_lost_pieces(|i| old.get(i));
                }
                if let Some(bf) = p.st.peer_pieces() {
                    picker.peer_has_pieces(|i| bf.get(i));
                }
                self.update_interest(key, now);
            }
        }
        // Two seeds have nothing to give each other.
        let Some(t) = self.torrents[tid].as_ref() else { return };
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        if matches!(t.life, Lifecycle::Seeding(_)) && p.st.peer_pieces().is_some_and(|b| b.is_complete()) {
            p.close(CloseReason::BothSeeds);
            return;
        }
        self.fill_requests(key, now);
    }

    /// Recompute whether we want anything from this peer.
    pub(crate) fn update_interest(&mut self, key: PeerKey, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        let Some(tid) = p.torrent else { return };
        if !p.active() {
            return;
        }
        let Some(t) = self.torrents[tid].as_ref() else { return };
        let want = match (&t.life, p.st.peer_pieces()) {
            (Lifecycle::Downloading(l), Some(bf)) => {
                let pk = &l.picker;
                (0..pk.num_pieces()).any(|i| bf.get(i) && pk.is_wanted(i as u32) && !pk.has(i as u32))
            }
            _ => false,
        };
        if want != p.st.am_interested {
            p.send(if want { &Message::Interested } else { &Message::NotInterested }, now);
        }
    }

    /// Keep the peer's request pipeline full.
    pub(crate) fn fill_requests(&mut self, key: PeerKey, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        let Some(tid) = p.torrent else { return };
        if !p.active() || !p.st.am_interested {
            return;
        }
        if p.st.peer_choking && p.st.allowed_fast.is_empty() {
            return;
        }
        let room = self.in_flight_room();
        if room < BLOCK_SIZE as u64 {
            self.held_back = true;
            return;
        }
        let window = self.stream.as_ref().filter(|s| s.torrent == tid).and_then(|s| Some((s.window()?, s.spec.no_save)));
        let slow = window.is_some() && self.stream_slow_peer(key, now);
        // Pieces on parole: those another peer is downloading alone, and
        // the others, which go first (the sooner one passes, the sooner the
        // liar is known).
        let (barred, parole) = self.parole_pieces(tid, key);
        let windows = if window.is_none() { self.reader_windows(tid) } else { Vec::new() };
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let ws = &t.webseeds;
        let Some(l) = t.life.downloading() else { return };
        let outstanding = p.st.outstanding();
        let mut depth = if p.snubbed { 1 } else { p.pipeline.depth().min(p.reqq.unwrap_or(250)) };
        if window.is_some() {
            // Streaming: a short queue at each peer, so a window block asked
            // now is not served after seconds of other blocks.
            depth = depth.min(super::stream::stream_depth(p.down.rate(now)));
        }
        // Near the end, no peer is given more than it can deliver in the
        // time the whole swarm needs for what is left: the last pieces
        // must not wait in a slow peer's queue while fast peers idle.
        // (A peer with no rate yet is not held back: it has no queue.)
        let (peer_rate, swarm_rate) = (p.pipeline.rate(), t.down.rate(now));
        if peer_rate > 0.0 && swarm_rate > 0.0 {
            let horizon = l.picker.left_bytes() as f64 / swarm_rate;
            let in_time = (peer_rate * horizon / BLOCK_SIZE as f64).ceil() as usize + 1;
            depth = depth.min(in_time.max(2));
        }
        let endgame = l.picker.in_endgame();
        if endgame {
            // In endgame, only peers that drained their own queue duplicate
            // others' blocks, a few at a time: little over-download.
            depth = depth.min(ENDGAME_DEPTH);
        }
        if outstanding >= depth {
            return;
        }
        if !endgame && outstanding > 0 && outstanding + depth / 8 > depth {
            // Refill in batches of depth/8, not one block per block received.
            return;
        }
        let mut want = (depth - outstanding).min((room / BLOCK_SIZE as u64) as usize);
        if !self.down_bucket.unlimited() {
            let mut allowed = 0;
            while allowed < want && self.down_bucket.take(now, BLOCK_SIZE as u64) {
                allowed += 1;
            }
            want = allowed;
        }
        if want == 0 {
            return;
        }
        let st = &p.st;
        // Pieces a mirror holds are not asked of peers (the stream window
        // goes first whoever holds it: a late stream is worse than a
        // duplicate).
        let blocks = match window {
            Some((w, only)) => super::stream::pick(&mut l.picker, w, only, slow, (&barred, &parole), key, st, want, &mut self.rng),
            None => {
                let ok = |i: usize| st.can_request(i as u32) && !ws.is_claimed(i as u32) && !barred.contains(&(i as u32));
                // Readers' windows first, whoever holds them (as the stream's).
                let in_window = |i: usize| st.can_request(i as u32) && !barred.contains(&(i as u32));
                let mut v = super::readers::pick_windows(&mut l.picker, &windows, key, &in_window, want, &mut self.rng);
                if !parole.is_empty() && v.len() < want {
                    let more = l.picker.pick(key, |i| parole.contains(&(i as u32)) && ok(i), want - v.len(), &mut self.rng);
                    v.extend(more);
                }
                if v.len() < want {
                    let more = l.picker.pick(key, ok, want - v.len(), &mut self.rng);
                    v.extend(more);
                }
                v
            }
        };
        for b in &blocks {
            p.send(&Message::Request { index: b.index, begin: b.begin, length: b.length }, now);
            t.blame.took(b.index, key, p.serial);
        }
        p.pipeline.requests_sent(blocks.first().map(|b| BlockRef { index: b.index, begin: b.begin, length: b.length }), now);
        if window.is_some() {
            self.stream_requested(tid, key, &blocks, now);
        }
    }

    /// Peer keys for a refill of every peer, each time starting one further
    /// on: when the budget is short, the first peers refilled get it, and
    /// no peer may always come last (it would be starved for seconds).
    pub(crate) fn fill_order(&mut self) -> impl Iterator<Item = PeerKey> {
        let n = self.peers.len();
        let c = if n == 0 { 0 } else { self.fill_cursor % n };
        self.fill_cursor = c + 1;
        (c..n).chain(0..c)
    }

    /// Bytes that may still be asked for: [`MAX_IN_FLIGHT`] less what the
    /// hash and disk threads hold ([`super::budget`]) and every peer's
    /// outstanding requests.
    pub(crate) fn in_flight_room(&self) -> u64 {
        let asked: usize = self.peers.iter().flatten().map(|p| p.st.outstanding()).sum();
        MAX_IN_FLIGHT.saturating_sub(self.budget.held() + asked as u64 * BLOCK_SIZE as u64)
    }

    /// Received bytes of a piece to the hash thread and, if `write_at`
    /// (a torrent offset), the same bytes to the disk thread, charged
    /// against the budget until both are done with them.
    pub(crate) fn hand_over(&mut self, tid: TorrentId, piece: u32, begin: u32, data: Arc<Vec<u8>>, write_at: Option<u64>) {
        let charge = self.budget.charge(data.len() as u64, true, write_at.is_some());
        let write = write_at.map(|offset| DiskJob::Write { torrent: tid, offset, data: data.clone(), charge });
        self.actions.push_back(Action::Hash(HashJob::Block { torrent: tid, piece, begin, data, charge }));
        if let Some(w) = write {
            self.actions.push_back(Action::Disk(w));
        }
    }

    /// Block bytes counted against the budget now: handed to the hash and
    /// disk threads and not yet released.
    pub fn budget_held(&self) -> u64 {
        self.budget.held()
    }

    /// The threads' releases the engine was last told of: the loop sleeps
    /// on a newer one while requests are held back.
    pub fn released(&self) -> super::budget::Released {
        self.budget.released()
    }

    /// Requests wait for the disk and hash threads: the loop wakes for
    /// their next release ([`Input::Released`](super::Input::Released)).
    pub fn held_back(&self) -> bool {
        self.held_back
    }

    /// Block data that is of no use (late after a cancel or choke,
    /// unrequested): counted, dropped.
    pub(crate) fn on_wasted(&mut self, key: PeerKey, tid: TorrentId, len: u64, now: Instant) {
        let p = self.peers[key].as_mut().expect("live peer");
        p.down.add(now, len);
        if let Some(t) = self.torrents[tid].as_mut() {
            t.down.add(now, len);
            t.downloaded += len;
            t.wasted += len;
        }
    }

    pub(crate) fn on_block(&mut self, key: PeerKey, tid: TorrentId, index: u32, begin: u32, data: Vec<u8>, now: Instant) {
        let p = self.peers[key].as_mut().expect("live peer");
        let from = p.addr;
        let len = data.len() as u64;
        let block = Block { index, begin, length: data.len() as u32 };
        p.down.add(now, len);
        p.last_block = now;
        p.last_useful = now;
        p.snubbed = false;
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let piece_length = t.life.loaded().map_or(0, |l| l.meta.info.piece_length);
        p.pipeline.block_arrived(BlockRef { index, begin, length: len as u32 }, now, Pipeline::unproven_cap(p.proven, piece_length));
        t.down.add(now, len);
        t.downloaded += len;
        let Some(l) = t.life.downloading() else {
            t.wasted += len;
            return;
        };
        match l.picker.block_received(key, block) {
            BlockOutcome::Unwanted => t.wasted += len,
            BlockOutcome::Accepted { piece_complete, cancel } => {
                let info = &l.meta.info;
                let offset = index as u64 * info.piece_length + begin as u64;
                let expected = info.pieces[index as usize];
                let piece_len = l.picker.piece_len(index);
                t.blame.block(index, begin, piece_len.div_ceil(BLOCK_SIZE) as usize, from, &data);
                if self.stream.is_some() && self.stream_block(tid, block, &data, piece_len, piece_complete.then_some(expected)) {
                    // Streamed without saving: kept in memory, hashed whole.
                } else {
                    self.hand_over(tid, index, begin, Arc::new(data), Some(offset));
                    if piece_complete {
                        self.actions.push_back(Action::Hash(HashJob::Finish { torrent: tid, piece: index, piece_len: piece_len as u64, expected }));
                    }
                }
                for other in cancel {
                    if let Some(Some(op)) = self.peers.get_mut(other) {
                        if op.st.is_requested(&block) {
                            op.send(&Message::Cancel { index, begin, length: block.length }, now);
                        }
                    }
                }
            }
        }
        if self.stream.is_some() {
            self.stream_late(now);
        }
        self.fill_requests(key, now);
    }

    /// The hash thread (or the disk thread) judged a piece.
    pub(crate) fn on_verified(&mut self, tid: TorrentId, piece: u32, ok: bool, now: Instant) {
        if self.webseed_verified(tid, piece, ok, now) {
            // A mirror's bad piece: no peer to blame.
            if let Some(t) = self.torrents[tid].as_mut() {
                t.blame.forget(piece);
            }
            return;
        }
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let Some(l) = t.life.loaded_mut() else { return };
        let picker = &mut l.picker;
        if piece as usize >= picker.num_pieces() {
            return;
        }
        if ok {
            picker.piece_verified(piece);
            // Its senders have now sent good data: their pipelines may grow
            // past the cap for peers not yet proven (see `on_block`).
            let good = t.blame.senders_of(piece);
            // Parole: senders of the failed attempts whose blocks differ.
            let liars = t.blame.passed(piece);
            let advertise = !self.stream.as_ref().is_some_and(|s| s.torrent == tid && s.spec.no_save);
            for k in t.peers.clone() {
                if let Some(Some(p)) = self.peers.get_mut(k) {
                    if good.contains(&p.addr) {
                        p.proven = true;
                    }
                    if advertise && p.active() && !p.st.peer_has(piece) {
                        p.send(&Message::Have(piece), now);
                    }
                }
            }
            for a in liars {
                if self.ban(tid, a, &format!("its blocks of piece {piece} differ from the verified ones"), now) {
                    if let Some(t) = self.torrents[tid].as_mut() {
                        t.blame.found_by_comparison += 1;
                    }
                }
            }
            self.stream_verdict(tid, piece, true, now);
            self.readers_pump(tid, now);
            self.check_complete(tid, now);
            self.webseed_pump(tid, now);
        } else {
            // The failed bytes, while the stream still holds them (no_save).
            let kept = self.stream_failed_data(tid, piece);
            let Some(t) = self.torrents[tid].as_mut() else { return };
            let Some(l) = t.life.loaded_mut() else { return };
            l.picker.piece_failed(piece);
            let piece_len = l.picker.piece_len(piece);
            t.hash_failures += 1;
            let name = t.name.clone();
            let verdict = t.blame.failed(piece);
            let from = match &verdict {
                Failure::Unknown => "no peer".to_string(),
                Failure::Sole(a) => a.to_string(),
                Failure::Shared(v) => v.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
            };
            self.report(Report::Log(format!("{name}: piece {piece} failed the hash check (from {from})")));
            match verdict {
                Failure::Unknown => {}
                Failure::Sole(a) => {
                    self.ban(tid, a, &format!("piece {piece}, all of it from this peer, failed the hash check"), now);
                }
                Failure::Shared(_) => match kept {
                    Some(data) => {
                        if let Some(t) = self.torrents[tid].as_mut() {
                            t.blame.failed_data(piece, &data);
                        }
                    }
                    // Read the failed bytes back before a new attempt
                    // overwrites them (the disk thread's jobs run in order).
                    None => self.actions.push_back(Action::Disk(DiskJob::Read {
                        torrent: tid,
                        peer: BLAME_READER,
                        conn: 0,
                        piece,
                        begin: 0,
                        len: piece_len,
                    })),
                },
            }
            self.stream_verdict(tid, piece, false, now);
        }
    }

    /// The failed attempt of a piece on parole, read back from the disk.
    pub(crate) fn blame_read_done(&mut self, tid: TorrentId, piece: u32, data: &[u8]) {
        if let Some(Some(t)) = self.torrents.get_mut(tid) {
            t.blame.failed_data(piece, data);
        }
    }

    /// Pieces on parole, for peer `key`: those it must not request now
    /// (another peer that can still send them has taken them), and the
    /// others.
    pub(crate) fn parole_pieces(&self, tid: TorrentId, key: PeerKey) -> (Vec<u32>, Vec<u32>) {
        let Some(Some(t)) = self.torrents.get(tid) else { return Default::default() };
        let Some(Some(me)) = self.peers.get(key) else { return Default::default() };
        if t.blame.parole_len() == 0 {
            return Default::default();
        }
        let barred = t.blame.barred(key, me.serial, |k, serial| {
            self.peers.get(k).and_then(|p| p.as_ref()).is_some_and(|p| {
                p.serial == serial && p.active() && !p.snubbed && (!p.st.peer_choking || !p.st.allowed_fast.is_empty())
            })
        });
        let free = t.blame.parole_pieces().map(|(i, _)| *i).filter(|i| !barred.contains(i)).collect();
        (barred, free)
    }

    /// Ban a liar: its connections close, its address is not dialled again,
    /// and the unfinished pieces it sent blocks of start over. False if it
    /// was banned already.
    pub(crate) fn ban(&mut self, tid: TorrentId, addr: SocketAddr, why: &str, now: Instant) -> bool {
        let Some(Some(t)) = self.torrents.get_mut(tid) else { return false };
        if !t.ban(addr) {
            return false;
        }
        let touched = t.blame.take_touched(addr);
        if let Some(l) = t.life.loaded_mut() {
            for &i in &touched {
                l.picker.piece_failed(i);
                // The hash thread's running hash holds the liar's blocks.
                self.actions.push_back(Action::Hash(HashJob::Forget { torrent: tid, piece: i }));
            }
        }
        for k in t.peers.clone() {
            if let Some(Some(p)) = self.peers.get_mut(k) {
                if p.addr == addr {
                    p.close(CloseReason::BannedNow);
                }
            }
        }
        let name = t.name.clone();
        self.log(format!("{name}: banned {addr}: {why}"));
        for i in touched {
            self.stream_verdict(tid, i, false, now);
        }
        true
    }
}
