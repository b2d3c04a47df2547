//! Per-connection protocol state (sans-IO): choke/interest flags, the
//! peer's pieces, the fast-extension sets, our outstanding requests and the
//! peer's requests to us. Incoming messages go through
//! [`PeerState::on_receive`], which checks them against the state and
//! returns an [`Event`]; outgoing messages are recorded with
//! [`PeerState::on_send`].
//!
//! A [`Policy`] says how strictly the peer is held to the protocol:
//! [`Policy::Strict`] (peer-fetch, the test seeder) turns every violation
//! into an error; [`Policy::Tolerant`] (torrent-get, which meets real
//! clients) accepts what real clients do: a second bitfield (aria2 sends one
//! after `interested`), a bounded amount of block data we did not ask for
//! (late blocks after a choke), rejects for requests we already dropped, fast
//! or extension messages without the bit, and over-long request queues
//! (refused, not fatal). Both share this one machine, so the fuzz target
//! `peer_state` covers the downloader too.

use super::bitfield::Bitfield;
use super::error::ProtocolError;
use super::extension::{ExtendedHandshake, EXTENDED_HANDSHAKE_ID};
use super::message::{BlockRef, Message};
use std::collections::{BTreeSet, HashSet, VecDeque};

/// Largest block a peer may request from us.
pub const MAX_REQUEST_LEN: u32 = 128 * 1024;
/// Most requests a peer may have queued with us.
pub const DEFAULT_MAX_PEER_REQUESTS: usize = 500;
/// Most allowed-fast / suggested pieces remembered per peer.
const MAX_FAST_SET: usize = 256;
/// Most piece bits remembered before the piece count is known (magnet):
/// one per piece of the largest torrent we load, so a peer's early state is
/// at most 256 KiB however many haves or how long a bitfield it sends.
pub const MAX_PENDING_BITS: usize = crate::metainfo::MAX_PIECES;

/// How strictly a peer is held to the protocol (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Strict,
    Tolerant {
        /// Bytes of unrequested block data accepted (and dropped) before
        /// the peer is in violation.
        max_unrequested: u64,
    },
}

/// What an incoming message means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Nothing to do (keep-alive, repeated state).
    None,
    /// The peer choked us. `dropped`: our requests that are now void and
    /// must be re-issued (empty with the fast extension, where the peer
    /// rejects them explicitly).
    Choked {
        dropped: Vec<BlockRef>,
    },
    Unchoked,
    Interested,
    NotInterested,
    Have(u32),
    /// The peer's piece set is now known (bitfield, have all, have none).
    PiecesKnown,
    /// Tolerant: a bitfield or have all after the piece set was known; it
    /// replaces `old` (the caller moves availability from `old` to the new
    /// set, [`PeerState::peer_pieces`]).
    PiecesReplaced {
        old: Bitfield,
    },
    /// Tolerant: a block we never asked for (or no longer wait for); the
    /// data is dropped. Counted against `max_unrequested`.
    UnrequestedBlock {
        index: u32,
        begin: u32,
        length: u32,
    },
    /// Tolerant: a request over the queue limit; answer with a reject (fast
    /// extension) or ignore it.
    RequestRefused(BlockRef),
    Block {
        index: u32,
        begin: u32,
        data: Vec<u8>,
    },
    /// A block arrived for a request we had cancelled (not an error).
    LateBlock {
        index: u32,
        begin: u32,
        length: u32,
    },
    /// The peer asks us for a block (queued; see `pop_peer_request`).
    Request(BlockRef),
    /// A request while we choke the peer and it is not allowed fast: with
    /// the fast extension answer with a reject, else ignore it.
    RequestWhileChoked(BlockRef),
    Cancel(BlockRef),
    Rejected(BlockRef),
    AllowedFast(u32),
    Suggest(u32),
    ExtendedHandshake,
    Extended {
        id: u8,
        payload: Vec<u8>,
    },
    Port(u16),
}

#[derive(Debug, Clone)]
enum Pending {
    Unknown,
    All,
    None,
    Bits(Vec<u8>),
}

