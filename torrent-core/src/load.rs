//! The one loader for what a user names on the command line, shared by
//! every tool: a .torrent file (`-` = stdin), an `http(s)://` URL of a
//! .torrent (fetched with a size bound), a magnet link, or a bare info-hash
//! (40 hex or 32 base32 characters).
//!
//! Errors name the input and, for a malformed torrent, the field
//! (`info.pieces: ...`), also when the bencode itself is broken (truncated
//! files): [`field_at`] finds which field the error offset falls in. A
//! directory is "is a directory", and a string that is almost an info-hash
//! (39 hex digits) says so instead of "no such file".

use crate::infohash::InfoHash;
use crate::magnet::Magnet;
use crate::metainfo::{MetainfoError, MAX_TORRENT_SIZE};
use crate::source::{read_limited, Source};
use crate::Metainfo;
use std::fmt;
use std::time::Duration;

/// An input that could not be loaded: `subject` is what the user named
/// (shortened when long), `msg` what is wrong with it.
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

impl std::error::Error for LoadError {}

/// How long fetching a .torrent over HTTP may take, redirects included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Shorten a long argument (a magnet link) for error messages.
fn subject(arg: &str) -> String {
    if arg.chars().count() > 72 {
        let s: String = arg.chars().take(69).collect();
        format!("{s}...")
    } else {
        arg.to_string()
    }
}

/// Load what `arg` names. See the module documentation for the forms.
pub fn load(arg: &str) -> Result<Source, LoadError> {
    let err = |msg: String| LoadError {
        subject: subject(arg),
        msg,
    };
    if arg.starts_with("magnet:") {
        return Magnet::parse(arg)
            .map(Source::Magnet)
            .map_err(|e| err(e.to_string()));
    }
    let lower = arg.get(..8).unwrap_or(arg).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let bytes = fetch_url(arg, HTTP_TIMEOUT).map_err(err)?;
        return parse_torrent_vec(bytes)
            .map(|m| Source::Torrent(Box::new(m)))
            .map_err(err);
    }
    let path = std::path::Path::new(arg);
    if arg != "-" && !path.exists() {
        if let Some(h) = info_hash_like(arg) {
            return h.map(|h| Source::Magnet(bare_magnet(h))).map_err(err);
        }
    }
    if path.is_dir() {
        return Err(err("is a directory, not a .torrent file".into()));
    }
    let bytes = read_limited(arg).map_err(|e| {
        // read_limited already starts its message with the argument.
        let prefix = format!("{arg}: ");
        let m = e.strip_prefix(&prefix).unwrap_or(&e).to_string();
        if m.contains("No such file") {
            err(format!("{m}; not a file, a magnet link, a URL or an info-hash"))
        } else {
            err(m)
        }
    })?;
    parse_torrent_vec(bytes)
        .map(|m| Source::Torrent(Box::new(m)))
        .map_err(err)
}

fn bare_magnet(h: InfoHash) -> Magnet {
    Magnet {
        info_hash: h,
        display_name: None,
        trackers: Vec::new(),
        peers: Vec::new(),
        web_seeds: Vec::new(),
    }
}

/// Whether `arg` (not an existing file) was meant as an info-hash: Some(Ok)
/// for a valid one, Some(Err) with a precise message for one that is almost
/// (hex digits only, 30-50 of them; or 32 characters that are not base32),
/// None for anything else (then it is a file name that does not exist).
fn info_hash_like(arg: &str) -> Option<Result<InfoHash, String>> {
    let n = arg.len();
    let all_hex = n > 0 && arg.bytes().all(|b| b.is_ascii_hexdigit());
    if n == 40 || n == 32 {
        if let Ok(h) = arg.parse::<InfoHash>() {
            return Some(Ok(h));
        }
    }
    if all_hex && (30..=50).contains(&n) {
        return Some(Err(format!(
            "not a file, and not an info-hash: {n} hex digits (an info-hash has 40 hex or 32 base32 characters)"
        )));
    }
    if n == 32 && arg.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Some(Err(
            "not a file, and not an info-hash: 32 characters that are not base32 (A-Z, 2-7)".into(),
        ));
    }
    None
}

