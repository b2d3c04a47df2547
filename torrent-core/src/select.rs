//! File numbers and file selection, shared by every tool so that the
//! numbers `torrent-info` prints are the ones `--select` takes.
//!
//! Files are numbered from 1 in the torrent's order; BEP 47 padding files
//! get no number (they are never shown or selected), so a torrent made with
//! libtorrent's defaults numbers its real files 1, 2, 3 like one without
//! padding. A selection is a comma-separated list of items, each one of:
//!
//! - a number `3` or a range `2-5` (inclusive);
//! - a path below the torrent (`dir/b.bin`, or with the torrent's name in
//!   front, `name/dir/b.bin`) or a file name (`b.bin`);
//! - a glob (`*.iso`, `dir/*`, `disc?.bin`): `*` matches any run of
//!   characters but `/`, `?` one character; a glob without `/` is matched
//!   against file names, one with `/` against whole paths.
//!
//! Every item must match at least one file, so a typo is an error rather
//! than an empty download.

use crate::metainfo::Info;

/// The 1-based number of each file of `info`, by index into `info.files`:
/// None for padding files.
pub fn numbers(info: &Info) -> Vec<Option<usize>> {
    let mut n = 0;
    info.files
        .iter()
        .map(|f| {
            if f.padding {
                None
            } else {
                n += 1;
                Some(n)
            }
        })
        .collect()
}

/// How many files have a number (the non-padding ones).
pub fn numbered_count(info: &Info) -> usize {
    info.files.iter().filter(|f| !f.padding).count()
}

/// The index into `info.files` of file number `number` (1-based).
pub fn index_of_number(info: &Info, number: usize) -> Option<usize> {
    numbers(info).iter().position(|n| *n == Some(number))
}

/// Resolve a selection to indices into `info.files`, ascending, without
/// duplicates and never a padding file.
pub fn select(info: &Info, spec: &str) -> Result<Vec<usize>, String> {
    let nums = numbers(info);
    let count = numbered_count(info);
    let mut chosen = vec![false; info.files.len()];
    let items: Vec<&str> = spec.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        return Err("empty selection (give numbers, names or globs, e.g. 1,3-4,*.iso)".into());
    }
    for item in items {
        if let Some((a, b)) = parse_range(item)? {
            if a == 0 || b < a {
                return Err(format!("{item:?}: bad range (files are numbered from 1)"));
            }
            if b > count {
                return Err(format!("{item:?}: the torrent has {count} files"));
            }
            for (i, n) in nums.iter().enumerate() {
                if matches!(n, Some(n) if (a..=b).contains(n)) {
                    chosen[i] = true;
                }
            }
            continue;
        }
        let mut hit = false;
        for (i, f) in info.files.iter().enumerate() {
            if f.padding {
                continue;
            }
            let rel = if info.multi_file { f.path_string() } else { info.name.clone() };
            let with_name = if info.multi_file { format!("{}/{rel}", info.name) } else { rel.clone() };
            let base = rel.rsplit('/').next().unwrap_or(&rel).to_string();
            let m = if item.contains('/') {
                glob(item, &rel) || glob(item, &with_name)
            } else {
                glob(item, &base)
            };
            if m {
                chosen[i] = true;
                hit = true;
            }
        }
        if !hit {
            return Err(format!("{item:?} matches no file of the torrent"));
        }
    }
    Ok(chosen.iter().enumerate().filter(|(_, c)| **c).map(|(i, _)| i).collect())
}

/// `N` or `A-B` as numbers; None when the item is not numeric (a name).
fn parse_range(item: &str) -> Result<Option<(usize, usize)>, String> {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (a, b) = match item.split_once('-') {
        Some((a, b)) if numeric(a.trim()) && numeric(b.trim()) => (a.trim(), b.trim()),
        _ if numeric(item) => (item, item),
        _ => return Ok(None),
    };
    let p = |s: &str| s.parse::<usize>().map_err(|_| format!("{item:?}: number too large"));
    Ok(Some((p(a)?, p(b)?)))
}

