//! Metainfo (.torrent) files: BEP 3 single/multi-file, BEP 12 announce-list,
//! BEP 19 url-list, BEP 27 private, BEP 47 padding files, BEP 52 detection.
//!
//! The info-hash is the SHA-1 of the exact `info` bytes of the file; they are
//! kept in [`Metainfo::info_bytes`] so the dictionary can be served to peers
//! (BEP 9) byte for byte.

use crate::bencode::{self, Value};
use crate::infohash::InfoHash;
use crate::path::sanitize_component;
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// Largest .torrent file we accept.
pub const MAX_TORRENT_SIZE: usize = 64 * 1024 * 1024;
/// Largest piece length we accept (libtorrent's limit is similar).
pub const MAX_PIECE_LENGTH: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MetainfoError {
    #[error(transparent)]
    Bencode(#[from] bencode::Error),
    #[error("torrent is {0} bytes, more than the {MAX_TORRENT_SIZE} byte limit")]
    TooLarge(usize),
    #[error("{field}: missing")]
    Missing { field: String },
    #[error("{field}: expected {expected}, found {found}")]
    WrongType {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    #[error("v2-only torrent (BEP 52) without v1 piece hashes is not supported (v2 info-hash {0})")]
    V2Only(String),
}

fn invalid(field: &str, msg: impl Into<String>) -> MetainfoError {
    MetainfoError::Invalid {
        field: field.to_string(),
        msg: msg.into(),
    }
}

/// Which BitTorrent versions a torrent supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    /// v1 and v2 (BEP 52 hybrid): has both `pieces` and `meta version` 2.
    Hybrid,
}

/// One file of the torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Sanitised path components below the torrent's root (for a single-file
    /// torrent: just the name).
    pub path: Vec<String>,
    pub length: u64,
    /// Offset of the file in the torrent's concatenated byte stream.
    pub offset: u64,
    /// BEP 47 padding file (`attr` contains `p`): never written to disk.
    pub padding: bool,
}

impl FileEntry {
    pub fn path_string(&self) -> String {
        self.path.join("/")
    }
}

/// The info dictionary.
#[derive(Debug, Clone)]
pub struct Info {
    /// Sanitised name (the single file, or the root directory).
    pub name: String,
    pub piece_length: u64,
    pub pieces: Vec<[u8; 20]>,
    pub files: Vec<FileEntry>,
    /// True for a multi-file torrent (a `files` list; data goes under `name/`).
    pub multi_file: bool,
    pub private: bool,
    pub total_length: u64,
    pub version: Version,
}

impl Info {
    pub fn piece_count(&self) -> usize {
        self.pieces.len()
    }

    /// Length of piece `index` (the last one may be short).
    pub fn piece_len(&self, index: usize) -> u64 {
        let start = index as u64 * self.piece_length;
        self.piece_length.min(self.total_length.saturating_sub(start))
    }

    /// Parse and validate an info dictionary from its raw bytes.
    pub fn from_bytes(raw: &[u8]) -> Result<Info, MetainfoError> {
        let v = bencode::decode(raw)?;
        Info::from_value(&v)
    }

