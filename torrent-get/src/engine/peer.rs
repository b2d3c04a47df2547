//! One peer as the engine sees it: torrent-core's protocol state machine
//! ([`PeerState`], tolerant policy) and decoder, plus what only policy needs
//! (rates, pipeline depth, blame, PEX and metadata bookkeeping). No socket:
//! bytes to send collect in `outbox` and leave as [`Action::Send`](super::Action).

use super::{CloseReason, ConnKind, TorrentId};
use crate::rate::RateMeter;
use std::collections::HashSet;
use std::net::SocketAddr;
use super::pipeline::Pipeline;
use std::time::Instant;
use torrent_core::peer::codec::Decoder;
use torrent_core::peer::connection::{PeerState, Policy};
use torrent_core::peer::message::Message;

/// Most requests from a peer we queue before refusing more (advertised as
/// `reqq`): a leecher 200 ms away at 20 MiB/s needs 512 queued to keep its
/// link full. Only block references are queued; reads are bounded by
/// [`MAX_OUT_BUFFER`].
pub const MAX_PEER_REQUESTS: usize = 1024;
pub use super::pipeline::{MAX_PIPELINE, MIN_PIPELINE};
/// Stop serving a peer's requests while this much waits to be sent to it.
pub const MAX_OUT_BUFFER: usize = 4 * 1024 * 1024;
/// Longest bitfield or extended message: the bitfield of the largest
/// torrent we load ([`torrent_core::metainfo::MAX_PIECES`] bits) and its id;
/// extended messages (metadata pieces of 16 KiB, PEX, the handshake) need
/// far less. A partial message is what a peer can make us buffer.
pub const MAX_MESSAGE_LEN: usize = 1 + torrent_core::metainfo::MAX_PIECES / 8;
/// Unrequested block data a peer may send before it is dropped.
pub const MAX_UNREQUESTED: u64 = 2 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Outgoing connect in progress (the loop reports `Connected`).
    Connecting,
    /// Connected; waiting for the peer's handshake.
    Handshaking,
    /// Handshakes exchanged.
    Active,
}

pub struct Peer {
    pub addr: SocketAddr,
    pub kind: ConnKind,
    /// Unique per connection (keys are reused by the loop).
    pub serial: u64,
    pub outgoing: bool,
    /// Our end of an outgoing connection (self-connection detection).
    pub local: Option<SocketAddr>,
    pub phase: Phase,
    pub torrent: Option<TorrentId>,
    pub decoder: Decoder,
    /// Bytes queued for the peer, not yet handed to the loop.
    pub outbox: Vec<u8>,
    /// Bytes the loop holds for this peer, not yet written (it reports).
    pub unsent: usize,
    pub sent_handshake: bool,
    pub peer_id: [u8; 20],
    /// Choke/interest, the peer's pieces, requests both ways.
    pub st: PeerState,
    pub ut_metadata: Option<u8>,
    pub metadata_size: Option<usize>,
    pub reqq: Option<usize>,
    pub ut_pex: Option<u8>,
    pub pex_sent: HashSet<SocketAddr>,
    pub last_pex: Option<Instant>,
    /// When we last took a ut_pex message of theirs (one a minute).
    pub last_pex_in: Option<Instant>,
    pub listen_port: Option<u16>,
    /// Its handshake set the DHT bit (BEP 5): it hears our `port`.
    pub dht: bool,
    /// Its `port` message was taken (one DHT ping per connection).
    pub dht_pinged: bool,
    /// How many requests to keep at the peer.
    pub pipeline: Pipeline,
    /// A piece it sent blocks of passed the hash check.
    pub proven: bool,
    pub reads_in_flight: usize,
    pub started: Instant,
    pub last_recv: Instant,
    pub last_send: Instant,
    pub last_block: Instant,
    /// When a block last went either way (or the connection started): how
    /// useful the peer is when slots run out (`slots`).
    pub last_useful: Instant,
    pub snubbed: bool,
    pub down: RateMeter,
    pub up: RateMeter,
    pub closing: Option<CloseReason>,
}

pub fn tolerant_state(fast: bool, extended: bool) -> PeerState {
    PeerState::new(fast, extended)
        .with_policy(Policy::Tolerant { max_unrequested: MAX_UNREQUESTED })
        .with_max_peer_requests(MAX_PEER_REQUESTS)
}

impl Peer {
    pub fn new(addr: SocketAddr, kind: ConnKind, outgoing: bool, torrent: Option<TorrentId>, now: Instant) -> Peer {
        Peer {
            addr,
            kind,
            serial: 0,
            outgoing,
            local: None,
            phase: if outgoing { Phase::Connecting } else { Phase::Handshaking },
            torrent,
            decoder: Decoder::new().with_max_message_len(MAX_MESSAGE_LEN),
            outbox: Vec::new(),
            unsent: 0,
            sent_handshake: false,
            peer_id: [0; 20],
            st: tolerant_state(false, false),
            ut_metadata: None,
            metadata_size: None,
            reqq: None,
            ut_pex: None,
            pex_sent: HashSet::new(),
            last_pex: None,
            last_pex_in: None,
            listen_port: None,
            dht: false,
            dht_pinged: false,
            pipeline: Pipeline::new(now),
            proven: false,
            reads_in_flight: 0,
            started: now,
            last_recv: now,
            last_send: now,
            last_block: now,
            last_useful: now,
            snubbed: false,
            down: RateMeter::new(now),
            up: RateMeter::new(now),
            closing: None,
        }
    }

    pub fn close(&mut self, why: CloseReason) {
        if self.closing.is_none() {
            self.closing = Some(why);
        }
    }

    pub fn live(&self) -> bool {
        self.closing.is_none()
    }

    pub fn active(&self) -> bool {
        self.phase == Phase::Active && self.closing.is_none()
    }

    /// Where others can connect to this peer: its own address for outgoing
    /// connections, its announced listen port for incoming ones.
    pub fn reachable_addr(&self) -> Option<SocketAddr> {
        if self.outgoing {
            Some(self.addr)
        } else {
            self.listen_port.filter(|p| *p != 0).map(|p| SocketAddr::new(self.addr.ip(), p))
        }
    }

    pub fn queue_raw(&mut self, bytes: &[u8], now: Instant) {
        self.outbox.extend_from_slice(bytes);
        self.last_send = now;
    }

    /// Encode `msg` for the peer and record it in the protocol state.
    pub fn send(&mut self, msg: &Message, now: Instant) {
        self.st.on_send(msg);
        msg.encode_into(&mut self.outbox);
        self.last_send = now;
    }

    /// Bytes waiting to be written to this peer (ours and the loop's).
    pub fn out_pending(&self) -> usize {
        self.outbox.len() + self.unsent
    }
}
