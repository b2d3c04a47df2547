//! `torrent-info verify`: check the data of a torrent on disk, piece by
//! piece, through [`torrent_core::storage::Storage`].
//!
//! The calling thread reads batches of whole pieces sequentially (about
//! 4 MiB per read) into a small pool of buffers; hasher threads take the
//! batches and check each piece's SHA-1. Memory stays bounded by the pool.

use crate::format::{format_ranges, to_ranges};
use crate::show::disk_path;
use indicatif::ProgressBar;
use serde::Serialize;
use std::io;
use std::path::Path;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use torrent_core::storage::{piece_hash_ok, Storage};
use torrent_core::path::show_path;
use torrent_core::Metainfo;

/// Bytes read per batch (at least one piece).
const BATCH_BYTES: u64 = 4 << 20;
/// Upper bound of the buffer pool's memory, unless one piece is larger.
const POOL_BYTES: u64 = 64 << 20;

/// State of one piece after verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PieceState {
    Ok,
    /// Read fine, wrong hash, and some byte is not zero: data that was
    /// written and is wrong.
    Damaged,
    /// Read fine but all zeros (a preallocated or sparse file): never
    /// downloaded, not damaged.
    #[serde(rename = "not_downloaded")]
    NotDownloaded,
    /// Could not be read (a file is missing, short, or unreadable).
    Missing,
}

/// State of one (non-padding) file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "status")]
pub enum FileState {
    Ok,
    /// Present, but overlaps a piece with a wrong hash.
    Damaged,
    /// Present, but overlaps pieces that are all zeros (not downloaded
    /// yet) and none that is damaged.
    #[serde(rename = "not_downloaded")]
    NotDownloaded,
    Missing,
    /// Shorter than the torrent says.
    Short {
        actual: u64,
    },
    /// Exists but is not a regular file, or cannot be opened.
    Unreadable {
        error: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub length: u64,
    #[serde(flatten)]
    pub state: FileState,
}

#[derive(Debug, Clone, Serialize)]
pub struct Range {
    pub first: usize,
    pub last: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub info_hash: String,
    pub dir: String,
    pub pieces_total: usize,
    pub pieces_ok: usize,
    /// True when every piece is good and every file is present.
    pub complete: bool,
    pub damaged_pieces: Vec<Range>,
    /// Pieces that read as all zeros: not downloaded (yet).
    pub not_downloaded_pieces: Vec<Range>,
    pub missing_pieces: Vec<Range>,
    /// Every non-padding file with its state.
    pub files: Vec<FileReport>,
    pub bytes_checked: u64,
    pub seconds: f64,
    #[serde(skip)]
    pub pieces: Vec<PieceState>,
    /// I/O errors other than "missing"/"short" met while reading.
    pub read_errors: Vec<String>,
}

impl Report {
    /// The stdout text: `pieces ok: X/Y`, then `damaged:`/`missing:` lines.
    pub fn human(&self) -> String {
        let mut out = format!("pieces ok: {}/{}\n", self.pieces_ok, self.pieces_total);
        let nd_files: Vec<&str> = self
            .files
            .iter()
            .filter(|f| f.state == FileState::NotDownloaded)
            .map(|f| f.path.as_str())
            .collect();
        if !self.not_downloaded_pieces.is_empty() {
            out.push_str(&format!(
                "not downloaded: pieces {}  files: {}\n",
                ranges_text(&self.not_downloaded_pieces),
                if nd_files.is_empty() { "none".to_string() } else { nd_files.join(", ") }
            ));
        }
        let damaged_files: Vec<&str> = self
            .files
            .iter()
            .filter(|f| f.state == FileState::Damaged)
            .map(|f| f.path.as_str())
            .collect();
        if !self.damaged_pieces.is_empty() || !damaged_files.is_empty() {
            out.push_str(&format!(
                "damaged: pieces {}  files: {}\n",
                ranges_text(&self.damaged_pieces),
                damaged_files.join(", ")
            ));
        }
        let missing_files: Vec<String> = self
            .files
            .iter()
            .filter_map(|f| match &f.state {
                FileState::Missing => Some(format!("{} (missing)", f.path)),
                FileState::Short { actual } => Some(format!(
                    "{} (short: {actual} of {} bytes)",
                    f.path, f.length
                )),
                FileState::Unreadable { error } => Some(format!("{} ({error})", f.path)),
                _ => None,
            })
            .collect();
        if !self.missing_pieces.is_empty() || !missing_files.is_empty() {
            let pieces = if self.missing_pieces.is_empty() {
                "none".to_string()
            } else {
                ranges_text(&self.missing_pieces)
            };
            out.push_str(&format!(
                "missing: pieces {pieces}  files: {}\n",
                missing_files.join(", ")
            ));
        }
        out
    }

