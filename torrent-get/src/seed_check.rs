//! `--seed-only` needs the data: before anything is written, check that the
//! torrent's files are where the download directory says, and when they are
//! not, say where we looked and where they probably are.

use std::path::{Path, PathBuf};
use torrent_core::Metainfo;

/// Where the torrent's files would be under `dir` (padding files left out).
pub fn expected_paths(meta: &Metainfo, dir: &Path) -> Vec<PathBuf> {
    if !meta.info.multi_file {
        return vec![dir.join(&meta.info.name)];
    }
    let root = dir.join(&meta.info.name);
    meta.info
        .files
        .iter()
        .filter(|f| !f.padding)
        .map(|f| f.path.iter().fold(root.clone(), |p, c| p.join(c)))
        .collect()
}

/// Ok if at least one of the torrent's files exists under `dir`; else a
/// message: "no data found under DIR/NAME; did you mean -o PARENT?".
pub fn check(meta: &Metainfo, dir: &Path) -> Result<(), String> {
    let paths = expected_paths(meta, dir);
    if paths.iter().any(|p| p.is_file()) {
        return Ok(());
    }
    let looked = dir.join(&meta.info.name);
    let mut msg = format!("--seed-only: no data found under {}", looked.display());
    // The usual slip: -o pointed at the content folder, not its parent.
    let mut cand = Some(dir);
    while let Some(d) = cand {
        if d != dir && expected_paths(meta, d).iter().any(|p| p.is_file()) {
            msg.push_str(&format!("; did you mean -o {}?", d.display()));
            return Err(msg);
        }
        cand = d.parent();
    }
    if dir.file_name().map(|n| n == meta.info.name.as_str()).unwrap_or(false) {
        if let Some(parent) = dir.parent() {
            msg.push_str(&format!("; did you mean -o {}?", if parent.as_os_str().is_empty() { Path::new(".") } else { parent }.display()));
        }
    }
    Err(msg)
}
