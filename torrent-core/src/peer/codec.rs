//! Incremental, bounded decoder for the peer wire stream: first the
//! handshake, then length-prefixed messages.
//!
//! Bytes go in with [`Decoder::feed`] (copying) or by reading straight into
//! [`Decoder::spare`] and calling [`Decoder::advance`]. Messages come out of
//! [`Decoder::next_message`]. A length prefix is checked as soon as it
//! arrives (against the overall limit and the message id's own rule), so a
//! peer cannot make us buffer a huge message before we object.

use super::error::ProtocolError;
use super::handshake::{check_prefix, Handshake, HANDSHAKE_LEN};
use super::message::{fixed_payload_len, id, id_name, Message, BLOCK_SIZE};

/// Default limit on bitfield and extended messages (length prefix value).
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 2 * 1024 * 1024;
/// Default largest block accepted in a piece message.
pub const DEFAULT_MAX_BLOCK_LEN: usize = BLOCK_SIZE as usize;
/// Extra room the receive buffer may hold beyond one maximal message, so a
/// reader can feed a socket read of this size at a time.
pub const READ_SLACK: usize = 256 * 1024;
/// The first [`Decoder::spare`] is at most this big; each read that fills
/// it doubles the next (up to what was asked), so the buffer grows with
/// what arrives: a connection that sends one byte costs a page, not the
/// full read size zero-filled at once.
pub const FIRST_SPARE: usize = 4 * 1024;

#[derive(Debug)]
pub struct Decoder {
    /// Always initialised; data is `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_message_len: usize,
    max_block_len: usize,
    handshake_done: bool,
    /// Most bytes the next `spare` hands out (see [`FIRST_SPARE`]).
    grow: usize,
    /// Size of the last `spare`, to see whether a read filled it.
    last_spare: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder that expects the handshake first.
    pub fn new() -> Decoder {
        Decoder {
            buf: Vec::new(),
            start: 0,
            end: 0,
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            max_block_len: DEFAULT_MAX_BLOCK_LEN,
            handshake_done: false,
            grow: FIRST_SPARE,
            last_spare: 0,
        }
    }

    /// A decoder for a stream whose handshake was already read.
    pub fn after_handshake() -> Decoder {
        let mut d = Decoder::new();
        d.handshake_done = true;
        d
    }

    /// Limit for the length prefix of bitfield and extended messages
    /// (other messages have fixed sizes or the block limit).
    pub fn with_max_message_len(mut self, n: usize) -> Decoder {
        self.max_message_len = n.max(13);
        self
    }

    /// Largest block accepted in a piece message.
    pub fn with_max_block_len(mut self, n: usize) -> Decoder {
        self.max_block_len = n;
        self
    }

    pub fn max_message_len(&self) -> usize {
        self.max_message_len
    }

    /// Most bytes the buffer may hold.
    pub fn buffer_limit(&self) -> usize {
        4 + self.max_message_len.max(9 + self.max_block_len) + READ_SLACK
    }

    /// Bytes received and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    pub fn handshake_done(&self) -> bool {
        self.handshake_done
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Make room for `n` more bytes after `end`.
    fn reserve_tail(&mut self, n: usize) {
        if self.end + n > self.buf.len() {
            if self.start > 0 {
                self.compact();
            }
            if self.end + n > self.buf.len() {
                // Exactly what is needed: the read sizes already double.
                self.buf.reserve_exact(self.end + n - self.buf.len());
                self.buf.resize(self.end + n, 0);
            }
        }
    }

    /// Append received bytes. Fails if that would take the buffer over
    /// [`buffer_limit`](Self::buffer_limit) (drain messages between feeds).
    pub fn feed(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        let len = self.buffered() + data.len();
        if len > self.buffer_limit() {
            return Err(ProtocolError::BufferFull {
                len,
                max: self.buffer_limit(),
            });
        }
        self.reserve_tail(data.len());
        self.buf[self.end..self.end + data.len()].copy_from_slice(data);
        self.end += data.len();
        Ok(())
    }

