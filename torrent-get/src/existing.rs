//! Files already in the download directory that hold other data than the
//! torrent's (a file of the same name, not ours): found while every piece
//! is checked, so the person is told before the download overwrites them
//! (issue 13, item 6). The check stays strict: such bytes never count as
//! downloaded, whatever the resume file says, since it must match the
//! files' sizes and modification times to be trusted.
//!
//! A piece that fails its check is *other data* where its bytes in a file
//! are not all zero (zeros, or bytes past the end of the file, are what an
//! unfinished download of ours leaves: files are written sparsely). Only
//! when this torrent has no resume file in the directory (the files are not
//! from an earlier run of ours, whose unfinished pieces would look alike).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use torrent_core::storage::{segments, Storage};

/// A file with other data in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    /// Index in the torrent's file list.
    pub file: usize,
    pub path: PathBuf,
    /// Pieces of the file whose bytes there are neither the torrent's nor
    /// empty, of all pieces that touch the file.
    pub other_pieces: u64,
    pub pieces: u64,
    /// Bytes the file has past the torrent's length for it (never written
    /// by a download, so they stay).
    pub longer_by: u64,
}

/// Per file, failed pieces with other data (filled by
/// [`Tally::note_failed_piece`]): `sure` where the piece lies in that file
/// alone, `shared` where it spans several files (the hash cannot say whose
/// part is wrong, or whether an empty part is what failed it: such pieces
/// count only for a file that has sure ones, so a file with the right bytes
/// next to a foreign or missing one is not named).
#[derive(Debug, Default)]
pub struct Tally {
    sure: Vec<u64>,
    shared: Vec<u64>,
}

impl Tally {
    pub fn new(files: usize) -> Tally {
        Tally { sure: vec![0; files], shared: vec![0; files] }
    }

    /// Piece `index` failed its check; `data` is its bytes if they could be
    /// read whole (else each file's part is read up to its end).
    pub fn note_failed_piece(&mut self, storage: &Storage, index: usize, data: Option<&[u8]>) {
        let info = storage.info();
        let start = storage.piece_offset(index);
        let mut nonzero = Vec::new();
        let mut files = 0;
        for s in segments(info, start, info.piece_len(index)) {
            if storage.path(s.file).is_none() {
                continue; // padding
            }
            files += 1;
            let any = match data {
                Some(d) => d[s.range_offset as usize..(s.range_offset + s.len) as usize].iter().any(|b| *b != 0),
                None => storage.path(s.file).is_some_and(|p| file_part_nonzero(p, s.file_offset, s.len).unwrap_or(false)),
            };
            if any {
                nonzero.push(s.file);
            }
        }
        match nonzero.as_slice() {
            [one] if files == 1 => self.sure[*one] += 1,
            some => some.iter().for_each(|&f| self.shared[f] += 1),
        }
    }

    /// The files with other data (or longer than the torrent says).
    pub fn foreign(&self, storage: &Storage) -> Vec<Foreign> {
        let info = storage.info();
        let mut out = Vec::new();
        for (i, f) in info.files.iter().enumerate() {
            let Some(path) = storage.path(i) else { continue };
            let Ok(meta) = std::fs::symlink_metadata(path) else { continue };
            if !meta.is_file() {
                continue;
            }
            let longer_by = meta.len().saturating_sub(f.length);
            let sure = self.sure.get(i).copied().unwrap_or(0);
            let other_pieces = if sure > 0 { sure + self.shared[i] } else { 0 };
            if other_pieces == 0 && longer_by == 0 {
                continue;
            }
            let pieces = if f.length == 0 {
                0
            } else {
                (f.offset + f.length - 1) / info.piece_length - f.offset / info.piece_length + 1
            };
            out.push(Foreign { file: i, path: path.to_path_buf(), other_pieces, pieces, longer_by });
        }
        out
    }
}

/// Whether `len` bytes of the file at `offset` (as far as the file goes)
/// hold a non-zero byte.
fn file_part_nonzero(path: &std::path::Path, offset: u64, len: u64) -> io::Result<bool> {
    let f = File::open(path)?;
    let end = f.metadata()?.len().min(offset + len);
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = offset;
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        let got = f.read_at(&mut buf[..n], at)?;
        if got == 0 {
            break;
        }
        if buf[..got].iter().any(|b| *b != 0) {
            return Ok(true);
        }
        at += got as u64;
    }
    Ok(false)
}

/// The person-facing line for a file with other data.
pub fn describe(f: &Foreign) -> String {
    let mut s = format!("{} already exists with other data", torrent_core::path::show_path(&f.path));
    if f.other_pieces > 0 {
        s += &format!(" ({} of its {} pieces are neither this torrent's nor empty): the download overwrites them", f.other_pieces, f.pieces);
    }
    if f.longer_by > 0 {
        s += &format!("{}it is {} bytes longer than in the torrent; those bytes stay", if f.other_pieces > 0 { "; " } else { ": " }, f.longer_by);
    }
    s
}
