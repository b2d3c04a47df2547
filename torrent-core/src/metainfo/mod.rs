//! Metainfo (.torrent) files: BEP 3 single/multi-file, BEP 12 announce-list,
//! BEP 19 url-list, BEP 27 private, BEP 47 padding files, BEP 52 detection.
//!
//! The info-hash is the SHA-1 of the exact `info` bytes of the file; they are
//! kept in [`Metainfo::info_bytes`] so the dictionary can be served to peers
//! (BEP 9) byte for byte, and the piece hashes are a view into them
//! ([`PieceHashes`]), not a copy.

use crate::bencode::{self, Value};
use crate::infohash::InfoHash;
use crate::path::{escape_bytes, sanitize_path_bytes, sanitize_path_element};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

mod hybrid;
mod names;
mod pieces;

use hybrid::check_hybrid;
pub(crate) use names::{utf8_key, PathIndex};
pub use names::{ChangeReason, PathChange};
use names::{file_entry, resolve_duplicates, resolve_symlinks};
pub use pieces::PieceHashes;

/// Largest .torrent file we accept.
pub const MAX_TORRENT_SIZE: usize = 64 * 1024 * 1024;
/// Largest piece length we accept: 512 MiB (libtorrent's limit is
/// 32767 * 16 KiB, a little less).
pub const MAX_PIECE_LENGTH: u64 = 512 * 1024 * 1024;
/// Most pieces we accept (libtorrent's default `max_pieces`).
pub const MAX_PIECES: usize = 0x20_0000;
/// Most components in a file path or symlink target (libtorrent's
/// `max_directory_depth`).
pub const MAX_PATH_DEPTH: usize = 100;
/// Most failed attempts at a free name while renaming duplicate paths
/// (libtorrent's `max_duplicate_filenames`); beyond it the torrent is refused.
pub const MAX_DUPLICATE_RENAMES: usize = 500;
/// Name torrent-get keeps its resume data under in the download directory.
/// A torrent named so (or starting so) is renamed to `_` + name, so it can
/// never plant or overwrite resume data.
pub const RESERVED_NAME: &str = ".torrent-get";
/// Most warning lines [`Info::path_change_warnings`] gives.
pub const MAX_WARNINGS: usize = 20;

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
    /// torrent: just the name), as text: bytes that are not UTF-8 are shown
    /// as `\xNN` ([`crate::path::sanitize_path_element`]). Never empty; see
    /// [`Info::path_changes`] for what was changed. For messages, JSON and
    /// `--select`; the file on disk is named by [`FileEntry::disk`].
    pub path: Vec<String>,
    /// The same components as the bytes of the names on disk
    /// ([`crate::path::sanitize_path_bytes`]): the torrent's own bytes when
    /// they are not UTF-8, so `caf\xe9.txt` (Latin-1) is that file name.
    /// `path[i]` is always `escape_bytes(&disk[i])`.
    pub disk: Vec<Vec<u8>>,
    pub length: u64,
    /// Offset of the file in the torrent's concatenated byte stream.
    pub offset: u64,
    /// BEP 47 padding file (`attr` contains `p`, or a BitComet
    /// `_____padding_file_` name): never written to disk. One without a
    /// `path` is named `.pad/<length>`, as libtorrent does.
    pub padding: bool,
    /// BEP 47 symlink (`attr` contains `l`, with a `symlink path`): the
    /// target's sanitised components, relative to the torrent's root
    /// directory (`.` and `..` dropped). Takes no bytes (`length` is 0).
    pub symlink: Option<Vec<String>>,
}

impl FileEntry {
    pub fn path_string(&self) -> String {
        self.path.join("/")
    }

    /// Set the path from components on disk (the text form follows).
    pub fn set_disk(&mut self, disk: Vec<Vec<u8>>) {
        self.path = disk.iter().map(|c| escape_bytes(c)).collect();
        self.disk = disk;
    }
}

