//! Turning path components from a torrent into safe names on disk.
//!
//! A torrent must never make us write outside the download directory: every
//! component is checked on its own (no separators, no `.`/`..`, not empty),
//! and [`safe_join`] re-checks the joined path.

use std::path::{Component, Path, PathBuf};

/// Longest file name most file systems take, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Check one path component from a torrent and make it safe for the disk.
/// Rejects what could escape the target directory; replaces what a file
/// system cannot store (control characters) and shortens overlong names.
pub fn sanitize_component(raw: &[u8]) -> Result<String, String> {
    let s = String::from_utf8_lossy(raw);
    if s.is_empty() {
        return Err("empty path component".into());
    }
    if s == "." || s == ".." {
        return Err(format!("path component {s:?} is not allowed"));
    }
    if s.contains('/') || s.contains('\\') {
        return Err(format!("path component {s:?} contains a path separator"));
    }
    if s.contains('\0') {
        return Err("path component contains a NUL byte".into());
    }
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    if out.len() > MAX_COMPONENT_BYTES {
        // Keep the extension if there is a short one.
        let ext = out
            .rfind('.')
            .map(|i| out[i..].to_string())
            .filter(|e| e.len() <= 16)
            .unwrap_or_default();
        let mut cut = MAX_COMPONENT_BYTES - ext.len();
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(&ext);
    }
    Ok(out)
}

/// Join sanitised components below `root`; errors if the result would not
/// be strictly inside `root` (defence in depth on top of sanitising).
pub fn safe_join(root: &Path, components: &[String]) -> Result<PathBuf, String> {
    let mut p = root.to_path_buf();
    for c in components {
        let cp = Path::new(c);
        let mut it = cp.components();
        match (it.next(), it.next()) {
            (Some(Component::Normal(_)), None) => p.push(c),
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

    #[test]
    fn rejects_escapes() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\\b", b"a\0b"] {
            assert!(sanitize_component(bad).is_err(), "{bad:?}");
        }
        assert_eq!(sanitize_component(b"ok.txt").unwrap(), "ok.txt");
        assert_eq!(sanitize_component(b"a\nb").unwrap(), "a_b");
        assert_eq!(sanitize_component(b"\xff.bin").unwrap(), "\u{fffd}.bin");
    }

    #[test]
    fn shortens_long_names() {
        let long = format!("{}.mkv", "é".repeat(200));
        let s = sanitize_component(long.as_bytes()).unwrap();
        assert!(s.len() <= MAX_COMPONENT_BYTES);
        assert!(s.ends_with(".mkv"));
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
        assert!(safe_join(root, &[]).is_err());
    }
}
