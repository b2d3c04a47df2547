//! Turning path components from a torrent into safe names on disk.
//!
//! A torrent must never make us write outside the download directory. Names
//! are made safe rather than refused, following libtorrent's rules (its
//! non-Windows `sanitize_append_path_element`), so that we read the same
//! torrents and name their files the same way:
//!
//! - C0 controls, DEL and C1 controls become `_`;
//! - bytes that are not UTF-8 are kept as bytes (libtorrent makes each bad
//!   sequence `_`; we keep them, so a torrent made from a tree with
//!   Latin-1 names finds those files again); in text (messages, JSON) they
//!   are shown as `\xNN` ([`escape_bytes`]);
//! - `/`, `\` and NUL inside a component are removed, and so are invisible
//!   formatting characters that can disguise a name (zero-width characters,
//!   bidirectional overrides and isolates, the byte order mark);
//! - a component that is then empty, `.` or `..` becomes `_` in a file path
//!   ([`sanitize_path_element`] with `force`); for the torrent's name it is
//!   dropped, and the caller uses the info-hash instead;
//! - a component longer than 255 bytes (the limit of common file systems)
//!   is cut at 240, keeping a short extension.
//!
//! [`safe_join`] re-checks every joined path on top of that.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

/// Longest file name most file systems take, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Where a long component is cut (libtorrent's limit), before its extension.
const CUT_AT: usize = 240;

/// Characters removed from a component: separators, and invisible
/// formatting characters that can make one name look like another.
fn removed(c: char) -> bool {
    matches!(c,
        '/' | '\\' | '\0'
        | '\u{061c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

/// Characters that become `_`: controls (C0, DEL, C1).
fn replaced(c: char) -> bool {
    (c as u32) < 0x20 || c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c)
}

/// Make one path component safe, as bytes for the file system. `force`:
/// the component must produce a name (file paths: `_` stands in for one
/// that is empty, `.` or `..`); without it (the torrent's name) such a
/// component gives `None`. Bytes that are not UTF-8 are kept as they are
/// (a Latin-1 `caf\xe9.txt` names the file `caf\xe9.txt` on disk, so a
/// torrent made from such a tree finds its files again); the rules above
/// apply to the characters around them. The result is never empty, `.` or
/// `..`, has no `/`, `\` or NUL, and is at most [`MAX_COMPONENT_BYTES`]
/// long.
pub fn sanitize_path_bytes(raw: &[u8], force: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut buf = [0u8; 4];
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if removed(c) {
                continue;
            }
            let c = if replaced(c) { '_' } else { c };
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        out.extend_from_slice(chunk.invalid());
    }
    if out.len() > MAX_COMPONENT_BYTES {
        // Cut, keeping a short extension.
        let ext = out
            .iter()
            .rposition(|&b| b == b'.')
            .map(|i| out[i..].to_vec())
            .filter(|e| e.len() > 1 && e.len() <= 10)
            .unwrap_or_default();
        out.truncate(cut_point(&out, CUT_AT));
        out.extend_from_slice(&ext);
    }
    if out.is_empty() || out == b"." || out == b".." {
        return force.then(|| b"_".to_vec());
    }
    debug_assert!(out.len() <= MAX_COMPONENT_BYTES);
    Some(out)
}

/// Where to cut `b` to at most `max` bytes without splitting a UTF-8
/// character (at most 3 bytes are given back, so a run of stray
/// continuation bytes is cut somewhere too).
pub fn cut_point(b: &[u8], max: usize) -> usize {
    let mut cut = max.min(b.len());
    let floor = cut.saturating_sub(3);
    while cut > floor && cut < b.len() && (0x80..0xc0).contains(&b[cut]) {
        cut -= 1;
    }
    if cut < b.len() && (0x80..0xc0).contains(&b[cut]) {
        cut = max.min(b.len());
    }
    cut
}

/// Make one path component safe: [`sanitize_path_bytes`] shown as text
/// ([`escape_bytes`]: bytes that are not UTF-8 as `\xNN`). Since a safe
/// component has no `\` and no controls, the only escapes are those
/// bytes, and [`display_to_bytes`] gives the bytes back.
pub fn sanitize_path_element(raw: &[u8], force: bool) -> Option<String> {
    sanitize_path_bytes(raw, force).map(|b| escape_bytes(&b))
}

