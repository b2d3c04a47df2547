//! Extension protocol (BEP 10) handshake and the ut_metadata extension
//! (BEP 9) used to fetch the info dictionary from peers, with a sans-IO
//! [`MetadataAssembler`].
//!
//! The extended handshake is checked by the strict bencode scanner first
//! (bounded depth, canonical form) and then mapped onto a typed struct with
//! `serde_bencode`.

use super::error::ProtocolError;
use crate::bencode::{self, OwnedValue};
use crate::infohash::InfoHash;
use crate::metainfo::Metainfo;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

/// Extended message id of the extended handshake itself.
pub const EXTENDED_HANDSHAKE_ID: u8 = 0;
pub const UT_METADATA: &str = "ut_metadata";
pub const UT_PEX: &str = "ut_pex";
/// Size of a metadata piece (BEP 9).
pub const METADATA_PIECE_SIZE: usize = 16 * 1024;
/// Largest info dictionary we fetch.
pub const MAX_METADATA_SIZE: usize = 16 * 1024 * 1024;

/// The BEP 10 handshake dictionary (the fields we use; others are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedHandshake {
    /// Extension name -> the message id the sender wants to receive it on
    /// (0 = disabled).
    #[serde(default)]
    pub m: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_size: Option<i64>,
    /// Client name and version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<ByteBuf>,
    /// The sender's listen port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<i64>,
    /// How many outstanding requests the sender accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reqq: Option<i64>,
    /// Our address as the sender sees it (4 or 16 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yourip: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_only: Option<i64>,
    /// Encryption preference (BEP 10): 1 = the sender prefers MSE/PE
    /// encrypted connections (see [`crate::mse::Policy::extension_e`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<i64>,
}

impl ExtendedHandshake {
    /// A handshake offering ut_metadata on `ut_metadata_id`.
    pub fn ours(ut_metadata_id: u8, metadata_size: Option<usize>, port: Option<u16>) -> Self {
        let mut m = BTreeMap::new();
        m.insert(UT_METADATA.to_string(), ut_metadata_id as i64);
        ExtendedHandshake {
            m,
            metadata_size: metadata_size.map(|s| s as i64),
            v: Some(ByteBuf::from(
                format!("torrent-toolkit {}", env!("CARGO_PKG_VERSION")).into_bytes(),
            )),
            p: port.map(|p| p as i64),
            reqq: Some(250),
            yourip: None,
            upload_only: None,
            e: None,
        }
    }

    /// True when the peer said it prefers encrypted connections (`e: 1`).
    pub fn prefers_encryption(&self) -> bool {
        self.e == Some(1)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_bencode::to_bytes(self).expect("extended handshake always serialises")
    }

    pub fn parse(payload: &[u8]) -> Result<ExtendedHandshake, ProtocolError> {
        let bad = |m: String| ProtocolError::BadExtendedHandshake(m);
        let v = bencode::decode_lenient(payload).map_err(|e| bad(e.to_string()))?;
        if v.as_dict().is_none() {
            return Err(bad(format!(
                "expected a dictionary, found {}",
                v.type_name()
            )));
        }
        // serde reads the canonical form: sorted, the first of each
        // duplicate key kept (the lenient decoder's rule).
        let canonical = v.to_owned_value().encode();
        let h: ExtendedHandshake =
            serde_bencode::from_bytes(&canonical).map_err(|e| bad(e.to_string()))?;
        if let Some(s) = h.metadata_size {
            if s < 0 {
                return Err(bad(format!("metadata_size {s} is negative")));
            }
        }
        Ok(h)
    }

    /// The message id the peer wants for extension `name`, if enabled.
    pub fn extension_id(&self, name: &str) -> Option<u8> {
        self.m
            .get(name)
            .and_then(|&i| u8::try_from(i).ok())
            .filter(|&i| i != 0)
    }

    pub fn client(&self) -> Option<String> {
        self.v
            .as_ref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    pub fn port(&self) -> Option<u16> {
        self.p
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0)
    }

    pub fn your_ip(&self) -> Option<std::net::IpAddr> {
        let b = self.yourip.as_ref()?;
        match b.len() {
            4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(&b[..]).ok()?)),
            16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(&b[..]).ok()?)),
            _ => None,
        }
    }
}

/// A ut_metadata message (the payload of an extended message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataMessage {
    Request {
        piece: u32,
    },
    Data {
        piece: u32,
        total_size: u64,
        data: Vec<u8>,
    },
    Reject {
        piece: u32,
    },
}

