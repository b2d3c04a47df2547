//! The BEP 9 fetch of one magnet's info dictionary, as a state machine
//! that no single peer can stall (issue 18). No I/O: the engine feeds it
//! what peers offer and send and sends the requests it names.
//!
//! - Each size offered (`metadata_size`) gets its own set of pieces; the
//!   [`MAX_SIZES`] sizes offered by the most peers are fetched side by side,
//!   so a wrong size from the first peer cannot hide the right one, and a
//!   size's set is dropped when its last source leaves or is withdrawn.
//! - Every piece is kept with its sender, and only a piece we requested of
//!   that peer is accepted. A set that fails its SHA-1 with one contributor
//!   names that peer; with several, all are suspects and the set is fetched
//!   again as whole copies, one per source (at most [`SOLO_SOURCES`] at a
//!   time), so the liar is found and an honest copy completes on its own.
//! - Requests belong to a peer: released when it rejects, times out
//!   ([`REQUEST_TIMEOUT`]), sends a malformed piece or goes, and asked of
//!   others.

use super::PeerKey;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use torrent_core::peer::extension::{MAX_METADATA_SIZE, METADATA_PIECE_SIZE};
use torrent_core::InfoHash;

/// Metadata requests in flight per peer.
pub const IN_FLIGHT: usize = 4;
/// A request not answered in this time withdraws the peer from the fetch.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Distinct sizes fetched at once (the most offered first).
pub const MAX_SIZES: usize = 3;
/// Whole copies fetched at once after a shared set failed.
pub const SOLO_SOURCES: usize = 3;

/// What a data piece did.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    /// Stored; more pieces to come.
    Stored,
    /// Not requested of this peer (late, unasked, or for a dropped set).
    Ignored,
    /// Wrong `total_size` or length: the peer's requests are released.
    Malformed(String),
    /// The info dictionary: its SHA-1 is the info-hash.
    Done(Vec<u8>),
    /// The assembled set failed its SHA-1. `alone`: one peer sent it all.
    Mismatch { contributors: Vec<PeerKey>, alone: bool },
}

struct SizeSet {
    size: usize,
    /// Pieces by sender (a sender's Vec has one slot per piece).
    got: HashMap<PeerKey, Vec<Option<Vec<u8>>>>,
    /// Outstanding requests: (peer, piece) -> when asked.
    requested: HashMap<(PeerKey, u32), Instant>,
    /// A shared set failed: each source now sends a whole copy.
    solo: bool,
}

impl SizeSet {
    fn new(size: usize) -> SizeSet {
        SizeSet { size, got: HashMap::new(), requested: HashMap::new(), solo: false }
    }

    fn pieces(&self) -> usize {
        self.size.div_ceil(METADATA_PIECE_SIZE)
    }

    fn piece_len(&self, i: usize) -> usize {
        METADATA_PIECE_SIZE.min(self.size - i * METADATA_PIECE_SIZE)
    }

    fn held(&self, i: usize) -> Option<PeerKey> {
        let mut holders: Vec<PeerKey> = self.got.iter().filter(|(_, v)| v[i].is_some()).map(|(k, _)| *k).collect();
        holders.sort_unstable();
        holders.first().copied()
    }

    fn forget_peer(&mut self, key: PeerKey, keep_pieces: bool) {
        self.requested.retain(|(k, _), _| *k != key);
        if !keep_pieces || self.solo {
            self.got.remove(&key);
        }
    }
}

pub struct MetadataFetch {
    info_hash: InfoHash,
    /// (peer, size it offered), in the order offered.
    offers: Vec<(PeerKey, usize)>,
    sets: Vec<SizeSet>,
}

impl MetadataFetch {
    pub fn new(info_hash: InfoHash) -> MetadataFetch {
        MetadataFetch { info_hash, offers: Vec::new(), sets: Vec::new() }
    }

    /// A peer offers the metadata with this `metadata_size` (idempotent).
    pub fn offer(&mut self, key: PeerKey, size: usize) -> Result<(), String> {
        if size == 0 || size > MAX_METADATA_SIZE {
            return Err(format!("metadata_size {size} is outside 1..={MAX_METADATA_SIZE}"));
        }
        match self.offers.iter_mut().find(|(k, _)| *k == key) {
            Some(o) if o.1 == size => {}
            Some(o) => {
                // A new extended handshake with another size.
                o.1 = size;
                self.drop_requests_of(key, false);
            }
            None => self.offers.push((key, size)),
        }
        Ok(())
    }

    pub fn offered(&self, key: PeerKey) -> Option<usize> {
        self.offers.iter().find(|(k, _)| *k == key).map(|(_, s)| *s)
    }