/// The bytes of a safe component from its text form
/// ([`sanitize_path_element`]): `\xNN` becomes the byte NN, everything
/// else is kept. The inverse of [`escape_bytes`] on safe components.
pub fn display_to_bytes(shown: &str) -> Vec<u8> {
    let b = shown.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(v) = b.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A safe component as a file name: its bytes as they are (Unix).
#[cfg(unix)]
pub fn os_name(c: &[u8]) -> &OsStr {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(c)
}

/// A path for messages: its bytes as [`escape_bytes`] shows them (a name
/// that is not UTF-8 as `\xNN`, not as U+FFFD).
#[cfg(unix)]
pub fn show_path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    escape_bytes(p.as_os_str().as_bytes())
}

/// `root` joined with safe components ([`sanitize_path_bytes`]), with no
/// checks (see [`safe_join`]); for paths to show or look at.
pub fn join_bytes<C: AsRef<[u8]>>(root: &Path, components: &[C]) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in components {
        p.push(os_name(c.as_ref()));
    }
    p
}

/// Sanitise a name that must be used as one component; errors if nothing
/// usable is left (empty, `.`, `..`, or only removed characters).
pub fn sanitize_component(raw: &[u8]) -> Result<String, String> {
    sanitize_path_element(raw, false).ok_or_else(|| {
        format!(
            "name {:?} has nothing left once made safe",
            String::from_utf8_lossy(raw)
        )
    })
}