    pub fn json(&self) -> String {
        let mut s = serde_json::to_string(self).expect("plain data serialises");
        s.push('\n');
        s
    }
}

fn ranges_text(r: &[Range]) -> String {
    let pairs: Vec<(usize, usize)> = r.iter().map(|r| (r.first, r.last)).collect();
    format_ranges(&pairs)
}

fn ranges_of(pieces: &[PieceState], want: PieceState) -> Vec<Range> {
    let idx: Vec<usize> = pieces
        .iter()
        .enumerate()
        .filter(|(_, s)| **s == want)
        .map(|(i, _)| i)
        .collect();
    to_ranges(&idx)
        .into_iter()
        .map(|(first, last)| Range { first, last })
        .collect()
}

/// A batch of consecutive pieces read into one buffer.
struct Job {
    first: usize,
    count: usize,
    buf: Vec<u8>,
    /// Per piece: was it read completely?
    readable: Vec<bool>,
}

/// Verify the data of `meta` below `dir` with `threads` hasher threads.
/// `progress` (if any) advances by bytes hashed.
pub fn verify(
    meta: &Metainfo,
    dir: &Path,
    threads: usize,
    progress: Option<&ProgressBar>,
) -> Result<Report, String> {
    let started = Instant::now();
    let info = &meta.info;
    let mut storage = Storage::new(dir, info)?;

    // Files first: which are missing, short or unreadable.
    let mut file_states: Vec<Option<FileState>> = Vec::with_capacity(info.files.len());
    for (i, f) in info.files.iter().enumerate() {
        let Some(path) = storage.path(i) else {
            file_states.push(None);
            continue;
        };
        let state = match std::fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => FileState::Missing,
            Err(e) => FileState::Unreadable {
                error: e.to_string(),
            },
            Ok(md) if !md.is_file() => FileState::Unreadable {
                error: "not a regular file".into(),
            },
            Ok(md) => match std::fs::File::open(path) {
                Err(e) => FileState::Unreadable {
                    error: e.to_string(),
                },
                Ok(_) if md.len() < f.length => FileState::Short { actual: md.len() },
                Ok(_) => FileState::Ok,
            },
        };
        file_states.push(Some(state));
    }

    let n = info.piece_count();
    let plen = info.piece_length;
    let per_batch = (BATCH_BYTES / plen).max(1) as usize;
    let batch_bytes = per_batch as u64 * plen;
    let threads = threads.clamp(1, 16);
    let pool = ((POOL_BYTES / batch_bytes) as usize).clamp(2, threads * 2 + 2);

    let mut pieces = vec![PieceState::Missing; n];
    // For each failed piece: the files whose part of it is all zeros.
    let mut zero_parts: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut read_errors: Vec<String> = Vec::new();
    let mut bytes_checked = 0u64;

    std::thread::scope(|scope| {
        let (free_tx, free_rx) = channel::<Vec<u8>>();
        for _ in 0..pool {
            let _ = free_tx.send(Vec::new());
        }
        let (job_tx, job_rx) = channel::<Job>();
        let job_rx: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(job_rx));
        let (res_tx, res_rx) = channel::<(usize, Vec<PieceState>, Vec<(usize, Vec<usize>)>)>();
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let free_tx = free_tx.clone();
            let res_tx = res_tx.clone();
            scope.spawn(move || loop {
                let job = match job_rx.lock().expect("job queue").recv() {
                    Ok(j) => j,
                    Err(_) => return,
                };
                let mut states = Vec::with_capacity(job.count);
                let mut blamed = Vec::new();
                let mut off = 0usize;
                for k in 0..job.count {
                    let idx = job.first + k;
                    let len = info.piece_len(idx) as usize;
                    let st = if !job.readable[k] {
                        PieceState::Missing
                    } else if piece_hash_ok(info, idx, &job.buf[off..off + len]) {
                        PieceState::Ok
                    } else {
                        let zero = zero_files(info, idx, &job.buf[off..off + len]);
                        let st = if zero.is_empty() {
                            PieceState::Damaged
                        } else {
                            PieceState::NotDownloaded
                        };
                        blamed.push((idx, zero));
                        st
                    };
                    states.push(st);
                    off += len;
                    if let Some(pb) = progress {
                        pb.inc(len as u64);
                    }
                }
                let _ = res_tx.send((job.first, states, blamed));
                let _ = free_tx.send(job.buf);
            });
        }
        drop(res_tx);