impl MetadataMessage {
    pub fn encode(&self) -> Vec<u8> {
        let (t, piece) = match self {
            MetadataMessage::Request { piece } => (0, piece),
            MetadataMessage::Data { piece, .. } => (1, piece),
            MetadataMessage::Reject { piece } => (2, piece),
        };
        let mut d = OwnedValue::dict()
            .with("msg_type", OwnedValue::Int(t))
            .with("piece", OwnedValue::Int(*piece as i64));
        if let MetadataMessage::Data { total_size, .. } = self {
            d.insert("total_size", OwnedValue::Int(*total_size as i64));
        }
        let mut out = d.encode();
        if let MetadataMessage::Data { data, .. } = self {
            out.extend_from_slice(data);
        }
        out
    }

    pub fn parse(payload: &[u8]) -> Result<MetadataMessage, ProtocolError> {
        let bad = |m: String| ProtocolError::BadMetadataMessage(m);
        let (v, end) = bencode::decode_lenient_prefix(payload).map_err(|e| bad(e.to_string()))?;
        if v.as_dict().is_none() {
            return Err(bad(format!(
                "expected a dictionary, found {}",
                v.type_name()
            )));
        }
        let int = |k: &str| -> Result<i64, ProtocolError> {
            v.get(k)
                .ok_or_else(|| bad(format!("missing {k}")))?
                .as_int()
                .ok_or_else(|| bad(format!("{k} is not an integer")))
        };
        let msg_type = int("msg_type")?;
        let piece = u32::try_from(int("piece")?).map_err(|_| bad("piece out of range".into()))?;
        let rest = &payload[end..];
        match msg_type {
            0 | 2 => {
                if !rest.is_empty() {
                    return Err(bad(format!(
                        "{} trailing bytes after a request/reject",
                        rest.len()
                    )));
                }
                Ok(if msg_type == 0 {
                    MetadataMessage::Request { piece }
                } else {
                    MetadataMessage::Reject { piece }
                })
            }
            1 => {
                let total_size = u64::try_from(int("total_size")?)
                    .map_err(|_| bad("total_size is negative".into()))?;
                Ok(MetadataMessage::Data {
                    piece,
                    total_size,
                    data: rest.to_vec(),
                })
            }
            t => Err(bad(format!("unknown msg_type {t}"))),
        }
    }
}

/// Collects metadata pieces of a known total size and checks the SHA-1
/// against the info-hash when all are in.
#[derive(Debug)]
pub struct MetadataAssembler {
    info_hash: InfoHash,
    size: usize,
    buf: Vec<u8>,
    have: Vec<bool>,
    requested: Vec<bool>,
    received: usize,
}