/// The bytes of a name as text for messages and JSON: UTF-8 as it is,
/// other bytes as `\xNN`.
pub fn escape_bytes(raw: &[u8]) -> String {
    // The usual case, every safe UTF-8 name: nothing to escape.
    if let Ok(s) = std::str::from_utf8(raw) {
        if !s.chars().any(|c| c == '\\' || replaced(c)) {
            return s.to_string();
        }
    }
    let mut out = String::new();
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if replaced(c) {
                out.push_str(&c.escape_unicode().to_string());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Join sanitised components (text or bytes) below `root`; errors if the
/// result would not be strictly inside `root` (defence in depth on top of
/// sanitising).
pub fn safe_join<C: AsRef<[u8]>>(root: &Path, components: &[C]) -> Result<PathBuf, String> {
    let mut p = root.to_path_buf();
    for c in components {
        let c = c.as_ref();
        let cp = Path::new(os_name(c));
        let mut it = cp.components();
        match (it.next(), it.next()) {
            (Some(Component::Normal(_)), None) if !c.iter().any(|b| matches!(b, b'/' | b'\\' | 0)) => p.push(cp),
            _ => return Err(format!("unsafe path component \"{}\"", escape_bytes(c))),
        }
    }
    if components.is_empty() {
        return Err("empty path".into());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &[u8]) -> String {
        sanitize_path_element(raw, true).unwrap()
    }

    #[test]
    fn makes_names_safe() {
        // What would escape becomes `_` in a path, or nothing for a name.
        for bad in [&b""[..], b".", b"..", b"/", b"\\", b"//", b"\xe2\x80\x8b"] {
            assert_eq!(path(bad), "_", "{bad:?}");
            assert_eq!(sanitize_path_element(bad, false), None, "{bad:?}");
            assert!(sanitize_component(bad).is_err());
        }
        // Separators are removed (libtorrent: "abc/../../def" -> "abc....def").
        assert_eq!(path(b"abc/../../def"), "abc....def");
        assert_eq!(path(b"/foobar"), "foobar");
        assert_eq!(path(b"a\\b"), "ab");
        assert_eq!(path(b"temp/../../abc"), "temp....abc");
        // Controls become `_`; bytes that are not UTF-8 are kept, shown
        // escaped.
        assert_eq!(path(b"a\0b"), "ab");
        assert_eq!(sanitize_path_element(b"\0\0", false), None);
        assert_eq!(path(b"a\nb\x7f"), "a_b_");
        assert_eq!(path(b"\xff\xfe.bin"), "\\xff\\xfe.bin");
        assert_eq!(sanitize_path_bytes(b"\xff\xfe.bin", true).unwrap(), b"\xff\xfe.bin");
        assert_eq!(path("a\u{85}b".as_bytes()), "a_b");
        // Invisible characters that disguise an extension are dropped.
        assert_eq!(path("evil\u{202e}fdp.exe".as_bytes()), "evilfdp.exe");
        assert_eq!(path("a\u{200b}b".as_bytes()), "ab");
        // Ordinary names, dot files and spaces are kept.
        for ok in ["ok.txt", ".hidden", "...", "foobar ", "é ü"] {
            assert_eq!(path(ok.as_bytes()), ok);
        }
        assert_eq!(sanitize_component(b"ok.txt").unwrap(), "ok.txt");
    }

    #[test]
    fn shortens_long_names() {
        let long = format!("{}.mkv", "é".repeat(200));
        let s = path(long.as_bytes());
        assert!(s.len() <= MAX_COMPONENT_BYTES);
        assert!(s.ends_with(".mkv"), "{s}");
        let s = path("x".repeat(1000).as_bytes());
        assert_eq!(s.len(), 240);
    }

    #[test]
    fn keeps_bytes_that_are_not_utf8() {
        let b = |raw: &[u8]| sanitize_path_bytes(raw, true).unwrap();
        // Latin-1 names stay as they are; the unsafe parts around them go.
        assert_eq!(b(b"caf\xe9.txt"), b"caf\xe9.txt");
        assert_eq!(b(b"../caf\xe9/\n"), b"..caf\xe9_");
        assert_eq!(b(b"\xe9\xe2\x80\x8b\xe9"), b"\xe9\xe9");
        assert_eq!(sanitize_path_bytes(b"/\0", false), None);
        // Shown escaped, and back again.
        for raw in [&b"caf\xe9.txt"[..], b"\x80\xff", "é\u{7f}".as_bytes(), b"x\\xe9"] {
            let safe = b(raw);
            let shown = sanitize_path_element(raw, true).unwrap();
            assert_eq!(shown, escape_bytes(&safe));
            assert_eq!(display_to_bytes(&shown), safe, "{shown}");
        }
        assert_eq!(sanitize_path_element(b"caf\xe9.txt", true).unwrap(), "caf\\xe9.txt");
        // Long names are cut by bytes, keeping the extension; a UTF-8
        // character is not split, stray bytes may be.
        let long = [&b"\xe9".repeat(300)[..], b".mkv"].concat();
        let s = b(&long);
        assert_eq!(s.len(), 244);
        assert!(s.ends_with(b".mkv") && s.starts_with(b"\xe9\xe9"));
        let s = b(format!("a{}.iso", "é".repeat(200)).as_bytes());
        assert_eq!(s.len(), 239 + 4);
        assert!(std::str::from_utf8(&s).is_ok());
        let s = b(&b"\x80".repeat(300));
        assert_eq!(s.len(), 240);
    }

    #[test]
    fn joins_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let root = Path::new("/tmp/x");
        let p = safe_join(root, &[b"d".to_vec(), b"caf\xe9".to_vec()]).unwrap();
        assert_eq!(p.as_os_str().as_bytes(), b"/tmp/x/d/caf\xe9");
        assert_eq!(join_bytes(root, &[&b"d"[..], b"caf\xe9"]), p);
        assert!(safe_join(root, &[b"a/b".to_vec()]).is_err());
        assert!(safe_join(root, &[b"..".to_vec()]).is_err());
        assert!(safe_join(root, &[b"a\0".to_vec()]).is_err());
    }

    #[test]
    fn escapes_for_display() {
        assert_eq!(escape_bytes(b"a\xffb/c"), "a\\xffb/c");
        assert_eq!(escape_bytes(b"a\nb"), "a\\u{a}b");
    }

    #[test]
    fn join_stays_inside() {
        let root = Path::new("/tmp/x");
        assert_eq!(
            safe_join(root, &["a", "b"]).unwrap(),
            Path::new("/tmp/x/a/b")
        );
        assert!(safe_join(root, &[".."]).is_err());
        assert!(safe_join(root, &["/etc"]).is_err());
        assert!(safe_join(root, &["a\\b"]).is_err());
        assert!(safe_join::<String>(root, &[]).is_err());
    }
}