/// The info dictionary.
#[derive(Debug, Clone)]
pub struct Info {
    /// Sanitised name (the single file, or the root directory), as text
    /// (bytes that are not UTF-8 as `\xNN`, like [`FileEntry::path`]).
    pub name: String,
    /// The same name as the bytes of the name on disk.
    pub name_disk: Vec<u8>,
    pub piece_length: u64,
    /// The `pieces` string as a view into the info bytes: neither parsing
    /// nor clones of the info (the disk thread's, the engine's) copy the
    /// hashes (20 MiB for a million pieces).
    pub pieces: PieceHashes,
    pub files: Vec<FileEntry>,
    /// True for a multi-file torrent (a `files` list; data goes under `name/`).
    pub multi_file: bool,
    pub private: bool,
    pub total_length: u64,
    pub version: Version,
    /// Every name that was changed to make it safe (empty for most torrents).
    pub path_changes: Vec<PathChange>,
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

    /// Parse and validate an info dictionary from its raw bytes (lenient
    /// about key order, see [`bencode::decode_lenient`]).
    pub fn from_bytes(raw: &[u8]) -> Result<Info, MetainfoError> {
        Info::from_shared(Arc::new(raw.to_vec()))
    }

    /// [`Info::from_bytes`] of bytes already shared: the piece hashes are a
    /// view into `raw`, nothing is copied.
    pub fn from_shared(raw: Arc<Vec<u8>>) -> Result<Info, MetainfoError> {
        let v = bencode::decode_lenient(&raw)?;
        let (info, pieces) = Info::from_value(&v)?;
        let base = v.offset_in(&raw);
        info.with_pieces(raw.clone(), base + pieces.start..base + pieces.end)
    }

    /// Set the piece hashes to `bytes[range]` (what [`Info::from_value`]
    /// left out).
    fn with_pieces(mut self, bytes: Arc<Vec<u8>>, range: Range<usize>) -> Result<Info, MetainfoError> {
        self.pieces = PieceHashes::new(bytes, range)
            .filter(|p| p.len() == self.pieces_expected())
            .ok_or_else(|| invalid("info.pieces", "not where the info dictionary has it"))?;
        Ok(self)
    }

    fn pieces_expected(&self) -> usize {
        self.total_length.div_ceil(self.piece_length) as usize
    }

    /// Where the torrent's data is below download directory `dir`: the
    /// single file, or the root directory of a multi-file torrent (named
    /// by [`Info::name_disk`]).
    pub fn root_in(&self, dir: &std::path::Path) -> std::path::PathBuf {
        crate::path::join_bytes(dir, &[&self.name_disk])
    }

    /// Where file `i` is below download directory `dir` (padding files
    /// too: they are never written, so nothing is there).
    pub fn file_in(&self, dir: &std::path::Path, i: usize) -> std::path::PathBuf {
        if self.multi_file {
            crate::path::join_bytes(&self.root_in(dir), &self.files[i].disk)
        } else {
            self.root_in(dir)
        }
    }