impl MetadataAssembler {
    /// `size` is the peer's `metadata_size`; 1..=16 MiB.
    pub fn new(info_hash: InfoHash, size: i64) -> Result<MetadataAssembler, ProtocolError> {
        if size <= 0 || size as u64 > MAX_METADATA_SIZE as u64 {
            return Err(ProtocolError::Metadata(format!(
                "metadata_size {size} is outside 1..={MAX_METADATA_SIZE}"
            )));
        }
        let size = size as usize;
        let n = size.div_ceil(METADATA_PIECE_SIZE);
        Ok(MetadataAssembler {
            info_hash,
            size,
            buf: vec![0; size],
            have: vec![false; n],
            requested: vec![false; n],
            received: 0,
        })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn num_pieces(&self) -> usize {
        self.have.len()
    }

    pub fn piece_len(&self, piece: usize) -> usize {
        METADATA_PIECE_SIZE.min(self.size - piece * METADATA_PIECE_SIZE)
    }

    /// The next piece neither received nor requested; marks it requested.
    pub fn next_request(&mut self) -> Option<u32> {
        let i = (0..self.have.len()).find(|&i| !self.have[i] && !self.requested[i])?;
        self.requested[i] = true;
        Some(i as u32)
    }

    /// Forget that `piece` was requested (after a reject or a lost peer).
    pub fn unrequest(&mut self, piece: u32) {
        if let Some(r) = self.requested.get_mut(piece as usize) {
            *r = false;
        }
    }

    /// Forget all requests (e.g. the peer went away).
    pub fn unrequest_all(&mut self) {
        self.requested.iter_mut().for_each(|r| *r = false);
    }

    /// Store a data piece. Returns true when every piece is in.
    pub fn add_piece(
        &mut self,
        piece: u32,
        total_size: u64,
        data: &[u8],
    ) -> Result<bool, ProtocolError> {
        if total_size != self.size as u64 {
            return Err(ProtocolError::Metadata(format!(
                "piece {piece} says total_size {total_size}, but metadata_size is {}",
                self.size
            )));
        }
        let i = piece as usize;
        if i >= self.have.len() {
            return Err(ProtocolError::Metadata(format!(
                "piece {piece} out of range ({} pieces)",
                self.have.len()
            )));
        }
        let want = self.piece_len(i);
        if data.len() != want {
            return Err(ProtocolError::Metadata(format!(
                "piece {piece} has {} bytes, expected {want}",
                data.len()
            )));
        }
        let at = i * METADATA_PIECE_SIZE;
        self.buf[at..at + want].copy_from_slice(data);
        if !self.have[i] {
            self.have[i] = true;
            self.received += 1;
        }
        self.requested[i] = false;
        Ok(self.is_complete())
    }

    pub fn is_complete(&self) -> bool {
        self.received == self.have.len()
    }

    /// Check the SHA-1 of the assembled bytes and parse them. On a hash
    /// mismatch all pieces are dropped so they can be fetched again.
    pub fn finish(&mut self, trackers: Vec<Vec<String>>) -> Result<Metainfo, ProtocolError> {
        if !self.is_complete() {
            return Err(ProtocolError::Metadata(format!(
                "only {} of {} pieces received",
                self.received,
                self.have.len()
            )));
        }
        let got = InfoHash(Sha1::digest(&self.buf).into());
        if got != self.info_hash {
            self.have.iter_mut().for_each(|h| *h = false);
            self.received = 0;
            return Err(ProtocolError::Metadata(format!(
                "received info dictionary has SHA-1 {got}, expected info-hash {}",
                self.info_hash
            )));
        }
        Metainfo::from_info_bytes(&self.buf, &self.info_hash, trackers)
            .map_err(|e| ProtocolError::Metadata(format!("info dictionary is invalid: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_handshake_round_trip() {
        let h = ExtendedHandshake::ours(3, Some(31235), Some(6881));
        let enc = h.encode();
        // Canonical (sorted keys) so our strict decoder accepts it.
        assert!(bencode::decode(&enc).is_ok());
        let s = String::from_utf8_lossy(&enc);
        assert!(
            s.starts_with("d1:md11:ut_metadatai3ee13:metadata_sizei31235e1:pi6881e4:reqqi250e1:v"),
            "{s}"
        );
        let p = ExtendedHandshake::parse(&enc).unwrap();
        assert_eq!(p, h);
        assert_eq!(p.extension_id(UT_METADATA), Some(3));
        assert_eq!(p.extension_id(UT_PEX), None);
        assert_eq!(p.port(), Some(6881));
        assert!(p.client().unwrap().starts_with("torrent-toolkit"));
        assert!(!p.prefers_encryption());
        // The encryption preference (BEP 10 `e`).
        let mut h = ExtendedHandshake::ours(3, None, None);
        h.e = crate::mse::Policy::Require.extension_e();
        let enc = h.encode();
        assert!(bencode::decode(&enc).is_ok());
        assert!(enc.starts_with(b"d1:ei1e1:md"), "{}", String::from_utf8_lossy(&enc));
        assert!(ExtendedHandshake::parse(&enc).unwrap().prefers_encryption());
        let p = ExtendedHandshake::parse(b"d1:ei0e1:md11:ut_metadatai2eee").unwrap();
        assert_eq!(p.e, Some(0));
        assert!(!p.prefers_encryption());
    }

    #[test]
    fn extended_handshake_from_other_clients() {
        // libtorrent-like, with unknown keys and yourip
        let raw = b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei1234e4:reqqi500e11:upload_onlyi1e1:v17:libtorrent 2.0.106:yourip4:\x7f\x00\x00\x01e";
        let h = ExtendedHandshake::parse(raw).unwrap();
        assert_eq!(h.extension_id(UT_METADATA), Some(2));
        assert_eq!(h.extension_id(UT_PEX), Some(1));
        assert_eq!(h.metadata_size, Some(1234));
        assert_eq!(h.client().as_deref(), Some("libtorrent 2.0.10"));
        assert_eq!(h.your_ip(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(h.port(), None);
        // disabled extension (id 0)
        let h = ExtendedHandshake::parse(b"d1:md11:ut_metadatai0eee").unwrap();
        assert_eq!(h.extension_id(UT_METADATA), None);
        assert!(ExtendedHandshake::parse(b"i1e").is_err());
        assert!(ExtendedHandshake::parse(b"d1:md1:ai1e").is_err());
        assert!(ExtendedHandshake::parse(b"d13:metadata_sizei-5ee").is_err());
        // unsorted keys (some clients send them) are read; the first of a
        // duplicate key wins
        let h = ExtendedHandshake::parse(b"d1:pi7e1:md11:ut_metadatai3ee1:pi9ee").unwrap();
        assert_eq!(h.extension_id(UT_METADATA), Some(3));
        assert_eq!(h.port(), Some(7));
        let deep = format!("d1:x{}{}e", "l".repeat(100), "e".repeat(100));
        assert!(ExtendedHandshake::parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn metadata_messages() {
        let r = MetadataMessage::Request { piece: 2 };
        assert_eq!(r.encode(), b"d8:msg_typei0e5:piecei2ee");
        assert_eq!(MetadataMessage::parse(&r.encode()).unwrap(), r);
        let j = MetadataMessage::Reject { piece: 0 };
        assert_eq!(j.encode(), b"d8:msg_typei2e5:piecei0ee");
        assert_eq!(MetadataMessage::parse(&j.encode()).unwrap(), j);
        let d = MetadataMessage::Data {
            piece: 1,
            total_size: 20000,
            data: b"xyz".to_vec(),
        };
        assert_eq!(
            d.encode(),
            b"d8:msg_typei1e5:piecei1e10:total_sizei20000eexyz"
        );
        assert_eq!(MetadataMessage::parse(&d.encode()).unwrap(), d);
        assert!(MetadataMessage::parse(b"d8:msg_typei0e5:piecei0eeXX").is_err());
        assert!(MetadataMessage::parse(b"d8:msg_typei9e5:piecei0ee").is_err());
        assert!(MetadataMessage::parse(b"d8:msg_typei1e5:piecei0ee").is_err());
        assert!(MetadataMessage::parse(b"d5:piecei0ee").is_err());
        assert!(MetadataMessage::parse(b"d8:msg_typei0e5:piecei-1ee").is_err());
    }

    fn info_bytes(len: usize) -> Vec<u8> {
        // A valid single-file info dict padded with a long name.
        let name = "n".repeat(len);
        OwnedValue::dict()
            .with("length", OwnedValue::Int(1))
            .with("name", name.as_str().into())
            .with("piece length", OwnedValue::Int(16384))
            .with("pieces", OwnedValue::bytes([0u8; 20]))
            .encode()
    }

    #[test]
    fn assembler_collects_and_verifies() {
        let info = info_bytes(40_000);
        let ih = InfoHash(Sha1::digest(&info).into());
        let mut a = MetadataAssembler::new(ih, info.len() as i64).unwrap();
        assert_eq!(a.num_pieces(), 3);
        assert_eq!(a.next_request(), Some(0));
        assert_eq!(a.next_request(), Some(1));
        a.unrequest(1);
        assert_eq!(a.next_request(), Some(1));
        assert_eq!(a.next_request(), Some(2));
        assert_eq!(a.next_request(), None);
        let total = info.len() as u64;
        // wrong sizes are refused
        assert!(a.add_piece(0, total + 1, &info[..16384]).is_err());
        assert!(a.add_piece(0, total, &info[..100]).is_err());
        assert!(a.add_piece(3, total, &info[..100]).is_err());
        assert!(!a.add_piece(2, total, &info[32768..]).unwrap());
        assert!(!a.add_piece(0, total, &info[..16384]).unwrap());
        assert!(a.finish(vec![]).is_err());
        assert!(a.add_piece(1, total, &info[16384..32768]).unwrap());
        let m = a
            .finish(vec![vec!["http://127.0.0.1:1/announce".into()]])
            .unwrap();
        assert_eq!(m.info_hash, ih);
        assert_eq!(*m.info_bytes, info);
        assert_eq!(m.announce.as_deref(), Some("http://127.0.0.1:1/announce"));
    }

    #[test]
    fn assembler_rejects_wrong_hash_and_sizes() {
        let info = info_bytes(100);
        let mut a = MetadataAssembler::new(InfoHash([1; 20]), info.len() as i64).unwrap();
        assert!(a.add_piece(0, info.len() as u64, &info).unwrap());
        let e = a.finish(vec![]).unwrap_err().to_string();
        assert!(e.contains("expected info-hash 0101"), "{e}");
        assert!(!a.is_complete());
        assert_eq!(a.next_request(), Some(0));
        assert!(MetadataAssembler::new(InfoHash([1; 20]), 0).is_err());
        assert!(MetadataAssembler::new(InfoHash([1; 20]), 16 * 1024 * 1024 + 1).is_err());
    }
}
