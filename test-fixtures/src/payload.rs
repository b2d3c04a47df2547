//! Deterministic payloads and their torrents.

use std::path::{Path, PathBuf};
use torrent_core::create::{create_torrent, CreateOptions};
use torrent_core::Metainfo;

/// Fill `buf` with bytes from a simple seeded generator (xorshift), so the
/// same seed always gives the same payload without storing it.
pub fn fill_pseudo_random(seed: u64, buf: &mut [u8]) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

/// A generated payload on disk and its torrent.
pub struct Payload {
    /// Directory that holds the data (the torrent's download directory).
    pub dir: PathBuf,
    /// Path of the .torrent file written beside the data.
    pub torrent_path: PathBuf,
    pub torrent_bytes: Vec<u8>,
    pub meta: Metainfo,
}

/// Write files with pseudo-random content under `dir/name` (or `dir/name`
/// as a single file when `files` has one entry with an empty path), make a
/// torrent for them and write it to `dir/name.torrent`.
///
/// `files`: (relative path, size). One entry with path "" makes a
/// single-file torrent.
pub fn make_payload(
    dir: &Path,
    name: &str,
    files: &[(&str, u64)],
    piece_length: u64,
    trackers: &[&str],
    seed: u64,
) -> std::io::Result<Payload> {
    std::fs::create_dir_all(dir)?;
    let root = dir.join(name);
    let single = files.len() == 1 && files[0].0.is_empty();
    for (i, (rel, size)) in files.iter().enumerate() {
        let path = if single { root.clone() } else { root.join(rel) };
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        write_pseudo_random_file(&path, *size, seed.wrapping_add(i as u64))?;
    }
    let opts = CreateOptions {
        piece_length: Some(piece_length),
        trackers: trackers.iter().map(|t| vec![t.to_string()]).collect(),
        created_by: Some("torrent-toolkit test-fixtures".into()),
        ..Default::default()
    };
    let torrent_bytes = create_torrent(&root, &opts)?;
    let meta = Metainfo::from_bytes(&torrent_bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let torrent_path = dir.join(format!("{name}.torrent"));
    std::fs::write(&torrent_path, &torrent_bytes)?;
    Ok(Payload {
        dir: dir.to_path_buf(),
        torrent_path,
        torrent_bytes,
        meta,
    })
}

/// Write `size` pseudo-random bytes to `path`, 1 MiB at a time.
pub fn write_pseudo_random_file(path: &Path, size: u64, seed: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    let mut block = 0u64;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        fill_pseudo_random(seed.wrapping_mul(1_000_003).wrapping_add(block), &mut buf[..n]);
        f.write_all(&buf[..n])?;
        left -= n as u64;
        block += 1;
    }
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let p = make_payload(dir.path(), "multi", &[("a.bin", 70_000), ("d/b.bin", 5)], 32768, &[], 1)
            .unwrap();
        assert_eq!(p.meta.info.total_length, 70_005);
        let mut st = torrent_core::storage::Storage::new(&p.dir, &p.meta.info).unwrap();
        for i in 0..p.meta.info.piece_count() {
            assert!(st.verify_piece(i).unwrap());
        }
        let s = make_payload(dir.path(), "one.bin", &[("", 1000)], 16384, &[], 2).unwrap();
        assert!(!s.meta.info.multi_file);
        assert_eq!(std::fs::metadata(dir.path().join("one.bin")).unwrap().len(), 1000);
    }
}
