//! Making .torrent files from files on disk.

use crate::bencode::OwnedValue as O;
use sha1::{Digest, Sha1};
use std::io::{self, Read};
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
pub fn collect_files(root: &Path) -> io::Result<Vec<(PathBuf, Vec<String>, u64)>> {
    let meta = std::fs::metadata(root)?;
    if meta.is_file() {
        return Ok(vec![(root.to_path_buf(), Vec::new(), meta.len())]);
    }
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), Vec::<String>::new())];
    while let Some((dir, rel)) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut r = rel.clone();
            r.push(name);
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push((entry.path(), r));
            } else if ft.is_file() {
                out.push((entry.path(), r, entry.metadata()?.len()));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Build a .torrent for a file or directory; returns the encoded bytes.
pub fn create_torrent(root: &Path, opts: &CreateOptions) -> io::Result<Vec<u8>> {
    let files = collect_files(root)?;
    let total: u64 = files.iter().map(|f| f.2).sum();
    let piece_length = opts.piece_length.unwrap_or_else(|| auto_piece_length(total));
    if piece_length < 16 * 1024 || !piece_length.is_power_of_two() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("piece length {piece_length} must be a power of two of at least 16384"),
        ));
    }
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => root
            .canonicalize()?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no name"))?,
    };
    if root.is_dir() && files.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "directory has no files"));
    }
    // libtorrent and transmission reject a torrent of 0 bytes.
    if total == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no data to share: every file is empty"));
    }

    // Hash pieces over the concatenation of all files.
    let mut pieces = Vec::with_capacity((total.div_ceil(piece_length) * 20) as usize);
    let mut buf = vec![0u8; piece_length as usize];
    let mut fill = 0usize;
    for (path, _, _) in &files {
        let mut f = std::fs::File::open(path)?;
        loop {
            let n = f.read(&mut buf[fill..])?;
            if n == 0 {
                break;
            }
            fill += n;
            if fill == buf.len() {
                pieces.extend_from_slice(&Sha1::digest(&buf));
                fill = 0;
            }
        }
    }
    if fill > 0 {
        pieces.extend_from_slice(&Sha1::digest(&buf[..fill]));
    }

    let mut info = O::dict()
        .with("name", name.as_str().into())
        .with("piece length", O::Int(piece_length as i64))
        .with("pieces", O::Bytes(pieces));
    if root.is_dir() {
        let list = files
            .iter()
            .map(|(_, rel, len)| {
                O::dict()
                    .with("length", O::Int(*len as i64))
                    .with("path", O::List(rel.iter().map(|c| c.as_str().into()).collect()))
            })
            .collect();
        info.insert("files", O::List(list));
    } else {
        info.insert("length", O::Int(total as i64));
    }
    if opts.private {
        info.insert("private", O::Int(1));
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
    Ok(t.encode())
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
    fn auto_sizes() {
        assert_eq!(auto_piece_length(1000), 16 * 1024);
        assert_eq!(auto_piece_length(1 << 30), 1 << 20);
        assert!(auto_piece_length(u64::MAX) == 16 * 1024 * 1024);
    }
}
