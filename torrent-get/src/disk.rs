//! The disk worker: one thread that owns every torrent's files. It writes
//! blocks where they belong, hashes finished pieces, reads blocks for
//! uploads, checks existing data at start and writes resume files.
//!
//! Most pieces are hashed by the hash thread ([`crate::hasher`]) from the
//! very bytes handed over here to write, so this thread mostly writes; a
//! piece whose blocks came out of order arrives as `Verify` with the hash
//! state so far, and the rest is read back from the file.
//!
//! The event loop sends [`DiskJob`]s over a channel; the worker answers with
//! [`DiskEvent`]s on another channel and wakes the loop with a `mio::Waker`.
//! Jobs run in order, so a `Verify` always sees the writes sent before it.

use crate::existing::Tally;
use crate::releases::Releases;
use crate::resume;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use sha1::{Digest, Sha1};
use torrent_core::storage::Storage;
use torrent_core::{Info, InfoHash, Metainfo};

pub type TorrentId = usize;

pub enum DiskJob {
    /// The torrent is complete: create its zero-length files (these
    /// indices), which no piece writes (and no web seed is asked for).
    CreateEmpty { torrent: TorrentId, files: Vec<usize> },
    /// Register a torrent and check what is already on disk.
    Open {
        torrent: TorrentId,
        dir: PathBuf,
        info: Box<Info>,
        info_hash: InfoHash,
        /// Hash everything even if the resume file matches.
        recheck: bool,
    },
    Write {
        torrent: TorrentId,
        offset: u64,
        /// Shared with the hash thread.
        data: Arc<Vec<u8>>,
        /// Bytes this job counts against the in-flight budget, released
        /// when it is done ([`crate::engine::budget`]).
        charge: u64,
    },
    /// Finish a piece's hash: `hashed` is the SHA-1 state over the first
    /// bytes of the piece and how many; the rest is read from the file.
    Verify {
        torrent: TorrentId,
        piece: u32,
        hashed: Option<Box<(Sha1, u64)>>,
    },
    Read {
        torrent: TorrentId,
        peer: usize,
        /// Which connection under that key (keys are reused).
        conn: u64,
        piece: u32,
        begin: u32,
        len: u32,
    },
    /// Record the verified pieces (the data is not fsync'ed: a killed
    /// process loses nothing, the page cache keeps it; see SECURITY.md).
    /// `clean`: no more writes follow (a stop); else a periodic record
    /// while downloading. Failing to write it is a warning.
    SaveResume {
        torrent: TorrentId,
        have: Vec<bool>,
        clean: bool,
    },
    /// Keep fetched metadata (magnet) as DIR/.torrent-get/<hash>.torrent.
    SaveMetadata {
        dir: PathBuf,
        info_hash: InfoHash,
        bytes: Vec<u8>,
    },
    /// Look for metadata saved by an earlier run.
    LoadMetadata {
        torrent: TorrentId,
        dir: PathBuf,
        info_hash: InfoHash,
    },
    /// Forget a removed torrent (its files stay).
    Close {
        torrent: TorrentId,
    },
    /// Delete a removed torrent's files (those of `info`, then directories
    /// left empty) and its resume, metadata and lock files under `dir`.
    Delete {
        dir: PathBuf,
        info: Option<Box<Info>>,
        info_hash: InfoHash,
    },
    Shutdown,
}

pub enum DiskEvent {
    Opened {
        torrent: TorrentId,
        have: Vec<bool>,
        /// True if the data was hashed (no usable resume file).
        rechecked: bool,
    },
    Verified {
        torrent: TorrentId,
        piece: u32,
        ok: bool,
    },
    ReadDone {
        torrent: TorrentId,
        peer: usize,
        conn: u64,
        piece: u32,
        begin: u32,
        data: Vec<u8>,
    },
    MetadataLoaded {
        torrent: TorrentId,
        meta: Option<Box<Metainfo>>,
    },
    /// Files found holding other data than the torrent's (sent before
    /// `Opened`, only when this torrent had no resume file there).
    Existing {
        torrent: TorrentId,
        files: Vec<crate::existing::Foreign>,
    },
    /// A failure that stops the torrent (disk full, permission denied...).
    Error {
        torrent: TorrentId,
        msg: String,
    },
    /// Something went wrong that costs nothing now (the resume file could
    /// not be written: the next run checks more).
    Warning {
        torrent: TorrentId,
        msg: String,
    },
}

/// What a `Verify` reads back at a time.
const VERIFY_CHUNK: u64 = 1024 * 1024;

struct Slot {
    storage: Storage,
    dir: PathBuf,
    info_hash: InfoHash,
    failed: bool,
}

