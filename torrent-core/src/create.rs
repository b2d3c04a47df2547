//! Making .torrent files from files on disk.

use crate::bencode::OwnedValue as O;
use sha1::{Digest, Sha1};
use std::io;
use std::path::{Path, PathBuf};

/// What to put in a new torrent besides the data.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Piece length in bytes (a power of two, at least 16 KiB); None = auto.
    pub piece_length: Option<u64>,
    /// Tracker tiers: the first URL of the first tier becomes `announce`.
    pub trackers: Vec<Vec<String>>,
    pub web_seeds: Vec<String>,
    pub private: bool,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
    /// Name of the torrent; defaults to the file or directory name.
    pub name: Option<String>,
    /// `info.source` (private trackers tell their torrents apart by it).
    pub source: Option<String>,
    /// Follow symbolic links (default: leave them out, listed in
    /// [`Created::skipped`]).
    pub follow_symlinks: bool,
    /// Hashing threads; 0 = one per core.
    pub threads: usize,
}

/// Piece length for `total` bytes: about 1000-2000 pieces, 16 KiB to 16 MiB.
pub fn auto_piece_length(total: u64) -> u64 {
    let mut p: u64 = 16 * 1024;
    while p < 16 * 1024 * 1024 && total / p > 2000 {
        p *= 2;
    }
    p
}

/// The files below `root` in a stable order (sorted by path), with their
/// path components relative to `root`. A plain file gives itself alone.
/// Symbolic links are skipped (see [`collect_entries`] to follow them).
pub fn collect_files(root: &Path) -> io::Result<Vec<(PathBuf, Vec<String>, u64)>> {
    Ok(collect_entries(root, false)?
        .files
        .into_iter()
        .map(|e| {
            let rel = e.rel.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
            (e.path, rel, e.len)
        })
        .collect())
}

/// One file to put in a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where to read it.
    pub path: PathBuf,
    /// Path components below the root, as the file system's bytes (a name
    /// that is not UTF-8 is kept as it is, so the torrent names the file
    /// that is on disk).
    pub rel: Vec<Vec<u8>>,
    pub len: u64,
}

/// The files of a tree and the symbolic links that were not followed.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub files: Vec<Entry>,
    /// Links left out: not followed, dangling, or looping back to a parent.
    pub skipped: Vec<PathBuf>,
}

fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

/// The files below `root`, sorted by their path bytes. With
/// `follow_symlinks`, links to files and directories are followed (a link
/// back to a directory being walked is skipped); without, links are listed
/// in [`Tree::skipped`].
pub fn collect_entries(root: &Path, follow_symlinks: bool) -> io::Result<Tree> {
    let meta = std::fs::metadata(root)?;
    let mut tree = Tree::default();
    if meta.is_file() {
        tree.files.push(Entry {
            path: root.to_path_buf(),
            rel: Vec::new(),
            len: meta.len(),
        });
        return Ok(tree);
    }
    let mut stack = vec![(root.to_path_buf(), Vec::<Vec<u8>>::new(), vec![root.canonicalize()?])];
    while let Some((dir, rel, parents)) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let mut r = rel.clone();
            r.push(os_bytes(&entry.file_name()));
            let mut ft = entry.file_type()?;
            let path = entry.path();
            if ft.is_symlink() {
                if !follow_symlinks {
                    tree.skipped.push(path);
                    continue;
                }
                match std::fs::metadata(&path) {
                    Ok(m) => ft = m.file_type(),
                    Err(_) => {
                        tree.skipped.push(path);
                        continue;
                    }
                }
            }
            if ft.is_dir() {
                let canon = path.canonicalize()?;
                if parents.contains(&canon) {
                    tree.skipped.push(path);
                    continue;
                }
                let mut p = parents.clone();
                p.push(canon);
                stack.push((path, r, p));
            } else if ft.is_file() {
                let len = std::fs::metadata(&path)?.len();
                tree.files.push(Entry { path, rel: r, len });
            }
        }
    }
    tree.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    tree.skipped.sort();
    Ok(tree)
}

/// Build a .torrent for a file or directory; returns the encoded bytes.
pub fn create_torrent(root: &Path, opts: &CreateOptions) -> io::Result<Vec<u8>> {
    build_torrent(root, opts, &|_| {}).map(|c| c.bytes)
}

/// What [`build_torrent`] made.
#[derive(Debug, Clone)]
pub struct Created {
    pub bytes: Vec<u8>,
    /// Symbolic links left out (see [`CreateOptions::follow_symlinks`]).
    pub skipped: Vec<PathBuf>,
    pub total_length: u64,
}