    /// Space to read into directly: up to `want` bytes (fewer if the buffer
    /// is near its limit; empty when it is full, which means the caller did
    /// not drain messages). Follow with [`advance`](Self::advance).
    ///
    /// The space grows with what arrives: at most [`FIRST_SPARE`] at
    /// first, twice as much after each read that filled it.
    pub fn spare(&mut self, want: usize) -> &mut [u8] {
        let n = want.min(self.grow).min(self.buffer_limit().saturating_sub(self.buffered()));
        self.reserve_tail(n);
        self.last_spare = n;
        &mut self.buf[self.end..self.end + n]
    }

    /// Mark `n` bytes written into [`spare`](Self::spare) as received.
    pub fn advance(&mut self, n: usize) {
        assert!(self.end + n <= self.buf.len(), "advance past spare space");
        self.end += n;
        if n > 0 && n == self.last_spare {
            self.grow = self.grow.saturating_mul(2).min(self.buffer_limit());
        }
    }

    /// Bytes the buffer holds allocated (for memory accounting and tests).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Drop `n` decoded bytes. The bytes stay in place until the next
    /// feed/spare (which need `&mut self`), so borrowed frames stay valid.
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Give back memory after a large message once the buffer is empty.
    fn maybe_shrink(&mut self) {
        if self.end == 0 && self.buf.len() > 64 * 1024 + READ_SLACK {
            self.buf = Vec::new();
        }
    }

    /// The peer's handshake, once 68 bytes are buffered. A wrong protocol
    /// string is reported as soon as it arrives.
    pub fn next_handshake(&mut self) -> Result<Option<Handshake>, ProtocolError> {
        assert!(!self.handshake_done, "handshake already read");
        check_prefix(self.data())?;
        if self.buffered() < HANDSHAKE_LEN {
            return Ok(None);
        }
        let h = Handshake::parse(&self.data()[..HANDSHAKE_LEN])?;
        self.consume(HANDSHAKE_LEN);
        self.handshake_done = true;
        Ok(Some(h))
    }

    /// Check a message header (length prefix and, if present, the id).
    fn check_header(&self, len: usize, msg_id: Option<u8>) -> Result<(), ProtocolError> {
        let Some(msg_id) = msg_id else {
            if len > self.max_message_len {
                return Err(ProtocolError::MessageTooLong {
                    len: len as u64,
                    max: self.max_message_len as u64,
                });
            }
            return Ok(());
        };
        if let Some(n) = fixed_payload_len(msg_id)? {
            if len != n + 1 {
                return Err(ProtocolError::WrongPayloadLength {
                    msg: id_name(msg_id),
                    len: len - 1,
                    expected: match n {
                        0 => "0",
                        2 => "2",
                        4 => "4",
                        _ => "12",
                    },
                });
            }
        } else if msg_id == id::PIECE && len > 9 + self.max_block_len {
            return Err(ProtocolError::BlockTooLong {
                len: len.saturating_sub(9),
                max: self.max_block_len,
            });
        } else if len > self.max_message_len {
            return Err(ProtocolError::MessageTooLong {
                len: len as u64,
                max: self.max_message_len as u64,
            });
        }
        Ok(())
    }

    /// Length of the next complete frame (prefix + body), if buffered.
    fn next_frame_len(&self) -> Result<Option<usize>, ProtocolError> {
        assert!(self.handshake_done, "next_message before the handshake");
        let d = self.data();
        if d.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
        if len == 0 {
            return Ok(Some(4));
        }
        self.check_header(len, d.get(4).copied())?;
        Ok((d.len() >= 4 + len).then_some(4 + len))
    }

    /// The next complete message, or None if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        let Some(n) = self.next_frame_len()? else {
            return Ok(None);
        };
        let msg = Message::decode_body(&self.data()[4..n])?;
        self.consume(n);
        self.maybe_shrink();
        Ok(Some(msg))
    }

    /// Like [`next_message`](Self::next_message) but a piece message is
    /// returned as a borrowed view (no copy of the block); other messages
    /// are returned as `Frame::Other`.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, ProtocolError> {
        let Some(n) = self.next_frame_len()? else {
            return Ok(None);
        };
        let start = self.start;
        let body_start = start + 4;
        if n > 4 && self.buf[body_start] == id::PIECE {
            if n < 4 + 9 {
                return Err(ProtocolError::WrongPayloadLength {
                    msg: "piece",
                    len: n - 5,
                    expected: "at least 8",
                });
            }
            self.consume(n);
            let b = &self.buf[body_start + 1..start + n];
            let index = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let begin = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            return Ok(Some(Frame::Piece {
                index,
                begin,
                data: &b[8..],
            }));
        }
        let msg = Message::decode_body(&self.buf[body_start..start + n])?;
        self.consume(n);
        self.maybe_shrink();
        Ok(Some(Frame::Other(msg)))
    }
}