#[derive(Debug)]
pub struct PeerState {
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    /// Both sides set the fast-extension bit.
    pub fast: bool,
    /// Both sides set the extension-protocol bit.
    pub extended: bool,
    /// The peer's extended handshake, once received.
    pub ext: Option<ExtendedHandshake>,
    /// Pieces the peer lets us request while choked.
    pub allowed_fast: BTreeSet<u32>,
    /// Pieces we let the peer request while we choke it.
    pub we_allow_fast: BTreeSet<u32>,
    pub suggested: BTreeSet<u32>,
    geometry: Option<(usize, u64, u64)>,
    have: Option<Bitfield>,
    pending: Pending,
    pieces_msg_seen: bool,
    requested: HashSet<BlockRef>,
    cancelled: HashSet<BlockRef>,
    peer_requests: VecDeque<BlockRef>,
    max_peer_requests: usize,
    policy: Policy,
    unrequested: u64,
}

impl PeerState {
    /// `fast` / `extended`: whether both handshakes set those bits.
    pub fn new(fast: bool, extended: bool) -> PeerState {
        PeerState {
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            fast,
            extended,
            ext: None,
            allowed_fast: BTreeSet::new(),
            we_allow_fast: BTreeSet::new(),
            suggested: BTreeSet::new(),
            geometry: None,
            have: None,
            pending: Pending::Unknown,
            pieces_msg_seen: false,
            requested: HashSet::new(),
            cancelled: HashSet::new(),
            peer_requests: VecDeque::new(),
            max_peer_requests: DEFAULT_MAX_PEER_REQUESTS,
            policy: Policy::Strict,
            unrequested: 0,
        }
    }

    pub fn with_policy(mut self, policy: Policy) -> PeerState {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    fn tolerant(&self) -> bool {
        matches!(self.policy, Policy::Tolerant { .. })
    }

    /// Is this block requested from the peer and not yet answered?
    pub fn is_requested(&self, b: &BlockRef) -> bool {
        self.requested.contains(b)
    }

    /// Our outstanding requests, in no particular order.
    pub fn requests(&self) -> impl Iterator<Item = &BlockRef> + '_ {
        self.requested.iter()
    }

    /// Forget every outstanding request (snubbed peer, choke, we finished):
    /// blocks still arriving for them are late, not unrequested.
    pub fn drop_requests(&mut self) -> Vec<BlockRef> {
        let dropped: Vec<BlockRef> = self.requested.drain().collect();
        for b in &dropped {
            if self.cancelled.len() < 4096 {
                self.cancelled.insert(*b);
            }
        }
        dropped
    }

    /// Forget one queued request of the peer's (we will not serve it).
    pub fn drop_peer_request(&mut self, b: &BlockRef) {
        self.peer_requests.retain(|r| r != b);
    }

    /// Take every queued request of the peer's (e.g. to reject them all).
    pub fn take_peer_requests(&mut self) -> Vec<BlockRef> {
        self.peer_requests.drain(..).collect()
    }

    /// The peer's next queued request, without taking it.
    pub fn peek_peer_request(&self) -> Option<BlockRef> {
        self.peer_requests.front().copied()
    }

    /// Bytes of unrequested block data the peer sent (tolerant policy).
    pub fn unrequested_bytes(&self) -> u64 {
        self.unrequested
    }

    pub fn with_max_peer_requests(mut self, n: usize) -> PeerState {
        self.max_peer_requests = n;
        self
    }

    /// Set the torrent's shape (from the start, or once a magnet's metadata
    /// is known). Bits and haves received before are checked now.
    pub fn set_geometry(
        &mut self,
        num_pieces: usize,
        piece_length: u64,
        total_length: u64,
    ) -> Result<(), ProtocolError> {
        self.geometry = Some((num_pieces, piece_length, total_length));
        let have = match std::mem::replace(&mut self.pending, Pending::Unknown) {
            Pending::Unknown => self.pieces_msg_seen.then(|| Bitfield::new(num_pieces)),
            Pending::All => Some(Bitfield::full(num_pieces)),
            Pending::None => Some(Bitfield::new(num_pieces)),
            Pending::Bits(mut b) => {
                let want = num_pieces.div_ceil(8);
                if b.len() > want {
                    if let Some(i) = b[want..].iter().position(|&x| x != 0) {
                        let byte = b[want + i];
                        let bit = (want + i) * 8 + byte.leading_zeros() as usize;
                        return Err(ProtocolError::PieceOutOfRange {
                            msg: "have/bitfield",
                            index: bit as u32,
                            num_pieces,
                        });
                    }
                }
                b.resize(want, 0);
                Some(Bitfield::from_bytes(&b, num_pieces)?)
            }
        };
        self.have = have;
        Ok(())
    }

