//! Loading what the user names: a .torrent file (`-` = stdin), a magnet
//! link or a bare info-hash. Errors name the input and, for a malformed
//! torrent, the field (`info.pieces: ...`), also when the bencode itself is
//! broken (truncated files): [`field_at`] finds which field the error
//! offset falls in.

use std::fmt;
use torrent_core::metainfo::MetainfoError;
use torrent_core::source::read_limited;
use torrent_core::{InfoHash, Magnet, Metainfo};

/// A loaded input.
#[derive(Debug, Clone)]
pub enum Loaded {
    Torrent(Box<Metainfo>),
    Magnet(Magnet),
}

/// An input that could not be loaded: `subject` is what the user named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub subject: String,
    pub msg: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.msg)
    }
}

/// Shorten a long argument (a magnet link) for error messages.
fn subject(arg: &str) -> String {
    if arg.chars().count() > 72 {
        let s: String = arg.chars().take(69).collect();
        format!("{s}...")
    } else {
        arg.to_string()
    }
}

pub fn load(arg: &str) -> Result<Loaded, LoadError> {
    let err = |msg: String| LoadError {
        subject: subject(arg),
        msg,
    };
    if arg.starts_with("magnet:") {
        return Magnet::parse(arg)
            .map(Loaded::Magnet)
            .map_err(|e| err(e.to_string()));
    }
    let path = std::path::Path::new(arg);
    if arg != "-" && !path.exists() && matches!(arg.len(), 32 | 40) {
        if let Ok(h) = arg.parse::<InfoHash>() {
            return Ok(Loaded::Magnet(Magnet {
                info_hash: h,
                display_name: None,
                trackers: Vec::new(),
                peers: Vec::new(),
                web_seeds: Vec::new(),
            }));
        }
    }
    if path.is_dir() {
        return Err(err("is a directory, not a .torrent file".into()));
    }
    let bytes = read_limited(arg).map_err(|e| {
        // read_limited already starts its message with the argument.
        let prefix = format!("{arg}: ");
        err(e.strip_prefix(&prefix).unwrap_or(&e).to_string())
    })?;
    parse_torrent(&bytes)
        .map(|m| Loaded::Torrent(Box::new(m)))
        .map_err(err)
}

/// Parse .torrent bytes; a bencode error is reported with the field it
/// occurred in.
pub fn parse_torrent(bytes: &[u8]) -> Result<Metainfo, String> {
    if bytes.is_empty() {
        return Err("empty file, not a torrent".into());
    }
    Metainfo::from_bytes(bytes).map_err(|e| match &e {
        MetainfoError::Bencode(b) => match field_at(bytes, b.offset) {
            Some(field) => format!("{field}: {e}"),
            None => format!("torrent: {e}"),
        },
        _ => e.to_string(),
    })
}

enum Seg {
    Key(String),
    Index(usize),
}

/// The dotted field path (`info.files[2].path[0]`) of the innermost value
/// that contains byte `target` of `buf`, or None if `target` falls outside
/// every value (e.g. trailing data after the top-level dictionary) or
/// at the top level. Lenient: it only follows the structure far enough to
/// reach `target`.
pub fn field_at(buf: &[u8], target: usize) -> Option<String> {
    let mut path = Vec::new();
    match walk(buf, 0, target, &mut path, 0) {
        Some(_) => None,
        None if path.is_empty() => None,
        None => {
            let mut s = String::new();
            for seg in path {
                match seg {
                    Seg::Key(k) => {
                        if !s.is_empty() {
                            s.push('.');
                        }
                        s.push_str(&k);
                    }
                    Seg::Index(i) => s.push_str(&format!("[{i}]")),
                }
            }
            Some(s)
        }
    }
}

/// Returns Some(end) when the value at `pos` ends at or before `target`;
/// None when `target` lies inside it (or the value is broken), leaving the
/// path to the innermost such value in `path`.
fn walk(buf: &[u8], pos: usize, target: usize, path: &mut Vec<Seg>, depth: usize) -> Option<usize> {
    if depth > 256 || pos >= buf.len() || pos >= target {
        return None;
    }
    match buf[pos] {
        b'i' => {
            let e = pos + buf[pos..].iter().position(|&b| b == b'e')?;
            (e < target).then_some(e + 1)
        }
        b'0'..=b'9' => string_end(buf, pos).filter(|&end| end <= target),
        b'l' => {
            let mut p = pos + 1;
            let mut i = 0;
            loop {
                if p >= buf.len() || p > target {
                    return None;
                }
                if buf[p] == b'e' {
                    return (p < target).then_some(p + 1);
                }
                path.push(Seg::Index(i));
                p = walk(buf, p, target, path, depth + 1)?;
                path.pop();
                i += 1;
            }
        }
        b'd' => {
            let mut p = pos + 1;
            loop {
                if p >= target || p >= buf.len() {
                    return None;
                }
                if buf[p] == b'e' {
                    return Some(p + 1);
                }
                let key_end = string_end(buf, p)?;
                if key_end > target || key_end > buf.len() {
                    // The error is in the key itself; name the dictionary.
                    return None;
                }
                let colon = p + buf[p..].iter().position(|&b| b == b':')?;
                let key = String::from_utf8_lossy(&buf[colon + 1..key_end]).into_owned();
                path.push(Seg::Key(key));
                p = walk(buf, key_end, target, path, depth + 1)?;
                path.pop();
            }
        }
        _ => None,
    }
}

/// End of the byte string starting at `pos` (`<len>:<bytes>`), if the
/// length prefix parses and the string fits in `buf`... or not: a string
/// that runs past the end still has an end (beyond `buf`), which places
/// `target` inside it.
fn string_end(buf: &[u8], pos: usize) -> Option<usize> {
    let colon = pos + buf[pos..].iter().take(21).position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(&buf[pos..colon]).ok()?.parse().ok()?;
    (colon + 1).checked_add(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &[u8] = b"d8:announce3:abc4:infod5:filesld6:lengthi5e4:pathl1:a2:bbeee4:name1:x12:piece lengthi16e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";

    #[test]
    fn locate_fields() {
        let at = |needle: &[u8]| T.windows(needle.len()).position(|w| w == needle).unwrap();
        assert_eq!(field_at(T, at(b"3:abc") + 1).as_deref(), Some("announce"));
        assert_eq!(
            field_at(T, at(b"2:bb")).as_deref(),
            Some("info.files[0].path[1]")
        );
        assert_eq!(
            field_at(T, at(b"i5e") + 1).as_deref(),
            Some("info.files[0].length")
        );
        assert_eq!(field_at(T, at(b"20:aaa")).as_deref(), Some("info.pieces"));
        // Truncated inside `pieces`: the string runs past the end.
        let cut = &T[..at(b"20:aaa") + 8];
        assert_eq!(field_at(cut, at(b"20:aaa")).as_deref(), Some("info.pieces"));
        // Error at the very end (missing closing `e`s): innermost open dict.
        let cut = &T[..T.len() - 2];
        assert_eq!(field_at(cut, cut.len()).as_deref(), Some("info"));
        assert_eq!(field_at(T, T.len()), None);
        assert_eq!(field_at(b"", 0), None);
        assert_eq!(field_at(b"x", 0), None);
    }

    #[test]
    fn truncated_torrent_names_field() {
        let e = parse_torrent(&T[..T.len() - 10]).unwrap_err();
        assert!(e.starts_with("info.pieces: "), "{e}");
        assert!(e.contains("bencode error at byte"), "{e}");
        let e = parse_torrent(b"").unwrap_err();
        assert!(e.contains("empty"), "{e}");
    }
}