/// A decoded frame from [`Decoder::next_frame`].
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Piece {
        index: u32,
        begin: u32,
        data: &'a [u8],
    },
    Other(Message),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infohash::InfoHash;

    fn all_messages() -> Vec<Message> {
        use Message::*;
        vec![
            KeepAlive,
            Choke,
            Unchoke,
            Interested,
            NotInterested,
            Have(3),
            Bitfield(vec![0xf0, 0x0f, 0xaa]),
            Request {
                index: 1,
                begin: 16384,
                length: 16384,
            },
            Piece {
                index: 1,
                begin: 16384,
                data: (0..=255u8).collect(),
            },
            Cancel {
                index: 1,
                begin: 0,
                length: 16384,
            },
            Port(6881),
            SuggestPiece(2),
            HaveAll,
            HaveNone,
            RejectRequest {
                index: 4,
                begin: 0,
                length: 100,
            },
            AllowedFast(9),
            Extended {
                id: 3,
                payload: b"d1:ai1ee".to_vec(),
            },
        ]
    }

    fn stream() -> (Handshake, Vec<u8>) {
        let h = Handshake::new(InfoHash([3; 20]), *b"-TR3000-xxxxxxxxxxxx");
        let mut s = h.encode().to_vec();
        for m in all_messages() {
            m.encode_into(&mut s);
        }
        (h, s)
    }

    fn decode_all(d: &mut Decoder, out: &mut Vec<Message>) {
        while let Some(m) = d.next_message().unwrap() {
            out.push(m);
        }
    }

    #[test]
    fn split_at_every_boundary() {
        let (h, s) = stream();
        for split in 0..=s.len() {
            let mut d = Decoder::new();
            d.feed(&s[..split]).unwrap();
            let mut hs = d.next_handshake().unwrap();
            let mut got = Vec::new();
            if hs.is_some() {
                decode_all(&mut d, &mut got);
            }
            d.feed(&s[split..]).unwrap();
            if hs.is_none() {
                hs = d.next_handshake().unwrap();
            }
            assert_eq!(hs, Some(h), "split {split}");
            decode_all(&mut d, &mut got);
            assert_eq!(got, all_messages(), "split {split}");
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn byte_at_a_time_via_spare() {
        let (h, s) = stream();
        let mut d = Decoder::new();
        let mut got = Vec::new();
        let mut hs = None;
        for b in &s {
            let sp = d.spare(1);
            sp[0] = *b;
            d.advance(1);
            if hs.is_none() {
                hs = d.next_handshake().unwrap();
            } else {
                decode_all(&mut d, &mut got);
            }
        }
        assert_eq!(hs, Some(h));
        assert_eq!(got, all_messages());
    }

    #[test]
    fn frames_borrow_piece_data() {
        let mut d = Decoder::after_handshake();
        let mut s = Vec::new();
        Message::Have(1).encode_into(&mut s);
        Message::Piece {
            index: 2,
            begin: 0,
            data: vec![5; 100],
        }
        .encode_into(&mut s);
        d.feed(&s).unwrap();
        assert_eq!(
            d.next_frame().unwrap(),
            Some(Frame::Other(Message::Have(1)))
        );
        match d.next_frame().unwrap() {
            Some(Frame::Piece {
                index: 2,
                begin: 0,
                data,
            }) => assert_eq!(data, &[5u8; 100][..]),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn limits_are_checked_at_the_header() {
        // A bitfield claiming 3 MiB is refused after 4 bytes.
        let mut d = Decoder::after_handshake();
        d.feed(&(3u32 << 20).to_be_bytes()).unwrap();
        assert_eq!(
            d.next_message().unwrap_err().to_string(),
            format!(
                "message length {} exceeds limit {}",
                3u32 << 20,
                DEFAULT_MAX_MESSAGE_LEN
            )
        );
        // A have message claiming 100 bytes is refused once the id is seen.
        let mut d = Decoder::after_handshake();
        d.feed(&[0, 0, 0, 100]).unwrap();
        assert_eq!(d.next_message().unwrap(), None);
        d.feed(&[4]).unwrap();
        assert_eq!(
            d.next_message().unwrap_err(),
            ProtocolError::WrongPayloadLength {
                msg: "have",
                len: 99,
                expected: "4"
            }
        );
        // A piece bigger than the block limit.
        let mut d = Decoder::after_handshake();
        d.feed(&((9 + 16385u32).to_be_bytes())).unwrap();
        d.feed(&[7]).unwrap();
        assert_eq!(
            d.next_message().unwrap_err(),
            ProtocolError::BlockTooLong {
                len: 16385,
                max: 16384
            }
        );
        // Unknown id.
        let mut d = Decoder::after_handshake();
        d.feed(&[0, 0, 0, 1, 42]).unwrap();
        assert_eq!(
            d.next_message().unwrap_err(),
            ProtocolError::UnknownMessageId(42)
        );
        // Configurable limit.
        let mut d = Decoder::after_handshake().with_max_message_len(100);
        d.feed(&[0, 0, 0, 101, 5]).unwrap();
        assert!(matches!(
            d.next_message(),
            Err(ProtocolError::MessageTooLong { len: 101, max: 100 })
        ));
        let mut d = Decoder::after_handshake().with_max_message_len(100);
        let mut s = Vec::new();
        Message::Bitfield(vec![0xff; 99]).encode_into(&mut s);
        d.feed(&s).unwrap();
        assert!(matches!(d.next_message().unwrap(), Some(Message::Bitfield(b)) if b.len() == 99));
    }

    #[test]
    fn buffer_is_bounded() {
        let mut d = Decoder::after_handshake().with_max_message_len(1000);
        let limit = d.buffer_limit();
        assert!(d.feed(&vec![0u8; limit]).is_ok());
        assert!(matches!(
            d.feed(&[0]),
            Err(ProtocolError::BufferFull { .. })
        ));
        assert!(d.spare(10).is_empty());
        // Draining (all keep-alives) makes room again.
        let mut n = 0;
        while let Some(m) = d.next_message().unwrap() {
            assert_eq!(m, Message::KeepAlive);
            n += 1;
        }
        assert_eq!(n, limit / 4);
        assert_eq!(d.spare(10).len(), 10);
    }

    #[test]
    fn spare_grows_with_what_arrives() {
        let mut d = Decoder::new();
        // One byte of a handshake: one small buffer, not the read size.
        assert_eq!(d.spare(256 * 1024).len(), FIRST_SPARE);
        d.advance(1);
        assert!(d.capacity() <= FIRST_SPARE);
        assert_eq!(d.spare(256 * 1024).len(), FIRST_SPARE, "a short read does not grow it");
        d.advance(0);
        // Reads that fill the space double the next one, up to the ask.
        let mut sizes = Vec::new();
        let mut d = Decoder::after_handshake();
        for _ in 0..8 {
            let n = d.spare(64 * 1024).len();
            sizes.push(n);
            d.spare(n).fill(0); // keep-alives
            d.advance(n);
            while d.next_message().unwrap().is_some() {}
        }
        assert_eq!(sizes, [4096, 8192, 16384, 32768, 65536, 65536, 65536, 65536]);
    }

    #[test]
    fn bad_handshake_detected_early() {
        let mut d = Decoder::new();
        d.feed(b"\x13BitTorrent").unwrap();
        assert_eq!(d.next_handshake().unwrap(), None);
        let mut d = Decoder::new();
        d.feed(b"GET / HTTP/1.1\r\n").unwrap();
        assert_eq!(
            d.next_handshake().unwrap_err(),
            ProtocolError::BadHandshakeLength(b'G')
        );
        let mut d = Decoder::new();
        d.feed(b"\x13BitTorrent protocoX").unwrap();
        assert!(matches!(
            d.next_handshake(),
            Err(ProtocolError::BadProtocolString(_))
        ));
    }
}