    /// Bytes held for the peer's pieces before the piece count is known
    /// (at most [`MAX_PENDING_BITS`] / 8).
    pub fn pending_bytes(&self) -> usize {
        match &self.pending {
            Pending::Bits(b) => b.capacity(),
            _ => 0,
        }
    }

    pub fn num_pieces(&self) -> Option<usize> {
        self.geometry.map(|g| g.0)
    }

    /// The peer's pieces, once the piece count and the peer's set are known.
    pub fn peer_pieces(&self) -> Option<&Bitfield> {
        self.have.as_ref()
    }

    pub fn peer_has(&self, index: u32) -> bool {
        self.have.as_ref().is_some_and(|b| b.get(index as usize))
    }

    /// May we request blocks of piece `index` now?
    pub fn can_request(&self, index: u32) -> bool {
        self.peer_has(index)
            && (!self.peer_choking || (self.fast && self.allowed_fast.contains(&index)))
    }

    /// Our requests still outstanding.
    pub fn outstanding(&self) -> usize {
        self.requested.len()
    }

    pub fn pop_peer_request(&mut self) -> Option<BlockRef> {
        self.peer_requests.pop_front()
    }

    pub fn peer_request_count(&self) -> usize {
        self.peer_requests.len()
    }

    fn piece_len(&self, index: u32) -> Option<u64> {
        let (n, plen, total) = self.geometry?;
        ((index as usize) < n).then(|| plen.min(total - index as u64 * plen))
    }

    fn check_index(&self, msg: &'static str, index: u32) -> Result<(), ProtocolError> {
        if let Some(n) = self.num_pieces() {
            if index as usize >= n {
                return Err(ProtocolError::PieceOutOfRange {
                    msg,
                    index,
                    num_pieces: n,
                });
            }
        }
        Ok(())
    }

    fn need_fast(&self, msg: &'static str) -> Result<(), ProtocolError> {
        if self.fast {
            Ok(())
        } else {
            Err(ProtocolError::FastNotNegotiated { msg })
        }
    }

    /// Ok(true): the piece set was known and is being replaced (tolerant).
    fn first_pieces_msg(&mut self, msg: &'static str) -> Result<bool, ProtocolError> {
        if self.pieces_msg_seen {
            if self.tolerant() {
                return Ok(true);
            }
            return Err(ProtocolError::NotFirstMessage { msg });
        }
        self.pieces_msg_seen = true;
        Ok(false)
    }

    /// Record a message we send (choke state, interest, requests, cancels).
    pub fn on_send(&mut self, msg: &Message) {
        match msg {
            Message::Choke => {
                self.am_choking = true;
                if !self.fast {
                    // BEP 3: choking discards the peer's pending requests.
                    self.peer_requests.clear();
                }
            }
            Message::Unchoke => self.am_choking = false,
            Message::Interested => self.am_interested = true,
            Message::NotInterested => self.am_interested = false,
            Message::Request {
                index,
                begin,
                length,
            } => {
                self.requested.insert(BlockRef {
                    index: *index,
                    begin: *begin,
                    length: *length,
                });
            }
            Message::Cancel {
                index,
                begin,
                length,
            } => {
                let b = BlockRef {
                    index: *index,
                    begin: *begin,
                    length: *length,
                };
                if self.requested.remove(&b) && self.cancelled.len() < 4096 {
                    self.cancelled.insert(b);
                }
            }
            Message::AllowedFast(i) if self.we_allow_fast.len() < MAX_FAST_SET => {
                self.we_allow_fast.insert(*i);
            }
            Message::RejectRequest {
                index,
                begin,
                length,
            } => {
                let b = BlockRef {
                    index: *index,
                    begin: *begin,
                    length: *length,
                };
                self.peer_requests.retain(|r| *r != b);
            }
            _ => {}
        }
    }

