//! Magnet links (BEP 9): `magnet:?xt=urn:btih:<hash>&dn=..&tr=..&x.pe=..&ws=..`.

use crate::infohash::InfoHash;
use crate::metainfo::Metainfo;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters left as they are when we write a magnet link.
const MAGNET_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':')
    .remove(b'/');

/// Longest magnet link we parse.
pub const MAX_MAGNET_LEN: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    pub info_hash: InfoHash,
    pub display_name: Option<String>,
    pub trackers: Vec<String>,
    /// `x.pe`: peer addresses (host:port) to try directly.
    pub peers: Vec<String>,
    /// `ws`: web seeds.
    pub web_seeds: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MagnetError {
    #[error("not a magnet link (must start with \"magnet:?\")")]
    NotMagnet,
    #[error("magnet link is longer than {MAX_MAGNET_LEN} bytes")]
    TooLong,
    #[error("magnet link has no xt=urn:btih: parameter")]
    NoInfoHash,
    #[error("magnet parameter {param}: {msg}")]
    Invalid { param: String, msg: String },
}

impl Magnet {
    pub fn parse(s: &str) -> Result<Magnet, MagnetError> {
        if s.len() > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLong);
        }
        let query = s.strip_prefix("magnet:?").ok_or(MagnetError::NotMagnet)?;
        let mut info_hash = None;
        let mut m = Magnet {
            info_hash: InfoHash([0; 20]),
            display_name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
            web_seeds: Vec::new(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            // '+' means space in query strings.
            let raw = raw.replace('+', " ");
            let value = percent_decode_str(&raw)
                .decode_utf8()
                .map_err(|_| MagnetError::Invalid {
                    param: key.to_string(),
                    msg: "not UTF-8 after percent-decoding".into(),
                })?
                .into_owned();
            // Numbered forms (xt.1, tr.2) are accepted like the plain ones.
            let base = key.split('.').next().unwrap_or(key);
            let base = if key == "x.pe" { "x.pe" } else { base };
            match base {
                "xt" => {
                    if let Some(h) = value.strip_prefix("urn:btih:") {
                        let h: InfoHash = h.parse().map_err(|msg| MagnetError::Invalid {
                            param: "xt".into(),
                            msg,
                        })?;
                        if info_hash.is_none() {
                            info_hash = Some(h);
                        }
                    }
                    // Other urns (btmh: v2) are ignored; we need a v1 hash.
                }
                "dn" => m.display_name = Some(value),
                "tr" => m.trackers.push(value),
                "x.pe" => m.peers.push(value),
                "ws" => m.web_seeds.push(value),
                _ => {}
            }
        }
        m.info_hash = info_hash.ok_or(MagnetError::NoInfoHash)?;
        Ok(m)
    }

    /// The magnet link for a torrent: hash, name, every tracker, web seeds.
    pub fn from_metainfo(t: &Metainfo) -> Magnet {
        let mut trackers: Vec<String> = Vec::new();
        for url in t.tracker_tiers().into_iter().flatten() {
            if !trackers.contains(&url) {
                trackers.push(url);
            }
        }
        Magnet {
            info_hash: t.info_hash,
            display_name: Some(t.info.name.clone()),
            trackers,
            peers: Vec::new(),
            web_seeds: t.url_list.clone(),
        }
    }

    pub fn to_uri(&self) -> String {
        let mut s = format!("magnet:?xt=urn:btih:{}", self.info_hash);
        let enc = |v: &str| utf8_percent_encode(v, MAGNET_VALUE).to_string();
        if let Some(dn) = &self.display_name {
            s.push_str(&format!("&dn={}", enc(dn)));
        }
        for t in &self.trackers {
            s.push_str(&format!("&tr={}", enc(t)));
        }
        for w in &self.web_seeds {
            s.push_str(&format!("&ws={}", enc(w)));
        }
        for p in &self.peers {
            s.push_str(&format!("&x.pe={}", enc(p)));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_full() {
        let m = Magnet::parse(
            "magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK&dn=My+File%20x&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=udp://127.0.0.1:1&x.pe=127.0.0.1:6881&ws=http://127.0.0.1/f",
        )
        .unwrap();
        assert_eq!(m.info_hash.to_string(), "c12fe1c06bba254a9dc9f519b335aa7c1367a88a");
        assert_eq!(m.display_name.as_deref(), Some("My File x"));
        assert_eq!(m.trackers, vec!["http://127.0.0.1:6969/announce", "udp://127.0.0.1:1"]);
        assert_eq!(m.peers, vec!["127.0.0.1:6881"]);
        assert_eq!(m.web_seeds, vec!["http://127.0.0.1/f"]);
        // Round trip.
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
    }

    #[test]
    fn errors() {
        assert_eq!(Magnet::parse("http://x").unwrap_err(), MagnetError::NotMagnet);
        assert_eq!(Magnet::parse("magnet:?dn=x").unwrap_err(), MagnetError::NoInfoHash);
        assert!(matches!(
            Magnet::parse("magnet:?xt=urn:btih:1234").unwrap_err(),
            MagnetError::Invalid { .. }
        ));
        assert!(matches!(
            Magnet::parse("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=%ff").unwrap_err(),
            MagnetError::Invalid { .. }
        ));
    }
}
