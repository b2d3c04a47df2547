//! `--seed-only` needs the data: before anything is written, check that the
//! torrent's files are where the download directory says, and when they are
//! not, say where we looked and where they probably are.

use std::path::{Path, PathBuf};
use torrent_core::path::show_path;
use torrent_core::Metainfo;

/// Where the torrent's files would be under `dir` (padding files left out),
/// named by their bytes on disk (`FileEntry::disk`).
pub fn expected_paths(meta: &Metainfo, dir: &Path) -> Vec<PathBuf> {
    let info = &meta.info;
    (0..info.files.len()).filter(|&i| !info.files[i].padding).map(|i| info.file_in(dir, i)).collect()
}

/// Ok if at least one of the torrent's files exists under `dir`; else a
/// message: "no data found under DIR/NAME; did you mean -o PARENT?".
pub fn check(meta: &Metainfo, dir: &Path) -> Result<(), String> {
    let paths = expected_paths(meta, dir);
    if paths.iter().any(|p| p.is_file()) {
        return Ok(());
    }
    let looked = meta.info.root_in(dir);
    let mut msg = format!("--seed-only: no data found under {}", show_path(&looked));
    // The usual slip: -o pointed at the content folder, not its parent.
    let mut cand = Some(dir);
    while let Some(d) = cand {
        if d != dir && expected_paths(meta, d).iter().any(|p| p.is_file()) {
            msg.push_str(&format!("; did you mean -o {}?", show_path(d)));
            return Err(msg);
        }
        cand = d.parent();
    }
    if dir.file_name().map(|n| n.as_encoded_bytes() == meta.info.name_disk.as_slice()).unwrap_or(false) {
        if let Some(parent) = dir.parent() {
            msg.push_str(&format!("; did you mean -o {}?", if parent.as_os_str().is_empty() { Path::new(".") } else { parent }.display()));
        }
    }
    Err(msg)
}
