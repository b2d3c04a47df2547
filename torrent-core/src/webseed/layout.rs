//! Web-seed URLs (BEP 19) and the mapping of piece runs to per-file HTTP
//! byte ranges.
//!
//! GetRight-style rules: for a single-file torrent a URL that does not end
//! in `/` is the file itself; otherwise (and always for a multi-file
//! torrent) the torrent's name and, for multi-file torrents, each path
//! component are appended, every component percent-encoded byte by byte.
//! Names are taken from the raw info dictionary (`name.utf-8`/`path.utf-8`
//! when present and valid UTF-8, like [`crate::metainfo`]), not from the
//! sanitised names used on disk, because the mirror stores the files under
//! their real names; bytes that are not UTF-8 are percent-encoded as they
//! are (`caf\xe9` is `caf%E9`).

use crate::bencode;
use crate::metainfo::{utf8_key, Info, Metainfo};
use std::ops::Range;

/// One file as a mirror stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutFile {
    /// Raw path components below the torrent's root (empty for a
    /// single-file torrent).
    pub path: Vec<Vec<u8>>,
    /// Offset of the file in the torrent's byte stream.
    pub offset: u64,
    pub length: u64,
    /// BEP 47 padding file: not on the mirror, reads as zeros.
    pub padding: bool,
}

/// Where the torrent's bytes live on a mirror.
#[derive(Debug, Clone)]
pub struct Layout {
    pub piece_length: u64,
    pub total_length: u64,
    pub num_pieces: u32,
    pub multi_file: bool,
    /// Raw torrent name.
    pub name: Vec<u8>,
    pub files: Vec<LayoutFile>,
}

/// One HTTP byte range (or a run of padding zeros) of a piece run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The file's URL; None for a padding file (zeros, nothing to fetch).
    pub url: Option<String>,
    /// First byte wanted inside the file.
    pub file_offset: u64,
    pub len: u64,
    /// Offset of that byte in the torrent's byte stream.
    pub offset: u64,
}

impl Layout {
    /// Layout with the raw names from the info dictionary; falls back to
    /// the sanitised names of `meta.info` if the raw ones cannot be read.
    pub fn new(meta: &Metainfo) -> Layout {
        let mut l = Layout::from_info(&meta.info);
        if let Some((name, paths)) = raw_names(&meta.info_bytes) {
            if paths.len() == l.files.len() || !l.multi_file {
                l.name = name;
                if l.multi_file {
                    for (f, p) in l.files.iter_mut().zip(paths) {
                        f.path = p;
                    }
                }
            }
        }
        l
    }

    /// Layout with the sanitised names of `info`.
    pub fn from_info(info: &Info) -> Layout {
        Layout {
            piece_length: info.piece_length,
            total_length: info.total_length,
            num_pieces: info.piece_count() as u32,
            multi_file: info.multi_file,
            name: info.name_disk.clone(),
            files: info
                .files
                .iter()
                .map(|f| LayoutFile {
                    path: if info.multi_file {
                        f.disk.clone()
                    } else {
                        Vec::new()
                    },
                    offset: f.offset,
                    length: f.length,
                    padding: f.padding,
                })
                .collect(),
        }
    }

    /// Length of piece `index` (the last one may be short).
    pub fn piece_len(&self, index: u32) -> u64 {
        let start = index as u64 * self.piece_length;
        self.piece_length.min(self.total_length.saturating_sub(start))
    }

    /// Byte range of a run of pieces in the torrent's byte stream.
    pub fn byte_range(&self, pieces: Range<u32>) -> Range<u64> {
        let start = (pieces.start as u64 * self.piece_length).min(self.total_length);
        let end = (pieces.end as u64 * self.piece_length).min(self.total_length);
        start..end.max(start)
    }

    /// The URL of file `file` on the mirror whose url-list entry is `base`.
    pub fn file_url(&self, base: &str, file: usize) -> String {
        let mut url = encode_base(base);
        if !self.multi_file && !url.ends_with('/') {
            return url;
        }
        if !url.ends_with('/') {
            url.push('/');
        }
        encode_component(&self.name, &mut url);
        for c in &self.files[file].path {
            url.push('/');
            encode_component(c, &mut url);
        }
        url
    }

