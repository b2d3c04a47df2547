//! Turning path components from a torrent into safe names on disk.
//!
//! A torrent must never make us write outside the download directory. Names
//! are made safe rather than refused, following libtorrent's rules (its
//! non-Windows `sanitize_append_path_element`), so that we read the same
//! torrents and name their files the same way:
//!
//! - invalid UTF-8, C0 controls, DEL and C1 controls become `_`;
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

/// Make one path component safe. `force`: the component must produce a
/// name (file paths: `_` stands in for one that is empty, `.` or `..`);
/// without it (the torrent's name) such a component gives `None`.
/// The result is never empty, `.` or `..`, has no `/`, `\` or NUL, and
/// is at most [`MAX_COMPONENT_BYTES`] long.
pub fn sanitize_path_element(raw: &[u8], force: bool) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if removed(c) {
                continue;
            }
            out.push(if replaced(c) { '_' } else { c });
        }
        // One `_` per invalid sequence, as the lossy decoder would put one
        // replacement character.
        if !chunk.invalid().is_empty() {
            out.push('_');
        }
    }
    if out.len() > MAX_COMPONENT_BYTES {
        // Cut, keeping a short extension.
        let ext = out
            .rfind('.')
            .map(|i| out[i..].to_string())
            .filter(|e| e.len() > 1 && e.len() <= 10)
            .unwrap_or_default();
        let mut cut = CUT_AT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(&ext);
    }
    if out.is_empty() || out == "." || out == ".." {
        return force.then(|| "_".to_string());
    }
    debug_assert!(out.len() <= MAX_COMPONENT_BYTES);
    Some(out)
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

/// Join sanitised components below `root`; errors if the result would not
/// be strictly inside `root` (defence in depth on top of sanitising).
pub fn safe_join(root: &Path, components: &[String]) -> Result<PathBuf, String> {
    let mut p = root.to_path_buf();
    for c in components {
        let cp = Path::new(c);
        let mut it = cp.components();
        match (it.next(), it.next()) {
            (Some(Component::Normal(_)), None) if !c.contains(['/', '\\', '\0']) => p.push(c),
            _ => return Err(format!("unsafe path component {c:?}")),
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
        // Controls and invalid UTF-8 become `_`, one per bad sequence.
        assert_eq!(path(b"a\0b"), "ab");
        assert_eq!(sanitize_path_element(b"\0\0", false), None);
        assert_eq!(path(b"a\nb\x7f"), "a_b_");
        assert_eq!(path(b"\xff\xfe.bin"), "__.bin");
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
    fn escapes_for_display() {
        assert_eq!(escape_bytes(b"a\xffb/c"), "a\\xffb/c");
        assert_eq!(escape_bytes(b"a\nb"), "a\\u{a}b");
    }

    #[test]
    fn join_stays_inside() {
        let root = Path::new("/tmp/x");
        assert_eq!(
            safe_join(root, &["a".into(), "b".into()]).unwrap(),
            Path::new("/tmp/x/a/b")
        );
        assert!(safe_join(root, &["..".into()]).is_err());
        assert!(safe_join(root, &["/etc".into()]).is_err());
        assert!(safe_join(root, &["a\\b".into()]).is_err());
        assert!(safe_join(root, &[]).is_err());
    }
}
