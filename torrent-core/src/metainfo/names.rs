//! Names of the files of a torrent: `info.files` entries, duplicate paths,
//! symlink targets, and the record of names changed to be safe.

use super::*;

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
    /// Not UTF-8: not changed, the bytes name the file on disk; text shows
    /// them as `\xNN`.
    NotUtf8,
}

impl ChangeReason {
    pub fn describe(self) -> &'static str {
        match self {
            ChangeReason::Unsafe => "unsafe characters or components",
            ChangeReason::EmptyName => "nothing left once made safe; named after the info-hash",
            ChangeReason::Reserved => "reserved for torrent-get's resume data",
            ChangeReason::Duplicate => "another file has the same path",
            ChangeReason::NotUtf8 => "not UTF-8: kept as bytes on disk, shown as \\xNN",
        }
    }
}

/// A name of the torrent that was changed to make it safe (or that is not
/// UTF-8, [`ChangeReason::NotUtf8`]), so tools can warn and show what the
/// torrent really says.
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

impl Info {
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
                if c.reasons == [ChangeReason::NotUtf8] {
                    return format!("{what} \"{}\" is {}", c.safe, ChangeReason::NotUtf8.describe());
                }
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
}

/// True for a byte string that is UTF-8, or a list of only such strings.
fn is_utf8(v: &Value<'_>) -> bool {
    match (v.as_bytes(), v.as_list()) {
        (Some(b), _) => std::str::from_utf8(b).is_ok(),
        (_, Some(l)) => l.iter().all(|c| c.as_bytes().is_some_and(|b| std::str::from_utf8(b).is_ok())),
        _ => false,
    }
}

/// `key` of dictionary `d`, or its BEP 3 `key.utf-8` variant (`name.utf-8`,
/// `path.utf-8`, written by some clients next to names in a local code
/// page): the variant when it is present and valid UTF-8 (then it names
/// the file on disk too, as libtorrent does with `path.utf-8`), else the
/// plain key, else the variant as it is.
pub(crate) fn utf8_key<'a, 'v>(d: &'a Value<'v>, key: &str) -> Option<&'a Value<'v>> {
    let alt = d.get(&format!("{key}.utf-8"));
    match (alt, d.get(key)) {
        (Some(a), _) if is_utf8(a) => Some(a),
        (_, Some(p)) => Some(p),
        (a, None) => a,
    }
}

/// What changed in a name: the torrent's components (escaped) and why.
pub(super) type Change = (Vec<String>, Vec<ChangeReason>);

/// One entry of `info.files`; also returns the original components and
/// the reasons if sanitising changed them (or they are not UTF-8).
pub(super) fn file_entry(
    field: &str,
    f: &Value<'_>,
    offset: u64,
) -> Result<(FileEntry, Option<Change>), MetainfoError> {
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
    let comps = match utf8_key(f, "path") {
        Some(p) => Some(
            p.as_list()
                .ok_or_else(|| wrong_type(&format!("{field}.path"), "list", p))?,
        ),
        None => None,
    };
    let mut original = None;
    let disk = match comps {
        Some(comps) if !comps.is_empty() => {
            if comps.len() > MAX_PATH_DEPTH {
                return Err(invalid(
                    &format!("{field}.path"),
                    format!("{} components, more than {MAX_PATH_DEPTH}", comps.len()),
                ));
            }
            let mut disk = Vec::with_capacity(comps.len());
            let mut raw = Vec::with_capacity(comps.len());
            for (j, c) in comps.iter().enumerate() {
                let b = bytes_field(&format!("{field}.path[{j}]"), c)?;
                disk.push(sanitize_path_bytes(b, true).expect("forced"));
                raw.push(b);
            }
            let mut reasons = Vec::new();
            if disk.iter().zip(&raw).any(|(p, r)| p != r) {
                reasons.push(ChangeReason::Unsafe);
            }
            if disk.iter().any(|c| std::str::from_utf8(c).is_err()) {
                reasons.push(ChangeReason::NotUtf8);
            }
            if !reasons.is_empty() {
                original = Some((raw.iter().map(|r| escape_bytes(r)).collect(), reasons));
            }
            disk
        }
        // libtorrent's name for a padding file without a path.
        _ if padding => vec![b".pad".to_vec(), length.to_string().into_bytes()],
        Some(_) => return Err(invalid(&format!("{field}.path"), "is empty")),
        None => return Err(missing(&format!("{field}.path"))),
    };
    if disk.iter().any(|c| c.windows(18).any(|w| w == b"_____padding_file_")) {
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
    let mut entry = FileEntry {
        path: Vec::new(),
        disk: Vec::new(),
        length,
        offset,
        padding,
        symlink,
    };
    entry.set_disk(disk);
    Ok((entry, original))
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
        // Renamed on the bytes on disk (the text form follows).
        let last = f.disk.last().expect("paths are never empty").clone();
        let (stem, ext) = match last.iter().rposition(|&b| b == b'.') {
            Some(d) if d > 0 => (&last[..d], &last[d..]),
            _ => (&last[..], &b""[..]),
        };
        let mut n = 1u64;
        let new_disk = loop {
            let suffix = [format!(".{n}").as_bytes(), ext].concat();
            let cut = crate::path::cut_point(stem, crate::path::MAX_COMPONENT_BYTES.saturating_sub(suffix.len()));
            let mut d = f.disk.clone();
            *d.last_mut().expect("not empty") = [&stem[..cut], &suffix].concat();
            let mut p = f.path.clone();
            *p.last_mut().expect("not empty") = escape_bytes(d.last().expect("not empty"));
            let k = lower(&p);
            // Not a later file's path either, so it cannot be taken from it.
            if !index.is_dir(&k) && !index.is_file(&k) && !used.contains(&k) {
                used.insert(k);
                break d;
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
        f.set_disk(new_disk);
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

