//! Metainfo (.torrent) files: BEP 3 single/multi-file, BEP 12 announce-list,
//! BEP 19 url-list, BEP 27 private, BEP 47 padding files, BEP 52 detection.
//!
//! The info-hash is the SHA-1 of the exact `info` bytes of the file; they are
//! kept in [`Metainfo::info_bytes`] so the dictionary can be served to peers
//! (BEP 9) byte for byte.

use crate::bencode::{self, Value};
use crate::infohash::InfoHash;
use crate::path::{escape_bytes, sanitize_path_element};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use std::collections::HashSet;

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
    /// torrent: just the name). Never empty; see [`Info::path_changes`] for
    /// what was changed.
    pub path: Vec<String>,
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
}

/// Why a name of the torrent was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeReason {
    /// Separators, `.`/`..`, empty components, controls or invalid UTF-8.
    Unsafe,
    /// The name had nothing left once made safe: the info-hash is used.
    EmptyName,
    /// The name is torrent-get's own ([`RESERVED_NAME`]).
    Reserved,
    /// Another file (or a directory) already has this path.
    Duplicate,
}

impl ChangeReason {
    pub fn describe(self) -> &'static str {
        match self {
            ChangeReason::Unsafe => "unsafe characters or components",
            ChangeReason::EmptyName => "nothing left once made safe; named after the info-hash",
            ChangeReason::Reserved => "reserved for torrent-get's resume data",
            ChangeReason::Duplicate => "another file has the same path",
        }
    }
}

/// A name of the torrent that was changed to make it safe, so tools can
/// warn and show what the torrent really says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PathChange {
    /// Index into [`Info::files`]; `None` for the torrent's name.
    pub file: Option<usize>,
    /// The components as the torrent has them ([`escape_bytes`]: UTF-8 as
    /// is, other bytes as `\xNN`).
    pub original: Vec<String>,
    /// The safe path (or name) used instead, components joined with `/`.
    pub safe: String,
    pub reasons: Vec<ChangeReason>,
}

