//! Who sent the bad data, when a piece fails its hash check.
//!
//! A piece is usually assembled from the blocks of several peers, and its
//! hash says only that one of them lied, not which. Sans-IO bookkeeping:
//! - every received block of a piece in progress is attributed to the
//!   address that sent it;
//! - a piece that fails with a single sender proves that sender a liar: it
//!   is banned;
//! - a piece that fails with several senders goes on *parole*: the failed
//!   attempt's per-block SHA-1 digests are kept (from the stream's buffer
//!   with `--no-save`, else read back from the disk before anything
//!   overwrites them), and the piece is downloaded again whole from one peer
//!   (the first to pick it: no other peer may request its blocks while that
//!   peer is usable). If that attempt fails, its one sender is the liar and
//!   is banned. If it passes, its blocks are the true ones: every sender of
//!   a block of the failed attempt that differs is a liar and is banned,
//!   and the senders whose blocks matched were honest (never banned).
//!
//! So a liar is found by the first parole attempt after its first failure,
//! whether it lies on parole or not (a liar that sends good data while it
//! is watched is exposed by the comparison), several liars at once, and no
//! honest peer is ever banned: a ban needs either a piece the peer sent
//! alone that failed, or a block of its own that differs from the verified
//! one. This is libtorrent's "smart ban" plus its parole mode.

use super::PeerKey;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::net::SocketAddr;
use torrent_core::picker::BLOCK_SIZE;

/// Failed attempts kept per piece on parole (each holds one digest per
/// block); older ones are dropped.
pub const MAX_ATTEMPTS: usize = 4;

type Sha = [u8; 20];

fn digest(data: &[u8]) -> Sha {
    Sha1::digest(data).into()
}

/// A failed attempt: who sent each block, and (once known) its digest.
#[derive(Debug, Clone)]
struct Attempt {
    senders: Vec<Option<SocketAddr>>,
    digests: Option<Vec<Sha>>,
}

#[derive(Debug, Clone, Default)]
pub struct Parole {
    attempts: Vec<Attempt>,
    /// The one peer downloading the piece now (key and connection serial).
    pub owner: Option<(PeerKey, u64)>,
    /// Digests of the blocks of the attempt in progress.
    current: Vec<Option<Sha>>,
}

/// What a failed piece says about its senders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No block of it was attributed (nothing to blame).
    Unknown,
    /// One address sent every block: a liar.
    Sole(SocketAddr),
    /// Several senders: the piece is on parole; digests of the attempt are
    /// wanted (`Blame::failed_data`).
    Shared(Vec<SocketAddr>),
}

#[derive(Debug, Default)]
pub struct Blame {
    /// Per piece in progress, the sender of each received block.
    senders: HashMap<u32, Vec<Option<SocketAddr>>>,
    parole: HashMap<u32, Parole>,
    /// Liars banned because their blocks differed from the verified ones
    /// (not for a piece of their own); the engine counts them.
    pub found_by_comparison: u32,
    /// Failures with several senders (each put a piece on parole).
    pub shared_failures: u32,
}

impl Blame {
    /// A block of `piece` (`blocks` blocks in all) was accepted from `from`.
    pub fn block(&mut self, piece: u32, begin: u32, blocks: usize, from: SocketAddr, data: &[u8]) {
        let b = (begin / BLOCK_SIZE) as usize;
        let s = self.senders.entry(piece).or_insert_with(|| vec![None; blocks]);
        if let Some(slot) = s.get_mut(b) {
            *slot = Some(from);
        }
        if let Some(p) = self.parole.get_mut(&piece) {
            if p.current.len() != blocks {
                p.current = vec![None; blocks];
            }
            if let Some(slot) = p.current.get_mut(b) {
                *slot = Some(digest(data));
            }
        }
    }

    pub fn on_parole(&self, piece: u32) -> bool {
        self.parole.contains_key(&piece)
    }

    pub fn parole_pieces(&self) -> impl Iterator<Item = (&u32, &Parole)> {
        self.parole.iter()
    }

    /// Pieces on parole that peer `key` must not request: another peer,
    /// still usable (`usable`), is downloading them.
    pub fn barred(&self, key: PeerKey, serial: u64, usable: impl Fn(PeerKey, u64) -> bool) -> Vec<u32> {
        self.parole
            .iter()
            .filter(|(_, p)| p.owner.is_some_and(|(k, s)| (k, s) != (key, serial) && usable(k, s)))
            .map(|(i, _)| *i)
            .collect()
    }

    /// Peer `key` was given blocks of `piece`: if on parole, it is the one
    /// peer for it now.
    pub fn took(&mut self, piece: u32, key: PeerKey, serial: u64) {
        if let Some(p) = self.parole.get_mut(&piece) {
            p.owner = Some((key, serial));
        }
    }

