//! Peer exchange (BEP 11): the `ut_pex` extension message, a bencoded
//! dictionary of compact peer lists that were added or dropped since the
//! last message.

use super::error::ProtocolError;
use crate::bencode::{self, OwnedValue};
use crate::tracker::{encode_compact, parse_compact_v4, parse_compact_v6};
use std::net::SocketAddr;

/// Name of the extension in the BEP 10 handshake.
pub const UT_PEX: &str = "ut_pex";
/// Most peers we accept in one list of one message (BEP 11 says senders
/// should keep to 50 added and 50 dropped).
pub const MAX_PEX_PEERS: usize = 200;
/// Most peers we put in the `added` list of one message.
pub const MAX_ADDED: usize = 50;

/// `added.f` flags (BEP 11).
pub mod flags {
    pub const PREFERS_ENCRYPTION: u8 = 0x01;
    pub const SEED: u8 = 0x02;
    pub const SUPPORTS_UTP: u8 = 0x04;
    pub const SUPPORTS_HOLEPUNCH: u8 = 0x08;
    pub const REACHABLE: u8 = 0x10;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// Peers added, IPv4 and IPv6, with their flags (0 when not given).
    pub added: Vec<(SocketAddr, u8)>,
    pub dropped: Vec<SocketAddr>,
    /// When parsed: every added peer had its byte in `added.f`/`added6.f`
    /// (flags given; a peer without them says nothing of uTP or
    /// encryption). Ignored by `encode`, which always sends them.
    pub flags_given: bool,
}

impl PexMessage {
    pub fn encode(&self) -> Vec<u8> {
        let added: Vec<SocketAddr> = self.added.iter().map(|(a, _)| *a).collect();
        let (a4, a6) = encode_compact(&added);
        let f4: Vec<u8> = self.added.iter().filter(|(a, _)| a.is_ipv4()).map(|(_, f)| *f).collect();
        let f6: Vec<u8> = self.added.iter().filter(|(a, _)| a.is_ipv6()).map(|(_, f)| *f).collect();
        let (d4, d6) = encode_compact(&self.dropped);
        OwnedValue::dict()
            .with("added", OwnedValue::Bytes(a4))
            .with("added.f", OwnedValue::Bytes(f4))
            .with("added6", OwnedValue::Bytes(a6))
            .with("added6.f", OwnedValue::Bytes(f6))
            .with("dropped", OwnedValue::Bytes(d4))
            .with("dropped6", OwnedValue::Bytes(d6))
            .encode()
    }

    pub fn parse(payload: &[u8]) -> Result<PexMessage, ProtocolError> {
        let bad = |m: String| ProtocolError::BadPex(m);
        let v = bencode::decode_lenient(payload).map_err(|e| bad(e.to_string()))?;
        if v.as_dict().is_none() {
            return Err(bad(format!("expected a dictionary, found {}", v.type_name())));
        }
        let list = |key: &str, v6: bool| -> Result<Vec<SocketAddr>, ProtocolError> {
            match v.get(key) {
                None => Ok(Vec::new()),
                Some(x) => {
                    let b = x.as_bytes().ok_or_else(|| bad(format!("{key} is not a byte string")))?;
                    let r = if v6 { parse_compact_v6(b, MAX_PEX_PEERS) } else { parse_compact_v4(b, MAX_PEX_PEERS) };
                    r.map_err(|e| bad(format!("{key}: {e}")))
                }
            }
        };
        let flags_of = |key: &str| -> Vec<u8> { v.get(key).and_then(|f| f.as_bytes()).unwrap_or(&[]).to_vec() };
        let mut added = Vec::new();
        let mut flags_given = true;
        for (key, v6) in [("added", false), ("added6", true)] {
            let peers = list(key, v6)?;
            let f = flags_of(&format!("{key}.f"));
            flags_given &= f.len() >= peers.len();
            for (i, p) in peers.into_iter().enumerate() {
                added.push((p, f.get(i).copied().unwrap_or(0)));
            }
        }
        let mut dropped = list("dropped", false)?;
        dropped.extend(list("dropped6", true)?);
        Ok(PexMessage { added, dropped, flags_given })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bytes() {
        let m = PexMessage {
            added: vec![("127.0.0.1:6881".parse().unwrap(), flags::SEED), ("[::1]:80".parse().unwrap(), 0)],
            dropped: vec!["10.0.0.1:1".parse().unwrap()],
            flags_given: true,
        };
        let enc = m.encode();
        assert!(enc.starts_with(b"d5:added6:\x7f\x00\x00\x01\x1a\xe17:added.f1:\x02"));
        assert_eq!(PexMessage::parse(&enc).unwrap(), m);
    }

    #[test]
    fn malformed() {
        assert!(PexMessage::parse(b"le").is_err());
        assert!(PexMessage::parse(b"d5:added5:abcdee").is_err());
        assert!(PexMessage::parse(b"d5:addedi1ee").is_err());
        let many = vec![0u8; 6 * (MAX_PEX_PEERS + 1)];
        let mut msg = b"d5:added".to_vec();
        msg.extend_from_slice(format!("{}:", many.len()).as_bytes());
        msg.extend_from_slice(&many);
        msg.push(b'e');
        assert!(PexMessage::parse(&msg).is_err());
        // Missing keys are empty lists.
        assert_eq!(PexMessage::parse(b"de").unwrap(), PexMessage { flags_given: true, ..PexMessage::default() });
        // Flags missing for a peer: not given.
        assert!(!PexMessage::parse(b"d5:added6:\x7f\x00\x00\x01\x1a\xe1e").unwrap().flags_given);
    }
}
