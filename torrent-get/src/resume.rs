//! The resume file: which pieces were verified, and the state of the files
//! when that was written.
//!
//! Written at a clean stop (pause, completion, the end of the run) and,
//! while downloading, every few seconds ([`crate::engine`] asks), so a
//! crash or SIGKILL costs the pieces verified since, not a re-check of
//! everything (issue 18). A clean record is trusted only if every file
//! still has the recorded size and modification time (else every piece is
//! hashed again); a record written
//! while running is expected to be older than the files (our own writes of
//! pieces it does not claim), so it is trusted if the files only grew or
//! appeared since. Either way a piece is never trusted when a file it lies
//! in is missing or shorter than the piece needs.
//!
//! Stored at `DIR/.torrent-get/<info-hash>.resume` as bencode:
//! `{ "clean": 0|1, "files": [[size, mtime_s, mtime_ns], ...],
//!    "info-hash": <20 bytes>, "pieces": <bitfield bytes> }`. Written
//! crash-safely: a temporary file, fsync'ed, renamed over the old one, and
//! the directory fsync'ed; a failure removes the temporary file.

use std::path::{Path, PathBuf};
use torrent_core::bencode::{self, OwnedValue as O};
use torrent_core::storage::{segments, Storage};
use torrent_core::InfoHash;

static STATE_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Keep resume files in `dir` instead of `DIR/.torrent-get/` (a download
/// directory that is read-only: an ISO mount, a snapshot). Set once, at
/// the start.
pub fn set_state_dir(dir: PathBuf) {
    let _ = STATE_DIR.set(dir);
}

/// Where resume data goes when the download directory is not writable:
/// `$XDG_CACHE_HOME/torrent-get/resume` (else `~/.cache/...`).
pub fn cache_state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("torrent-get").join("resume"))
}

pub fn resume_path(dir: &Path, hash: &InfoHash) -> PathBuf {
    match STATE_DIR.get() {
        Some(state) => state.join(format!("{hash}.resume")),
        None => dir.join(".torrent-get").join(format!("{hash}.resume")),
    }
}

/// (size, mtime seconds, mtime nanoseconds) of each file; None if missing.
pub fn file_stats(storage: &Storage) -> Vec<Option<(u64, i64, i64)>> {
    use std::os::unix::fs::MetadataExt;
    (0..storage.info().files.len())
        .map(|i| {
            let p = storage.path(i)?;
            let m = std::fs::metadata(p).ok()?;
            Some((m.len(), m.mtime(), m.mtime_nsec()))
        })
        .collect()
}

fn pack_bits(have: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; have.len().div_ceil(8)];
    for (i, h) in have.iter().enumerate() {
        if *h {
            out[i / 8] |= 0x80 >> (i % 8);
        }
    }
    out
}

pub fn save(dir: &Path, hash: &InfoHash, have: &[bool], storage: &Storage, clean: bool) -> std::io::Result<()> {
    let files = file_stats(storage)
        .into_iter()
        .map(|s| match s {
            Some((len, s, ns)) => O::List(vec![O::Int(len as i64), O::Int(s), O::Int(ns)]),
            None => O::List(vec![]),
        })
        .collect();
    let v = O::dict()
        .with("clean", O::Int(clean as i64))
        .with("files", O::List(files))
        .with("info-hash", O::Bytes(hash.0.to_vec()))
        .with("pieces", O::Bytes(pack_bits(have)));
    let path = resume_path(dir, hash);
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    write_atomic(&path, &v.encode())
}

