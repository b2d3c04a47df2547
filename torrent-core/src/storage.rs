//! The storage layer: maps the torrent's byte stream (pieces) onto files
//! below the download directory, and reads, writes and verifies pieces.
//!
//! This is blocking file I/O (pread/pwrite); `torrent-get` runs it on its
//! disk worker thread. Padding files (BEP 47) are never created: they read as
//! zeros and writes to them are dropped.
//!
//! Files are opened one path component at a time below the download
//! directory (`openat` with `O_NOFOLLOW`, directories with `O_DIRECTORY`):
//! a symlink anywhere below the download directory, whoever made it, is
//! never followed, so data is never read from or written to a place outside
//! it. Such a file fails with an I/O error (`ELOOP`/`ENOTDIR`) instead.
//! BEP 47 symlinks of the torrent are made by [`Storage::create_symlinks`].
//!
//! Files are named by the bytes of their components ([`Info::name_disk`],
//! [`crate::metainfo::FileEntry::disk`]): a name that is not UTF-8 is that
//! name on disk, not a replacement.

use crate::metainfo::Info;
use crate::path::{display_to_bytes, escape_bytes, safe_join};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
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
    /// The download directory.
    dir: PathBuf,
    /// Path of each file; None for padding files.
    paths: Vec<Option<PathBuf>>,
    /// The same as components below `dir` (checked by `safe_join`).
    comps: Vec<Option<Vec<Vec<u8>>>>,
    open: HashMap<usize, (File, bool)>,
}

fn cstr(c: &[u8]) -> io::Result<CString> {
    CString::new(c).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Open directory `name` inside `dir` without following a symlink;
/// create it first if `create`.
fn open_dir_at(dir: &OwnedFd, name: &[u8], create: bool) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid descriptor and NUL-terminated name; the result is owned.
    let open = || unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) };
    let mut fd = open();
    if fd < 0 && create && io::Error::last_os_error().kind() == io::ErrorKind::NotFound {
        // SAFETY: as above.
        let r = unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o777) };
        if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::AlreadyExists {
            return Err(io::Error::last_os_error());
        }
        fd = open();
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(check(fd)?) })
}

