//! The piece picker: which blocks to request from which peer.
//!
//! Sans-IO bookkeeping for one torrent. It tracks how many peers have each
//! piece (availability), which pieces are verified, which blocks of pieces
//! in progress are missing, requested (and by whom) or received.
//!
//! Policy: finish pieces already in progress first; then rarest first, with
//! random tie-breaks (and a random piece while we have fewer than
//! [`RANDOM_FIRST_PIECES`], so a new peer soon has something to trade); when
//! every missing block is already requested, endgame mode lets a second peer
//! request the same block (at most [`ENDGAME_DUPLICATES`] requesters), and the
//! caller cancels the losers when the block arrives.

use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// The workspace's one block type and block size (defined with the wire
/// messages): `Block` is [`BlockRef`](crate::peer::message::BlockRef).
pub use crate::peer::message::{BlockRef as Block, BLOCK_SIZE};
/// Pick random pieces until this many are verified.
pub const RANDOM_FIRST_PIECES: usize = 4;
/// In endgame, at most this many peers request the same block.
pub const ENDGAME_DUPLICATES: usize = 2;

/// The caller's handle for a peer.
pub type PeerKey = usize;

/// `Picker::pos` of a piece that cannot be started now.
const NOT_CANDIDATE: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
enum BlockState {
    Missing,
    Requested(Vec<PeerKey>),
    Received,
}

#[derive(Debug, Clone)]
struct Partial {
    blocks: Vec<BlockState>,
    received: usize,
    /// Blocks in state `Missing` (so fully requested pieces are skipped
    /// without a scan).
    missing: usize,
    /// Peers that sent at least one block of this piece (for blame).
    contributors: Vec<PeerKey>,
}

/// What happened to a received block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockOutcome {
    /// Not a block we want (never requested, already received, piece done
    /// or unknown): drop the data.
    Unwanted,
    /// Stored. `cancel` lists other peers that had requested the same block
    /// (endgame) and should be sent a cancel. When `piece_complete`, every
    /// block of the piece is in and it can be verified.
    Accepted {
        piece_complete: bool,
        cancel: Vec<PeerKey>,
    },
}

#[derive(Debug, Clone)]
pub struct Picker {
    piece_length: u64,
    total_length: u64,
    have: Vec<bool>,
    have_count: usize,
    wanted: Vec<bool>,
    /// All blocks received, waiting for the hash check.
    pending: Vec<bool>,
    availability: Vec<u32>,
    partial: BTreeMap<u32, Partial>,
    /// Pieces of `partial` with a block in state `Missing`.
    open: BTreeSet<u32>,
    /// The pieces that could be started (wanted, not had, not pending, not
    /// in progress), by availability: `buckets[a]` holds those `a` peers
    /// have, in no order; `pos[i]` is piece i's place in its bucket
    /// (`NOT_CANDIDATE` if it is in none). So a pick looks at the rarest
    /// pieces first and costs nothing per piece already started or had.
    buckets: Vec<Vec<u32>>,
    pos: Vec<u32>,
    candidates: usize,
    /// Bytes of verified pieces, and of wanted pieces not yet verified.
    have_bytes: u64,
    left_bytes: u64,
    /// The piece started last: among equally rare pieces the next one is
    /// preferred, so runs of pieces are written sequentially.
    last_started: Option<u32>,
}

impl Picker {
    pub fn new(piece_length: u64, total_length: u64) -> Picker {
        let n = total_length.div_ceil(piece_length) as usize;
        Picker {
            piece_length,
            total_length,
            have: vec![false; n],
            have_count: 0,
            wanted: vec![true; n],
            pending: vec![false; n],
            availability: vec![0; n],
            partial: BTreeMap::new(),
            open: BTreeSet::new(),
            buckets: vec![(0..n as u32).collect()],
            pos: (0..n as u32).collect(),
            candidates: n,
            have_bytes: 0,
            left_bytes: total_length,
            last_started: None,
        }
    }

    // --- the candidate buckets ---------------------------------------------

    fn bucket_insert(&mut self, i: usize) {
        let a = self.availability[i] as usize;
        if self.buckets.len() <= a {
            self.buckets.resize_with(a + 1, Vec::new);
        }
        self.pos[i] = self.buckets[a].len() as u32;
        self.buckets[a].push(i as u32);
        self.candidates += 1;
    }