/// The info dictionary.
#[derive(Debug, Clone)]
pub struct Info {
    /// Sanitised name (the single file, or the root directory).
    pub name: String,
    pub piece_length: u64,
    /// Shared: clones of the info (the disk thread's, the engine's) do not
    /// copy the hashes (20 MiB for a million pieces).
    pub pieces: std::sync::Arc<[[u8; 20]]>,
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
        let v = bencode::decode_lenient(raw)?;
        Info::from_value(&v)
    }

    /// One line per changed name, for warnings on stderr: at most
    /// [`MAX_WARNINGS`], then one line saying how many more there are.
    pub fn path_change_warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .path_changes
            .iter()
            .take(MAX_WARNINGS)
            .map(|c| {
                let what = match c.file {
                    None => "torrent name".to_string(),
                    Some(i) => format!("file {}", i + 1),
                };
                let why: Vec<&str> = c.reasons.iter().map(|r| r.describe()).collect();
                format!(
                    "{what} {:?} is stored as {:?} ({})",
                    c.original.join("/"),
                    c.safe,
                    why.join("; ")
                )
            })
            .collect();
        if self.path_changes.len() > MAX_WARNINGS {
            out.push(format!(
                "{} more names were changed to be safe (torrent-info show --json lists them)",
                self.path_changes.len() - MAX_WARNINGS
            ));
        }
        out
    }

    fn from_value(info: &Value<'_>) -> Result<Info, MetainfoError> {
        if info.as_dict().is_none() {
            return Err(wrong_type("info", "dictionary", info));
        }
        let mut changes: Vec<PathChange> = Vec::new();
        let name_raw = match (info.get("name.utf-8"), info.get("name")) {
            (Some(n), _) | (None, Some(n)) => bytes_field("info.name", n)?,
            (None, None) => return Err(missing("info.name")),
        };
        let mut name_reasons = Vec::new();
        let mut name = match sanitize_path_element(name_raw, false) {
            Some(n) => n,
            None => {
                name_reasons.push(ChangeReason::EmptyName);
                hex::encode(Sha1::digest(info.raw))
            }
        };
        if name_reasons.is_empty() && name.as_bytes() != name_raw {
            name_reasons.push(ChangeReason::Unsafe);
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
        if pieces_raw.len() / 20 > MAX_PIECES {
            return Err(invalid(
                "info.pieces",
                format!("{} pieces, more than the limit of {MAX_PIECES}", pieces_raw.len() / 20),
            ));
        }
        // Straight into the shared slice (one allocation, no copy).
        let pieces: std::sync::Arc<[[u8; 20]]> = pieces_raw
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
                if name_reasons.contains(&ChangeReason::EmptyName) {
                    // The name is the file: libtorrent refuses this too.
                    return Err(invalid(
                        "info.name",
                        format!("{:?} has nothing left once made safe", escape_bytes(name_raw)),
                    ));
                }
                let length = nonneg(int_field("info.length", Some(len))?, "info.length")?;
                files.push(FileEntry {
                    path: vec![name.clone()],
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
                    let (file, original) = file_entry(&field, f, offset)?;
                    if let Some(original) = original {
                        changes.push(PathChange {
                            file: Some(i),
                            original,
                            safe: file.path_string(),
                            reasons: vec![ChangeReason::Unsafe],
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
        if pieces.len() as u64 != expected_pieces {
            return Err(invalid(
                "info.pieces",
                format!(
                    "has {} hashes, but {total_length} bytes in pieces of {piece_length} need {expected_pieces}",
                    pieces.len()
                ),
            ));
        }

        // Our resume directory is not the torrent's to use.
        if name.len() >= RESERVED_NAME.len()
            && name.as_bytes()[..RESERVED_NAME.len()].eq_ignore_ascii_case(RESERVED_NAME.as_bytes())
        {
            name = format!("_{name}");
            name_reasons.push(ChangeReason::Reserved);
        }
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
            files[0].path = vec![name.clone()];
        } else {
            resolve_duplicates(&mut files, &mut changes)?;
            resolve_symlinks(&mut files);
        }
        Ok(Info {
            name,
            piece_length,
            pieces,
            files,
            multi_file,
            private,
            total_length,
            version,
            path_changes: changes,
        })
    }
}

/// One entry of `info.files`; also returns the original components if
/// sanitising changed them.
fn file_entry(
    field: &str,
    f: &Value<'_>,
    offset: u64,
) -> Result<(FileEntry, Option<Vec<String>>), MetainfoError> {
    if f.as_dict().is_none() {
        return Err(wrong_type(field, "dictionary", f));
    }
    let attr = f.get("attr").and_then(|a| a.as_bytes()).unwrap_or(b"");
    let mut padding = attr.contains(&b'p');
    let link = attr.contains(&b'l');
    // BEP 47: a symlink takes no bytes of the torrent, whatever `length` says.
    let length = if link {
        0
    } else {
        nonneg(
            int_field(&format!("{field}.length"), f.get("length"))?,
            &format!("{field}.length"),
        )?
    };
    let path_v = match (f.get("path.utf-8"), f.get("path")) {
        (Some(p), _) if p.as_list().is_some() => Some(p),
        (_, Some(p)) => Some(p),
        (Some(p), None) => Some(p),
        (None, None) => None,
    };
    let comps = match path_v {
        Some(p) => Some(
            p.as_list()
                .ok_or_else(|| wrong_type(&format!("{field}.path"), "list", p))?,
        ),
        None => None,
    };
    let mut original = None;
    let path = match comps {
        Some(comps) if !comps.is_empty() => {
            if comps.len() > MAX_PATH_DEPTH {
                return Err(invalid(
                    &format!("{field}.path"),
                    format!("{} components, more than {MAX_PATH_DEPTH}", comps.len()),
                ));
            }
            let mut path = Vec::with_capacity(comps.len());
            let mut raw = Vec::with_capacity(comps.len());
            for (j, c) in comps.iter().enumerate() {
                let b = bytes_field(&format!("{field}.path[{j}]"), c)?;
                path.push(sanitize_path_element(b, true).expect("forced"));
                raw.push(b);
            }
            if path.iter().zip(&raw).any(|(p, r)| p.as_bytes() != *r) {
                original = Some(raw.iter().map(|r| escape_bytes(r)).collect());
            }
            path
        }
        // libtorrent's name for a padding file without a path.
        _ if padding => vec![".pad".to_string(), length.to_string()],
        Some(_) => return Err(invalid(&format!("{field}.path"), "is empty")),
        None => return Err(missing(&format!("{field}.path"))),
    };
    if path.iter().any(|c| c.contains("_____padding_file_")) {
        padding = true;
    }
    if padding {
        // Never written, so nothing to warn about.
        original = None;
    }
    let symlink = match f.get("symlink path") {
        Some(t) if link => {
            let tf = format!("{field}.symlink path");
            let t = t.as_list().ok_or_else(|| wrong_type(&tf, "list", t))?;
            if t.len() > MAX_PATH_DEPTH {
                return Err(invalid(&tf, format!("{} components, more than {MAX_PATH_DEPTH}", t.len())));
            }
            let mut target = Vec::with_capacity(t.len());
            for (j, c) in t.iter().enumerate() {
                let b = bytes_field(&format!("{tf}[{j}]"), c)?;
                // BEP 47 forbids them; dropped (as libtorrent does), so the
                // target stays below the torrent's root.
                if b == b"." || b == b".." {
                    continue;
                }
                target.push(sanitize_path_element(b, true).expect("forced"));
            }
            Some(target)
        }
        // `attr` l without a target: an ordinary (empty) file.
        _ => None,
    };
    Ok((
        FileEntry {
            path,
            length,
            offset,
            padding,
            symlink,
        },
        original,
    ))
}

/// The file paths of a torrent, sorted, to ask whether a path is a file or
/// a directory (a proper prefix of a file's path) in O(log n) time and
/// without storing every prefix (a hostile torrent of 64 MiB can have
/// millions of directories).
pub(crate) struct PathIndex {
    sorted: Vec<Vec<String>>,
}

impl PathIndex {
    pub(crate) fn new(paths: impl Iterator<Item = Vec<String>>) -> PathIndex {
        let mut sorted: Vec<Vec<String>> = paths.collect();
        sorted.sort_unstable();
        PathIndex { sorted }
    }

    pub(crate) fn is_file(&self, p: &[String]) -> bool {
        self.sorted.binary_search_by(|x| x.as_slice().cmp(p)).is_ok()
    }

    pub(crate) fn is_dir(&self, p: &[String]) -> bool {
        // Paths that extend `p` come right after those equal to it.
        let i = self.sorted.partition_point(|x| x.as_slice() <= p);
        self.sorted.get(i).is_some_and(|x| x.len() > p.len() && x.starts_with(p))
    }
}

fn lower(p: &[String]) -> Vec<String> {
    p.iter().map(|c| c.to_lowercase()).collect()
}

/// Rename files whose path (compared case-insensitively, as libtorrent
/// does) is already taken by an earlier file or by a directory:
/// `foo/bar.txt` becomes `foo/bar.1.txt`, then `.2`, and so on.
fn resolve_duplicates(files: &mut [FileEntry], changes: &mut Vec<PathChange>) -> Result<(), MetainfoError> {
    let index = PathIndex::new(files.iter().filter(|f| !f.padding).map(|f| lower(&f.path)));
    let mut used: HashSet<Vec<String>> = HashSet::new();
    let mut failures = 0usize;
    // The changes so far are in file order: found by binary search (a
    // torrent may have a million renamed files).
    let base = changes.len();
    let key = |c: &PathChange| c.file.map(|i| i + 1).unwrap_or(0);
    for (i, f) in files.iter_mut().enumerate() {
        if f.padding {
            continue;
        }
        let k = lower(&f.path);
        if !index.is_dir(&k) && !used.contains(&k) {
            used.insert(k);
            continue;
        }
        let last = f.path.last().expect("paths are never empty").clone();
        let (stem, ext) = match last.rfind('.') {
            Some(d) if d > 0 => (&last[..d], &last[d..]),
            _ => (&last[..], ""),
        };
        let mut n = 1u64;
        let new_path = loop {
            let suffix = format!(".{n}{ext}");
            let mut cut = stem.len().min(crate::path::MAX_COMPONENT_BYTES.saturating_sub(suffix.len()));
            while !stem.is_char_boundary(cut) {
                cut -= 1;
            }
            let mut p = f.path.clone();
            *p.last_mut().expect("not empty") = format!("{}{suffix}", &stem[..cut]);
            let k = lower(&p);
            // Not a later file's path either, so it cannot be taken from it.
            if !index.is_dir(&k) && !index.is_file(&k) && !used.contains(&k) {
                used.insert(k);
                break p;
            }
            failures += 1;
            if failures > MAX_DUPLICATE_RENAMES {
                return Err(invalid(
                    "info.files",
                    format!("too many duplicate file names (more than {MAX_DUPLICATE_RENAMES} renames tried)"),
                ));
            }
            n += 1;
        };
        let original = f.path.clone();
        f.path = new_path;
        match changes[..base]
            .binary_search_by_key(&(i + 1), key)
            .ok()
            .map(|j| &mut changes[j])
        {
            Some(c) => {
                c.safe = f.path_string();
                c.reasons.push(ChangeReason::Duplicate);
            }
            None => changes.push(PathChange {
                file: Some(i),
                original,
                safe: f.path_string(),
                reasons: vec![ChangeReason::Duplicate],
            }),
        }
    }
    changes.sort_by_key(key);
    Ok(())
}

/// Symlink targets are relative to the torrent's root; for compatibility
/// (as libtorrent does) a target that names no file or directory of the
/// torrent that way, but does relative to the link's own directory, is
/// taken as relative to the link.
fn resolve_symlinks(files: &mut [FileEntry]) {
    if files.iter().all(|f| f.symlink.is_none()) {
        return;
    }
    let index = PathIndex::new(files.iter().filter(|f| !f.padding).map(|f| f.path.clone()));
    let known = |p: &[String]| index.is_file(p) || index.is_dir(p);
    for f in files.iter_mut() {
        let Some(target) = &f.symlink else { continue };
        if known(target) {
            continue;
        }
        let mut rel = f.path[..f.path.len() - 1].to_vec();
        rel.extend(target.iter().cloned());
        if known(&rel) {
            f.symlink = Some(rel);
        }
    }
}

/// A file of the v2 `file tree`: sanitised path and length.
struct V2File {
    path: Vec<String>,
    length: u64,
}

fn walk_file_tree(
    node: &Value<'_>,
    path: &mut Vec<String>,
    out: &mut Vec<V2File>,
) -> Result<(), MetainfoError> {
    let bad = |msg: String| invalid("info.file tree", msg);
    let d = node
        .as_dict()
        .ok_or_else(|| bad(format!("{}: expected a dictionary", path.join("/"))))?;
    if d.is_empty() {
        return Err(bad(format!("{}: empty directory", path.join("/"))));
    }
    for (k, v) in d {
        if k.is_empty() {
            if d.len() != 1 || path.is_empty() {
                return Err(bad(format!("{}: a file entry next to other entries", path.join("/"))));
            }
            let at = path.join("/");
            if v.as_dict().is_none() {
                return Err(bad(format!("{at}: file entry is not a dictionary")));
            }
            let attr = v.get("attr").and_then(|a| a.as_bytes()).unwrap_or(b"");
            if attr.contains(&b'p') {
                return Err(bad(format!("{at}: a v2 file has the padding attribute")));
            }
            let length = if attr.contains(&b'l') {
                0
            } else {
                let l = v
                    .get("length")
                    .and_then(|l| l.as_int())
                    .ok_or_else(|| bad(format!("{at}: no integer length")))?;
                u64::try_from(l).map_err(|_| bad(format!("{at}: negative length")))?
            };
            if length > 0 {
                match v.get("pieces root").and_then(|r| r.as_bytes()) {
                    Some(r) if r.len() == 32 && r.iter().any(|&b| b != 0) => {}
                    _ => return Err(bad(format!("{at}: no valid pieces root"))),
                }
            }
            out.push(V2File {
                path: path.clone(),
                length,
            });
        } else {
            if path.len() >= MAX_PATH_DEPTH {
                return Err(bad(format!("deeper than {MAX_PATH_DEPTH} levels")));
            }
            path.push(sanitize_path_element(k, true).expect("forced"));
            walk_file_tree(v, path, out)?;
            path.pop();
        }
    }
    Ok(())
}

/// A hybrid torrent (BEP 52) must describe the same files to v1 and v2
/// peers: the files with data, in order, with the same paths, lengths and
/// offsets (v2 files start on piece boundaries; v1 lists padding files to
/// match). Its `file tree` must also be valid on its own.
fn check_hybrid(
    info: &Value<'_>,
    files: &[FileEntry],
    piece_length: u64,
    total_length: u64,
) -> Result<(), MetainfoError> {
    let tree = info
        .get("file tree")
        .ok_or_else(|| missing("info.file tree"))?;
    // BEP 52 trees are sorted: libtorrent refuses an unsorted one.
    if let Err(e) = bencode::decode(tree.raw) {
        return Err(invalid("info.file tree", format!("not canonical bencode: {}", e.kind)));
    }
    let mut v2 = Vec::new();
    walk_file_tree(tree, &mut Vec::new(), &mut v2)?;
    let mismatch = |msg: String| invalid("info", format!("v1 and v2 file lists disagree: {msg}"));
    let v1: Vec<&FileEntry> = files.iter().filter(|f| !f.padding && f.length > 0).collect();
    let mut v2_data = Vec::new();
    let mut offset = 0u64;
    let mut end = 0u64;
    for f in &v2 {
        if f.length == 0 {
            continue;
        }
        v2_data.push((f, offset));
        end = offset.checked_add(f.length).ok_or_else(|| mismatch("lengths overflow".into()))?;
        offset = end.div_ceil(piece_length).saturating_mul(piece_length);
    }
    if v1.len() != v2_data.len() {
        return Err(mismatch(format!("{} files with data in v1, {} in v2", v1.len(), v2_data.len())));
    }
    for (a, (b, off)) in v1.iter().zip(&v2_data) {
        if a.path != b.path || a.length != b.length || a.offset != *off {
            return Err(mismatch(format!(
                "v1 has {} ({} bytes at {}), v2 has {} ({} bytes at {off})",
                a.path_string(),
                a.length,
                a.offset,
                b.path.join("/"),
                b.length
            )));
        }
    }
    // With or without padding after the last file.
    if total_length != end && total_length != offset {
        return Err(mismatch(format!("v1 has {total_length} bytes, v2 {end}")));
    }
    Ok(())
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
        let (mut m, span) = Metainfo::parse(buf)?;
        m.info_bytes = buf[span].to_vec();
        Ok(m)
    }

    /// [`Metainfo::from_bytes`] keeping the buffer as `info_bytes` (cut to
    /// the info dictionary in place): a large torrent is not held twice
    /// (the file and the copy of its info). On an error the buffer comes
    /// back with it.
    pub fn from_vec(mut buf: Vec<u8>) -> Result<Metainfo, (MetainfoError, Vec<u8>)> {
        let (mut m, span) = match Metainfo::parse(&buf) {
            Ok(x) => x,
            Err(e) => return Err((e, buf)),
        };
        buf.truncate(span.end);
        buf.drain(..span.start);
        buf.shrink_to_fit();
        m.info_bytes = buf;
        Ok(m)
    }

    /// The metainfo without `info_bytes`, and where they lie in `buf`.
    fn parse(buf: &[u8]) -> Result<(Metainfo, std::ops::Range<usize>), MetainfoError> {
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
        let info = Info::from_value(info_v)?;
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
            info_bytes: Vec::new(),
            info,
            announce,
            announce_list,
            url_list,
            creation_date: root.get("creation date").and_then(|v| v.as_int()),
            comment: opt_string(root.get("comment.utf-8").or(root.get("comment"))),
            created_by: opt_string(root.get("created by")),
        };
        Ok((m, span))
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
        let v = bencode::decode_lenient(info_bytes)?;
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
    fn from_vec_keeps_the_buffer_as_the_info_bytes() {
        let buf = torrent(single("a.bin", 100, 32, 4));
        let a = Metainfo::from_bytes(&buf).unwrap();
        let b = Metainfo::from_vec(buf.clone()).unwrap();
        assert_eq!(b.info_bytes, a.info_bytes);
        assert_eq!(b.info_hash, a.info_hash);
        assert!(b.info_bytes.starts_with(b"d6:length") && b.info_bytes.len() < buf.len());
        assert_eq!(b.info.pieces, a.info.pieces);
        let (e, back) = Metainfo::from_vec(buf[..buf.len() - 3].to_vec()).unwrap_err();
        assert!(matches!(e, MetainfoError::Bencode(_)), "{e}");
        assert_eq!(back, buf[..buf.len() - 3]);
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

    fn paths(m: &Metainfo) -> Vec<String> {
        m.info.files.iter().map(|f| f.path_string()).collect()
    }

    #[test]
    fn unsafe_paths_are_made_safe() {
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["..", "x"], "_/x"),
            (vec!["a", ""], "a/_"),
            (vec!["/etc"], "etc"),
            (vec!["a/b"], "ab"),
            (vec!["."], "_"),
            (vec!["a\\..\\..\\b"], "a....b"),
        ];
        for (bad, safe) in cases {
            let m = Metainfo::from_bytes(&torrent(multi(vec![bad.clone()]))).unwrap();
            assert_eq!(paths(&m), vec![safe], "{bad:?}");
            let c = &m.info.path_changes;
            assert_eq!(c.len(), 1, "{bad:?}");
            assert_eq!(c[0].file, Some(0));
            let esc: Vec<String> = bad.iter().map(|b| crate::path::escape_bytes(b.as_bytes())).collect();
            assert_eq!(c[0].original, esc);
            assert_eq!(c[0].safe, safe);
            assert_eq!(c[0].reasons, vec![ChangeReason::Unsafe]);
        }
        // A name with nothing left is the info-hash in hex for a
        // multi-file torrent (the directory); a single file needs a name
        // (libtorrent does the same).
        let mut info = multi(vec![vec!["a"]]);
        info.insert("name", "..".into());
        let m = Metainfo::from_bytes(&torrent(info)).unwrap();
        assert_eq!(m.info.name, m.info_hash.to_hex());
        assert_eq!(paths(&m), vec!["a"]);
        assert_eq!(m.info.path_changes[0].reasons, vec![ChangeReason::EmptyName]);
        assert!(m.info.path_change_warnings()[0].contains("torrent name \"..\""));
        let e = Metainfo::from_bytes(&torrent(single("..", 1, 1, 1))).unwrap_err().to_string();
        assert!(e.contains("info.name: \"..\" has nothing left"), "{e}");
        // Safe torrents report nothing.
        let m = Metainfo::from_bytes(&torrent(multi(vec![vec!["a"], vec!["d", "b"]]))).unwrap();
        assert!(m.info.path_changes.is_empty());
    }

    #[test]
    fn reserved_name() {
        for n in [".torrent-get", ".Torrent-Get", ".torrent-get.resume"] {
            let m = Metainfo::from_bytes(&torrent(single(n, 1, 1, 1))).unwrap();
            assert_eq!(m.info.name, format!("_{n}"));
            assert_eq!(paths(&m), vec![format!("_{n}")]);
            assert_eq!(m.info.path_changes[0].reasons, vec![ChangeReason::Reserved]);
        }
        let mut info = multi(vec![vec!["x.resume"]]);
        info.insert("name", ".torrent-get".into());
        let m = Metainfo::from_bytes(&torrent(info)).unwrap();
        assert_eq!(m.info.name, "_.torrent-get");
        // Inside the torrent's own directory the name is harmless.
        let m = Metainfo::from_bytes(&torrent(multi(vec![vec![".torrent-get", "x"]]))).unwrap();
        assert_eq!(paths(&m), vec![".torrent-get/x"]);
    }

    #[test]
    fn duplicate_paths_renamed() {
        let m = Metainfo::from_bytes(&torrent(multi(vec![
            vec!["foo", "bar.txt"],
            vec!["foo", "bar.txt"],
            vec!["foo", "BAR.txt"],
            vec!["d"],
            vec!["d", "e"],
            vec!["/", "x"],
            vec!["\\", "x"],
        ])))
        .unwrap();
        assert_eq!(
            paths(&m),
            vec!["foo/bar.txt", "foo/bar.1.txt", "foo/BAR.2.txt", "d.1", "d/e", "_/x", "_/x.1"]
        );
        let c: Vec<_> = m.info.path_changes.iter().map(|c| (c.file, c.reasons.clone())).collect();
        assert_eq!(
            c,
            vec![
                (Some(1), vec![ChangeReason::Duplicate]),
                (Some(2), vec![ChangeReason::Duplicate]),
                (Some(3), vec![ChangeReason::Duplicate]),
                (Some(5), vec![ChangeReason::Unsafe]),
                (Some(6), vec![ChangeReason::Unsafe, ChangeReason::Duplicate]),
            ]
        );
        assert_eq!(m.info.path_changes[4].original, vec!["\\\\", "x"]);
        // Beyond the rename budget the torrent is refused.
        let many = vec![vec!["a"]; 40];
        let e = Metainfo::from_bytes(&torrent(multi(many))).unwrap_err().to_string();
        assert!(e.contains("too many duplicate"), "{e}");
        // A rename never takes a later file's own name.
        let m = Metainfo::from_bytes(&torrent(multi(vec![vec!["a.txt"], vec!["a.txt"], vec!["a.1.txt"]]))).unwrap();
        assert_eq!(paths(&m), vec!["a.txt", "a.2.txt", "a.1.txt"]);
        // Warnings are capped.
        let names: Vec<String> = (0..30).map(|i| format!("x/{i}")).collect();
        let m = Metainfo::from_bytes(&torrent(multi(names.iter().map(|n| vec![n.as_str()]).collect()))).unwrap();
        let w = m.info.path_change_warnings();
        assert_eq!(w.len(), MAX_WARNINGS + 1);
        assert!(w[MAX_WARNINGS].starts_with("10 more names"), "{}", w[MAX_WARNINGS]);
    }

    #[test]
    fn many_directories_stay_cheap() {
        // 5,000 files 100 levels deep, every directory distinct: the
        // duplicate check must not store half a million prefixes.
        let files: Vec<O> = (0..5_000)
            .map(|i| {
                let mut p: Vec<O> = vec![format!("d{i}").into()];
                p.extend((0..99).map(|j| O::from(format!("{j}"))));
                O::dict().with("length", O::Int(1)).with("path", O::List(p))
            })
            .collect();
        let info = O::dict()
            .with("files", O::List(files))
            .with("name", "root".into())
            .with("piece length", O::Int(1 << 20))
            .with("pieces", O::Bytes(vec![0; 20]));
        let t0 = std::time::Instant::now();
        let m = Metainfo::from_bytes(&torrent(info)).unwrap();
        assert_eq!(m.info.files.len(), 5_000);
        assert!(t0.elapsed() < std::time::Duration::from_secs(5), "{:?}", t0.elapsed());
    }

    fn file(path: Option<Vec<&str>>, len: Option<i64>, attr: Option<&str>) -> O {
        let mut f = O::dict();
        if let Some(p) = path {
            f.insert("path", O::List(p.into_iter().map(O::from).collect()));
        }
        if let Some(l) = len {
            f.insert("length", O::Int(l));
        }
        if let Some(a) = attr {
            f.insert("attr", a.into());
        }
        f
    }

    fn with_files(files: Vec<O>, total: u64, plen: i64) -> O {
        O::dict()
            .with("files", O::List(files))
            .with("name", "root".into())
            .with("piece length", O::Int(plen))
            .with("pieces", O::Bytes(vec![0; 20 * total.div_ceil(plen as u64) as usize]))
    }

    #[test]
    fn padding_and_symlinks() {
        let link = file(Some(vec!["l"]), None, Some("l"))
            .with("symlink path", O::List(vec!["..".into(), "d".into(), "a".into()]));
        let files = vec![
            file(Some(vec!["a"]), Some(10), None),
            file(None, Some(6), Some("p")),
            file(Some(vec!["_____padding_file_0"]), Some(16), None),
            file(Some(vec!["d", "a"]), Some(4), Some("x")),
            link,
            file(Some(vec!["plain"]), None, Some("l")),
        ];
        let m = Metainfo::from_bytes(&torrent(with_files(files, 36, 16))).unwrap();
        let f = &m.info.files;
        assert_eq!(paths(&m), vec!["a", ".pad/6", "_____padding_file_0", "d/a", "l", "plain"]);
        assert_eq!(f.iter().map(|f| f.padding).collect::<Vec<_>>(), [false, true, true, false, false, false]);
        assert_eq!(f[4].symlink, Some(vec!["d".to_string(), "a".to_string()]));
        assert_eq!((f[4].length, f[5].length, f[5].symlink.clone()), (0, 0, None));
        assert_eq!(f[3].offset, 32);
        assert_eq!(m.info.total_length, 36);
        assert!(m.info.path_changes.is_empty());
    }

    #[test]
    fn zero_length_rejected() {
        let e = Metainfo::from_bytes(&torrent(single("a", 0, 16, 0))).unwrap_err().to_string();
        assert!(e.contains("total length is 0"), "{e}");
        let files = vec![file(Some(vec!["a"]), Some(0), None), file(Some(vec!["b"]), Some(0), None)];
        let e = Metainfo::from_bytes(&torrent(with_files(files, 0, 16))).unwrap_err().to_string();
        assert!(e.contains("total length is 0"), "{e}");
    }

    #[test]
    fn piece_length_limits() {
        let big = 32767 * 16384;
        assert!(Metainfo::from_bytes(&torrent(single("a", big, big, 1))).is_ok());
        let max = MAX_PIECE_LENGTH as i64;
        assert!(Metainfo::from_bytes(&torrent(single("a", max, max, 1))).is_ok());
        assert!(Metainfo::from_bytes(&torrent(single("a", max + 1, max + 1, 1))).is_err());
    }

    fn v2_file(len: i64) -> O {
        O::dict().with(
            "",
            O::dict()
                .with("length", O::Int(len))
                .with("pieces root", O::Bytes(vec![1; 32])),
        )
    }

    fn hybrid(v1: Vec<O>, tree: O, total: u64) -> O {
        with_files(v1, total, 16384)
            .with("meta version", O::Int(2))
            .with("file tree", tree)
    }

    #[test]
    fn hybrid_files_must_agree() {
        let v1 = || {
            vec![
                file(Some(vec!["a"]), Some(100), None),
                file(Some(vec![".pad", "16284"]), Some(16284), Some("p")),
                file(Some(vec!["b"]), Some(5), None),
            ]
        };
        let tree = O::dict().with("a", v2_file(100)).with("b", v2_file(5));
        let m = Metainfo::from_bytes(&torrent(hybrid(v1(), tree.clone(), 16389))).unwrap();
        assert_eq!(m.info.version, Version::Hybrid);
        assert!(m.info_hash_v2.is_some());
        // A different name, length or order in v2.
        for bad in [
            O::dict().with("a", v2_file(100)).with("c", v2_file(5)),
            O::dict().with("a", v2_file(100)).with("b", v2_file(6)),
            O::dict().with("a", v2_file(100)),
        ] {
            let e = Metainfo::from_bytes(&torrent(hybrid(v1(), bad, 16389))).unwrap_err().to_string();
            assert!(e.contains("v1 and v2 file lists disagree"), "{e}");
        }
        // v1 without the padding: b is not where v2 puts it.
        let v1_unpadded = vec![file(Some(vec!["a"]), Some(100), None), file(Some(vec!["b"]), Some(5), None)];
        let e = Metainfo::from_bytes(&torrent(hybrid(v1_unpadded, tree, 105))).unwrap_err().to_string();
        assert!(e.contains("disagree"), "{e}");
        // Invalid v2 trees.
        let no_root = O::dict().with(
            "a",
            O::dict().with("", O::dict().with("length", O::Int(100))),
        );
        let single_v1 = || vec![file(Some(vec!["a"]), Some(100), None)];
        let e = Metainfo::from_bytes(&torrent(hybrid(single_v1(), no_root, 100))).unwrap_err().to_string();
        assert!(e.contains("pieces root"), "{e}");
        let e = Metainfo::from_bytes(&torrent(with_files(single_v1(), 100, 16384).with("meta version", O::Int(2))))
            .unwrap_err()
            .to_string();
        assert!(e.contains("file tree: missing"), "{e}");
        let e = Metainfo::from_bytes(&torrent(hybrid(single_v1(), O::dict().with("a", O::dict()), 100)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty directory"), "{e}");
    }

    #[test]
    fn lenient_torrent_file() {
        // Unsorted keys outside and inside info, a duplicate, a newline after.
        let info = b"d6:lengthi100e4:name5:a.bin12:piece lengthi32e6:pieces80:01234567890123456789012345678901234567890123456789012345678901234567890123456789e";
        let mut t = b"d4:info".to_vec();
        t.extend_from_slice(info);
        t.extend_from_slice(b"8:announce9:http://x/8:announce9:http://y/e\n");
        let m = Metainfo::from_bytes(&t).unwrap();
        assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(&info[..])));
        assert_eq!(m.info_bytes, info);
        assert_eq!(m.announce.as_deref(), Some("http://x/"));
        assert_eq!(m.info.name, "a.bin");
        // The strict scanner still tells what is not canonical.
        assert_eq!(bencode::decode(&t).unwrap_err().kind, bencode::ErrorKind::UnsortedKey);
    }
}