    /// Who sent the blocks of the piece's current attempt.
    pub fn senders_of(&self, piece: u32) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.senders.get(&piece).into_iter().flatten().flatten().copied().collect();
        v.sort();
        v.dedup();
        v
    }

    /// The piece passed its check: the liars among the senders of its failed
    /// attempts (their blocks differ from the verified ones).
    pub fn passed(&mut self, piece: u32) -> Vec<SocketAddr> {
        self.senders.remove(&piece);
        let Some(p) = self.parole.remove(&piece) else { return Vec::new() };
        let mut liars: Vec<SocketAddr> = Vec::new();
        for a in &p.attempts {
            let Some(d) = &a.digests else { continue };
            for (b, good) in p.current.iter().enumerate() {
                let (Some(good), Some(bad), Some(Some(from))) = (good, d.get(b), a.senders.get(b)) else { continue };
                if good != bad && !liars.contains(from) {
                    liars.push(*from);
                }
            }
        }
        liars
    }

    /// The piece failed its check. With several senders it goes on parole
    /// (a new attempt record waits for its digests).
    pub fn failed(&mut self, piece: u32) -> Failure {
        let Some(senders) = self.senders.remove(&piece) else { return Failure::Unknown };
        let mut who: Vec<SocketAddr> = Vec::new();
        for a in senders.iter().flatten() {
            if !who.contains(a) {
                who.push(*a);
            }
        }
        match who.len() {
            0 => Failure::Unknown,
            1 => {
                // Another try, still one peer at a time.
                if let Some(p) = self.parole.get_mut(&piece) {
                    p.owner = None;
                    p.current.clear();
                }
                Failure::Sole(who[0])
            }
            _ => {
                let p = self.parole.entry(piece).or_default();
                if p.attempts.len() >= MAX_ATTEMPTS {
                    p.attempts.remove(0);
                }
                p.attempts.push(Attempt { senders, digests: None });
                self.shared_failures += 1;
                p.owner = None;
                p.current.clear();
                Failure::Shared(who)
            }
        }
    }

    /// The bytes of the attempt of `piece` that just failed (from the
    /// stream's buffer or read back from the disk).
    pub fn failed_data(&mut self, piece: u32, data: &[u8]) {
        let Some(a) = self.parole.get_mut(&piece).and_then(|p| p.attempts.last_mut()) else { return };
        if a.digests.is_none() {
            a.digests = Some(data.chunks(BLOCK_SIZE as usize).map(digest).collect());
        }
    }

    /// Pieces in progress, not complete, with a block from `addr` (a banned
    /// liar's blocks are not worth completing). Their records are dropped;
    /// the caller starts them over.
    pub fn take_touched(&mut self, addr: SocketAddr) -> Vec<u32> {
        let touched: Vec<u32> = self
            .senders
            .iter()
            .filter(|(_, s)| s.iter().any(|a| a.is_none()) && s.contains(&Some(addr)))
            .map(|(i, _)| *i)
            .collect();
        for i in &touched {
            self.senders.remove(i);
            if let Some(p) = self.parole.get_mut(i) {
                p.owner = None;
                p.current.clear();
            }
        }
        touched
    }

    /// The piece is no longer downloaded from peers (a mirror's, dropped).
    pub fn forget(&mut self, piece: u32) {
        self.senders.remove(&piece);
        self.parole.remove(&piece);
    }

    pub fn parole_len(&self) -> usize {
        self.parole.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(i: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, i], 6881))
    }

    #[test]
    fn comparison_names_exactly_the_senders_of_wrong_blocks() {
        let mut bl = Blame::default();
        let good: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; BLOCK_SIZE as usize]).collect();
        let mut failed = good.clone();
        failed[2][5] ^= 1; // block 2 came from the liar, a(3)
        for (b, from) in [a(1), a(2), a(3), a(1)].into_iter().enumerate() {
            bl.block(7, b as u32 * BLOCK_SIZE, 4, from, &failed[b]);
        }
        assert_eq!(bl.failed(7), Failure::Shared(vec![a(1), a(2), a(3)]));
        assert!(bl.on_parole(7));
        bl.failed_data(7, &failed.concat());
        // Re-downloaded whole from a(2): passes.
        bl.took(7, 0, 1);
        assert_eq!(bl.barred(1, 2, |_, _| true), vec![7]);
        assert!(bl.barred(0, 1, |_, _| true).is_empty());
        assert!(bl.barred(1, 2, |_, _| false).is_empty(), "an unusable owner bars nobody");
        for b in 0..4 {
            bl.block(7, b * BLOCK_SIZE, 4, a(2), &good[b as usize]);
        }
        assert_eq!(bl.passed(7), vec![a(3)]);
        assert!(!bl.on_parole(7));
    }

    #[test]
    fn a_piece_from_one_sender_that_fails_names_it() {
        let mut bl = Blame::default();
        bl.block(1, 0, 2, a(4), &[0; 10]);
        bl.block(1, BLOCK_SIZE, 2, a(4), &[0; 10]);
        assert_eq!(bl.failed(1), Failure::Sole(a(4)));
        assert_eq!(bl.failed(1), Failure::Unknown, "nothing left to blame");
        assert!(!bl.on_parole(1));
    }

    #[test]
    fn a_banned_senders_unfinished_pieces_are_handed_back() {
        let mut bl = Blame::default();
        bl.block(1, 0, 2, a(4), &[0; 10]);
        bl.block(2, 0, 1, a(4), &[0; 10]); // complete: waits for its verdict
        bl.block(3, 0, 2, a(5), &[0; 10]);
        assert_eq!(bl.take_touched(a(4)), vec![1]);
        assert_eq!(bl.failed(1), Failure::Unknown);
    }
}