impl Slot {
    /// Finish a piece's hash (reading back what was not hashed in order)
    /// and compare it with the torrent's.
    fn verify(&mut self, piece: u32, hashed: Option<Box<(Sha1, u64)>>) -> bool {
        let info = self.storage.info();
        let plen = info.piece_len(piece as usize);
        let start = self.storage.piece_offset(piece as usize);
        let (mut h, next) = hashed.map(|b| *b).unwrap_or_else(|| (Sha1::new(), 0));
        // In chunks: a 16 MiB piece needs no 16 MiB buffer.
        let mut buf = vec![0u8; (plen - next.min(plen)).min(VERIFY_CHUNK) as usize];
        let mut at = next;
        while at < plen {
            let n = (plen - at).min(VERIFY_CHUNK) as usize;
            if self.storage.read(start + at, &mut buf[..n]).is_err() {
                return false;
            }
            h.update(&buf[..n]);
            at += n as u64;
        }
        let got: [u8; 20] = h.finalize().into();
        self.storage.info().pieces.get(piece as usize) == Some(&got)
    }
}

pub fn spawn(
    jobs: Receiver<DiskJob>,
    events: Sender<DiskEvent>,
    waker: Arc<mio::Waker>,
    releases: Releases,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("disk".into())
        .spawn(move || run(jobs, events, waker, releases))
        .expect("spawn disk thread")
}

fn run(jobs: Receiver<DiskJob>, events: Sender<DiskEvent>, waker: Arc<mio::Waker>, releases: Releases) {
    let mut slots: Vec<Option<Slot>> = Vec::new();
    // Events are sent at once but the loop is woken once per batch of jobs:
    // one wake-up per 16 KiB block read cost more context switches than the
    // reads themselves when seeding (a libtorrent leecher took 5.1 s per GiB
    // from torrent-get before, 4.1-4.4 s after).
    let unwoken = std::cell::Cell::new(false);
    let batch = std::cell::Cell::new(0u32);
    let send = |e: DiskEvent| {
        let _ = events.send(e);
        unwoken.set(true);
    };
    let next_job = || -> Option<DiskJob> {
        if batch.get() < 32 {
            if let Ok(j) = jobs.try_recv() {
                batch.set(batch.get() + 1);
                return Some(j);
            }
        }
        batch.set(0);
        if unwoken.replace(false) {
            let _ = waker.wake();
        }
        jobs.recv().ok()
    };
    while let Some(job) = next_job() {
        match job {
            DiskJob::Open { torrent, dir, info, info_hash, recheck } => {
                let storage = match Storage::new(&dir, &info) {
                    Ok(s) => s,
                    Err(e) => {
                        send(DiskEvent::Error { torrent, msg: e });
                        continue;
                    }
                };
                // BEP 47 symlinks: made only when they point inside (issue 12).
                for w in storage.create_symlinks() {
                    eprintln!("torrent-get: warning: {w}");
                }
                if slots.len() <= torrent {
                    slots.resize_with(torrent + 1, || None);
                }
                let mut slot = Slot { storage, dir, info_hash, failed: false };
                // Never downloaded here: files found are someone else's.
                let ours = resume::resume_path(&slot.dir, &slot.info_hash).exists();
                let resumed = if recheck { None } else { resume::load(&slot.dir, &slot.info_hash, &slot.storage) };
                let (have, rechecked) = match resumed {
                    Some(h) => (h, false),
                    None => match check_all(&mut slot.storage) {
                        Ok((h, tally)) => {
                            let files = tally.foreign(&slot.storage);
                            if !ours && !files.is_empty() {
                                send(DiskEvent::Existing { torrent, files });
                            }
                            (h, true)
                        }
                        Err(e) => {
                            send(DiskEvent::Error { torrent, msg: format!("checking existing data: {e}") });
                            continue;
                        }
                    },
                };
                slots[torrent] = Some(slot);
                send(DiskEvent::Opened { torrent, have, rechecked });
            }
            DiskJob::Write { torrent, offset, data, charge } => {
                if let Some(Some(slot)) = slots.get_mut(torrent) {
                    if !slot.failed {
                        if let Err(e) = slot.storage.write(offset, &data) {
                            slot.failed = true;
                            send(DiskEvent::Error { torrent, msg: format!("writing data: {e}") });
                        }
                    }
                }
                drop(data);
                releases.written(charge, &waker);
            }
            DiskJob::Verify { torrent, piece, hashed } => {
                let Some(Some(slot)) = slots.get_mut(torrent) else { continue };
                if slot.failed {
                    continue;
                }
                let ok = slot.verify(piece, hashed);
                send(DiskEvent::Verified { torrent, piece, ok });
            }
            DiskJob::Read { torrent, peer, conn, piece, begin, len } => {
                let Some(Some(slot)) = slots.get_mut(torrent) else { continue };
                let offset = slot.storage.piece_offset(piece as usize) + begin as u64;
                let mut data = vec![0u8; len as usize];
                match slot.storage.read(offset, &mut data) {
                    Ok(()) => send(DiskEvent::ReadDone { torrent, peer, conn, piece, begin, data }),
                    Err(e) => send(DiskEvent::Error { torrent, msg: format!("reading data: {e}") }),
                }
            }
            DiskJob::SaveResume { torrent, have, clean } => {
                let Some(Some(slot)) = slots.get_mut(torrent) else { continue };
                if slot.failed {
                    // A write failed: pieces the loop verified may not all be
                    // on disk, so record nothing (the next run re-checks).
                    continue;
                }
                if let Err(e) = resume::save(&slot.dir, &slot.info_hash, &have, &slot.storage, clean) {
                    let path = resume::resume_path(&slot.dir, &slot.info_hash);
                    send(DiskEvent::Warning { torrent, msg: format!("could not save resume data to {}: {e}", path.display()) });
                }
            }
            DiskJob::SaveMetadata { dir, info_hash, bytes } => {
                let path = metadata_path(&dir, &info_hash);
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                // Best effort: without it a later run fetches the metadata again.
                let _ = std::fs::write(path, bytes);
            }
            DiskJob::LoadMetadata { torrent, dir, info_hash } => {
                let meta = std::fs::read(metadata_path(&dir, &info_hash))
                    .ok()
                    .and_then(|b| Metainfo::from_bytes(&b).ok())
                    .filter(|m| m.info_hash == info_hash)
                    .map(Box::new);
                send(DiskEvent::MetadataLoaded { torrent, meta });
            }
            DiskJob::CreateEmpty { torrent, files } => {
                let Some(Some(slot)) = slots.get_mut(torrent) else { continue };
                for i in files {
                    if let Err(e) = slot.storage.create_empty(i) {
                        let path = slot.storage.info().files[i].path_string();
                        eprintln!("torrent-get: warning: creating the empty file {path}: {e}");
                    }
                }
            }
            DiskJob::Close { torrent } => {
                if let Some(s) = slots.get_mut(torrent) {
                    *s = None;
                }
            }
            DiskJob::Delete { dir, info, info_hash } => delete_data(&dir, info.as_deref(), &info_hash),
            DiskJob::Shutdown => break,
        }
    }
    if unwoken.get() {
        let _ = waker.wake();
    }
}

