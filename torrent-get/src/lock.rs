//! One torrent-get per torrent and download directory: an exclusive
//! `flock` on `DIR/.torrent-get/<info-hash>.lock` (beside the resume file),
//! held for the whole run, so two runs never share a resume file.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use torrent_core::InfoHash;

/// A held lock; released when dropped (or when the process ends).
pub struct TorrentLock {
    _file: File,
    pub path: PathBuf,
}

/// The lock file of `hash`: in `state` when set (resume data kept
/// elsewhere), else in `dir/.torrent-get/`.
pub fn lock_path(dir: &Path, state: Option<&Path>, hash: &InfoHash) -> PathBuf {
    let base = match state {
        Some(s) => s.to_path_buf(),
        None => dir.join(".torrent-get"),
    };
    base.join(format!("{}.lock", hash.to_hex()))
}

/// Take the lock without waiting; Err says who holds it.
pub fn acquire(path: &Path) -> Result<TorrentLock, String> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        return Err(if e.kind() == std::io::ErrorKind::WouldBlock {
            format!("another torrent-get is already working on this torrent here (lock {})", path.display())
        } else {
            format!("{}: cannot lock: {e}", path.display())
        });
    }
    Ok(TorrentLock { _file: file, path: path.to_path_buf() })
}