    /// The info without its piece hashes (empty), and where the `pieces`
    /// string lies in `info.raw` (checked: as many hashes as pieces), for
    /// [`Info::with_pieces`] once the bytes are shared.
    fn from_value(info: &Value<'_>) -> Result<(Info, Range<usize>), MetainfoError> {
        if info.as_dict().is_none() {
            return Err(wrong_type("info", "dictionary", info));
        }
        let mut changes: Vec<PathChange> = Vec::new();
        let name_raw = match names::utf8_key(info, "name") {
            Some(n) => bytes_field("info.name", n)?,
            None => return Err(missing("info.name")),
        };
        let mut name_reasons = Vec::new();
        let mut name_disk = match sanitize_path_bytes(name_raw, false) {
            Some(n) => n,
            None => {
                name_reasons.push(ChangeReason::EmptyName);
                hex::encode(Sha1::digest(info.raw)).into_bytes()
            }
        };
        if name_reasons.is_empty() && name_disk != name_raw {
            name_reasons.push(ChangeReason::Unsafe);
        }
        if std::str::from_utf8(&name_disk).is_err() {
            name_reasons.push(ChangeReason::NotUtf8);
        }

        let meta_version = info.get("meta version").and_then(|v| v.as_int());
        if let Some(m) = meta_version.filter(|&m| m > 2) {
            return Err(invalid("info.meta version", format!("unknown version {m}")));
        }
        let piece_length = int_field("info.piece length", info.get("piece length"))?;
        if piece_length <= 0 || piece_length as u64 > MAX_PIECE_LENGTH {
            return Err(invalid(
                "info.piece length",
                format!("{piece_length} is outside 1..={MAX_PIECE_LENGTH}"),
            ));
        }
        let piece_length = piece_length as u64;
        if meta_version == Some(2) && (piece_length < 16384 || !piece_length.is_power_of_two()) {
            return Err(invalid(
                "info.piece length",
                format!("{piece_length} is not a power of two of at least 16 KiB (BEP 52)"),
            ));
        }

        let pieces_v = info.get("pieces");
        let pieces_raw = match pieces_v {
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
        if pieces_raw.len() / 20 > MAX_PIECES {
            return Err(invalid(
                "info.pieces",
                format!("{} pieces, more than the limit of {MAX_PIECES}", pieces_raw.len() / 20),
            ));
        }
        // Not copied: the caller views the hashes in the shared info bytes.
        let pieces_at = pieces_v
            .and_then(|p| p.bytes_range_in(info.raw))
            .ok_or_else(|| invalid("info.pieces", "not inside the info dictionary"))?;
        let piece_count = pieces_raw.len() / 20;

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
                if name_reasons.contains(&ChangeReason::EmptyName) {
                    // The name is the file: libtorrent refuses this too.
                    return Err(invalid(
                        "info.name",
                        format!("{:?} has nothing left once made safe", escape_bytes(name_raw)),
                    ));
                }
                let length = nonneg(int_field("info.length", Some(len))?, "info.length")?;
                files.push(FileEntry {
                    path: vec![escape_bytes(&name_disk)],
                    disk: vec![name_disk.clone()],
                    length,
                    offset: 0,
                    padding: false,
                    symlink: None,
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
                    let (file, change) = file_entry(&field, f, offset)?;
                    if let Some((original, reasons)) = change {
                        changes.push(PathChange {
                            file: Some(i),
                            original,
                            safe: file.path_string(),
                            reasons,
                        });
                    }
                    offset = offset
                        .checked_add(file.length)
                        .ok_or_else(|| invalid("info.files", "total length overflows"))?;
                    files.push(file);
                }
            }
        }
        let total_length: u64 = files.iter().map(|f| f.length).sum();
        if total_length == 0 {
            return Err(invalid("info", "total length is 0: the torrent has no data"));
        }
        let version = if meta_version == Some(2) {
            // v1 and v2 peers must see the same files (checked before the
            // piece count, as libtorrent does).
            check_hybrid(info, &files, piece_length, total_length)?;
            Version::Hybrid
        } else {
            Version::V1
        };
        let expected_pieces = total_length.div_ceil(piece_length);
        if piece_count as u64 != expected_pieces {
            return Err(invalid(
                "info.pieces",
                format!(
                    "has {piece_count} hashes, but {total_length} bytes in pieces of {piece_length} need {expected_pieces}",
                ),
            ));
        }

        // Our resume directory is not the torrent's to use.
        if name_disk.len() >= RESERVED_NAME.len()
            && name_disk[..RESERVED_NAME.len()].eq_ignore_ascii_case(RESERVED_NAME.as_bytes())
        {
            name_disk.insert(0, b'_');
            name_reasons.push(ChangeReason::Reserved);
        }
        let name = escape_bytes(&name_disk);
        if !name_reasons.is_empty() {
            changes.insert(
                0,
                PathChange {
                    file: None,
                    original: vec![escape_bytes(name_raw)],
                    safe: name.clone(),
                    reasons: name_reasons,
                },
            );
        }
        if !multi_file {
            files[0].set_disk(vec![name_disk.clone()]);
        } else {
            resolve_duplicates(&mut files, &mut changes)?;
            resolve_symlinks(&mut files);
        }
        let info = Info {
            name,
            name_disk,
            piece_length,
            pieces: PieceHashes::default(),
            files,
            multi_file,
            private,
            total_length,
            version,
            path_changes: changes,
        };
        Ok((info, pieces_at))
    }
}