/// GET a .torrent over HTTP(S): at most [`MAX_TORRENT_SIZE`] bytes,
/// redirects followed (5 at most), within `timeout`.
pub fn fetch_url(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    fetch_url_limited(url, MAX_TORRENT_SIZE, timeout)
}

/// GET `url` and return its body: at most `limit` bytes, redirects followed
/// (5 at most), within `timeout`; a status other than 2xx is an error. The
/// URL is sent as given, except that bytes a URL may not hold (spaces,
/// non-ASCII) are percent-encoded.
pub fn fetch_url_limited(url: &str, limit: usize, timeout: Duration) -> Result<Vec<u8>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(5)
        .user_agent(concat!("torrent-toolkit/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let map = |e: ureq::Error| match e {
        ureq::Error::BodyExceedsLimit(_) => format!("larger than {limit} bytes"),
        ureq::Error::Timeout(_) => format!("no answer within {} s", timeout.as_secs()),
        e => format!("HTTP: {e}"),
    };
    let safe = crate::webseed::layout::encode_base(url);
    let mut resp = agent.get(safe.as_str()).call().map_err(map)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP status {}", status.as_u16()));
    }
    resp.body_mut()
        .with_config()
        .limit(limit as u64)
        .read_to_vec()
        .map_err(map)
}

/// Parse .torrent bytes; a bencode error is reported with the field it
/// occurred in.
pub fn parse_torrent(bytes: &[u8]) -> Result<Metainfo, String> {
    if bytes.is_empty() {
        return Err("empty file, not a torrent".into());
    }
    Metainfo::from_bytes(bytes).map_err(|e| parse_error(bytes, e))
}

/// [`parse_torrent`] of a buffer it may keep (as the info bytes).
pub fn parse_torrent_vec(bytes: Vec<u8>) -> Result<Metainfo, String> {
    if bytes.is_empty() {
        return Err("empty file, not a torrent".into());
    }
    Metainfo::from_vec(bytes).map_err(|(e, bytes)| parse_error(&bytes, e))
}

fn parse_error(bytes: &[u8], e: MetainfoError) -> String {
    match &e {
        MetainfoError::Bencode(b) => match field_at(bytes, b.offset) {
            Some(field) => format!("{field}: {e}"),
            None => format!("torrent: {e}"),
        },
        _ => e.to_string(),
    }
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
    fn info_hash_forms_and_near_misses() {
        let h = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
        match load(h).unwrap() {
            Source::Magnet(m) => assert_eq!(m.info_hash.to_hex(), h),
            s => panic!("{s:?}"),
        }
        assert!(matches!(load("YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK").unwrap(), Source::Magnet(_)));
        let e = load(&h[..39]).unwrap_err();
        assert_eq!(e.subject, &h[..39]);
        assert!(e.msg.contains("not a file, and not an info-hash: 39 hex digits"), "{e}");
        let e = load(&format!("{h}0")).unwrap_err();
        assert!(e.msg.contains("41 hex digits"), "{e}");
        let e = load("YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKE1").unwrap_err();
        assert!(e.msg.contains("not base32"), "{e}");
        let e = load("/no/such/file.torrent").unwrap_err();
        assert!(e.msg.contains("No such file"), "{e}");
        let d = std::env::temp_dir();
        let e = load(d.to_str().unwrap()).unwrap_err();
        assert!(e.msg.contains("is a directory"), "{e}");
    }

    #[test]
    fn http_url_errors_are_named() {
        // Nothing listens on a port we bound and released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/x.torrent");
        let e = load(&url).unwrap_err();
        assert_eq!(e.subject, url);
        assert!(e.msg.starts_with("HTTP: "), "{e}");
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
