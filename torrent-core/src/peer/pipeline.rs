//! Block-request pipelining for whole pieces: split a piece into 16 KiB
//! block requests, track which are outstanding, assemble the blocks that
//! arrive (refusing blocks never requested or of the wrong length) and say
//! when the piece is complete. Sans-IO; memory is one buffer per active
//! piece.

use super::error::ProtocolError;
use super::message::{BlockRef, BLOCK_SIZE};
use sha1::{Digest, Sha1};
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockState {
    Missing,
    Requested,
    Received,
}

/// One piece being downloaded.
#[derive(Debug)]
pub struct PieceDownload {
    index: u32,
    len: u32,
    block_size: u32,
    buf: Vec<u8>,
    blocks: Vec<BlockState>,
    received: usize,
    outstanding: usize,
}

impl PieceDownload {
    pub fn new(index: u32, piece_len: u32) -> PieceDownload {
        PieceDownload::with_block_size(index, piece_len, BLOCK_SIZE)
    }

    pub fn with_block_size(index: u32, piece_len: u32, block_size: u32) -> PieceDownload {
        let block_size = block_size.max(1);
        let n = (piece_len as usize).div_ceil(block_size as usize);
        PieceDownload {
            index,
            len: piece_len,
            block_size,
            buf: vec![0; piece_len as usize],
            blocks: vec![BlockState::Missing; n],
            received: 0,
            outstanding: 0,
        }
    }

    pub fn index(&self) -> u32 {
        self.index
    }
    pub fn len(&self) -> u32 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    fn block(&self, i: usize) -> BlockRef {
        let begin = i as u32 * self.block_size;
        BlockRef {
            index: self.index,
            begin,
            length: self.block_size.min(self.len - begin),
        }
    }

    /// The next block not yet requested (marks it requested).
    pub fn next_request(&mut self) -> Option<BlockRef> {
        let i = self.blocks.iter().position(|s| *s == BlockState::Missing)?;
        self.blocks[i] = BlockState::Requested;
        self.outstanding += 1;
        Some(self.block(i))
    }

    /// True if some block still needs requesting.
    pub fn has_unrequested(&self) -> bool {
        self.blocks.contains(&BlockState::Missing)
    }

    /// Blocks requested and not yet received.
    pub fn outstanding_blocks(&self) -> Vec<BlockRef> {
        (0..self.blocks.len())
            .filter(|&i| self.blocks[i] == BlockState::Requested)
            .map(|i| self.block(i))
            .collect()
    }

    fn block_index(&self, begin: u32, length: usize) -> Result<usize, ProtocolError> {
        let unrequested = ProtocolError::UnrequestedBlock {
            index: self.index,
            begin,
            length: length as u32,
        };
        if !begin.is_multiple_of(self.block_size) {
            return Err(unrequested);
        }
        let i = (begin / self.block_size) as usize;
        if i >= self.blocks.len() || self.block(i).length as usize != length {
            return Err(unrequested);
        }
        Ok(i)
    }

    /// Store a received block. It must have been requested and have the
    /// requested length. Returns true when the piece is complete.
    pub fn on_block(&mut self, begin: u32, data: &[u8]) -> Result<bool, ProtocolError> {
        let i = self.block_index(begin, data.len())?;
        if self.blocks[i] != BlockState::Requested {
            return Err(ProtocolError::UnrequestedBlock {
                index: self.index,
                begin,
                length: data.len() as u32,
            });
        }
        let at = begin as usize;
        self.buf[at..at + data.len()].copy_from_slice(data);
        self.blocks[i] = BlockState::Received;
        self.received += 1;
        self.outstanding -= 1;
        Ok(self.is_complete())
    }

    /// A request was rejected or dropped: request the block again later.
    pub fn requeue(&mut self, begin: u32) {
        if begin.is_multiple_of(self.block_size) {
            let i = (begin / self.block_size) as usize;
            if self.blocks.get(i) == Some(&BlockState::Requested) {
                self.blocks[i] = BlockState::Missing;
                self.outstanding -= 1;
            }
        }
    }