    fn from_value(info: &Value<'_>) -> Result<Info, MetainfoError> {
        if info.as_dict().is_none() {
            return Err(wrong_type("info", "dictionary", info));
        }
        let name = match (info.get("name.utf-8"), info.get("name")) {
            (Some(n), _) | (None, Some(n)) => bytes_field("info.name", n)?,
            (None, None) => return Err(missing("info.name")),
        };
        let name = sanitize_component(name).map_err(|m| invalid("info.name", m))?;

        let piece_length = int_field("info.piece length", info.get("piece length"))?;
        if piece_length <= 0 || piece_length as u64 > MAX_PIECE_LENGTH {
            return Err(invalid(
                "info.piece length",
                format!("{piece_length} is outside 1..={MAX_PIECE_LENGTH}"),
            ));
        }
        let piece_length = piece_length as u64;

        let meta_version = info.get("meta version").and_then(|v| v.as_int());
        let pieces_raw = match info.get("pieces") {
            Some(p) => bytes_field("info.pieces", p)?,
            None if meta_version == Some(2) => {
                let h = Sha256::digest(info.raw);
                return Err(MetainfoError::V2Only(hex::encode(h)));
            }
            None => return Err(missing("info.pieces")),
        };
        if pieces_raw.len() % 20 != 0 {
            return Err(invalid(
                "info.pieces",
                format!("length {} is not a multiple of 20", pieces_raw.len()),
            ));
        }
        let pieces: Vec<[u8; 20]> = pieces_raw
            .chunks_exact(20)
            .map(|c| c.try_into().expect("chunk of 20"))
            .collect();

        let private = match info.get("private") {
            None => false,
            Some(v) => v.as_int().map(|i| i == 1).unwrap_or(false),
        };

        let mut files = Vec::new();
        let multi_file;
        match (info.get("files"), info.get("length")) {
            (Some(_), Some(_)) => {
                return Err(invalid("info", "has both `length` and `files`"));
            }
            (None, None) => return Err(invalid("info", "has neither `length` nor `files`")),
            (None, Some(len)) => {
                multi_file = false;
                let length = nonneg(int_field("info.length", Some(len))?, "info.length")?;
                files.push(FileEntry {
                    path: vec![name.clone()],
                    length,
                    offset: 0,
                    padding: false,
                });
            }
            (Some(list), None) => {
                multi_file = true;
                let list = list
                    .as_list()
                    .ok_or_else(|| wrong_type("info.files", "list", list))?;
                if list.is_empty() {
                    return Err(invalid("info.files", "is empty"));
                }
                let mut offset: u64 = 0;
                for (i, f) in list.iter().enumerate() {
                    let field = format!("info.files[{i}]");
                    if f.as_dict().is_none() {
                        return Err(wrong_type(&field, "dictionary", f));
                    }
                    let length = nonneg(
                        int_field(&format!("{field}.length"), f.get("length"))?,
                        &format!("{field}.length"),
                    )?;
                    let path_v = match (f.get("path.utf-8"), f.get("path")) {
                        (Some(p), _) | (None, Some(p)) => p,
                        (None, None) => return Err(missing(&format!("{field}.path"))),
                    };
                    let comps = path_v
                        .as_list()
                        .ok_or_else(|| wrong_type(&format!("{field}.path"), "list", path_v))?;
                    if comps.is_empty() {
                        return Err(invalid(&format!("{field}.path"), "is empty"));
                    }
                    let mut path = Vec::with_capacity(comps.len());
                    for (j, c) in comps.iter().enumerate() {
                        let cf = format!("{field}.path[{j}]");
                        let b = bytes_field(&cf, c)?;
                        path.push(sanitize_component(b).map_err(|m| invalid(&cf, m))?);
                    }
                    let padding = f
                        .get("attr")
                        .and_then(|a| a.as_bytes())
                        .map(|a| a.contains(&b'p'))
                        .unwrap_or(false);
                    files.push(FileEntry {
                        path,
                        length,
                        offset,
                        padding,
                    });
                    offset = offset
                        .checked_add(length)
                        .ok_or_else(|| invalid("info.files", "total length overflows"))?;
                }
                // Two files with the same path would overwrite each other.
                let mut seen = std::collections::HashSet::new();
                for f in files.iter().filter(|f| !f.padding) {
                    if !seen.insert(f.path.clone()) {
                        return Err(invalid(
                            "info.files",
                            format!("path {} appears twice", f.path_string()),
                        ));
                    }
                }
            }
        }
        let total_length: u64 = files.iter().map(|f| f.length).sum();
        let expected_pieces = total_length.div_ceil(piece_length);
        if pieces.len() as u64 != expected_pieces {
            return Err(invalid(
                "info.pieces",
                format!(
                    "has {} hashes, but {total_length} bytes in pieces of {piece_length} need {expected_pieces}",
                    pieces.len()
                ),
            ));
        }
        let version = if meta_version == Some(2) {
            Version::Hybrid
        } else {
            Version::V1
        };
        Ok(Info {
            name,
            piece_length,
            pieces,
            files,
            multi_file,
            private,
            total_length,
            version,
        })
    }
}

/// A parsed .torrent file.
#[derive(Debug, Clone)]
pub struct Metainfo {
    pub info_hash: InfoHash,
    /// SHA-256 of the info bytes, for hybrid (BEP 52) torrents.
    pub info_hash_v2: Option<[u8; 32]>,
    /// The exact bytes of the `info` dictionary as they appear in the file.
    pub info_bytes: Vec<u8>,
    pub info: Info,
    pub announce: Option<String>,
    /// BEP 12 tiers.
    pub announce_list: Vec<Vec<String>>,
    /// BEP 19 web seeds.
    pub url_list: Vec<String>,
    pub creation_date: Option<i64>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
}

