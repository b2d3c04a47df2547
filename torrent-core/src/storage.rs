//! The storage layer: maps the torrent's byte stream (pieces) onto files
//! below the download directory, and reads, writes and verifies pieces.
//!
//! This is blocking file I/O (pread/pwrite); `torrent-get` runs it on its
//! disk worker thread. Padding files (BEP 47) are never created: they read as
//! zeros and writes to them are dropped.

use crate::metainfo::Info;
use crate::path::safe_join;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Most file handles kept open at once.
const MAX_OPEN_FILES: usize = 128;

/// A piece of a file touched by a range of the torrent's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub file: usize,
    pub file_offset: u64,
    /// Offset of this segment inside the requested range.
    pub range_offset: u64,
    pub len: u64,
}

/// Split the range `[offset, offset+len)` of the torrent into file segments.
pub fn segments(info: &Info, offset: u64, len: u64) -> Vec<Segment> {
    let mut out = Vec::new();
    if len == 0 {
        return out;
    }
    let end = offset + len;
    // First file whose end is past `offset`.
    let mut i = info
        .files
        .partition_point(|f| f.offset + f.length <= offset);
    while i < info.files.len() {
        let f = &info.files[i];
        if f.offset >= end {
            break;
        }
        let start = offset.max(f.offset);
        let stop = end.min(f.offset + f.length);
        if stop > start {
            out.push(Segment {
                file: i,
                file_offset: start - f.offset,
                range_offset: start - offset,
                len: stop - start,
            });
        }
        i += 1;
    }
    out
}

/// Files of one torrent below a download directory.
pub struct Storage {
    info: Info,
    /// Path of each file; None for padding files.
    paths: Vec<Option<PathBuf>>,
    open: HashMap<usize, (File, bool)>,
}

impl Storage {
    /// `dir` is the download directory; single-file torrents go to
    /// `dir/name`, multi-file torrents to `dir/name/<path>`.
    pub fn new(dir: &Path, info: &Info) -> Result<Storage, String> {
        let mut paths = Vec::with_capacity(info.files.len());
        for f in &info.files {
            if f.padding {
                paths.push(None);
                continue;
            }
            let mut comps = Vec::with_capacity(f.path.len() + 1);
            if info.multi_file {
                comps.push(info.name.clone());
            }
            comps.extend(f.path.iter().cloned());
            paths.push(Some(safe_join(dir, &comps)?));
        }
        Ok(Storage {
            info: info.clone(),
            paths,
            open: HashMap::new(),
        })
    }

    pub fn info(&self) -> &Info {
        &self.info
    }

    /// Path of file `i` (None for padding files).
    pub fn path(&self, i: usize) -> Option<&Path> {
        self.paths[i].as_deref()
    }

    fn file(&mut self, i: usize, write: bool) -> io::Result<&File> {
        let reopen = match self.open.get(&i) {
            Some((_, w)) => write && !*w,
            None => true,
        };
        if reopen {
            if self.open.len() >= MAX_OPEN_FILES {
                self.open.clear();
            }
            let path = self.paths[i].as_ref().expect("not a padding file");
            let f = if write {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)?
            } else {
                File::open(path)?
            };
            self.open.insert(i, (f, write));
        }
        Ok(&self.open[&i].0)
    }

    /// Read `buf.len()` bytes at torrent offset `offset`. A missing or short
    /// file is an error (`NotFound` / `UnexpectedEof`).
    pub fn read(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        for s in segments(&self.info, offset, buf.len() as u64) {
            let dst = &mut buf[s.range_offset as usize..(s.range_offset + s.len) as usize];
            if self.paths[s.file].is_none() {
                dst.fill(0);
                continue;
            }
            self.file(s.file, false)?.read_exact_at(dst, s.file_offset)?;
        }
        Ok(())
    }

    /// Write `data` at torrent offset `offset`, creating files and
    /// directories as needed.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        for s in segments(&self.info, offset, data.len() as u64) {
            if self.paths[s.file].is_none() {
                continue;
            }
            let src = &data[s.range_offset as usize..(s.range_offset + s.len) as usize];
            self.file(s.file, true)?.write_all_at(src, s.file_offset)?;
        }
        Ok(())
    }

    pub fn piece_offset(&self, index: usize) -> u64 {
        index as u64 * self.info.piece_length
    }

    pub fn read_piece(&mut self, index: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.info.piece_len(index) as usize];
        self.read(self.piece_offset(index), &mut buf)?;
        Ok(buf)
    }

    /// True if the piece is on disk and matches its hash. Missing or short
    /// files count as not matching; other I/O errors are returned.
    pub fn verify_piece(&mut self, index: usize) -> io::Result<bool> {
        match self.read_piece(index) {
            Ok(data) => Ok(piece_hash_ok(&self.info, index, &data)),
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::UnexpectedEof) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Flush written data of every open file to disk.
    pub fn sync(&mut self) -> io::Result<()> {
        for (f, w) in self.open.values() {
            if *w {
                f.sync_data()?;
            }
        }
        Ok(())
    }

    /// Indices of the files (not padding) that overlap piece `index`.
    pub fn files_of_piece(&self, index: usize) -> Vec<usize> {
        let len = self.info.piece_len(index);
        segments(&self.info, self.piece_offset(index), len)
            .into_iter()
            .map(|s| s.file)
            .filter(|f| !self.info.files[*f].padding)
            .collect()
    }
}