/// A parsed .torrent file.
#[derive(Debug, Clone)]
pub struct Metainfo {
    pub info_hash: InfoHash,
    /// SHA-256 of the info bytes, for hybrid (BEP 52) torrents.
    pub info_hash_v2: Option<[u8; 32]>,
    /// The exact bytes of the `info` dictionary as they appear in the file;
    /// [`Info::pieces`] is a view into them (shared, clones are cheap).
    pub info_bytes: Arc<Vec<u8>>,
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
        let (m, span, pieces) = Metainfo::parse(buf)?;
        m.with_info_bytes(Arc::new(buf[span].to_vec()), pieces)
    }

    /// [`Metainfo::from_bytes`] keeping the buffer as `info_bytes` (cut to
    /// the info dictionary in place): a large torrent is not held twice
    /// (the file and the copy of its info). On an error the buffer comes
    /// back with it.
    pub fn from_vec(mut buf: Vec<u8>) -> Result<Metainfo, (MetainfoError, Vec<u8>)> {
        let (m, span, pieces) = match Metainfo::parse(&buf) {
            Ok(x) => x,
            Err(e) => return Err((e, buf)),
        };
        buf.truncate(span.end);
        buf.drain(..span.start);
        buf.shrink_to_fit();
        // Cannot fail (the span and the range come from the same parse); if
        // it did, the (cut) buffer comes back.
        let bytes = Arc::new(buf);
        m.with_info_bytes(bytes.clone(), pieces)
            .map_err(|e| (e, Arc::try_unwrap(bytes).unwrap_or_else(|b| b.to_vec())))
    }

    /// Set `info_bytes` and the piece hashes, a view into them at `pieces`
    /// (what [`Metainfo::parse`] left out).
    fn with_info_bytes(mut self, info_bytes: Arc<Vec<u8>>, pieces: Range<usize>) -> Result<Metainfo, MetainfoError> {
        self.info = self.info.with_pieces(info_bytes.clone(), pieces)?;
        self.info_bytes = info_bytes;
        Ok(self)
    }

    /// The metainfo without `info_bytes` and piece hashes, where the info
    /// bytes lie in `buf`, and where the `pieces` string lies in them.
    fn parse(buf: &[u8]) -> Result<(Metainfo, Range<usize>, Range<usize>), MetainfoError> {
        if buf.len() > MAX_TORRENT_SIZE {
            return Err(MetainfoError::TooLarge(buf.len()));
        }
        // Lenient: keys in any order (the info-hash is the SHA-1 of the raw
        // span anyway), and bytes after the dictionary (often a newline)
        // are ignored, as libtorrent and Transmission do.
        let (root, _end) = bencode::decode_lenient_prefix(buf)?;
        if root.as_dict().is_none() {
            return Err(wrong_type("torrent", "dictionary", &root));
        }
        let info_v = root.get("info").ok_or_else(|| missing("info"))?;
        let (info, pieces) = Info::from_value(info_v)?;
        let info_hash = InfoHash(Sha1::digest(info_v.raw).into());
        let info_hash_v2 = (info.version == Version::Hybrid).then(|| Sha256::digest(info_v.raw).into());

        let announce = opt_string(root.get("announce"))
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        let mut announce_list = Vec::new();
        if let Some(tiers) = root.get("announce-list").and_then(|v| v.as_list()) {
            for tier in tiers {
                let urls: Vec<String> = tier
                    .as_list()
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(|u| u.as_str())
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_string)
                    .collect();
                if !urls.is_empty() {
                    announce_list.push(urls);
                }
            }
        }
        let url_list: Vec<String> = match root.get("url-list") {
            Some(v) => match v.as_list() {
                Some(l) => l
                    .iter()
                    .filter_map(|u| u.as_str())
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
                None => v.as_str().map(|s| vec![s.to_string()]).unwrap_or_default(),
            },
            None => Vec::new(),
        }
        .into_iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
        // Without repeats, in order.
        let mut seen = HashSet::new();
        let url_list = url_list.into_iter().filter(|u| seen.insert(u.clone())).collect();

        let start = info_v.raw.as_ptr() as usize - buf.as_ptr() as usize;
        let span = start..start + info_v.raw.len();
        let m = Metainfo {
            info_hash,
            info_hash_v2,
            info_bytes: Arc::default(),
            info,
            announce,
            announce_list,
            url_list,
            creation_date: root.get("creation date").and_then(|v| v.as_int()),
            comment: opt_string(root.get("comment.utf-8").or(root.get("comment"))),
            created_by: opt_string(root.get("created by")),
        };
        Ok((m, span, pieces))
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
        let info_bytes = Arc::new(info_bytes.to_vec());
        let info = Info::from_shared(info_bytes.clone())?;
        let info_hash_v2 = (info.version == Version::Hybrid).then(|| Sha256::digest(&info_bytes[..]).into());
        Ok(Metainfo {
            info_hash: got,
            info_hash_v2,
            info_bytes,
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
        entries.insert(b"info".to_vec(), self.info_bytes.to_vec());
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
mod tests;