pub fn metadata_path(dir: &std::path::Path, hash: &InfoHash) -> PathBuf {
    dir.join(".torrent-get").join(format!("{hash}.torrent"))
}

/// Remove a torrent's files and the directories they leave empty (up to,
/// not including, `dir`), and its files under `dir/.torrent-get/`. Best
/// effort: what cannot be removed stays (and is said on stderr).
fn delete_data(dir: &std::path::Path, info: Option<&Info>, hash: &InfoHash) {
    if let Some(info) = info {
        if let Ok(storage) = Storage::new(dir, info) {
            let mut parents = std::collections::BTreeSet::new();
            for i in 0..info.files.len() {
                let Some(p) = storage.path(i) else { continue };
                match std::fs::remove_file(p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => eprintln!("torrent-get: warning: {}: cannot delete: {e}", p.display()),
                }
                let mut d = p.parent().map(|d| d.to_path_buf());
                while let Some(x) = d.filter(|x| x.starts_with(dir) && x.as_path() != dir) {
                    parents.insert(x.clone());
                    d = x.parent().map(|d| d.to_path_buf());
                }
            }
            // Deepest first: a directory goes once its children are gone.
            let mut parents: Vec<_> = parents.into_iter().collect();
            parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
            for p in parents {
                let _ = std::fs::remove_dir(&p);
            }
        }
    }
    let state = dir.join(".torrent-get");
    for ext in ["resume", "torrent", "lock"] {
        let _ = std::fs::remove_file(state.join(format!("{}.{ext}", hash.to_hex())));
    }
    let _ = std::fs::remove_file(resume::resume_path(dir, hash));
    let _ = std::fs::remove_dir(&state);
}

/// Hash every piece present on disk. Missing files simply mean missing
/// pieces. Failed pieces are tallied per file: other data, or empty.
fn check_all(storage: &mut Storage) -> std::io::Result<(Vec<bool>, Tally)> {
    let n = storage.info().piece_count();
    let mut tally = Tally::new(storage.info().files.len());
    let any_file = (0..storage.info().files.len())
        .any(|i| storage.path(i).map(|p| p.exists()).unwrap_or(false));
    if !any_file {
        return Ok((vec![false; n], tally));
    }
    let mut have = Vec::with_capacity(n);
    // The SHA-1 of an all-zero piece, per length (the last piece may be
    // shorter): a piece never written (a hole of a sparse file) is had only
    // if that is its hash, and is neither read nor hashed.
    let mut zero_digest: Vec<(u32, [u8; 20])> = Vec::new();
    for i in 0..n {
        if storage.piece_unwritten(i)? {
            let len = storage.info().piece_len(i) as u32;
            let d = match zero_digest.iter().find(|(l, _)| *l == len) {
                Some((_, d)) => *d,
                None => {
                    let d: [u8; 20] = sha1::Sha1::digest(vec![0u8; len as usize]).into();
                    zero_digest.push((len, d));
                    d
                }
            };
            have.push(storage.info().pieces[i] == d);
            continue;
        }
        let ok = match storage.read_piece(i) {
            Ok(data) => {
                let ok = torrent_core::storage::piece_hash_ok(storage.info(), i, &data);
                if !ok {
                    tally.note_failed_piece(storage, i, Some(&data));
                }
                ok
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof) => {
                tally.note_failed_piece(storage, i, None);
                false
            }
            Err(e) => return Err(e),
        };
        have.push(ok);
    }
    Ok((have, tally))
}