    /// Every outstanding request is void (e.g. choked without the fast
    /// extension).
    pub fn requeue_all(&mut self) {
        for s in &mut self.blocks {
            if *s == BlockState::Requested {
                *s = BlockState::Missing;
            }
        }
        self.outstanding = 0;
    }

    pub fn is_complete(&self) -> bool {
        self.received == self.blocks.len()
    }

    /// SHA-1 of the assembled piece equals `expected`.
    pub fn verify(&self, expected: &[u8; 20]) -> bool {
        self.is_complete() && Sha1::digest(&self.buf)[..] == expected[..]
    }

    pub fn data(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_data(self) -> Vec<u8> {
        self.buf
    }

    /// Forget every block (after a failed hash check).
    pub fn reset(&mut self) {
        self.blocks
            .iter_mut()
            .for_each(|s| *s = BlockState::Missing);
        self.received = 0;
        self.outstanding = 0;
    }
}

/// Downloads a list of pieces from one peer, keeping up to
/// `max_outstanding` block requests in flight over at most `max_active`
/// pieces at a time.
#[derive(Debug)]
pub struct Pipeline {
    queue: VecDeque<(u32, u32)>,
    active: Vec<PieceDownload>,
    max_outstanding: usize,
    max_active: usize,
}

impl Pipeline {
    /// `pieces`: (index, length) in the order wanted.
    pub fn new(pieces: impl IntoIterator<Item = (u32, u32)>, max_outstanding: usize) -> Pipeline {
        Pipeline {
            queue: pieces.into_iter().collect(),
            active: Vec::new(),
            max_outstanding: max_outstanding.max(1),
            max_active: 4,
        }
    }

    pub fn with_max_active(mut self, n: usize) -> Pipeline {
        self.max_active = n.max(1);
        self
    }

    pub fn outstanding(&self) -> usize {
        self.active.iter().map(|p| p.outstanding()).sum()
    }

    /// Nothing queued and nothing active.
    pub fn is_done(&self) -> bool {
        self.queue.is_empty() && self.active.is_empty()
    }

    pub fn pieces_left(&self) -> usize {
        self.queue.len() + self.active.len()
    }

    /// Requests to send now. `can_request(index)` says whether the peer
    /// lets us ask for that piece (unchoked, or allowed fast).
    pub fn next_requests(&mut self, can_request: impl Fn(u32) -> bool) -> Vec<BlockRef> {
        let mut out = Vec::new();
        let mut budget = self.max_outstanding.saturating_sub(self.outstanding());
        while budget > 0 {
            let pick = self
                .active
                .iter_mut()
                .find(|p| p.has_unrequested() && can_request(p.index()));
            if let Some(p) = pick {
                out.push(p.next_request().expect("has unrequested"));
                budget -= 1;
                continue;
            }
            if self.active.len() >= self.max_active {
                break;
            }
            // Start the next queued piece we may request.
            let Some(pos) = self.queue.iter().position(|(i, _)| can_request(*i)) else {
                break;
            };
            let (i, len) = self.queue.remove(pos).expect("position is valid");
            self.active.push(PieceDownload::new(i, len));
        }
        out
    }

    /// Store a block. Returns the completed piece (removed from the
    /// pipeline) when this block finishes it; the caller verifies it.
    pub fn on_block(
        &mut self,
        index: u32,
        begin: u32,
        data: &[u8],
    ) -> Result<Option<PieceDownload>, ProtocolError> {
        let Some(pos) = self.active.iter().position(|p| p.index() == index) else {
            return Err(ProtocolError::UnrequestedBlock {
                index,
                begin,
                length: data.len() as u32,
            });
        };
        if self.active[pos].on_block(begin, data)? {
            return Ok(Some(self.active.remove(pos)));
        }
        Ok(None)
    }