    /// The sizes fetched now: the most offered first, ties by who offered
    /// first; at most [`MAX_SIZES`].
    fn active_sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<(usize, usize, usize)> = Vec::new(); // (size, count, first)
        for (i, (_, s)) in self.offers.iter().enumerate() {
            match sizes.iter_mut().find(|e| e.0 == *s) {
                Some(e) => e.1 += 1,
                None => sizes.push((*s, 1, i)),
            }
        }
        sizes.sort_by_key(|e| (std::cmp::Reverse(e.1), e.2));
        sizes.into_iter().take(MAX_SIZES).map(|e| e.0).collect()
    }

    /// Drop sets whose size is no longer fetched (no source left, or
    /// outranked): their memory goes with them.
    fn prune(&mut self) {
        let active = self.active_sizes();
        self.sets.retain(|s| active.contains(&s.size));
    }

    /// The peer is no longer asked (rejected, timed out): its requests go
    /// back; a shared set keeps the pieces it sent.
    pub fn withdraw(&mut self, key: PeerKey) {
        self.drop_requests_of(key, true);
        self.offers.retain(|(k, _)| *k != key);
        self.prune();
    }

    /// The peer is gone (or closed for a bad piece): its requests and
    /// pieces go.
    pub fn peer_gone(&mut self, key: PeerKey) {
        self.drop_requests_of(key, false);
        self.offers.retain(|(k, _)| *k != key);
        self.prune();
    }

    fn drop_requests_of(&mut self, key: PeerKey, keep_pieces: bool) {
        for s in &mut self.sets {
            s.forget_peer(key, keep_pieces);
        }
    }

    /// Requests of `key` in flight.
    pub fn in_flight(&self, key: PeerKey) -> usize {
        self.sets.iter().map(|s| s.requested.keys().filter(|(k, _)| *k == key).count()).sum()
    }

    /// Pieces to request of `key` now (marked requested).
    pub fn requests(&mut self, key: PeerKey, now: Instant) -> Vec<u32> {
        let Some(size) = self.offered(key) else { return Vec::new() };
        self.prune();
        if !self.active_sizes().contains(&size) {
            return Vec::new();
        }
        let room = IN_FLIGHT.saturating_sub(self.in_flight(key));
        if !self.sets.iter().any(|s| s.size == size) {
            self.sets.push(SizeSet::new(size));
        }
        let sources: Vec<PeerKey> = self.offers.iter().filter(|(_, s)| *s == size).map(|(k, _)| *k).collect();
        let set = self.sets.iter_mut().find(|s| s.size == size).expect("just made");
        if set.solo && !sources.iter().take(SOLO_SOURCES).any(|k| *k == key) {
            return Vec::new(); // waits for a solo slot
        }
        let n = set.pieces();
        let mut out = Vec::new();
        for i in 0..n {
            if out.len() >= room {
                break;
            }
            let needed = if set.solo {
                !set.requested.contains_key(&(key, i as u32)) && set.got.get(&key).is_none_or(|v| v[i].is_none())
            } else {
                set.held(i).is_none() && !set.requested.keys().any(|(_, p)| *p == i as u32)
            };
            if needed {
                set.requested.insert((key, i as u32), now);
                out.push(i as u32);
            }
        }
        out
    }

    /// Peers with a request older than [`REQUEST_TIMEOUT`].
    pub fn overdue(&self, now: Instant) -> Vec<PeerKey> {
        let mut v: Vec<PeerKey> = self
            .sets
            .iter()
            .flat_map(|s| s.requested.iter())
            .filter(|(_, at)| now.duration_since(**at) > REQUEST_TIMEOUT)
            .map(|((k, _), _)| *k)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// A data piece from `key`.
    pub fn on_data(&mut self, key: PeerKey, piece: u32, total_size: u64, data: Vec<u8>) -> Got {
        let Some(size) = self.offered(key) else { return Got::Ignored };
        let Some(set) = self.sets.iter_mut().find(|s| s.size == size) else { return Got::Ignored };
        if set.requested.remove(&(key, piece)).is_none() {
            return Got::Ignored;
        }
        let i = piece as usize;
        if total_size != size as u64 {
            self.peer_gone(key);
            return Got::Malformed(format!("piece {piece} says total_size {total_size}, but metadata_size is {size}"));
        }
        let want = set.piece_len(i);
        if data.len() != want {
            self.peer_gone(key);
            return Got::Malformed(format!("piece {piece} has {} bytes, expected {want}", data.len()));
        }
        let n = set.pieces();
        set.got.entry(key).or_insert_with(|| vec![None; n])[i] = Some(data);
        // Complete? Solo: this peer's own copy; shared: every piece held.
        let sources: Vec<PeerKey> = if set.solo {
            if set.got[&key].iter().any(|p| p.is_none()) {
                return Got::Stored;
            }
            vec![key; n]
        } else {
            match (0..n).map(|i| set.held(i)).collect::<Option<Vec<_>>>() {
                Some(v) => v,
                None => return Got::Stored,
            }
        };
        let mut bytes = Vec::with_capacity(size);
        for (i, k) in sources.iter().enumerate() {
            bytes.extend_from_slice(set.got[k][i].as_ref().expect("held"));
        }
        if InfoHash(Sha1::digest(&bytes).into()) == self.info_hash {
            return Got::Done(bytes);
        }
        let mut contributors = sources;
        contributors.sort_unstable();
        contributors.dedup();
        let alone = contributors.len() == 1;
        if alone {
            set.got.remove(&key);
            set.requested.retain(|(k, _), _| *k != key);
        } else {
            // We cannot tell who lied: every source sends a whole copy.
            set.got.clear();
            set.requested.clear();
            set.solo = true;
        }
        Got::Mismatch { contributors, alone }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(len: usize) -> (Vec<u8>, InfoHash) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let h = InfoHash(Sha1::digest(&bytes).into());
        (bytes, h)
    }

    fn piece(b: &[u8], i: u32) -> Vec<u8> {
        let s = i as usize * METADATA_PIECE_SIZE;
        b[s..(s + METADATA_PIECE_SIZE).min(b.len())].to_vec()
    }

    #[test]
    fn a_wrong_size_from_the_first_peer_does_not_hide_the_right_one() {
        let (b, h) = info(40_000);
        let now = Instant::now();
        let mut f = MetadataFetch::new(h);
        f.offer(0, 40_001).unwrap();
        f.offer(1, 40_000).unwrap();
        assert_eq!(f.requests(0, now), vec![0, 1, 2]);
        let asked = f.requests(1, now);
        assert_eq!(asked, vec![0, 1, 2], "the second size is fetched side by side");
        assert_eq!(f.on_data(1, 0, 40_000, piece(&b, 0)), Got::Stored);
        assert_eq!(f.on_data(1, 1, 40_000, piece(&b, 1)), Got::Stored);
        assert_eq!(f.on_data(1, 2, 40_000, piece(&b, 2)), Got::Done(b));
    }

    #[test]
    fn unrequested_pieces_are_ignored_and_failed_sets_blame_every_contributor() {
        let (b, h) = info(40_000);
        let now = Instant::now();
        let mut f = MetadataFetch::new(h);
        f.offer(0, 40_000).unwrap();
        f.offer(1, 40_000).unwrap();
        assert_eq!(f.requests(0, now), vec![0, 1, 2]);
        assert_eq!(f.requests(1, now), Vec::<u32>::new(), "all pieces asked already");
        // Peer 1 pushes a piece it was not asked for: not taken.
        assert_eq!(f.on_data(1, 0, 40_000, vec![0; METADATA_PIECE_SIZE]), Got::Ignored);
        // Peer 0 times out on piece 2: withdrawn, its pieces kept, piece 2 re-asked of 1.
        assert_eq!(f.on_data(0, 0, 40_000, vec![9; METADATA_PIECE_SIZE]), Got::Stored); // a lie
        assert_eq!(f.on_data(0, 1, 40_000, piece(&b, 1)), Got::Stored);
        assert_eq!(f.overdue(now + REQUEST_TIMEOUT + Duration::from_secs(1)), vec![0]);
        f.offer(2, 40_000).unwrap();
        f.withdraw(0);
        assert_eq!(f.requests(1, now), vec![2]);
        // The last piece is honest; the set fails: both contributors named.
        match f.on_data(1, 2, 40_000, piece(&b, 2)) {
            Got::Mismatch { contributors, alone } => {
                assert_eq!(contributors, vec![0, 1]);
                assert!(!alone);
            }
            other => panic!("{other:?}"),
        }
        // Now each source sends a whole copy: the honest one completes alone.
        assert_eq!(f.requests(1, now), vec![0, 1, 2]);
        assert_eq!(f.requests(2, now), vec![0, 1, 2]);
        for i in 0..2 {
            assert_eq!(f.on_data(1, i, 40_000, piece(&b, i)), Got::Stored);
        }
        assert_eq!(f.on_data(1, 2, 40_000, piece(&b, 2)), Got::Done(b));
    }

    #[test]
    fn a_malformed_piece_releases_the_request_for_others() {
        let (b, h) = info(20_000);
        let now = Instant::now();
        let mut f = MetadataFetch::new(h);
        f.offer(0, 20_000).unwrap();
        f.offer(1, 20_000).unwrap();
        assert_eq!(f.requests(0, now), vec![0, 1]);
        assert!(matches!(f.on_data(0, 0, 20_000, vec![1; 10]), Got::Malformed(_)));
        assert_eq!(f.in_flight(0), 0);
        assert_eq!(f.requests(1, now), vec![0, 1]);
        assert_eq!(f.on_data(1, 1, 20_000, piece(&b, 1)), Got::Stored);
        assert_eq!(f.on_data(1, 0, 20_000, piece(&b, 0)), Got::Done(b));
    }

    #[test]
    fn a_size_whose_sources_left_is_dropped() {
        let (_, h) = info(100);
        let now = Instant::now();
        let mut f = MetadataFetch::new(h);
        f.offer(0, 16 << 20).unwrap();
        assert_eq!(f.requests(0, now).len(), IN_FLIGHT);
        f.on_data(0, 0, 16 << 20, vec![0; METADATA_PIECE_SIZE]);
        f.peer_gone(0);
        assert!(f.sets.is_empty(), "no memory kept for a size nobody offers");
        assert!(f.offer(1, (16 << 20) + 1).is_err());
        assert!(f.offer(1, 0).is_err());
    }
}