        // Reader: this thread.
        let mut first = 0usize;
        while first < n {
            let count = per_batch.min(n - first);
            let offset = first as u64 * plen;
            let len: u64 = (first..first + count).map(|i| info.piece_len(i)).sum();
            let Ok(mut buf) = free_rx.recv() else { break };
            buf.resize(len as usize, 0);
            let mut readable = vec![true; count];
            if storage.read(offset, &mut buf).is_err() {
                // Find out piece by piece what is readable.
                let mut off = 0usize;
                for (k, r) in readable.iter_mut().enumerate() {
                    let plen_k = info.piece_len(first + k) as usize;
                    let dst = &mut buf[off..off + plen_k];
                    if let Err(e) = storage.read(offset + off as u64, dst) {
                        *r = false;
                        if !matches!(
                            e.kind(),
                            io::ErrorKind::NotFound | io::ErrorKind::UnexpectedEof
                        ) && read_errors.len() < 10
                        {
                            read_errors.push(format!("piece {}: {e}", first + k));
                        }
                    }
                    off += plen_k;
                }
            }
            bytes_checked += len;
            if job_tx
                .send(Job {
                    first,
                    count,
                    buf,
                    readable,
                })
                .is_err()
            {
                break;
            }
            first += count;
        }
        drop(job_tx);
        for (first, states, b) in res_rx {
            pieces[first..first + states.len()].copy_from_slice(&states);
            zero_parts.extend(b);
        }
    });

    // A failed piece in which some file's part is all zeros was not
    // downloaded (yet): those files are "not downloaded", the others in it
    // are not blamed. A failed piece with no such part is damaged, and so
    // is every file in it (if otherwise present).
    for (i, _) in &zero_parts {
        if pieces[*i] == PieceState::Damaged {
            for f in storage.files_of_piece(*i) {
                if matches!(file_states[f], Some(FileState::Ok | FileState::NotDownloaded)) {
                    file_states[f] = Some(FileState::Damaged);
                }
            }
        }
    }
    for (i, zero) in &zero_parts {
        if pieces[*i] == PieceState::NotDownloaded {
            for &f in zero {
                if file_states[f] == Some(FileState::Ok) {
                    file_states[f] = Some(FileState::NotDownloaded);
                }
            }
        }
    }
    let files: Vec<FileReport> = file_states
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.map(|state| FileReport {
                path: disk_path(meta, i),
                length: info.files[i].length,
                state,
            })
        })
        .collect();
    let pieces_ok = pieces.iter().filter(|p| **p == PieceState::Ok).count();
    let complete = pieces_ok == n && files.iter().all(|f| f.state == FileState::Ok);
    Ok(Report {
        info_hash: meta.info_hash.to_hex(),
        dir: dir.display().to_string(),
        pieces_total: n,
        pieces_ok,
        complete,
        damaged_pieces: ranges_of(&pieces, PieceState::Damaged),
        not_downloaded_pieces: ranges_of(&pieces, PieceState::NotDownloaded),
        missing_pieces: ranges_of(&pieces, PieceState::Missing),
        files,
        bytes_checked,
        seconds: started.elapsed().as_secs_f64(),
        pieces,
        read_errors,
    })
}

/// What to say when none of the torrent's files is under DIR/NAME: where
/// we looked and, when the data is one level off (DIR given as the content
/// folder itself, or the content one folder deeper), the DIR to give.
pub fn nothing_found(meta: &Metainfo, dir: &Path) -> String {
    let looked = meta.info.root_in(dir);
    let mut msg = format!("no data found under {}", show_path(&looked));
    let Some(first) = meta.info.files.iter().position(|f| !f.padding) else {
        return msg;
    };
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Some(p) = abs.parent() {
        candidates.push(p.to_path_buf());
    }
    candidates.push(looked.clone());
    for c in candidates {
        if meta.info.file_in(&c, first).is_file() {
            msg.push_str(&format!(
                "; did you mean {} (the directory that holds {})?",
                show_path(&c),
                meta.info.name
            ));
            break;
        }
    }
    msg
}

/// The non-padding files whose bytes within piece `index` (`data`) are all
/// zeros.
fn zero_files(info: &torrent_core::Info, index: usize, data: &[u8]) -> Vec<usize> {
    let start = index as u64 * info.piece_length;
    let end = start + data.len() as u64;
    let first = info.files.partition_point(|f| f.offset + f.length <= start);
    let mut out = Vec::new();
    for (fi, f) in info.files.iter().enumerate().skip(first) {
        if f.offset >= end {
            break;
        }
        if f.padding || f.length == 0 {
            continue;
        }
        let a = f.offset.max(start) - start;
        let b = (f.offset + f.length).min(end) - start;
        if data[a as usize..b as usize].iter().all(|&x| x == 0) {
            out.push(fi);
        }
    }
    out
}