    /// The HTTP ranges (one per file touched, zero-length files skipped)
    /// that make up pieces `pieces` on mirror `base`, in stream order.
    pub fn parts(&self, base: &str, pieces: Range<u32>) -> Vec<Part> {
        let r = self.byte_range(pieces);
        let mut out = Vec::new();
        if r.is_empty() {
            return out;
        }
        let mut i = self.files.partition_point(|f| f.offset + f.length <= r.start);
        while i < self.files.len() {
            let f = &self.files[i];
            if f.offset >= r.end {
                break;
            }
            let start = r.start.max(f.offset);
            let stop = r.end.min(f.offset + f.length);
            if stop > start {
                out.push(Part {
                    url: (!f.padding).then(|| self.file_url(base, i)),
                    file_offset: start - f.offset,
                    len: stop - start,
                    offset: start,
                });
            }
            i += 1;
        }
        out
    }
}

/// Raw name and per-file path components from info bytes.
/// Raw path components of one file.
type RawPath = Vec<Vec<u8>>;

fn raw_names(info_bytes: &[u8]) -> Option<(Vec<u8>, Vec<RawPath>)> {
    let v = bencode::decode_lenient(info_bytes).ok()?;
    let name = utf8_key(&v, "name")?.as_bytes()?.to_vec();
    let mut paths = Vec::new();
    if let Some(files) = v.get("files").and_then(|f| f.as_list()) {
        for f in files {
            let p = utf8_key(f, "path")?.as_list()?;
            let comps: Option<Vec<Vec<u8>>> =
                p.iter().map(|c| c.as_bytes().map(<[u8]>::to_vec)).collect();
            paths.push(comps?);
        }
    }
    Some((name, paths))
}

fn hex_digit(n: u8) -> char {
    b"0123456789ABCDEF"[n as usize & 15] as char
}

/// Percent-encode one path component byte by byte: everything but the
/// RFC 3986 unreserved characters becomes `%XX` (so `/`, `?`, `#`, `%`,
/// spaces and non-ASCII bytes never change the URL's structure).
pub fn encode_component(raw: &[u8], out: &mut String) {
    for &b in raw {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b));
        }
    }
}

/// A url-list entry made safe to send: its structure (and any escapes it
/// already has) is kept; only bytes that may not appear in a URL at all
/// (controls, space, non-ASCII, `"<>\^`{|}`) are percent-encoded.
pub fn encode_base(base: &str) -> String {
    let mut out = String::with_capacity(base.len());
    for &b in base.trim().as_bytes() {
        if b > 0x20 && b < 0x7f && !matches!(b, b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b));
        }
    }
    out
}

/// Is this a URL we can fetch from (`http://` or `https://` with a host)?
pub fn is_http_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/'))
}