impl Metainfo {
    pub fn from_bytes(buf: &[u8]) -> Result<Metainfo, MetainfoError> {
        if buf.len() > MAX_TORRENT_SIZE {
            return Err(MetainfoError::TooLarge(buf.len()));
        }
        let root = bencode::decode(buf)?;
        if root.as_dict().is_none() {
            return Err(wrong_type("torrent", "dictionary", &root));
        }
        let info_v = root.get("info").ok_or_else(|| missing("info"))?;
        let info = Info::from_value(info_v)?;
        let info_hash = InfoHash(Sha1::digest(info_v.raw).into());
        let info_hash_v2 = (info.version == Version::Hybrid).then(|| Sha256::digest(info_v.raw).into());

        let announce = opt_string(root.get("announce"));
        let mut announce_list = Vec::new();
        if let Some(tiers) = root.get("announce-list").and_then(|v| v.as_list()) {
            for tier in tiers {
                let urls: Vec<String> = tier
                    .as_list()
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(|u| u.as_str())
                    .filter(|u| !u.is_empty())
                    .map(str::to_string)
                    .collect();
                if !urls.is_empty() {
                    announce_list.push(urls);
                }
            }
        }
        let url_list = match root.get("url-list") {
            Some(v) => match v.as_list() {
                Some(l) => l.iter().filter_map(|u| u.as_str()).map(str::to_string).collect(),
                None => v.as_str().map(|s| vec![s.to_string()]).unwrap_or_default(),
            },
            None => Vec::new(),
        }
        .into_iter()
        .filter(|u| !u.is_empty())
        .collect();

        Ok(Metainfo {
            info_hash,
            info_hash_v2,
            info_bytes: info_v.raw.to_vec(),
            info,
            announce,
            announce_list,
            url_list,
            creation_date: root.get("creation date").and_then(|v| v.as_int()),
            comment: opt_string(root.get("comment.utf-8").or(root.get("comment"))),
            created_by: opt_string(root.get("created by")),
        })
    }

    /// Build from info bytes fetched from peers (BEP 9); checks the hash.
    pub fn from_info_bytes(
        info_bytes: &[u8],
        expected: &InfoHash,
        trackers: Vec<Vec<String>>,
    ) -> Result<Metainfo, MetainfoError> {
        let got = InfoHash(Sha1::digest(info_bytes).into());
        if &got != expected {
            return Err(invalid(
                "info",
                format!("SHA-1 is {got}, expected info-hash {expected}"),
            ));
        }
        let v = bencode::decode(info_bytes)?;
        let info = Info::from_value(&v)?;
        let info_hash_v2 = (info.version == Version::Hybrid).then(|| Sha256::digest(info_bytes).into());
        Ok(Metainfo {
            info_hash: got,
            info_hash_v2,
            info_bytes: info_bytes.to_vec(),
            info,
            announce: trackers.first().and_then(|t| t.first()).cloned(),
            announce_list: trackers,
            url_list: Vec::new(),
            creation_date: None,
            comment: None,
            created_by: None,
        })
    }

    /// Tracker tiers: `announce-list` if present (BEP 12), else `announce`.
    pub fn tracker_tiers(&self) -> Vec<Vec<String>> {
        if !self.announce_list.is_empty() {
            self.announce_list.clone()
        } else {
            self.announce.iter().map(|a| vec![a.clone()]).collect()
        }
    }

    /// Encode a whole .torrent around these info bytes (used after a magnet
    /// metadata fetch); the info bytes are embedded verbatim.
    pub fn to_torrent_bytes(&self) -> Vec<u8> {
        use bencode::OwnedValue as O;
        let mut outer = O::dict();
        if let Some(a) = &self.announce {
            outer.insert("announce", a.as_str().into());
        }
        if !self.announce_list.is_empty() {
            outer.insert(
                "announce-list",
                O::List(
                    self.announce_list
                        .iter()
                        .map(|t| O::List(t.iter().map(|u| u.as_str().into()).collect()))
                        .collect(),
                ),
            );
        }
        if !self.url_list.is_empty() {
            outer.insert(
                "url-list",
                O::List(self.url_list.iter().map(|u| u.as_str().into()).collect()),
            );
        }
        // Keys are written in sorted order with the raw info bytes spliced
        // in at their place, so the info dictionary is never re-encoded.
        let mut entries: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = match outer {
            O::Dict(d) => d.into_iter().map(|(k, v)| (k, v.encode())).collect(),
            _ => unreachable!("built as a dictionary"),
        };
        entries.insert(b"info".to_vec(), self.info_bytes.clone());
        let mut out = vec![b'd'];
        for (k, v) in entries {
            O::Bytes(k).encode_into(&mut out);
            out.extend_from_slice(&v);
        }
        out.push(b'e');
        out
    }
}