/// Whether `text` matches `pattern` (`*`: any run without `/`, `?`: one
/// character but `/`; everything else literally).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with one backtrack point per star.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == t[ti] || (p[pi] == '?' && t[ti] != '/')) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            if t[st] == '/' {
                return false;
            }
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::{FileEntry, Version};

    fn info(files: &[(&str, u64, bool)]) -> Info {
        let mut off = 0;
        let files = files
            .iter()
            .map(|(p, len, pad)| {
                let e = FileEntry {
                    path: p.split('/').map(str::to_string).collect(),
                    disk: p.split('/').map(|c| c.as_bytes().to_vec()).collect(),
                    length: *len,
                    offset: off,
                    padding: *pad,
                    symlink: None,
                };
                off += len;
                e
            })
            .collect();
        Info {
            name: "multi".into(),
            name_disk: b"multi".to_vec(),
            piece_length: 16384,
            pieces: Default::default(),
            files,
            multi_file: true,
            private: false,
            total_length: off,
            version: Version::V1,
            path_changes: Vec::new(),
        }
    }

    /// The layout libtorrent makes by default: padding after each file but
    /// the last.
    fn padded() -> Info {
        info(&[
            ("a.bin", 1000, false),
            (".pad/15384", 15384, true),
            ("b.bin", 20000, false),
            (".pad/12768", 12768, true),
            ("readme.txt", 10, false),
            ("sub/c.iso", 5, false),
        ])
    }

    #[test]
    fn padding_is_never_numbered() {
        let i = padded();
        assert_eq!(numbers(&i), vec![Some(1), None, Some(2), None, Some(3), Some(4)]);
        assert_eq!(numbered_count(&i), 4);
        assert_eq!(index_of_number(&i, 2), Some(2));
        assert_eq!(index_of_number(&i, 5), None);
        // --select 2 is b.bin, not the padding file before it.
        assert_eq!(select(&i, "2").unwrap(), vec![2]);
        assert_eq!(select(&i, "1-3").unwrap(), vec![0, 2, 4]);
    }

    #[test]
    fn names_paths_and_globs() {
        let i = padded();
        assert_eq!(select(&i, "b.bin").unwrap(), vec![2]);
        assert_eq!(select(&i, "*.bin").unwrap(), vec![0, 2]);
        assert_eq!(select(&i, "sub/c.iso").unwrap(), vec![5]);
        assert_eq!(select(&i, "multi/sub/*").unwrap(), vec![5]);
        assert_eq!(select(&i, "c.iso,1").unwrap(), vec![0, 5]);
        assert_eq!(select(&i, "?.bin, 4").unwrap(), vec![0, 2, 5]);
        // `*` does not cross `/`; padding never matches.
        assert!(select(&i, "*/c.iso").is_ok());
        assert!(select(&i, "*c.iso").is_ok());
        assert!(select(&i, "multi/*.iso").is_err());
        assert!(select(&i, "15384").is_err());
        assert!(select(&i, ".pad/*").is_err());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let i = padded();
        assert!(select(&i, "5").unwrap_err().contains("has 4 files"));
        assert!(select(&i, "0").unwrap_err().contains("numbered from 1"));
        assert!(select(&i, "3-2").unwrap_err().contains("bad range"));
        assert!(select(&i, "nope.txt").unwrap_err().contains("matches no file"));
        assert!(select(&i, " , ").unwrap_err().contains("empty selection"));
    }

    #[test]
    fn single_file_torrent() {
        let mut i = info(&[("x", 10, false)]);
        i.multi_file = false;
        i.name = "one.iso".into();
        assert_eq!(select(&i, "1").unwrap(), vec![0]);
        assert_eq!(select(&i, "*.iso").unwrap(), vec![0]);
        assert_eq!(select(&i, "one.iso").unwrap(), vec![0]);
    }

    #[test]
    fn glob_basics() {
        assert!(glob("*", "abc"));
        assert!(glob("a*c", "abbbc"));
        assert!(!glob("a*c", "ab/c"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "a/c"));
        assert!(glob("*.tar.*", "x.tar.gz"));
        assert!(!glob("*.iso", "x.isox"));
        assert!(glob("", ""));
        assert!(!glob("", "a"));
    }
}
