//! Telling apart the datagrams that share one UDP socket (issue 14: uTP,
//! the DHT and UDP trackers on the listen port), by content alone, as
//! libtorrent does. Pure and total: any bytes get a [`Kind`], nothing is
//! allocated, and the owner hands the datagram to the one parser it names
//! (which still checks everything).
//!
//! The three formats cannot be confused on their first byte:
//!
//! - a KRPC message (BEP 5) is a bencoded dictionary: `d` (0x64) ... `e`;
//! - a uTP packet (BEP 29) has `type << 4 | version` there, version 1 and
//!   type 0..=4: 0x01, 0x11, 0x21, 0x31 or 0x41; and at least the 20-byte
//!   header;
//! - a UDP tracker reply (BEP 15) starts with its 32-bit big-endian action
//!   (0 connect, 1 announce, 2 scrape, 3 error): 0x00 0x00 0x00 0x0N, then
//!   the transaction id the owner matches against its own requests.

use crate::utp::packet::{HEADER_LEN, VERSION};

/// What a datagram on the shared socket looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A bencoded dictionary: a KRPC query, response or error (DHT).
    Dht,
    /// A uTP packet header (version 1, type ST_DATA..=ST_SYN).
    Utp,
    /// A BEP 15 tracker reply: action 0..=3; the transaction id is
    /// `u32::from_be_bytes(d[4..8])`.
    Tracker,
    /// None of these: dropped.
    Unknown,
}

/// The highest uTP packet type (ST_SYN).
const MAX_UTP_TYPE: u8 = 4;
/// The shortest BEP 15 reply (an error with an empty message; a connect
/// reply is 16 bytes).
const MIN_TRACKER_REPLY: usize = 8;

/// Classify one datagram by its content.
pub fn classify(d: &[u8]) -> Kind {
    match d.first() {
        None => Kind::Unknown,
        Some(b'd') if d.len() >= 2 && d[d.len() - 1] == b'e' => Kind::Dht,
        Some(&b) if b & 0x0f == VERSION && b >> 4 <= MAX_UTP_TYPE && d.len() >= HEADER_LEN => Kind::Utp,
        Some(0) if d.len() >= MIN_TRACKER_REPLY && d[1] == 0 && d[2] == 0 && d[3] <= 3 => Kind::Tracker,
        _ => Kind::Unknown,
    }
}

/// The transaction id of a datagram [`classify`] calls [`Kind::Tracker`].
pub fn tracker_transaction(d: &[u8]) -> Option<u32> {
    (classify(d) == Kind::Tracker).then(|| u32::from_be_bytes([d[4], d[5], d[6], d[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dht::krpc::{Message, Query};
        use crate::utp::{Packet, PacketType};

    fn utp(ty: PacketType, payload: &[u8]) -> Vec<u8> {
        let mut p = Packet::new(ty, 1234, 7, 6);
        p.payload = payload;
        p.encode()
    }

    #[test]
    fn each_format_is_told_by_its_content() {
        for ty in [PacketType::Data, PacketType::Fin, PacketType::State, PacketType::Reset, PacketType::Syn] {
            assert_eq!(classify(&utp(ty, b"")), Kind::Utp, "{ty:?}");
        }
        // A DATA packet whose payload is bencode is still uTP.
        assert_eq!(classify(&utp(PacketType::Data, b"d1:y1:qe")), Kind::Utp);
        let ping = Message::query(b"aa".to_vec(), Query::Ping { id: crate::dht::NodeId([7; 20]) }).encode();
        assert_eq!(classify(&ping), Kind::Dht);
        assert_eq!(classify(b"d1:y1:re"), Kind::Dht);
        // BEP 15: connect reply (16 bytes), error reply with its message.
        let mut connect = vec![0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
        connect.extend_from_slice(&42u64.to_be_bytes());
        assert_eq!(classify(&connect), Kind::Tracker);
        assert_eq!(tracker_transaction(&connect), Some(0xdead_beef));
        let mut error = vec![0, 0, 0, 3, 0, 0, 0, 9];
        error.extend_from_slice(b"no");
        assert_eq!(classify(&error), Kind::Tracker);
        assert_eq!(tracker_transaction(&error), Some(9));
        assert_eq!(tracker_transaction(&ping), None);
    }

    #[test]
    fn short_odd_and_foreign_datagrams_are_unknown() {
        for d in [
            &b""[..],
            b"d",                         // not a whole dictionary
            b"d1:y1:q",                   // truncated: no closing e
            b"l1:ae",                     // bencode, but a list
            &[0x01; 19],                  // a uTP header one byte short
            &[0x51; 20],                  // version 1, type 5
            &[0x02; 20],                  // version 2
            &[0, 0, 0, 4, 0, 0, 0, 0],    // action 4
            &[0, 0, 0, 1, 0, 0, 0],       // 7 bytes
            &[0, 0, 1, 0, 0, 0, 0, 0],    // action 256
            b"\x13BitTorrent protocol",   // a TCP handshake sent over UDP
        ] {
            assert_eq!(classify(d), Kind::Unknown, "{d:?}");
        }
    }

    /// Every first byte maps to at most one kind: the formats are disjoint
    /// whatever follows.
    #[test]
    fn the_kinds_are_disjoint_on_the_first_byte() {
        for b in 0..=255u8 {
            let mut kinds = Vec::new();
            for len in [1usize, 2, 8, 20, 100] {
                for fill in [0u8, b'e', 0xff] {
                    let mut d = vec![fill; len];
                    d[0] = b;
                    if let Some(l) = d.last_mut().filter(|_| len > 1) {
                        *l = b'e';
                    }
                    let k = classify(&d);
                    if k != Kind::Unknown && !kinds.contains(&k) {
                        kinds.push(k);
                    }
                }
            }
            assert!(kinds.len() <= 1, "first byte {b:#04x}: {kinds:?}");
        }
    }

    /// What each parser accepts is classified as its kind (a pseudo-random
    /// sweep; the fuzz target `demux` checks the same on arbitrary input).
    #[test]
    fn what_the_parsers_accept_is_classified_as_theirs() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 64) as usize;
            let mut d: Vec<u8> = (0..len).map(|j| (x >> ((j % 8) * 8)) as u8 ^ j as u8).collect();
            if let Some(b) = d.first_mut() {
                *b = [0x01, 0x21, 0x41, b'd', 0, (i % 256) as u8][i % 6];
            }
            check(&d);
        }
    }

    fn check(d: &[u8]) {
        let k = classify(d);
        if Packet::decode(d).is_ok() {
            assert_eq!(k, Kind::Utp, "{d:?}");
        }
        if crate::dht::krpc::parse(d).is_ok() {
            assert_eq!(k, Kind::Dht, "{d:?}");
        }
        if crate::tracker::udp::parse_response(d, false, 10).is_ok() {
            assert_eq!(k, Kind::Tracker, "{d:?}");
        }
    }
}