fn missing(field: &str) -> MetainfoError {
    MetainfoError::Missing {
        field: field.to_string(),
    }
}

fn wrong_type(field: &str, expected: &'static str, v: &Value<'_>) -> MetainfoError {
    MetainfoError::WrongType {
        field: field.to_string(),
        expected,
        found: v.type_name(),
    }
}

fn int_field(field: &str, v: Option<&Value<'_>>) -> Result<i64, MetainfoError> {
    let v = v.ok_or_else(|| missing(field))?;
    v.as_int().ok_or_else(|| wrong_type(field, "integer", v))
}

fn bytes_field<'a>(field: &str, v: &Value<'a>) -> Result<&'a [u8], MetainfoError> {
    v.as_bytes().ok_or_else(|| wrong_type(field, "byte string", v))
}

fn nonneg(i: i64, field: &str) -> Result<u64, MetainfoError> {
    u64::try_from(i).map_err(|_| invalid(field, format!("{i} is negative")))
}

fn opt_string(v: Option<&Value<'_>>) -> Option<String> {
    v.and_then(|v| v.as_bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::OwnedValue as O;

    fn single(name: &str, len: i64, plen: i64, npieces: usize) -> O {
        O::dict()
            .with("length", O::Int(len))
            .with("name", name.into())
            .with("piece length", O::Int(plen))
            .with("pieces", O::Bytes(vec![7u8; 20 * npieces]))
    }

    fn torrent(info: O) -> Vec<u8> {
        O::dict()
            .with("announce", "http://127.0.0.1:1/announce".into())
            .with("info", info)
            .encode()
    }

    #[test]
    fn single_file() {
        let buf = torrent(single("a.bin", 100, 32, 4));
        let m = Metainfo::from_bytes(&buf).unwrap();
        assert_eq!(m.info.total_length, 100);
        assert_eq!(m.info.piece_count(), 4);
        assert_eq!(m.info.piece_len(3), 4);
        assert_eq!(m.info.files[0].path, vec!["a.bin"]);
        assert!(!m.info.multi_file);
        let raw_info = single("a.bin", 100, 32, 4).encode();
        assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(&raw_info)));
        assert_eq!(m.tracker_tiers(), vec![vec!["http://127.0.0.1:1/announce".to_string()]]);
        // Re-wrapping keeps the info bytes verbatim.
        let again = Metainfo::from_bytes(&m.to_torrent_bytes()).unwrap();
        assert_eq!(again.info_hash, m.info_hash);
    }

    #[test]
    fn wrong_piece_count() {
        let buf = torrent(single("a", 100, 32, 3));
        let e = Metainfo::from_bytes(&buf).unwrap_err().to_string();
        assert!(e.contains("info.pieces"), "{e}");
    }

    fn multi(paths: Vec<Vec<&str>>) -> O {
        let files = paths
            .into_iter()
            .map(|p| {
                O::dict()
                    .with("length", O::Int(10))
                    .with("path", O::List(p.into_iter().map(O::from).collect()))
            })
            .collect::<Vec<_>>();
        let n = files.len() as i64;
        O::dict()
            .with("files", O::List(files))
            .with("name", "root".into())
            .with("piece length", O::Int(16))
            .with("pieces", O::Bytes(vec![0; 20 * ((n * 10 + 15) / 16) as usize]))
    }

    #[test]
    fn multi_file_offsets() {
        let m = Metainfo::from_bytes(&torrent(multi(vec![vec!["a"], vec!["d", "b"]]))).unwrap();
        assert!(m.info.multi_file);
        assert_eq!(m.info.files[1].offset, 10);
        assert_eq!(m.info.files[1].path_string(), "d/b");
        assert_eq!(m.info.total_length, 20);
    }

    #[test]
    fn traversal_rejected() {
        for bad in [vec!["..", "x"], vec!["a", ""], vec!["/etc"], vec!["a/b"], vec!["."]] {
            let e = Metainfo::from_bytes(&torrent(multi(vec![bad.clone()])));
            assert!(e.is_err(), "{bad:?} accepted");
        }
        let e = Metainfo::from_bytes(&torrent(single("..", 1, 1, 1))).unwrap_err();
        assert!(e.to_string().contains("info.name"), "{e}");
    }

    #[test]
    fn duplicate_paths_rejected() {
        let e = Metainfo::from_bytes(&torrent(multi(vec![vec!["a"], vec!["a"]]))).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
