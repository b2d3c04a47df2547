//! Names of the files of a torrent: `info.files` entries, duplicate paths,
//! symlink targets.

use super::*;

/// One entry of `info.files`; also returns the original components if
/// sanitising changed them.
pub(super) fn file_entry(
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
pub(super) fn resolve_duplicates(files: &mut [FileEntry], changes: &mut Vec<PathChange>) -> Result<(), MetainfoError> {
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
pub(super) fn resolve_symlinks(files: &mut [FileEntry]) {
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