/// Does `data` hash to the expected SHA-1 of piece `index`?
pub fn piece_hash_ok(info: &Info, index: usize, data: &[u8]) -> bool {
    let h: [u8; 20] = Sha1::digest(data).into();
    info.pieces.get(index) == Some(&h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::OwnedValue as O;
    use crate::metainfo::Info;

    fn info_for(files: &[(&str, &[u8])], plen: usize) -> Info {
        let all: Vec<u8> = files.iter().flat_map(|(_, d)| d.iter().copied()).collect();
        let pieces: Vec<u8> = all
            .chunks(plen)
            .flat_map(|c| <[u8; 20]>::from(Sha1::digest(c)))
            .collect();
        let list = files
            .iter()
            .map(|(n, d)| {
                O::dict()
                    .with("length", O::Int(d.len() as i64))
                    .with("path", O::List(n.split('/').map(O::from).collect()))
            })
            .collect();
        let raw = O::dict()
            .with("files", O::List(list))
            .with("name", "t".into())
            .with("piece length", O::Int(plen as i64))
            .with("pieces", O::Bytes(pieces))
            .encode();
        Info::from_bytes(&raw).unwrap()
    }

    #[test]
    fn segments_cross_files() {
        let info = info_for(&[("a", &[1; 5]), ("b", &[]), ("c/d", &[2; 7])], 4);
        let s = segments(&info, 3, 6);
        assert_eq!(
            s,
            vec![
                Segment { file: 0, file_offset: 3, range_offset: 0, len: 2 },
                Segment { file: 2, file_offset: 0, range_offset: 2, len: 4 },
            ]
        );
    }

    #[test]
    fn write_read_verify() {
        let dir = tempfile::tempdir().unwrap();
        let a = [1u8; 5];
        let d = [2u8; 7];
        let info = info_for(&[("a", &a), ("c/d", &d)], 4);
        let mut st = Storage::new(dir.path(), &info).unwrap();
        assert!(!st.verify_piece(0).unwrap());
        let all: Vec<u8> = a.iter().chain(d.iter()).copied().collect();
        for i in 0..info.piece_count() {
            let off = i * 4;
            st.write(off as u64, &all[off..(off + 4).min(all.len())]).unwrap();
        }
        for i in 0..info.piece_count() {
            assert!(st.verify_piece(i).unwrap());
        }
        assert_eq!(std::fs::read(dir.path().join("t/c/d")).unwrap(), d);
        assert_eq!(st.files_of_piece(1), vec![0, 1]);
        std::fs::write(dir.path().join("t/c/d"), [9u8; 7]).unwrap();
        let mut st = Storage::new(dir.path(), &info).unwrap();
        assert!(st.verify_piece(0).unwrap());
        assert!(!st.verify_piece(2).unwrap());
    }
}
