//! The 68-byte handshake (BEP 3) and the reserved bits we look at:
//! extension protocol (BEP 10), fast extension (BEP 6), DHT (BEP 5).

use super::error::ProtocolError;
use crate::infohash::InfoHash;

pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
pub const HANDSHAKE_LEN: usize = 68;

/// Our client code in Azureus-style peer ids (BEP 20), shared with
/// [`crate::peer_id`].
pub const CLIENT_PREFIX: &[u8; 8] = crate::peer_id::PREFIX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: InfoHash,
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// A handshake advertising the extension protocol and the fast extension.
    pub fn new(info_hash: InfoHash, peer_id: [u8; 20]) -> Handshake {
        let mut h = Handshake {
            reserved: [0; 8],
            info_hash,
            peer_id,
        };
        h.set_extended(true);
        h.set_fast(true);
        h
    }

    pub fn supports_extended(&self) -> bool {
        self.reserved[5] & 0x10 != 0
    }
    pub fn supports_fast(&self) -> bool {
        self.reserved[7] & 0x04 != 0
    }
    pub fn supports_dht(&self) -> bool {
        self.reserved[7] & 0x01 != 0
    }
    pub fn set_extended(&mut self, on: bool) {
        set_bit(&mut self.reserved[5], 0x10, on)
    }
    pub fn set_fast(&mut self, on: bool) {
        set_bit(&mut self.reserved[7], 0x04, on)
    }
    pub fn set_dht(&mut self, on: bool) {
        set_bit(&mut self.reserved[7], 0x01, on)
    }

    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut b = [0u8; HANDSHAKE_LEN];
        b[0] = 19;
        b[1..20].copy_from_slice(PROTOCOL);
        b[20..28].copy_from_slice(&self.reserved);
        b[28..48].copy_from_slice(&self.info_hash.0);
        b[48..68].copy_from_slice(&self.peer_id);
        b
    }

    /// Parse exactly 68 bytes.
    pub fn parse(b: &[u8]) -> Result<Handshake, ProtocolError> {
        check_prefix(b)?;
        if b.len() != HANDSHAKE_LEN {
            return Err(ProtocolError::HandshakeSize(b.len()));
        }
        Ok(Handshake {
            reserved: b[20..28].try_into().expect("8 bytes"),
            info_hash: InfoHash(b[28..48].try_into().expect("20 bytes")),
            peer_id: b[48..68].try_into().expect("20 bytes"),
        })
    }

    /// Error unless the peer's info-hash is `expected`.
    pub fn check_info_hash(&self, expected: &InfoHash) -> Result<(), ProtocolError> {
        if &self.info_hash != expected {
            return Err(ProtocolError::InfoHashMismatch {
                expected: expected.to_hex(),
                got: self.info_hash.to_hex(),
            });
        }
        Ok(())
    }

    /// Names of the reserved bits that are set and that we know.
    pub fn extension_names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.supports_extended() {
            v.push("extended");
        }
        if self.supports_fast() {
            v.push("fast");
        }
        if self.supports_dht() {
            v.push("dht");
        }
        v
    }
}

fn set_bit(b: &mut u8, mask: u8, on: bool) {
    if on {
        *b |= mask
    } else {
        *b &= !mask
    }
}

/// Check as much of the fixed prefix (length byte, protocol string) as
/// `b` holds, so a wrong protocol is reported before 68 bytes arrive.
pub(crate) fn check_prefix(b: &[u8]) -> Result<(), ProtocolError> {
    if let Some(&n) = b.first() {
        if n != 19 {
            return Err(ProtocolError::BadHandshakeLength(n));
        }
    }
    let have = b.len().min(20);
    if have > 1 && b[1..have] != PROTOCOL[..have - 1] {
        return Err(ProtocolError::BadProtocolString(
            String::from_utf8_lossy(&b[1..have]).into_owned(),
        ));
    }
    Ok(())
}

pub use crate::peer_id::generate as generate_peer_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bits() {
        let ih = InfoHash([7; 20]);
        let mut h = Handshake::new(ih, *b"-TK0100-abcdefghijkl");
        assert!(h.supports_extended() && h.supports_fast() && !h.supports_dht());
        h.set_dht(true);
        let b = h.encode();
        assert_eq!(b[0], 19);
        assert_eq!(&b[1..20], b"BitTorrent protocol");
        assert_eq!(&b[20..28], &[0, 0, 0, 0, 0, 0x10, 0, 0x05]);
        assert_eq!(&b[28..48], &[7; 20]);
        assert_eq!(&b[48..68], b"-TK0100-abcdefghijkl");
        let p = Handshake::parse(&b).unwrap();
        assert_eq!(p, h);
        assert_eq!(p.extension_names(), vec!["extended", "fast", "dht"]);
        h.set_fast(false);
        assert!(!h.supports_fast());
        assert!(p.check_info_hash(&ih).is_ok());
        assert!(matches!(
            p.check_info_hash(&InfoHash([8; 20])),
            Err(ProtocolError::InfoHashMismatch { .. })
        ));
    }

    #[test]
    fn bad_handshakes() {
        let mut b = Handshake::new(InfoHash([0; 20]), [1; 20]).encode();
        assert_eq!(
            Handshake::parse(&b[..67]).unwrap_err(),
            ProtocolError::HandshakeSize(67)
        );
        b[5] = b'X';
        assert_eq!(
            Handshake::parse(&b).unwrap_err().to_string(),
            "handshake: bad protocol string \"BitTXrrent protocol\", expected \"BitTorrent protocol\""
        );
        b[0] = 18;
        assert_eq!(
            Handshake::parse(&b).unwrap_err(),
            ProtocolError::BadHandshakeLength(18)
        );
        assert!(check_prefix(b"\x13BitT").is_ok());
        assert!(check_prefix(b"\x13GET ").is_err());
    }

    #[test]
    fn peer_ids_are_ours_and_differ() {
        let a = generate_peer_id();
        let b = generate_peer_id();
        assert_eq!(&a[..8], CLIENT_PREFIX);
        assert_ne!(a, b);
        assert!(a.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-'));
    }
}