/// The usable web seeds of a torrent: the `url-list` entries (BEP 19; a
/// single string or a list, already read into [`Metainfo::url_list`]) that
/// are HTTP(S) URLs, duplicates removed, order kept.
pub fn mirrors(meta: &Metainfo) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in &meta.url_list {
        let u = u.trim();
        if is_http_url(u) && !out.iter().any(|o| o == u) {
            out.push(u.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::OwnedValue as O;

    fn multi(files: &[(&[&[u8]], i64)], name: &[u8], plen: i64) -> Metainfo {
        let total: i64 = files.iter().map(|f| f.1).sum();
        let n = (total + plen - 1) / plen;
        let list = files
            .iter()
            .map(|(p, l)| {
                O::dict()
                    .with("length", O::Int(*l))
                    .with("path", O::List(p.iter().map(O::bytes).collect()))
            })
            .collect();
        let info = O::dict()
            .with("files", O::List(list))
            .with("name", O::bytes(name))
            .with("piece length", O::Int(plen))
            .with("pieces", O::Bytes(vec![0; 20 * n as usize]));
        let t = O::dict()
            .with("info", info)
            .with("url-list", "http://m.example/pub/".into())
            .encode();
        Metainfo::from_bytes(&t).unwrap()
    }

    #[test]
    fn urls_are_encoded_byte_by_byte() {
        let m = multi(
            &[(&[b"dir one", "caf\u{e9}.txt".as_bytes()], 10), (&[b"a%2F?#b"], 5)],
            b"My Torrent",
            4,
        );
        let l = Layout::new(&m);
        assert_eq!(
            l.file_url("http://m.example/pub/", 0),
            "http://m.example/pub/My%20Torrent/dir%20one/caf%C3%A9.txt"
        );
        // No trailing slash on a multi-file base: one is added.
        assert_eq!(
            l.file_url("http://m.example/pub", 1),
            "http://m.example/pub/My%20Torrent/a%252F%3F%23b"
        );
        assert_eq!(mirrors(&m), vec!["http://m.example/pub/".to_string()]);
    }

    #[test]
    fn names_that_are_not_utf8_are_encoded_as_their_bytes() {
        // Latin-1 bytes: `%E9`, never the `%EF%BF%BD` of a replacement.
        let m = multi(&[(&[b"d\xff", b"caf\xe9.txt"], 10)], b"r\xe9p", 4);
        let want = "http://m.example/pub/r%E9p/d%FF/caf%E9.txt";
        assert_eq!(Layout::new(&m).file_url("http://m.example/pub/", 0), want);
        // The same from the names on disk (the fallback without the raw
        // dictionary).
        assert_eq!(Layout::from_info(&m.info).file_url("http://m.example/pub/", 0), want);
        // A valid `path.utf-8` is the mirror's name (as it is on disk);
        // an invalid one is not used.
        for (alt, want) in [(&b"caf\xc3\xa9"[..], "caf%C3%A9"), (b"\xfe", "caf%E9")] {
            let info = O::dict()
                .with("files", O::List(vec![O::dict()
                    .with("length", O::Int(10))
                    .with("path", O::List(vec![O::bytes(b"caf\xe9")]))
                    .with("path.utf-8", O::List(vec![O::bytes(alt)]))]))
                .with("name", "r".into())
                .with("piece length", O::Int(16))
                .with("pieces", O::Bytes(vec![0; 20]));
            let m = Metainfo::from_bytes(&O::dict().with("info", info).encode()).unwrap();
            assert_eq!(Layout::new(&m).file_url("http://h/", 0), format!("http://h/r/{want}"));
            assert_eq!(m.info.files[0].disk[0], Layout::new(&m).files[0].path[0]);
        }
    }

    #[test]
    fn single_file_url_used_as_is() {
        let info = O::dict()
            .with("length", O::Int(100))
            .with("name", "file name.iso".into())
            .with("piece length", O::Int(64))
            .with("pieces", O::Bytes(vec![0; 40]));
        let t = O::dict()
            .with("info", info)
            .with("url-list", O::List(vec!["ftp://x/".into(), "https://a/x.iso".into(), "http://b/d/".into(), "https://a/x.iso".into()]))
            .encode();
        let m = Metainfo::from_bytes(&t).unwrap();
        let l = Layout::new(&m);
        assert_eq!(mirrors(&m), vec!["https://a/x.iso", "http://b/d/"]);
        assert_eq!(l.file_url("https://a/x.iso", 0), "https://a/x.iso");
        assert_eq!(l.file_url("http://b/d/", 0), "http://b/d/file%20name.iso");
        assert_eq!(l.file_url("http://b/caf\u{e9} x", 0), "http://b/caf%C3%A9%20x");
        let p = l.parts("https://a/x.iso", 1..2);
        assert_eq!(p, vec![Part { url: Some("https://a/x.iso".into()), file_offset: 64, len: 36, offset: 64 }]);
    }

    #[test]
    fn parts_split_at_files_and_skip_empty_ones() {
        let m = multi(&[(&[b"a"], 5), (&[b"empty"], 0), (&[b"b"], 7)], b"t", 4);
        let l = Layout::new(&m);
        assert_eq!(l.num_pieces, 3);
        let p = l.parts("http://h/", 1..3);
        assert_eq!(
            p,
            vec![
                Part { url: Some("http://h/t/a".into()), file_offset: 4, len: 1, offset: 4 },
                Part { url: Some("http://h/t/b".into()), file_offset: 0, len: 7, offset: 5 },
            ]
        );
        assert_eq!(l.parts("http://h/", 0..1)[0].len, 4);
        assert!(l.parts("http://h/", 3..3).is_empty());
    }

    #[test]
    fn padding_files_are_not_fetched() {
        let list = vec![
            O::dict().with("length", O::Int(3)).with("path", O::List(vec!["a".into()])),
            O::dict()
                .with("attr", "p".into())
                .with("length", O::Int(1))
                .with("path", O::List(vec![".pad".into(), "1".into()])),
            O::dict().with("length", O::Int(4)).with("path", O::List(vec!["b".into()])),
        ];
        let info = O::dict()
            .with("files", O::List(list))
            .with("name", "t".into())
            .with("piece length", O::Int(4))
            .with("pieces", O::Bytes(vec![0; 40]));
        let m = Metainfo::from_bytes(&O::dict().with("info", info).encode()).unwrap();
        let p = Layout::new(&m).parts("http://h/", 0..2);
        assert_eq!(p.len(), 3);
        assert_eq!(p[1], Part { url: None, file_offset: 0, len: 1, offset: 3 });
    }
}