    fn bucket_remove(&mut self, i: usize) {
        let b = &mut self.buckets[self.availability[i] as usize];
        let at = self.pos[i] as usize;
        b.swap_remove(at);
        if let Some(&moved) = b.get(at) {
            self.pos[moved as usize] = at as u32;
        }
        self.pos[i] = NOT_CANDIDATE;
        self.candidates -= 1;
    }

    fn is_candidate(&self, i: usize) -> bool {
        self.pos[i] != NOT_CANDIDATE
    }

    /// Put piece i in its bucket or take it out, after its state changed.
    fn refresh(&mut self, i: usize) {
        let should = self.wanted[i] && !self.have[i] && !self.pending[i] && !self.partial.contains_key(&(i as u32));
        match (should, self.is_candidate(i)) {
            (true, false) => self.bucket_insert(i),
            (false, true) => self.bucket_remove(i),
            _ => {}
        }
    }

    fn set_availability(&mut self, i: usize, a: u32) {
        if self.availability[i] == a {
            return;
        }
        if self.is_candidate(i) {
            self.bucket_remove(i);
            self.availability[i] = a;
            self.bucket_insert(i);
        } else {
            self.availability[i] = a;
        }
    }

    pub fn num_pieces(&self) -> usize {
        self.have.len()
    }

    pub fn piece_len(&self, index: u32) -> u32 {
        let start = index as u64 * self.piece_length;
        self.piece_length
            .min(self.total_length.saturating_sub(start)) as u32
    }

    fn block_count(&self, index: u32) -> usize {
        self.piece_len(index).div_ceil(BLOCK_SIZE) as usize
    }

    fn block_at(&self, index: u32, b: usize) -> Block {
        let begin = b as u32 * BLOCK_SIZE;
        Block {
            index,
            begin,
            length: BLOCK_SIZE.min(self.piece_len(index) - begin),
        }
    }

    /// Only pieces with `wanted[i]` are picked (file selection).
    pub fn set_wanted(&mut self, wanted: Vec<bool>) {
        assert_eq!(wanted.len(), self.have.len());
        self.wanted = wanted;
        for i in 0..self.have.len() {
            self.refresh(i);
        }
        self.left_bytes = (0..self.have.len())
            .filter(|&i| self.wanted[i] && !self.have[i])
            .map(|i| self.piece_len(i as u32) as u64)
            .sum();
    }

    pub fn is_wanted(&self, index: u32) -> bool {
        self.wanted[index as usize]
    }

    pub fn has(&self, index: u32) -> bool {
        self.have[index as usize]
    }

    pub fn have_count(&self) -> usize {
        self.have_count
    }

    pub fn have_slice(&self) -> &[bool] {
        &self.have
    }

    /// All wanted pieces are verified.
    pub fn is_complete(&self) -> bool {
        self.left_bytes == 0
    }

    /// Bytes of wanted pieces not yet verified.
    pub fn left_bytes(&self) -> u64 {
        self.left_bytes
    }

    /// Bytes of verified pieces.
    pub fn have_bytes(&self) -> u64 {
        self.have_bytes
    }

    // --- availability -----------------------------------------------------

    pub fn peer_has_piece(&mut self, index: u32) {
        let i = index as usize;
        if let Some(&a) = self.availability.get(i) {
            self.set_availability(i, a + 1);
        }
    }

    pub fn peer_has_pieces(&mut self, has: impl Fn(usize) -> bool) {
        for i in 0..self.availability.len() {
            if has(i) {
                self.set_availability(i, self.availability[i] + 1);
            }
        }
    }

    /// Forget pieces a peer had (it left, or replaced its bitfield).
    pub fn peer_lost_pieces(&mut self, has: impl Fn(usize) -> bool) {
        for i in 0..self.availability.len() {
            if has(i) {
                self.set_availability(i, self.availability[i].saturating_sub(1));
            }
        }
    }

    /// A peer left: forget its pieces and release its requests.
    pub fn peer_gone(&mut self, peer: PeerKey, has: impl Fn(usize) -> bool) {
        self.peer_lost_pieces(has);
        self.release_peer(peer);
    }

    pub fn availability(&self, index: u32) -> u32 {
        self.availability[index as usize]
    }

