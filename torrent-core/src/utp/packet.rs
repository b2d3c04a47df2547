//! uTP packet codec (BEP 29, header version 1).
//!
//! ```text
//! 0       4       8               16              24              32
//! +-------+-------+---------------+---------------+---------------+
//! | type  | ver   | extension     | connection_id                 |
//! +-------+-------+---------------+---------------+---------------+
//! | timestamp_microseconds                                        |
//! | timestamp_difference_microseconds                             |
//! | wnd_size                                                      |
//! | seq_nr                        | ack_nr                        |
//! +---------------+---------------+---------------+---------------+
//! ```
//!
//! Extensions follow the header as a chain of `[next type][len][len bytes]`.
//! Type 1 is the selective ACK: a bitmask (BEP 29: a multiple of 4 bytes;
//! libtorrent also sends other lengths, accepted) where bit
//! `i` (bit `i % 8` of byte `i / 8`, least significant first) says packet
//! `ack_nr + 2 + i` was received. Other extension types are skipped.
//! Parsing is strict and bounded: a wrong version or type, an extension that
//! runs past the end, an empty or repeated selective ACK, or more than
//! [`MAX_EXTENSIONS`] extensions reject the datagram.

use std::fmt;

/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 20;
/// The only header version there is.
pub const VERSION: u8 = 1;
/// Extension type of the selective ACK.
pub const EXT_SACK: u8 = 1;
/// Longest selective ACK bitmask we emit (bytes; 256 packets). BEP 29
/// says a multiple of 4 bytes, but libtorrent sends other lengths (27 bytes
/// seen on loopback), so any non-empty length up to 255 is accepted.
pub const MAX_SACK_LEN: usize = 32;
/// Most extensions one packet may carry.
pub const MAX_EXTENSIONS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// ST_DATA: payload, consumes a sequence number.
    Data = 0,
    /// ST_FIN: the sender's last sequence number.
    Fin = 1,
    /// ST_STATE: an ACK; does not consume a sequence number.
    State = 2,
    /// ST_RESET: abort the connection.
    Reset = 3,
    /// ST_SYN: open a connection, consumes a sequence number.
    Syn = 4,
}

impl PacketType {
    pub fn from_u8(v: u8) -> Option<PacketType> {
        Some(match v {
            0 => PacketType::Data,
            1 => PacketType::Fin,
            2 => PacketType::State,
            3 => PacketType::Reset,
            4 => PacketType::Syn,
            _ => return None,
        })
    }
}