    /// A request was rejected: ask again later.
    pub fn on_reject(&mut self, b: BlockRef) {
        if let Some(p) = self.active.iter_mut().find(|p| p.index() == b.index) {
            p.requeue(b.begin);
        }
    }

    /// All outstanding requests are void (choked without fast extension).
    pub fn requeue_all(&mut self) {
        self.active.iter_mut().for_each(|p| p.requeue_all());
    }

    /// Blocks requested and not yet received (for cancels).
    pub fn outstanding_blocks(&self) -> Vec<BlockRef> {
        self.active
            .iter()
            .flat_map(|p| p.outstanding_blocks())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_a_piece() {
        let mut p = PieceDownload::new(3, 40_000);
        assert_eq!(p.num_blocks(), 3);
        let r: Vec<BlockRef> = std::iter::from_fn(|| p.next_request()).collect();
        assert_eq!(
            r,
            vec![
                BlockRef {
                    index: 3,
                    begin: 0,
                    length: 16384
                },
                BlockRef {
                    index: 3,
                    begin: 16384,
                    length: 16384
                },
                BlockRef {
                    index: 3,
                    begin: 32768,
                    length: 40_000 - 32768
                },
            ]
        );
        assert_eq!(p.outstanding(), 3);
        let data: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        // wrong length, wrong offset
        assert!(p.on_block(0, &data[..100]).is_err());
        assert!(p.on_block(5, &data[5..5 + 16384]).is_err());
        assert!(p.on_block(49152, &data[..16]).is_err());
        assert!(!p.on_block(32768, &data[32768..]).unwrap());
        // duplicate
        assert!(p.on_block(32768, &data[32768..]).is_err());
        assert!(!p.on_block(0, &data[..16384]).unwrap());
        p.requeue(16384);
        assert_eq!(p.outstanding(), 0);
        assert!(
            p.on_block(16384, &data[16384..32768]).is_err(),
            "not requested any more"
        );
        assert_eq!(p.next_request().unwrap().begin, 16384);
        assert!(p.on_block(16384, &data[16384..32768]).unwrap());
        assert_eq!(p.data(), &data[..]);
        let h: [u8; 20] = Sha1::digest(&data).into();
        assert!(p.verify(&h));
        assert!(!p.verify(&[0; 20]));
    }

    #[test]
    fn pipeline_keeps_window_full() {
        let pieces = vec![(0u32, 65536u32), (1, 65536), (2, 1000)];
        let mut pl = Pipeline::new(pieces, 5);
        let r = pl.next_requests(|_| true);
        assert_eq!(r.len(), 5);
        assert_eq!(pl.outstanding(), 5);
        assert!(pl.next_requests(|_| true).is_empty());
        // choke: all void, reissued
        pl.requeue_all();
        assert_eq!(pl.outstanding(), 0);
        let r = pl.next_requests(|_| true);
        assert_eq!(r.len(), 5);
        // only piece 2 allowed (allowed fast while choked)
        pl.requeue_all();
        let r = pl.next_requests(|i| i == 2);
        assert_eq!(
            r,
            vec![BlockRef {
                index: 2,
                begin: 0,
                length: 1000
            }]
        );
        let done = pl.on_block(2, 0, &[7; 1000]).unwrap().unwrap();
        assert_eq!(done.index(), 2);
        assert!(pl.on_block(2, 0, &[7; 1000]).is_err());
        assert!(pl.on_block(9, 0, &[7; 10]).is_err());
        let mut got = 0;
        while !pl.is_done() {
            for b in pl.next_requests(|_| true) {
                if let Some(p) = pl
                    .on_block(b.index, b.begin, &vec![1; b.length as usize])
                    .unwrap()
                {
                    assert!(p.is_complete());
                    got += 1;
                }
            }
        }
        assert_eq!(got, 2);
    }
}