    /// Release every block `peer` had requested (choked, timed out, gone).
    pub fn release_peer(&mut self, peer: PeerKey) {
        for (&i, p) in self.partial.iter_mut() {
            for b in &mut p.blocks {
                if let BlockState::Requested(who) = b {
                    who.retain(|k| *k != peer);
                    if who.is_empty() {
                        *b = BlockState::Missing;
                        p.missing += 1;
                    }
                }
            }
            if p.missing > 0 {
                self.open.insert(i);
            }
        }
    }

    /// Release one block `peer` had requested (rejected or cancelled).
    pub fn release_block(&mut self, peer: PeerKey, block: Block) {
        let Some(p) = self.partial.get_mut(&block.index) else {
            return;
        };
        let b = (block.begin / BLOCK_SIZE) as usize;
        if let Some(BlockState::Requested(who)) = p.blocks.get_mut(b) {
            who.retain(|k| *k != peer);
            if who.is_empty() {
                p.blocks[b] = BlockState::Missing;
                p.missing += 1;
                self.open.insert(block.index);
            }
        }
    }

    // --- picking ------------------------------------------------------------

    /// Choose a new piece to start for a peer that has `peer_has`: the
    /// rarest the peer has, ties broken at random. The cost is the number
    /// of rarer (or equally rare) startable pieces the peer lacks, not the
    /// number of pieces.
    fn choose_new_piece(&self, peer_has: &impl Fn(usize) -> bool, rng: &mut impl Rng) -> Option<u32> {
        if self.candidates == 0 {
            return None;
        }
        let n = self.have.len();
        if self.have_count < RANDOM_FIRST_PIECES {
            // Random among candidates: start at a random index and scan.
            let start = rng.gen_range(0..n);
            return (0..n)
                .map(|k| (start + k) % n)
                .find(|&i| self.is_candidate(i) && peer_has(i))
                .map(|i| i as u32);
        }
        for (a, bucket) in self.buckets.iter().enumerate() {
            if bucket.is_empty() {
                continue;
            }
            // Continue a run: the piece after the last one started, if it is
            // among the rarest. Runs start at random places, so peers still
            // spread over the torrent, while the disk sees sequential writes
            // (random 16 KiB writes all over a file made the kernel's
            // writeback the bottleneck).
            if let Some(next) = self.last_started.map(|l| l as usize + 1) {
                if next < n && self.availability[next] as usize == a && self.is_candidate(next) && peer_has(next) {
                    return Some(next as u32);
                }
            }
            let start = rng.gen_range(0..bucket.len());
            let (tail, head) = bucket.split_at(start);
            if let Some(&i) = head.iter().chain(tail).find(|&&i| peer_has(i as usize)) {
                return Some(i);
            }
        }
        None
    }