/// Open the directory holding `comps` (all but the last) below `root`,
/// never following symlinks below `root`.
fn open_parent(root: &Path, comps: &[Vec<u8>], create: bool) -> io::Result<OwnedFd> {
    let r = CString::new(root.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in the directory"))?;
    // The download directory itself is the user's choice: it may be a link.
    // SAFETY: NUL-terminated path; the result is owned.
    let fd = unsafe {
        libc::open(r.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
    };
    // SAFETY: a fresh descriptor we own.
    let mut dir = unsafe { OwnedFd::from_raw_fd(check(fd)?) };
    for c in &comps[..comps.len().saturating_sub(1)] {
        dir = open_dir_at(&dir, c, create)?;
    }
    Ok(dir)
}

/// Open file `comps` below `root` for reading (or for writing, creating it
/// and its directories), with no symlink followed on the way.
pub fn open_beneath(root: &Path, comps: &[Vec<u8>], write: bool) -> io::Result<File> {
    let last = comps
        .last()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty path"))?;
    let dir = open_parent(root, comps, write)?;
    let c = cstr(last)?;
    // O_NONBLOCK: a FIFO planted in the directory must not hang us (it is
    // refused below as not a regular file); no effect on regular files.
    let mut flags = libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    flags |= if write { libc::O_RDWR | libc::O_CREAT } else { libc::O_RDONLY };
    // SAFETY: valid descriptor and NUL-terminated name; the result is owned.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, 0o666 as libc::c_uint) };
    // SAFETY: a fresh descriptor we own.
    let f = File::from(unsafe { OwnedFd::from_raw_fd(check(fd)?) });
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{}: not a regular file", escape_bytes(last))));
    }
    Ok(f)
}

impl Storage {
    /// `dir` is the download directory; single-file torrents go to
    /// `dir/name`, multi-file torrents to `dir/name/<path>`.
    pub fn new(dir: &Path, info: &Info) -> Result<Storage, String> {
        let mut paths = Vec::with_capacity(info.files.len());
        let mut all = Vec::with_capacity(info.files.len());
        for f in &info.files {
            if f.padding {
                paths.push(None);
                all.push(None);
                continue;
            }
            let mut comps = Vec::with_capacity(f.disk.len() + 1);
            if info.multi_file {
                comps.push(info.name_disk.clone());
            }
            comps.extend(f.disk.iter().cloned());
            paths.push(Some(safe_join(dir, &comps)?));
            all.push(Some(comps));
        }
        Ok(Storage {
            info: info.clone(),
            dir: dir.to_path_buf(),
            paths,
            comps: all,
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
            let comps = self.comps[i].as_ref().expect("not a padding file");
            let f = open_beneath(&self.dir, comps, write)?;
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

    /// Create file `i` if it is missing (a zero-length file, which no write
    /// makes); an existing file is left as it is. Padding files and BEP 47
    /// symlinks (see [`Storage::create_symlinks`]) are not files to create.
    pub fn create_empty(&mut self, i: usize) -> io::Result<()> {
        if self.paths.get(i).is_none_or(|p| p.is_none()) || self.info.files[i].symlink.is_some() {
            return Ok(());
        }
        self.file(i, true).map(|_| ())
    }

    pub fn piece_offset(&self, index: usize) -> u64 {
        index as u64 * self.info.piece_length
    }

    pub fn read_piece(&mut self, index: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.info.piece_len(index) as usize];
        self.read(self.piece_offset(index), &mut buf)?;
        Ok(buf)
    }

    /// True if nothing was ever written where the piece lies: every part
    /// of it is in a hole of its (sparse) file, past the file's end, or in
    /// a missing file (`lseek(SEEK_DATA)`; a file system without holes
    /// says "data" and this is false). Such a piece reads as zeros, so the
    /// start-up check need not read it.
    pub fn piece_unwritten(&mut self, index: usize) -> io::Result<bool> {
        let len = self.info.piece_len(index);
        let mut files = 0;
        for s in segments(&self.info, self.piece_offset(index), len) {
            if self.paths[s.file].is_none() {
                continue; // padding
            }
            files += 1;
            let fd = match self.file(s.file, false) {
                Ok(f) => f.as_raw_fd(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let Ok(at) = libc::off_t::try_from(s.file_offset) else { return Ok(false) };
            // SAFETY: lseek on a descriptor we own; it only moves the offset
            // (reads and writes here are positioned, pread/pwrite).
            let r = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
            if r < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO) {
                    continue; // no data at or after the offset
                }
                return Ok(false);
            }
            if (r as u64) < s.file_offset + s.len {
                return Ok(false);
            }
        }
        Ok(files > 0)
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

    /// Make the torrent's BEP 47 symlinks, each pointing at its target by
    /// a relative path, and only when the target is a file or directory of
    /// this torrent (so it stays inside the torrent's directory). Existing
    /// entries are never replaced. Returns one warning per link skipped.
    pub fn create_symlinks(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.info.files.iter().all(|f| f.symlink.is_none()) {
            return warnings;
        }
        let index = crate::metainfo::PathIndex::new(
            self.info.files.iter().filter(|f| !f.padding).map(|f| f.path.clone()),
        );
        for (i, f) in self.info.files.iter().enumerate() {
            let (Some(target), Some(comps)) = (&f.symlink, &self.comps[i]) else {
                continue;
            };
            let shown = f.path_string();
            let known = index.is_file(target) || index.is_dir(target);
            if target.is_empty() || !known || target == &f.path {
                warnings.push(format!(
                    "symlink {shown} -> {}: the target is not a file or directory of the torrent; not created",
                    target.join("/")
                ));
                continue;
            }
            // From the link's directory up to the torrent's directory, then down.
            let ups = f.path.len() - 1;
            let down: Vec<Vec<u8>> = target.iter().map(|c| display_to_bytes(c)).collect();
            let rel = [b"../".repeat(ups), down.join(&b'/')].concat();
            if let Err(e) = self.symlink_at(comps, &rel) {
                warnings.push(format!("symlink {shown} -> {}: {e}; not created", target.join("/")));
            }
        }
        warnings
    }

    fn symlink_at(&self, comps: &[Vec<u8>], rel: &[u8]) -> io::Result<()> {
        let dir = open_parent(&self.dir, comps, true)?;
        let name = cstr(comps.last().expect("not empty"))?;
        let target = cstr(rel)?;
        // SAFETY: valid descriptor and NUL-terminated strings.
        let r = unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::AlreadyExists {
            // Fine if it is the same link (a second run).
            let mut buf = vec![0u8; rel.len() + 2];
            // SAFETY: the buffer is valid for its length.
            let n = unsafe {
                libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
            };
            if n >= 0 && &buf[..n as usize] == rel {
                return Ok(());
            }
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "something else is already there"));
        }
        Err(e)
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

    /// Symlinks below the download directory are never followed (issue 18):
    /// neither a link to a directory outside nor a link to a file outside
    /// is read or written through.
    #[test]
    fn holes_of_a_sparse_file_are_unwritten_pieces() {
        // One file of 4 pieces of 1 MiB (holes are per file-system block,
        // so the pieces are large): piece 1 written, the file then extended
        // to its full length without writing (a hole), piece 3 beyond a
        // missing second file would be unwritten too.
        const P: usize = 1 << 20;
        let data = vec![7u8; 4 * P];
        let info = info_for(&[("a", &data)], P);
        let dir = tempfile::tempdir().unwrap();
        let mut st = Storage::new(dir.path(), &info).unwrap();
        assert!(st.piece_unwritten(0).unwrap(), "no file yet");
        st.write(P as u64, &data[P..2 * P]).unwrap();
        let f = File::options().write(true).open(dir.path().join("t/a")).unwrap();
        f.set_len(4 * P as u64).unwrap();
        assert!(!st.piece_unwritten(1).unwrap());
        // A file system without holes reports data everywhere (then the
        // check reads every piece, as before): only assert where it has them.
        if st.piece_unwritten(3).unwrap() {
            assert!(st.piece_unwritten(0).unwrap());
            assert!(st.piece_unwritten(2).unwrap());
        }
        assert!(st.verify_piece(1).unwrap());
    }

    #[test]
    fn symlinks_below_the_directory_are_not_followed() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let a = [1u8; 5];
        let d = [2u8; 7];
        let info = info_for(&[("a", &a), ("c/d", &d)], 4);
        let all: Vec<u8> = a.iter().chain(d.iter()).copied().collect();

        // The torrent's directory is a link to a directory outside.
        symlink(outside.path(), dir.path().join("t")).unwrap();
        let mut st = Storage::new(dir.path(), &info).unwrap();
        let e = st.write(0, &all[..4]).unwrap_err();
        assert!(matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)), "{e}");
        assert!(st.verify_piece(0).is_err());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        std::fs::remove_file(dir.path().join("t")).unwrap();

        // A file is a link to a file outside; a directory on the way is a
        // link to a directory outside.
        std::fs::create_dir(dir.path().join("t")).unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        symlink(&victim, dir.path().join("t/a")).unwrap();
        symlink(outside.path(), dir.path().join("t/c")).unwrap();
        let mut st = Storage::new(dir.path(), &info).unwrap();
        assert!(st.write(0, &all[..4]).is_err());
        assert!(st.write(8, &all[8..12]).is_err());
        assert!(st.read_piece(0).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!outside.path().join("d").exists());

        // Without the links everything works.
        std::fs::remove_file(dir.path().join("t/a")).unwrap();
        std::fs::remove_file(dir.path().join("t/c")).unwrap();
        let mut st = Storage::new(dir.path(), &info).unwrap();
        for i in 0..info.piece_count() {
            let off = i * 4;
            st.write(off as u64, &all[off..(off + 4).min(all.len())]).unwrap();
            assert!(st.verify_piece(i).unwrap());
        }
        // A FIFO in a file's place is refused, not waited on.
        let fifo = CString::new(dir.path().join("t/a").as_os_str().as_bytes()).unwrap();
        std::fs::remove_file(dir.path().join("t/a")).unwrap();
        // SAFETY: NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let mut st = Storage::new(dir.path(), &info).unwrap();
        assert!(st.read_piece(0).is_err());
    }

    #[test]
    fn bep47_symlinks_are_made_inside() {
        use crate::bencode::OwnedValue as O;
        let data = [5u8; 10];
        let pieces: Vec<u8> = <[u8; 20]>::from(Sha1::digest(data)).to_vec();
        let link = |path: &[&str], target: &[&str]| {
            O::dict()
                .with("attr", "l".into())
                .with("path", O::List(path.iter().map(|c| O::from(*c)).collect()))
                .with("symlink path", O::List(target.iter().map(|c| O::from(*c)).collect()))
        };
        let files = O::List(vec![
            O::dict()
                .with("length", O::Int(10))
                .with("path", O::List(vec!["real".into(), "f".into()])),
            link(&["sub", "l1"], &["real", "f"]),
            link(&["l2"], &["real"]),
            link(&["l3"], &["..", "..", "etc", "passwd"]),
            link(&["l4"], &["real", "f"]),
        ]);
        let raw = O::dict()
            .with("files", files)
            .with("name", "t".into())
            .with("piece length", O::Int(16))
            .with("pieces", O::Bytes(pieces))
            .encode();
        let info = Info::from_bytes(&raw).unwrap();
        assert_eq!(info.files[3].symlink, Some(vec!["etc".to_string(), "passwd".to_string()]));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("t")).unwrap();
        std::fs::write(dir.path().join("t/l4"), b"mine").unwrap();
        let mut st = Storage::new(dir.path(), &info).unwrap();
        st.write(0, &data).unwrap();
        let w = st.create_symlinks();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("symlink l3 -> etc/passwd: the target is not a file or directory"), "{w:?}");
        assert!(w[1].starts_with("symlink l4 -> real/f: something else is already there"), "{w:?}");
        let t = dir.path().join("t");
        assert_eq!(std::fs::read_link(t.join("sub/l1")).unwrap(), Path::new("../real/f"));
        assert_eq!(std::fs::read(t.join("sub/l1")).unwrap(), data);
        assert_eq!(std::fs::read_link(t.join("l2")).unwrap(), Path::new("real"));
        assert!(!t.join("l3").exists() && std::fs::symlink_metadata(t.join("l3")).is_err());
        assert_eq!(std::fs::read(t.join("l4")).unwrap(), b"mine");
        // A second run finds its own links and says nothing new.
        assert_eq!(st.create_symlinks().len(), 2);
    }

    #[test]
    fn names_that_are_not_utf8_are_the_names_on_disk() {
        use crate::path::os_name;
        let (a, b) = ([1u8; 20], [2u8; 12]);
        let all: Vec<u8> = [&a[..], &b[..]].concat();
        let pieces: Vec<u8> = all.chunks(16).flat_map(|c| <[u8; 20]>::from(Sha1::digest(c))).collect();
        let link = O::dict()
            .with("attr", "l".into())
            .with("path", O::List(vec![O::bytes(b"l\xe9")]))
            .with("symlink path", O::List(vec![O::bytes(b"d\xff"), O::bytes(b"caf\xe9.txt")]));
        let files = O::List(vec![
            O::dict().with("length", O::Int(20)).with("path", O::List(vec![O::bytes(b"d\xff"), O::bytes(b"caf\xe9.txt")])),
            O::dict().with("length", O::Int(12)).with("path", O::List(vec![O::bytes(b"ok")])),
            link,
        ]);
        let raw = O::dict()
            .with("files", files)
            .with("name", O::bytes(b"r\xe9p"))
            .with("piece length", O::Int(16))
            .with("pieces", O::Bytes(pieces))
            .encode();
        let info = Info::from_bytes(&raw).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut st = Storage::new(dir.path(), &info).unwrap();
        st.write(0, &all).unwrap();
        let root = dir.path().join(os_name(b"r\xe9p"));
        let f = root.join(os_name(b"d\xff")).join(os_name(b"caf\xe9.txt"));
        assert_eq!(st.path(0), Some(f.as_path()));
        assert_eq!(std::fs::read(&f).unwrap(), a);
        assert_eq!(std::fs::read(root.join("ok")).unwrap(), b);
        // Nothing under a replacement name.
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 2);
        assert!(st.create_symlinks().is_empty());
        let l = std::fs::read_link(root.join(os_name(b"l\xe9"))).unwrap();
        assert_eq!(l.as_os_str().as_encoded_bytes(), b"d\xff/caf\xe9.txt");
        // A second storage (a restart, a verify) finds the data.
        let mut st = Storage::new(dir.path(), &info).unwrap();
        assert!(st.verify_piece(0).unwrap() && st.verify_piece(1).unwrap());
        std::fs::remove_file(&f).unwrap();
        let mut st = Storage::new(dir.path(), &info).unwrap();
        assert!(!st.verify_piece(0).unwrap());
    }
}