/// Why a datagram is not a uTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    TooShort,
    BadVersion(u8),
    BadType(u8),
    /// An extension header or body runs past the end of the datagram.
    TruncatedExtension,
    /// Selective ACK of length 0.
    BadSackLength(u8),
    DuplicateSack,
    TooManyExtensions,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooShort => write!(f, "shorter than the {HEADER_LEN}-byte uTP header"),
            ParseError::BadVersion(v) => write!(f, "uTP version {v}, expected {VERSION}"),
            ParseError::BadType(t) => write!(f, "unknown uTP packet type {t}"),
            ParseError::TruncatedExtension => write!(f, "uTP extension runs past the datagram"),
            ParseError::BadSackLength(l) => write!(f, "selective ACK of {l} bytes"),
            ParseError::DuplicateSack => write!(f, "two selective ACK extensions"),
            ParseError::TooManyExtensions => {
                write!(f, "more than {MAX_EXTENSIONS} uTP extensions")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// One decoded packet, borrowing from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub ty: PacketType,
    pub conn_id: u16,
    pub timestamp_us: u32,
    pub timestamp_diff_us: u32,
    pub wnd_size: u32,
    pub seq_nr: u16,
    pub ack_nr: u16,
    /// Selective ACK bitmask, if present (1 to 255 bytes).
    pub sack: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// A packet with no extension and no payload.
    pub fn new(ty: PacketType, conn_id: u16, seq_nr: u16, ack_nr: u16) -> Packet<'static> {
        Packet {
            ty,
            conn_id,
            timestamp_us: 0,
            timestamp_diff_us: 0,
            wnd_size: 0,
            seq_nr,
            ack_nr,
            sack: None,
            payload: &[],
        }
    }

    pub fn decode(buf: &'a [u8]) -> Result<Packet<'a>, ParseError> {
        if buf.len() < HEADER_LEN {
            return Err(ParseError::TooShort);
        }
        let ver = buf[0] & 0x0f;
        if ver != VERSION {
            return Err(ParseError::BadVersion(ver));
        }
        let ty = PacketType::from_u8(buf[0] >> 4).ok_or(ParseError::BadType(buf[0] >> 4))?;
        let u16_at = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let mut next = buf[1];
        let mut pos = HEADER_LEN;
        let mut sack = None;
        let mut count = 0;
        while next != 0 {
            count += 1;
            if count > MAX_EXTENSIONS {
                return Err(ParseError::TooManyExtensions);
            }
            if buf.len() - pos < 2 {
                return Err(ParseError::TruncatedExtension);
            }
            let (ext, len) = (next, buf[pos + 1] as usize);
            next = buf[pos];
            pos += 2;
            if buf.len() - pos < len {
                return Err(ParseError::TruncatedExtension);
            }
            if ext == EXT_SACK {
                if len == 0 {
                    return Err(ParseError::BadSackLength(len as u8));
                }
                if sack.is_some() {
                    return Err(ParseError::DuplicateSack);
                }
                sack = Some(&buf[pos..pos + len]);
            }
            pos += len;
        }
        Ok(Packet {
            ty,
            conn_id: u16_at(2),
            timestamp_us: u32_at(4),
            timestamp_diff_us: u32_at(8),
            wnd_size: u32_at(12),
            seq_nr: u16_at(16),
            ack_nr: u16_at(18),
            sack,
            payload: &buf[pos..],
        })
    }

    /// Bytes [`encode_into`](Self::encode_into) appends.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.sack.map_or(0, |s| 2 + s.len()) + self.payload.len()
    }

    /// Append the packet. A selective ACK is written as given (callers keep
    /// it a multiple of 4 bytes, at most [`MAX_SACK_LEN`]).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(((self.ty as u8) << 4) | VERSION);
        out.push(if self.sack.is_some() { EXT_SACK } else { 0 });
        out.extend_from_slice(&self.conn_id.to_be_bytes());
        out.extend_from_slice(&self.timestamp_us.to_be_bytes());
        out.extend_from_slice(&self.timestamp_diff_us.to_be_bytes());
        out.extend_from_slice(&self.wnd_size.to_be_bytes());
        out.extend_from_slice(&self.seq_nr.to_be_bytes());
        out.extend_from_slice(&self.ack_nr.to_be_bytes());
        if let Some(s) = self.sack {
            out.push(0);
            out.push(s.len() as u8);
            out.extend_from_slice(s);
        }
        out.extend_from_slice(self.payload);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }
}

/// `a` is before `b` in 16-bit sequence space (within half the space).
pub fn seq_less(a: u16, b: u16) -> bool {
    (b.wrapping_sub(a) as i16) > 0
}