    /// Pick up to `max` blocks for `peer` to request. `peer_has(i)` says
    /// whether the peer has piece i.
    pub fn pick(
        &mut self,
        peer: PeerKey,
        peer_has: impl Fn(usize) -> bool,
        max: usize,
        rng: &mut impl Rng,
    ) -> Vec<Block> {
        let mut out = Vec::new();
        if max == 0 {
            return out;
        }
        // 1. Missing blocks of pieces in progress.
        let keys: Vec<u32> = self.open.iter().copied().filter(|&i| peer_has(i as usize)).collect();
        for &idx in &keys {
            if out.len() >= max {
                return out;
            }
            self.take_missing(idx, peer, max, &mut out);
        }
        // 2. New pieces.
        while out.len() < max {
            let Some(idx) = self.choose_new_piece(&peer_has, rng) else {
                break;
            };
            self.last_started = Some(idx);
            let nb = self.block_count(idx);
            self.partial.insert(
                idx,
                Partial {
                    blocks: vec![BlockState::Missing; nb],
                    received: 0,
                    missing: nb,
                    contributors: Vec::new(),
                },
            );
            self.open.insert(idx);
            self.refresh(idx as usize);
            self.take_missing(idx, peer, max, &mut out);
        }
        // 3. Endgame: nothing left to start; duplicate outstanding requests.
        if out.len() < max && self.in_endgame() {
            let keys: Vec<u32> = self.partial.keys().copied().collect();
            for &idx in &keys {
                if !peer_has(idx as usize) {
                    continue;
                }
                let blocks: Vec<usize> = match self.partial.get(&idx) {
                    Some(p) => p
                        .blocks
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| matches!(s, BlockState::Requested(w) if w.len() < ENDGAME_DUPLICATES && !w.contains(&peer)))
                        .map(|(b, _)| b)
                        .collect(),
                    None => continue,
                };
                for b in blocks {
                    if out.len() >= max {
                        return out;
                    }
                    if let Some(BlockState::Requested(w)) =
                        self.partial.get_mut(&idx).map(|p| &mut p.blocks[b])
                    {
                        w.push(peer);
                    }
                    out.push(self.block_at(idx, b));
                }
            }
        }
        out
    }

    fn take_missing(&mut self, idx: u32, peer: PeerKey, max: usize, out: &mut Vec<Block>) {
        let plen = self.piece_len(idx);
        let p = self.partial.get_mut(&idx).expect("partial piece");
        for (b, state) in p.blocks.iter_mut().enumerate() {
            if out.len() >= max || p.missing == 0 {
                break;
            }
            if *state == BlockState::Missing {
                *state = BlockState::Requested(vec![peer]);
                p.missing -= 1;
                let begin = b as u32 * BLOCK_SIZE;
                out.push(Block { index: idx, begin, length: BLOCK_SIZE.min(plen - begin) });
            }
        }
        if p.missing == 0 {
            self.open.remove(&idx);
        }
    }

    /// True when no wanted piece is left to start and no block is missing:
    /// everything outstanding is already requested.
    pub fn in_endgame(&self) -> bool {
        self.candidates == 0 && self.open.is_empty()
    }

    // --- results ------------------------------------------------------------

    /// A block arrived from `peer`.
    pub fn block_received(&mut self, peer: PeerKey, block: Block) -> BlockOutcome {
        let expected_len = match self.partial.get(&block.index) {
            Some(_) if block.begin % BLOCK_SIZE == 0 && block.begin < self.piece_len(block.index) => {
                self.block_at(block.index, (block.begin / BLOCK_SIZE) as usize).length
            }
            _ => return BlockOutcome::Unwanted,
        };
        if block.length != expected_len {
            return BlockOutcome::Unwanted;
        }
        let p = self.partial.get_mut(&block.index).expect("checked above");
        let b = (block.begin / BLOCK_SIZE) as usize;
        let cancel = match std::mem::replace(&mut p.blocks[b], BlockState::Received) {
            BlockState::Received => {
                p.blocks[b] = BlockState::Received;
                return BlockOutcome::Unwanted;
            }
            BlockState::Missing => {
                p.missing -= 1;
                if p.missing == 0 {
                    self.open.remove(&block.index);
                }
                Vec::new()
            }
            BlockState::Requested(who) => who.into_iter().filter(|k| *k != peer).collect(),
        };
        p.received += 1;
        if !p.contributors.contains(&peer) {
            p.contributors.push(peer);
        }
        let piece_complete = p.received == p.blocks.len();
        if piece_complete {
            self.pending[block.index as usize] = true;
        }
        BlockOutcome::Accepted {
            piece_complete,
            cancel,
        }
    }

    /// Peers that sent blocks of a piece in progress or pending its check.
    pub fn contributors(&self, index: u32) -> &[PeerKey] {
        self.partial
            .get(&index)
            .map(|p| p.contributors.as_slice())
            .unwrap_or(&[])
    }

    /// Some block of the piece was requested or received (it is in
    /// progress or waiting for its check).
    pub fn is_started(&self, index: u32) -> bool {
        self.partial.contains_key(&index) || self.pending[index as usize]
    }

    /// The hash check passed.
    pub fn piece_verified(&mut self, index: u32) {
        self.partial.remove(&index);
        self.open.remove(&index);
        let i = index as usize;
        self.pending[i] = false;
        if !self.have[i] {
            self.have[i] = true;
            self.have_count += 1;
            let len = self.piece_len(index) as u64;
            self.have_bytes += len;
            if self.wanted[i] {
                self.left_bytes -= len;
            }
        }
        self.refresh(i);
    }

    /// The hash check failed: the piece starts over.
    pub fn piece_failed(&mut self, index: u32) {
        self.partial.remove(&index);
        self.open.remove(&index);
        self.pending[index as usize] = false;
        self.refresh(index as usize);
    }

    /// Mark pieces found verified on disk at start-up.
    pub fn mark_have(&mut self, index: u32) {
        self.piece_verified(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn blocks_cover_piece_exactly() {
        // 3 pieces of 40000 bytes, last one short.
        let mut p = Picker::new(40_000, 100_000);
        let all = |_: usize| true;
        let blocks = p.pick(1, all, 1000, &mut rng());
        let mut per_piece = [0u32; 3];
        for b in &blocks {
            per_piece[b.index as usize] += b.length;
            assert_eq!(b.begin % BLOCK_SIZE, 0);
        }
        assert_eq!(per_piece, [40_000, 40_000, 20_000]);
        // Everything is requested now: endgame, but the same peer gets no duplicates.
        assert!(p.in_endgame());
        assert!(p.pick(1, all, 10, &mut rng()).is_empty());
        // A second peer gets duplicates in endgame.
        let dup = p.pick(2, all, 100, &mut rng());
        assert_eq!(dup.len(), 8);
        // Nobody gets a third copy.
        assert!(p.pick(3, all, 100, &mut rng()).is_empty());
        // First arrival cancels the other requester.
        let b = dup[0];
        assert_eq!(
            p.block_received(2, b),
            BlockOutcome::Accepted { piece_complete: false, cancel: vec![1] }
        );
        assert_eq!(p.block_received(1, b), BlockOutcome::Unwanted);
    }

    #[test]
    fn piece_completion_and_failure() {
        let mut p = Picker::new(32_768, 32_768);
        let blocks = p.pick(1, |_| true, 10, &mut rng());
        assert_eq!(blocks.len(), 2);
        assert!(matches!(p.block_received(1, blocks[0]), BlockOutcome::Accepted { piece_complete: false, .. }));
        assert!(matches!(p.block_received(3, blocks[1]), BlockOutcome::Accepted { piece_complete: true, .. }));
        assert_eq!(p.contributors(0), &[1, 3]);
        p.piece_failed(0);
        assert!(!p.is_complete());
        let again = p.pick(2, |_| true, 10, &mut rng());
        assert_eq!(again, blocks);
        for b in again {
            p.block_received(2, b);
        }
        p.piece_verified(0);
        assert!(p.is_complete());
        assert_eq!(p.left_bytes(), 0);
    }

    #[test]
    fn rarest_first_after_random_start() {
        let mut p = Picker::new(16_384, 16_384 * 10);
        for i in 0..RANDOM_FIRST_PIECES as u32 {
            p.mark_have(i);
        }
        // Pieces 4..10 available from 3 peers, piece 7 only from 1.
        for _ in 0..3 {
            p.peer_has_pieces(|i| i != 7);
        }
        p.peer_has_piece(7);
        let b = p.pick(9, |_| true, 1, &mut rng());
        assert_eq!(b[0].index, 7);
    }

    #[test]
    fn equally_rare_pieces_are_started_in_runs() {
        let mut p = Picker::new(16_384, 16_384 * 100);
        for i in 0..RANDOM_FIRST_PIECES as u32 {
            p.mark_have(i);
        }
        let firsts: Vec<u32> = (0..5).map(|_| p.pick(1, |_| true, 1, &mut rng())[0].index).collect();
        for w in firsts.windows(2) {
            assert_eq!(w[1], w[0] + 1, "{firsts:?}");
        }
        // A rarer piece still wins over the run.
        p.peer_has_pieces(|i| i != 60);
        assert_eq!(p.pick(1, |_| true, 1, &mut rng())[0].index, 60);
    }

    #[test]
    fn released_blocks_are_picked_again() {
        let mut p = Picker::new(16_384 * 4, 16_384 * 4);
        let a = p.pick(1, |_| true, 2, &mut rng());
        assert_eq!(a.len(), 2);
        p.release_peer(1);
        let b = p.pick(2, |_| true, 4, &mut rng());
        assert_eq!(b.len(), 4);
        assert_eq!(&b[..2], &a[..]);
        p.release_block(2, b[3]);
        // The released block comes first, then endgame duplicates.
        let c = p.pick(3, |_| true, 4, &mut rng());
        assert_eq!(c[0], b[3]);
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn respects_wanted_and_peer_bitfield() {
        let mut p = Picker::new(16_384, 16_384 * 4);
        p.set_wanted(vec![false, true, true, false]);
        let got = p.pick(1, |i| i != 2, 10, &mut rng());
        assert_eq!(got.iter().map(|b| b.index).collect::<Vec<_>>(), vec![1]);
        assert!(!p.in_endgame());
        assert_eq!(p.left_bytes(), 2 * 16_384);
    }

    /// `missing` must always equal the number of Missing blocks.
    fn assert_consistent(p: &Picker) {
        let mut in_buckets = 0;
        for (a, b) in p.buckets.iter().enumerate() {
            for (at, &i) in b.iter().enumerate() {
                assert_eq!(p.availability[i as usize] as usize, a);
                assert_eq!(p.pos[i as usize] as usize, at);
                in_buckets += 1;
            }
        }
        assert_eq!(in_buckets, p.candidates);
        for i in 0..p.num_pieces() {
            let c = p.wanted[i] && !p.have[i] && !p.pending[i] && !p.partial.contains_key(&(i as u32));
            assert_eq!(p.pos[i] != NOT_CANDIDATE, c, "piece {i}");
        }
        let open: BTreeSet<u32> = p.partial.iter().filter(|(_, q)| q.missing > 0).map(|(i, _)| *i).collect();
        assert_eq!(open, p.open);
        let left: u64 = (0..p.num_pieces()).filter(|&i| p.wanted[i] && !p.have[i]).map(|i| p.piece_len(i as u32) as u64).sum();
        assert_eq!(left, p.left_bytes);
        for (i, part) in &p.partial {
            let n = part.blocks.iter().filter(|b| **b == BlockState::Missing).count();
            assert_eq!(part.missing, n, "piece {i}");
            let r = part.blocks.iter().filter(|b| **b == BlockState::Received).count();
            assert_eq!(part.received, r, "piece {i}");
        }
    }

    #[test]
    fn random_operations_keep_counts_consistent() {
        let mut rng = rng();
        let mut p = Picker::new(16_384 * 3 + 100, 16_384 * 40);
        let mut out: Vec<(PeerKey, Block)> = Vec::new();
        for step in 0..5000 {
            let peer = rng.gen_range(0..4);
            match rng.gen_range(0..10) {
                0..=3 => {
                    let n = rng.gen_range(0..6);
                    for b in p.pick(peer, |i| (i + peer) % 3 != 0, n, &mut rng) {
                        out.push((peer, b));
                    }
                }
                4..=7 if !out.is_empty() => {
                    let (who, b) = out.swap_remove(rng.gen_range(0..out.len()));
                    if let BlockOutcome::Accepted { piece_complete: true, .. } = p.block_received(who, b) {
                        if rng.gen_bool(0.8) {
                            p.piece_verified(b.index);
                        } else {
                            p.piece_failed(b.index);
                        }
                    }
                }
                8 => {
                    p.release_peer(peer);
                    out.retain(|(w, _)| *w != peer);
                }
                _ if !out.is_empty() => {
                    let (who, b) = out.swap_remove(rng.gen_range(0..out.len()));
                    p.release_block(who, b);
                }
                _ => {}
            }
            // Availability and selection changes move pieces between buckets.
            if step % 50 == 0 {
                p.peer_has_pieces(|i| (i + step) % 3 == 0);
            }
            if step % 70 == 0 {
                p.peer_lost_pieces(|i| (i + step) % 5 == 0);
            }
            if step == 300 {
                p.set_wanted((0..p.num_pieces()).map(|i| i % 7 != 3).collect());
            }
            assert_consistent(&p);
            if p.is_complete() {
                assert!(step > 50);
                break;
            }
        }
    }

    #[test]
    fn wrong_blocks_unwanted() {
        let mut p = Picker::new(32_768, 32_768);
        assert_eq!(p.block_received(1, Block { index: 0, begin: 0, length: BLOCK_SIZE }), BlockOutcome::Unwanted);
        p.pick(1, |_| true, 1, &mut rng());
        assert_eq!(p.block_received(1, Block { index: 0, begin: 1, length: BLOCK_SIZE }), BlockOutcome::Unwanted);
        assert_eq!(p.block_received(1, Block { index: 0, begin: 0, length: 5 }), BlockOutcome::Unwanted);
        assert_eq!(p.block_received(1, Block { index: 5, begin: 0, length: BLOCK_SIZE }), BlockOutcome::Unwanted);
    }
}