    /// Check an incoming message against the state and update it.
    pub fn on_receive(&mut self, msg: Message) -> Result<Event, ProtocolError> {
        Ok(match msg {
            Message::KeepAlive => Event::None,
            Message::Choke => {
                self.peer_choking = true;
                if self.tolerant() {
                    // Requests die with a choke, fast extension or not: the
                    // peer's rejects and late blocks for them are expected.
                    let mut dropped = self.drop_requests();
                    dropped.sort();
                    Event::Choked { dropped }
                } else if self.fast {
                    Event::Choked {
                        dropped: Vec::new(),
                    }
                } else {
                    let mut dropped: Vec<BlockRef> = self.requested.drain().collect();
                    dropped.sort();
                    Event::Choked { dropped }
                }
            }
            Message::Unchoke => {
                self.peer_choking = false;
                Event::Unchoked
            }
            Message::Interested => {
                self.peer_interested = true;
                Event::Interested
            }
            Message::NotInterested => {
                self.peer_interested = false;
                Event::NotInterested
            }
            Message::Have(i) => {
                self.check_index("have", i)?;
                self.pieces_msg_seen = true;
                match (&mut self.have, self.geometry) {
                    (Some(b), _) => {
                        b.set(i as usize, true);
                    }
                    (None, Some((n, _, _))) => {
                        let mut b = Bitfield::new(n);
                        b.set(i as usize, true);
                        self.have = Some(b);
                    }
                    (None, None) => {
                        if i as usize >= MAX_PENDING_BITS {
                            return Err(ProtocolError::PieceOutOfRange {
                                msg: "have",
                                index: i,
                                num_pieces: MAX_PENDING_BITS,
                            });
                        }
                        match &mut self.pending {
                            Pending::All => {}
                            p @ (Pending::Unknown | Pending::None) => {
                                *p = Pending::Bits(Vec::new());
                                if let Pending::Bits(v) = p {
                                    set_growing(v, i as usize);
                                }
                            }
                            Pending::Bits(v) => set_growing(v, i as usize),
                        }
                    }
                }
                Event::Have(i)
            }
            Message::Bitfield(bytes) => {
                let again = self.first_pieces_msg("bitfield")?;
                match self.num_pieces() {
                    Some(n) => {
                        let new = Bitfield::from_bytes(&bytes, n)?;
                        if let Some(old) = self.have.replace(new) {
                            if again {
                                return Ok(Event::PiecesReplaced { old });
                            }
                        }
                    }
                    None => {
                        // One bit per piece of the largest torrent, no more;
                        // trailing zero bytes say nothing.
                        let mut bytes = bytes;
                        if bytes.len() > MAX_PENDING_BITS / 8 {
                            return Err(ProtocolError::PieceOutOfRange {
                                msg: "bitfield",
                                index: (bytes.len() * 8).min(u32::MAX as usize) as u32,
                                num_pieces: MAX_PENDING_BITS,
                            });
                        }
                        let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                        bytes.truncate(used);
                        bytes.shrink_to_fit();
                        self.pending = Pending::Bits(bytes)
                    }
                }
                Event::PiecesKnown
            }
            Message::HaveAll | Message::HaveNone => {
                let all = msg == Message::HaveAll;
                let name = if all { "have all" } else { "have none" };
                self.need_fast(name)?;
                let again = self.first_pieces_msg(name)?;
                match self.num_pieces() {
                    Some(n) => {
                        let new = if all {
                            Bitfield::full(n)
                        } else {
                            Bitfield::new(n)
                        };
                        if let Some(old) = self.have.replace(new) {
                            if again {
                                return Ok(Event::PiecesReplaced { old });
                            }
                        }
                    }
                    None => self.pending = if all { Pending::All } else { Pending::None },
                }
                Event::PiecesKnown
            }
            Message::Request {
                index,
                begin,
                length,
            } => {
                let b = BlockRef {
                    index,
                    begin,
                    length,
                };
                self.check_index("request", index)?;
                let bad = |why| ProtocolError::BadRequest {
                    index,
                    begin,
                    length,
                    why,
                };
                if length == 0 || length > MAX_REQUEST_LEN {
                    return Err(bad("length must be 1..=131072"));
                }
                if let Some(plen) = self.piece_len(index) {
                    if begin as u64 + length as u64 > plen {
                        return Err(bad("runs past the end of the piece"));
                    }
                }
                if self.am_choking && !(self.fast && self.we_allow_fast.contains(&index)) {
                    return Ok(Event::RequestWhileChoked(b));
                }
                if self.peer_requests.len() >= self.max_peer_requests {
                    if self.tolerant() {
                        return Ok(Event::RequestRefused(b));
                    }
                    return Err(ProtocolError::TooManyRequests(self.peer_requests.len() + 1));
                }
                self.peer_requests.push_back(b);
                Event::Request(b)
            }
            Message::Cancel {
                index,
                begin,
                length,
            } => {
                let b = BlockRef {
                    index,
                    begin,
                    length,
                };
                self.peer_requests.retain(|r| *r != b);
                Event::Cancel(b)
            }
            Message::Piece { index, begin, data } => {
                let b = BlockRef {
                    index,
                    begin,
                    length: data.len() as u32,
                };
                if self.requested.remove(&b) {
                    Event::Block { index, begin, data }
                } else if self.cancelled.remove(&b) {
                    Event::LateBlock {
                        index,
                        begin,
                        length: b.length,
                    }
                } else if let Policy::Tolerant { max_unrequested } = self.policy {
                    let total = self.unrequested + b.length as u64;
                    if total > max_unrequested {
                        return Err(ProtocolError::UnrequestedBlock {
                            index,
                            begin,
                            length: b.length,
                        });
                    }
                    self.unrequested = total;
                    Event::UnrequestedBlock {
                        index,
                        begin,
                        length: b.length,
                    }
                } else {
                    return Err(ProtocolError::UnrequestedBlock {
                        index,
                        begin,
                        length: b.length,
                    });
                }
            }
            Message::RejectRequest {
                index,
                begin,
                length,
            } => {
                if !self.fast && self.tolerant() {
                    return Ok(Event::None);
                }
                self.need_fast("reject request")?;
                let b = BlockRef {
                    index,
                    begin,
                    length,
                };
                if !self.requested.remove(&b) && !self.cancelled.remove(&b) {
                    if self.tolerant() {
                        return Ok(Event::None);
                    }
                    return Err(ProtocolError::UnrequestedReject {
                        index,
                        begin,
                        length,
                    });
                }
                Event::Rejected(b)
            }
            Message::AllowedFast(_) | Message::SuggestPiece(_) if !self.fast && self.tolerant() => {
                Event::None
            }
            Message::AllowedFast(i) => {
                self.need_fast("allowed fast")?;
                self.check_index("allowed fast", i)?;
                if self.allowed_fast.len() < MAX_FAST_SET {
                    self.allowed_fast.insert(i);
                }
                Event::AllowedFast(i)
            }
            Message::SuggestPiece(i) => {
                self.need_fast("suggest piece")?;
                self.check_index("suggest piece", i)?;
                if self.suggested.len() < MAX_FAST_SET {
                    self.suggested.insert(i);
                }
                Event::Suggest(i)
            }
            Message::Port(p) => Event::Port(p),
            Message::Extended { .. } if !self.extended && self.tolerant() => Event::None,
            Message::Extended { id, payload } => {
                if !self.extended {
                    return Err(ProtocolError::ExtendedNotNegotiated);
                }
                if id == EXTENDED_HANDSHAKE_ID {
                    self.ext = Some(ExtendedHandshake::parse(&payload)?);
                    Event::ExtendedHandshake
                } else {
                    Event::Extended { id, payload }
                }
            }
        })
    }
}

fn set_growing(v: &mut Vec<u8>, i: usize) {
    if v.len() <= i / 8 {
        v.resize(i / 8 + 1, 0);
    }
    v[i / 8] |= 0x80 >> (i % 8);
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "connection_policy_tests.rs"]
mod policy_tests;