/// Write `path` crash-safely: a temporary file beside it, fsync'ed, then
/// renamed over it and the directory fsync'ed. A crash at any point leaves
/// the old content or the new, never a mix; a failure removes the
/// temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // A full disk: no empty temporary file left behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The verified pieces recorded in the resume file (read leniently, as every
/// file we only read), if it exists and belongs to this torrent: all of a
/// clean record whose files are unchanged, or of a record written while
/// running; in both, only pieces whose files are there and long enough.
pub fn load(dir: &Path, hash: &InfoHash, storage: &Storage) -> Option<Vec<bool>> {
    let buf = std::fs::read(resume_path(dir, hash)).ok()?;
    let v = bencode::decode_lenient(&buf).ok()?;
    if v.get("info-hash")?.as_bytes()? != hash.0 {
        return None;
    }
    let recorded: Vec<Option<(u64, i64, i64)>> = v
        .get("files")?
        .as_list()?
        .iter()
        .map(|f| {
            let l = f.as_list()?;
            Some((l.first()?.as_int()? as u64, l.get(1)?.as_int()?, l.get(2)?.as_int()?))
        })
        .collect();
    // Records without the key were written at clean stops only.
    let clean = v.get("clean").and_then(|c| c.as_int()).is_none_or(|c| c != 0);
    let now = file_stats(storage);
    if recorded != now {
        // Files only grow as blocks are written (a missing one may appear):
        // one that shrank or vanished was changed by someone else. After a
        // clean stop nothing of ours wrote, so any change means a check.
        let only_grew = recorded.len() == now.len()
            && recorded.iter().zip(&now).all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => b.0 >= a.0,
                (None, _) => true,
                (Some(_), None) => false,
            });
        if clean || !only_grew {
            return None;
        }
    }
    let bits = v.get("pieces")?.as_bytes()?;
    let n = storage.info().piece_count();
    if bits.len() != n.div_ceil(8) {
        return None;
    }
    let info = storage.info();
    Some(
        (0..n)
            .map(|i| {
                let claimed = bits[i / 8] & (0x80 >> (i % 8)) != 0;
                claimed
                    && segments(info, storage.piece_offset(i), info.piece_len(i)).iter().all(|s| {
                        info.files[s.file].padding || now[s.file].is_some_and(|(len, _, _)| len >= s.file_offset + s.len)
                    })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_invalidation() {
        let dir = tempfile::tempdir().unwrap();
        let p = test_fixtures::payload::make_payload(dir.path(), "r", &[("a", 50_000), ("b", 10)], 16384, &[], 3)
            .unwrap();
        let st = Storage::new(dir.path(), &p.meta.info).unwrap();
        let have = vec![true, false, true, true];
        save(dir.path(), &p.meta.info_hash, &have, &st, true).unwrap();
        assert_eq!(load(dir.path(), &p.meta.info_hash, &st), Some(have.clone()));
        assert_eq!(load(dir.path(), &InfoHash([1; 20]), &st), None);
        assert!(!dir.path().join(".torrent-get").join(format!("{}.resume.tmp", p.meta.info_hash)).exists());
        // Touching a file invalidates a clean record.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join("r/b"), b"0123456789").unwrap();
        assert_eq!(load(dir.path(), &p.meta.info_hash, &st), None);
        // A record written while running expects newer files.
        save(dir.path(), &p.meta.info_hash, &have, &st, false).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join("r/b"), b"0123456789").unwrap();
        assert_eq!(load(dir.path(), &p.meta.info_hash, &st), Some(have));
    }

    #[test]
    fn pieces_of_missing_or_short_files_are_never_trusted() {
        let dir = tempfile::tempdir().unwrap();
        // Pieces: 0 and 1 in a, 2 in a and b, 3 in b.
        let p = test_fixtures::payload::make_payload(dir.path(), "m", &[("a", 40_000), ("b", 20_000)], 16384, &[], 4)
            .unwrap();
        let st = Storage::new(dir.path(), &p.meta.info).unwrap();
        let all = vec![true; 4];
        // b missing when the record was made (a forged or stale record:
        // the stats "match", both say missing).
        std::fs::remove_file(dir.path().join("m/b")).unwrap();
        save(dir.path(), &p.meta.info_hash, &all, &st, true).unwrap();
        assert_eq!(load(dir.path(), &p.meta.info_hash, &st), Some(vec![true, true, false, false]));
        // a short when a running record was made (its later blocks not
        // written yet): only the pieces it holds whole are trusted.
        let f = std::fs::OpenOptions::new().write(true).open(dir.path().join("m/a")).unwrap();
        f.set_len(20_000).unwrap();
        save(dir.path(), &p.meta.info_hash, &all, &st, false).unwrap();
        assert_eq!(load(dir.path(), &p.meta.info_hash, &st), Some(vec![true, false, false, false]));
        // ... and one cut shorter since was changed by someone else: all is checked.
        f.set_len(10_000).unwrap();
        assert_eq!(load(dir.path(), &p.meta.info_hash, &st), None);
    }
}