/// Is packet `seq` marked in a selective ACK sent with `ack_nr`?
pub fn sack_has(mask: &[u8], ack_nr: u16, seq: u16) -> bool {
    let i = seq.wrapping_sub(ack_nr).wrapping_sub(2) as usize;
    i < mask.len() * 8 && mask[i / 8] & (1 << (i % 8)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Packet<'static> {
        Packet {
            ty: PacketType::Data,
            conn_id: 0xbeef,
            timestamp_us: 0x0102_0304,
            timestamp_diff_us: 0xa0b0_c0d0,
            wnd_size: 1 << 20,
            seq_nr: 65535,
            ack_nr: 7,
            sack: Some(&[0b0000_0101, 0, 0, 0x80]),
            payload: b"hello",
        }
    }

    #[test]
    fn round_trip_every_type() {
        for t in 0..5 {
            let mut p = sample();
            p.ty = PacketType::from_u8(t).unwrap();
            let b = p.encode();
            assert_eq!(b.len(), p.encoded_len());
            assert_eq!(b[0], (t << 4) | 1);
            assert_eq!(Packet::decode(&b).unwrap(), p);
            p.sack = None;
            p.payload = &[];
            let b = p.encode();
            assert_eq!(b.len(), HEADER_LEN);
            assert_eq!(Packet::decode(&b).unwrap(), p);
        }
    }

    #[test]
    fn wire_layout() {
        let b = sample().encode();
        assert_eq!(&b[..20], &[
            0x01, 1, 0xbe, 0xef, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0, 0, 0x10, 0, 0, 0xff, 0xff,
            0, 7
        ]);
        assert_eq!(&b[20..26], &[0, 4, 5, 0, 0, 0x80]);
        assert_eq!(&b[26..], b"hello");
    }

    #[test]
    fn sack_bits() {
        let m = [0b0000_0101u8, 0, 0, 0x80];
        assert!(sack_has(&m, 7, 9));
        assert!(!sack_has(&m, 7, 10));
        assert!(sack_has(&m, 7, 11));
        assert!(sack_has(&m, 7, 9 + 31));
        assert!(!sack_has(&m, 7, 9 + 32));
        assert!(!sack_has(&m, 7, 8));
        // Across the wrap.
        assert!(sack_has(&m, 65534, 0));
    }

    #[test]
    fn unknown_extensions_are_skipped() {
        let mut b = sample().encode();
        // Insert an extension of type 2 (8 bytes) after the sack.
        b[20] = 2;
        let tail = b.split_off(26);
        b.extend_from_slice(&[0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        b.extend_from_slice(&tail);
        let p = Packet::decode(&b).unwrap();
        assert_eq!(p, sample());
    }

    #[test]
    fn malformed() {
        let good = sample().encode();
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::decode(&good[..n]), Err(ParseError::TooShort));
        }
        let mut b = good.clone();
        b[0] = 0x02;
        assert_eq!(Packet::decode(&b), Err(ParseError::BadVersion(2)));
        b[0] = 0x51;
        assert_eq!(Packet::decode(&b), Err(ParseError::BadType(5)));
        // Extension header cut off.
        assert_eq!(
            Packet::decode(&good[..21]),
            Err(ParseError::TruncatedExtension)
        );
        assert_eq!(
            Packet::decode(&good[..24]),
            Err(ParseError::TruncatedExtension)
        );
        let mut b = good[..20].to_vec();
        b[1] = 1;
        b.extend_from_slice(&[0, 0]);
        assert_eq!(Packet::decode(&b), Err(ParseError::BadSackLength(0)));
        // Lengths that are not a multiple of 4 (libtorrent sends them).
        for len in [1u8, 3, 27, 36, 255] {
            let mut b = good[..20].to_vec();
            b[1] = 1;
            b.extend_from_slice(&[0, len]);
            b.extend(std::iter::repeat(0xff).take(len as usize));
            let p = Packet::decode(&b).unwrap();
            assert_eq!(p.sack.unwrap().len(), len as usize);
            assert!(sack_has(p.sack.unwrap(), 0, 2 + 8 * len as u16 - 1));
            assert!(!sack_has(p.sack.unwrap(), 0, 2 + 8 * len as u16));
            assert_eq!(Packet::decode(&p.encode()).unwrap(), p);
        }
        let mut b = good[..20].to_vec();
        b[1] = 1;
        b.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
        assert_eq!(Packet::decode(&b), Err(ParseError::DuplicateSack));
        // A long chain of empty extensions.
        let mut b = good[..20].to_vec();
        b[1] = 9;
        for _ in 0..20 {
            b.extend_from_slice(&[9, 0]);
        }
        assert_eq!(Packet::decode(&b), Err(ParseError::TooManyExtensions));
    }

    #[test]
    fn seq_order_wraps() {
        assert!(seq_less(1, 2));
        assert!(seq_less(65535, 0));
        assert!(seq_less(65000, 100));
        assert!(!seq_less(100, 65000));
        assert!(!seq_less(5, 5));
    }
}
