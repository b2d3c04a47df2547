//! Checks shared by the fuzz targets: each one feeds arbitrary bytes to a
//! torrent-core parser and, when the parser accepts them, asserts properties
//! that must hold for every accepted input. A panic here is a finding.

pub mod demux;
pub mod dht;
pub mod input;
pub mod mse;
pub mod peer;
pub mod tracker;
pub mod utp;

use std::path::Path;
use std::str::FromStr;

use sha1::{Digest, Sha1};
use torrent_core::bencode;
use torrent_core::infohash::InfoHash;
use torrent_core::magnet::{Magnet, MAX_MAGNET_LEN};
use torrent_core::metainfo::{Info, Metainfo, MAX_TORRENT_SIZE};
use torrent_core::path::{safe_join, MAX_COMPONENT_BYTES};

/// Strict decoding is the identity on what it accepts: re-encoding gives the
/// same bytes, and a prefix decode agrees with the raw span it reports.
pub fn check_bencode(data: &[u8]) {
    match bencode::decode(data) {
        Ok(v) => {
            assert_eq!(v.raw, data, "raw span of the root is the whole input");
            assert_eq!(
                v.to_owned_value().encode(),
                data,
                "accepted input re-encodes identically"
            );
        }
        Err(e) => assert!(
            e.offset <= data.len(),
            "error offset {} past the end",
            e.offset
        ),
    }
    match bencode::decode_prefix(data) {
        Ok((v, end)) => {
            assert!(end <= data.len());
            assert_eq!(v.raw, &data[..end]);
            assert_eq!(v.to_owned_value().encode(), v.raw);
            // The whole-buffer decoder agrees with the prefix decoder.
            let whole = bencode::decode(data);
            assert_eq!(whole.is_ok(), end == data.len());
        }
        Err(e) => {
            assert!(e.offset <= data.len());
            assert!(
                bencode::decode(data).is_err(),
                "prefix failed but whole succeeded"
            );
        }
    }
}

/// The lenient decoder (unsorted and duplicate keys) accepts everything the
/// strict one does, with the same value; what it accepts re-encodes to
/// canonical bencode that both decoders read back to the same value; its
/// prefix and whole forms agree; errors point inside the buffer.
pub fn check_bencode_lenient(data: &[u8]) {
    let strict = bencode::decode(data);
    let lenient = bencode::decode_lenient(data);
    match (&strict, &lenient) {
        (Ok(s), Ok(l)) => assert_eq!(s, l, "strict and lenient values differ"),
        (Ok(_), Err(e)) => panic!("lenient refuses what strict accepts: {e}"),
        (Err(e), _) => assert!(e.offset <= data.len()),
    }
    match &lenient {
        Ok(v) => {
            assert_eq!(v.raw, data, "raw span of the root is the whole input");
            let owned = v.to_owned_value();
            let enc = owned.encode();
            let again = bencode::decode(&enc).expect("re-encoding is canonical");
            assert_eq!(again.to_owned_value(), owned);
            assert_eq!(bencode::decode_lenient(&enc).unwrap().to_owned_value(), owned);
            assert!(enc.len() <= data.len(), "dropping duplicates never grows the value");
        }
        Err(e) => assert!(e.offset <= data.len(), "error offset {} past the end", e.offset),
    }
    match bencode::decode_lenient_prefix(data) {
        Ok((v, end)) => {
            assert!(end <= data.len());
            assert_eq!(v.raw, &data[..end]);
            assert_eq!(lenient.is_ok(), end == data.len());
        }
        Err(e) => {
            assert!(e.offset <= data.len());
            assert!(lenient.is_err(), "prefix failed but whole succeeded");
        }
    }
}

/// Invariants of every info dictionary the parser accepts.
pub fn check_info(info: &Info) {
    assert!(info.piece_length > 0);
    let total: u64 = info.files.iter().map(|f| f.length).sum();
    assert_eq!(total, info.total_length);
    assert_eq!(info.pieces.len() as u64, total.div_ceil(info.piece_length));
    let mut offset = 0u64;
    for f in &info.files {
        assert_eq!(f.offset, offset);
        offset += f.length;
        assert!(!f.path.is_empty());
        assert_eq!(f.path.len(), f.disk.len());
        for (c, d) in f.path.iter().zip(&f.disk) {
            check_component(d);
            assert_eq!(c, &torrent_core::path::escape_bytes(d));
        }
        let root = Path::new("/nonexistent-fuzz-root");
        let joined = safe_join(root, &f.disk).expect("sanitised path joins");
        assert!(joined.starts_with(root) && joined != root);
    }
    check_component(&info.name_disk);
    assert_eq!(info.name, torrent_core::path::escape_bytes(&info.name_disk));
    if info.piece_count() > 0 {
        let last = info.piece_count() - 1;
        let l = info.piece_len(last);
        assert!(l > 0 && l <= info.piece_length);
    }
}

/// A component as named on disk.
fn check_component(c: &[u8]) {
    assert!(
        !c.is_empty() && c != b"." && c != b"..",
        "bad component {c:?}"
    );
    assert!(!c.iter().any(|b| matches!(b, b'/' | b'\\' | 0)), "separator in {c:?}");
    assert!(
        c.len() <= MAX_COMPONENT_BYTES,
        "component of {} bytes",
        c.len()
    );
}

/// Metainfo and Info parsing never panic; what they accept is consistent,
/// and re-wrapping the info bytes gives the same torrent back.
pub fn check_metainfo(data: &[u8]) {
    if let Ok(info) = Info::from_bytes(data) {
        check_info(&info);
    }
    let Ok(m) = Metainfo::from_bytes(data) else {
        return;
    };
    check_info(&m.info);
    let sha: [u8; 20] = Sha1::digest(&m.info_bytes[..]).into();
    assert_eq!(m.info_hash.0, sha);
    let info2 = Info::from_bytes(&m.info_bytes).expect("info bytes parse on their own");
    assert_eq!(info2.files, m.info.files);
    let again = m.to_torrent_bytes();
    if again.len() <= MAX_TORRENT_SIZE {
        let m2 = Metainfo::from_bytes(&again).expect("re-wrapped torrent parses");
        assert_eq!(m2.info_hash, m.info_hash);
        assert_eq!(m2.info_bytes, m.info_bytes);
        assert_eq!(m2.announce, m.announce);
        assert_eq!(m2.announce_list, m.announce_list);
        assert_eq!(m2.url_list, m.url_list);
    }
    let from_info = Metainfo::from_info_bytes(&m.info_bytes, &m.info_hash, m.tracker_tiers())
        .expect("info bytes match their own hash");
    assert_eq!(from_info.info.files, m.info.files);
    let magnet = Magnet::from_metainfo(&m);
    let uri = magnet.to_uri();
    if uri.len() <= MAX_MAGNET_LEN {
        assert_eq!(
            Magnet::parse(&uri).expect("own magnet parses").info_hash,
            m.info_hash
        );
    }
}

/// Magnet and info-hash parsing never panic; an accepted magnet link
/// survives a to_uri/parse round trip unchanged.
pub fn check_magnet(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = InfoHash::from_str(s) {
        assert_eq!(InfoHash::from_str(&h.to_hex()).unwrap(), h);
    }
    for candidate in [s.to_string(), format!("magnet:?{s}")] {
        if let Ok(m) = Magnet::parse(&candidate) {
            let uri = m.to_uri();
            if uri.len() <= MAX_MAGNET_LEN {
                assert_eq!(Magnet::parse(&uri).expect("own magnet parses"), m, "{uri}");
            }
        }
    }
}