/// Build a .torrent, hashing on [`CreateOptions::threads`] threads (0: one
/// per core); `progress` is called with the bytes of each hashed piece.
pub fn build_torrent(
    root: &Path,
    opts: &CreateOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> io::Result<Created> {
    let tree = collect_entries(root, opts.follow_symlinks)?;
    let files = tree.files;
    let total: u64 = files.iter().map(|f| f.len).sum();
    let piece_length = opts.piece_length.unwrap_or_else(|| auto_piece_length(total));
    if piece_length < 16 * 1024 || !piece_length.is_power_of_two() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("piece length {piece_length} must be a power of two of at least 16384"),
        ));
    }
    let name: Vec<u8> = match &opts.name {
        Some(n) => n.as_bytes().to_vec(),
        None => root
            .canonicalize()?
            .file_name()
            .map(os_bytes)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no name"))?,
    };
    if root.is_dir() && files.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "directory has no files"));
    }
    // libtorrent and transmission reject a torrent of 0 bytes.
    if total == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no data to share: every file is empty"));
    }

    let pieces = hash_pieces(&files, total, piece_length, opts.threads, progress)?;

    let mut info = O::dict()
        .with("name", O::Bytes(name))
        .with("piece length", O::Int(piece_length as i64))
        .with("pieces", O::Bytes(pieces));
    if root.is_dir() {
        let list = files
            .iter()
            .map(|e| {
                O::dict()
                    .with("length", O::Int(e.len as i64))
                    .with("path", O::List(e.rel.iter().map(|c| O::Bytes(c.clone())).collect()))
            })
            .collect();
        info.insert("files", O::List(list));
    } else {
        info.insert("length", O::Int(total as i64));
    }
    if opts.private {
        info.insert("private", O::Int(1));
    }
    if let Some(src) = &opts.source {
        // Inside info, so the same data for two trackers has two info-hashes.
        info.insert("source", src.as_str().into());
    }

    let mut t = O::dict().with("info", info);
    if let Some(first) = opts.trackers.first().and_then(|t| t.first()) {
        t.insert("announce", first.as_str().into());
    }
    if opts.trackers.iter().map(Vec::len).sum::<usize>() > 1 {
        t.insert(
            "announce-list",
            O::List(
                opts.trackers
                    .iter()
                    .map(|tier| O::List(tier.iter().map(|u| u.as_str().into()).collect()))
                    .collect(),
            ),
        );
    }
    if !opts.web_seeds.is_empty() {
        t.insert(
            "url-list",
            O::List(opts.web_seeds.iter().map(|u| u.as_str().into()).collect()),
        );
    }
    if let Some(c) = &opts.comment {
        t.insert("comment", c.as_str().into());
    }
    if let Some(c) = &opts.created_by {
        t.insert("created by", c.as_str().into());
    }
    if let Some(d) = opts.creation_date {
        t.insert("creation date", O::Int(d));
    }
    Ok(Created {
        bytes: t.encode(),
        skipped: tree.skipped,
        total_length: total,
    })
}

