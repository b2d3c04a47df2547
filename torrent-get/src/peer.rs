//! One peer connection as the event loop sees it: the non-blocking socket,
//! the sans-IO decoder from torrent-core, an outgoing buffer, and the
//! protocol state (choke/interest, what the peer has, requests in flight).

use crate::rate::RateMeter;
use mio::net::TcpStream;
use std::collections::{HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;
use torrent_core::peer::bitfield::Bitfield;
use torrent_core::peer::codec::Decoder;
use torrent_core::peer::message::Message;
use torrent_core::picker::Block;

/// Most requests from a peer we queue before dropping (or rejecting) more.
pub const MAX_PEER_REQUESTS: usize = 256;
/// Largest block a peer may request from us.
pub const MAX_REQUEST_LEN: u32 = 128 * 1024;
/// Initial (slow start) and bounds of our request pipeline depth per peer;
/// it grows with the peer's rate.
pub const MIN_PIPELINE: usize = 16;
pub const MAX_PIPELINE: usize = 512;
/// Stop reading from a peer while this much is waiting to be sent to it.
pub const MAX_OUT_BUFFER: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Outgoing non-blocking connect in progress.
    Connecting,
    /// Connected; waiting for the peer's handshake.
    Handshaking,
    /// Handshakes exchanged.
    Active,
}

/// What the peer said it has before we knew the number of pieces (magnet
/// links): replayed once the metadata is known.
#[derive(Debug, Default)]
pub struct EarlyHave {
    pub bitfield: Option<Vec<u8>>,
    pub all: bool,
    pub haves: Vec<u32>,
}

pub struct Peer {
    pub addr: SocketAddr,
    pub stream: TcpStream,
    pub outgoing: bool,
    pub phase: Phase,
    pub torrent: Option<usize>,
    pub decoder: Decoder,
    out: Vec<u8>,
    out_pos: usize,
    pub sent_handshake: bool,

    pub peer_id: [u8; 20],
    pub fast: bool,
    pub extended: bool,
    /// The peer's ut_metadata message id (BEP 9), and metadata size.
    pub ut_metadata: Option<u8>,
    pub metadata_size: Option<usize>,
    /// The peer's `reqq` (how many requests it queues), if it said.
    pub reqq: Option<usize>,
    pub metadata_in_flight: usize,
    /// The peer's ut_pex message id (BEP 11), what we told it so far, when.
    pub ut_pex: Option<u8>,
    pub pex_sent: HashSet<SocketAddr>,
    pub last_pex: Option<Instant>,
    /// The port the peer accepts connections on (from its BEP 10 handshake).
    pub listen_port: Option<u16>,

    pub have: Option<Bitfield>,
    pub early: EarlyHave,
    pub allowed_fast: HashSet<u32>,

    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,

    /// Our requests in flight to this peer.
    pub requests: HashSet<Block>,
    pub pipeline: usize,
    /// Requests from the peer waiting for the disk or for upload rate.
    pub peer_requests: VecDeque<(u32, u32, u32)>,
    pub reads_in_flight: usize,

    pub started: Instant,
    pub last_recv: Instant,
    pub last_send: Instant,
    pub last_block: Instant,
    pub snubbed: bool,
    pub down: RateMeter,
    pub up: RateMeter,
    /// Set when the loop decided to drop this peer.
    pub closing: Option<String>,
    /// Reading paused: too much is waiting to be sent to this peer.
    pub read_paused: bool,
    /// Bytes of blocks the peer sent that we had not asked it for.
    pub unrequested: u64,
    /// A piece this peer helped with failed its hash check: one request at
    /// a time until a piece it helped with passes.
    pub probation: bool,
}

impl Peer {
    pub fn new(stream: TcpStream, addr: SocketAddr, outgoing: bool, torrent: Option<usize>, now: Instant) -> Peer {
        Peer {
            addr,
            stream,
            outgoing,
            phase: if outgoing { Phase::Connecting } else { Phase::Handshaking },
            torrent,
            decoder: Decoder::new(),
            out: Vec::new(),
            out_pos: 0,
            sent_handshake: false,
            peer_id: [0; 20],
            fast: false,
            extended: false,
            ut_metadata: None,
            metadata_size: None,
            reqq: None,
            metadata_in_flight: 0,
            ut_pex: None,
            pex_sent: HashSet::new(),
            last_pex: None,
            listen_port: None,
            have: None,
            early: EarlyHave::default(),
            allowed_fast: HashSet::new(),
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            requests: HashSet::new(),
            pipeline: MIN_PIPELINE,
            peer_requests: VecDeque::new(),
            reads_in_flight: 0,
            started: now,
            last_recv: now,
            last_send: now,
            last_block: now,
            snubbed: false,
            down: RateMeter::new(now),
            up: RateMeter::new(now),
            closing: None,
            read_paused: false,
            unrequested: 0,
            probation: false,
        }
    }

    pub fn close(&mut self, why: impl Into<String>) {
        if self.closing.is_none() {
            self.closing = Some(why.into());
        }
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

    pub fn has_piece(&self, i: usize) -> bool {
        self.have.as_ref().map(|b| b.get(i)).unwrap_or(false)
    }

    pub fn queue_raw(&mut self, bytes: &[u8], now: Instant) {
        self.out.extend_from_slice(bytes);
        self.last_send = now;
    }

    pub fn send(&mut self, msg: &Message, now: Instant) {
        msg.encode_into(&mut self.out);
        self.last_send = now;
    }

    pub fn out_pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Write as much of the outgoing buffer as the socket takes.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "peer closed")),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.out.capacity() > 1 << 20 {
                self.out.shrink_to(64 * 1024);
            }
        } else if self.out_pos > 1 << 20 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        Ok(())
    }

    /// Read what the socket has into the decoder, at most `limit` bytes
    /// (rate limiting, bounded buffering). Returns how many bytes were read
    /// and whether the socket is drained (WouldBlock) or closed (EOF); when
    /// neither, the caller must come back (mio is edge-triggered).
    pub fn read_some(&mut self, limit: usize) -> io::Result<ReadResult> {
        let mut r = ReadResult::default();
        while r.bytes < limit {
            let want = (limit - r.bytes).min(256 * 1024);
            let buf = self.decoder.spare(want);
            if buf.is_empty() {
                break; // decoder full: drain messages first
            }
            match self.stream.read(buf) {
                Ok(0) => {
                    r.eof = true;
                    break;
                }
                Ok(n) => {
                    self.decoder.advance(n);
                    r.bytes += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    r.drained = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(r)
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ReadResult {
    pub bytes: usize,
    pub drained: bool,
    pub eof: bool,
}