/// SHA-1 of every piece of the concatenation of `files`. Each thread takes
/// a contiguous run of pieces (sequential reads per thread) and reads them
/// with positioned reads, so no thread waits for another.
fn hash_pieces(
    files: &[Entry],
    total: u64,
    piece_length: u64,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> io::Result<Vec<u8>> {
    let n = total.div_ceil(piece_length) as usize;
    let threads = match threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        t => t,
    }
    .clamp(1, 64)
    .min(n);
    // Offsets of each file in the stream.
    let mut starts = Vec::with_capacity(files.len());
    let mut off = 0u64;
    for f in files {
        starts.push(off);
        off += f.len;
    }
    let per = n.div_ceil(threads);
    let mut out = vec![0u8; n * 20];
    std::thread::scope(|scope| -> io::Result<()> {
        let mut handles = Vec::new();
        for (t, chunk) in out.chunks_mut(per * 20).enumerate() {
            let starts = &starts;
            handles.push(scope.spawn(move || -> io::Result<()> {
                let first = t * per;
                let mut buf = vec![0u8; piece_length as usize];
                let mut open: Option<(usize, std::fs::File)> = None;
                for (k, slot) in chunk.chunks_mut(20).enumerate() {
                    let piece = first + k;
                    let p_start = piece as u64 * piece_length;
                    let p_len = piece_length.min(total - p_start) as usize;
                    let mut done = 0usize;
                    // The file holding byte p_start.
                    let mut fi = starts.partition_point(|&s| s <= p_start) - 1;
                    while done < p_len {
                        let f = &files[fi];
                        let in_file = p_start + done as u64 - starts[fi];
                        if in_file >= f.len {
                            fi += 1;
                            continue;
                        }
                        let want = ((f.len - in_file) as usize).min(p_len - done);
                        if open.as_ref().map(|(i, _)| *i) != Some(fi) {
                            open = Some((fi, std::fs::File::open(&f.path)?));
                        }
                        let file = &open.as_ref().expect("just opened").1;
                        read_exact_at(file, &mut buf[done..done + want], in_file).map_err(|e| {
                            io::Error::new(e.kind(), format!("{}: {e}", f.path.display()))
                        })?;
                        done += want;
                    }
                    slot.copy_from_slice(&Sha1::digest(&buf[..p_len]));
                    progress(p_len as u64);
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join().expect("hash thread")?;
        }
        Ok(())
    })?;
    Ok(out)
}

fn read_exact_at(f: &std::fs::File, buf: &mut [u8], off: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, off).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(e.kind(), "file shrank while it was hashed")
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::Metainfo;
    use crate::storage::Storage;

    #[test]
    fn create_and_verify_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("b.bin"), vec![3u8; 40_000]).unwrap();
        std::fs::write(root.join("sub/a.bin"), vec![4u8; 10_000]).unwrap();
        let opts = CreateOptions {
            trackers: vec![vec!["http://127.0.0.1:1/a".into()], vec!["udp://127.0.0.1:2".into()]],
            ..Default::default()
        };
        let bytes = create_torrent(&root, &opts).unwrap();
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(m.info.name, "data");
        assert_eq!(m.info.total_length, 50_000);
        assert_eq!(m.info.files[1].path, vec!["sub", "a.bin"]);
        assert_eq!(m.announce_list.len(), 2);
        let mut st = Storage::new(dir.path(), &m.info).unwrap();
        for i in 0..m.info.piece_count() {
            assert!(st.verify_piece(i).unwrap(), "piece {i}");
        }
    }

    #[test]
    fn empty_data_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let e = create_torrent(&dir.path().join("empty"), &CreateOptions::default()).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = create_torrent(dir.path(), &CreateOptions::default()).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }

    #[test]
    fn threads_give_the_same_pieces_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("d");
        std::fs::create_dir_all(&root).unwrap();
        // Files that straddle pieces, one empty, one smaller than a piece.
        for (i, len) in [70_000usize, 0, 5, 100_003, 16_384].iter().enumerate() {
            let data: Vec<u8> = (0..*len).map(|k| (k * 31 + i * 7) as u8).collect();
            std::fs::write(root.join(format!("f{i}")), data).unwrap();
        }
        let one = CreateOptions { piece_length: Some(16384), threads: 1, ..Default::default() };
        let many = CreateOptions { threads: 7, ..one.clone() };
        let done = std::sync::atomic::AtomicU64::new(0);
        let a = build_torrent(&root, &one, &|_| {}).unwrap();
        let b = build_torrent(&root, &many, &|n| {
            done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(done.into_inner(), 186_392);
        let m = Metainfo::from_bytes(&a.bytes).unwrap();
        let mut st = Storage::new(dir.path(), &m.info).unwrap();
        for i in 0..m.info.piece_count() {
            assert!(st.verify_piece(i).unwrap(), "piece {i}");
        }
    }

    #[test]
    fn symlinks_skipped_or_followed() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("d");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("real"), vec![1u8; 100]).unwrap();
        std::fs::write(dir.path().join("outside"), vec![2u8; 50]).unwrap();
        symlink(dir.path().join("outside"), root.join("link")).unwrap();
        symlink(&root, root.join("sub/loop")).unwrap();
        symlink(dir.path().join("nowhere"), root.join("dangling")).unwrap();
        let c = build_torrent(&root, &CreateOptions::default(), &|_| {}).unwrap();
        assert_eq!(c.total_length, 100);
        assert_eq!(c.skipped.len(), 3, "{:?}", c.skipped);
        let opts = CreateOptions { follow_symlinks: true, ..Default::default() };
        let c = build_torrent(&root, &opts, &|_| {}).unwrap();
        assert_eq!(c.total_length, 150);
        // The loop and the dangling link are still left out.
        assert_eq!(c.skipped, vec![root.join("dangling"), root.join("sub/loop")]);
        let m = Metainfo::from_bytes(&c.bytes).unwrap();
        let paths: Vec<String> = m.info.files.iter().map(|f| f.path_string()).collect();
        assert_eq!(paths, ["link", "real"]);
    }

    #[test]
    fn non_utf8_names_and_source_are_kept_as_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("d");
        std::fs::create_dir_all(&root).unwrap();
        let raw: &[u8] = b"caf\xe9.txt"; // Latin-1, not UTF-8
        std::fs::write(root.join(std::ffi::OsStr::from_bytes(raw)), b"data").unwrap();
        let opts = CreateOptions { source: Some("TRK".into()), ..Default::default() };
        let c = build_torrent(&root, &opts, &|_| {}).unwrap();
        let v = crate::bencode::decode(&c.bytes).unwrap();
        let info = v.get("info").unwrap();
        let path = info.get("files").unwrap().as_list().unwrap()[0].get("path").unwrap();
        assert_eq!(path.as_list().unwrap()[0].as_bytes(), Some(raw));
        assert_eq!(info.get("source").and_then(|s| s.as_bytes()), Some(&b"TRK"[..]));
    }

    #[test]
    fn auto_sizes() {
        assert_eq!(auto_piece_length(1000), 16 * 1024);
        assert_eq!(auto_piece_length(1 << 30), 1 << 20);
        assert!(auto_piece_length(u64::MAX) == 16 * 1024 * 1024);
    }
}
