//! A blocking web-seed-only download: the [`Scheduler`] driven by a
//! [`Fetcher`], a [`RunPicker`] and [`Storage`] on the calling thread.
//! Used by tests and the benchmark; it is also the reference for how an
//! event loop drives the scheduler (replace the channel wait with a
//! `mio::Waker` passed to [`Fetcher::new`]).

use super::fetch::{FetchConfig, Fetcher};
use super::layout::Layout;
use super::scheduler::{Config, Event, MirrorInfo, RunPicker, Scheduler};
use crate::storage::Storage;
use crate::Metainfo;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Settings of [`download`].
#[derive(Debug, Clone, Default)]
pub struct DownloadOptions {
    pub scheduler: Config,
    pub fetch: FetchConfig,
    /// Give up after this long (None: never).
    pub timeout: Option<Duration>,
    /// Print backoffs and dropped mirrors to stderr.
    pub verbose: bool,
}

/// The outcome of [`download`].
#[derive(Debug, Clone)]
pub struct DownloadReport {
    pub elapsed: Duration,
    /// Per mirror, indexed like the `mirrors` argument (skipped URLs left
    /// out).
    pub mirrors: Vec<MirrorInfo>,
    /// Body bytes received from all mirrors (more than the torrent's size
    /// when data was wasted).
    pub received: u64,
    pub pieces: usize,
}

/// Download the whole torrent from `mirrors` into `dir` (the layout of
/// [`Storage`]), verifying every piece. Errors when every mirror is
/// dropped, on a disk error, or at the timeout.
pub fn download(
    meta: &Metainfo,
    dir: &Path,
    mirrors: &[String],
    opts: &DownloadOptions,
) -> Result<DownloadReport, String> {
    let start = Instant::now();
    let info = &meta.info;
    let mut storage = Storage::new(dir, info)?;
    let mut sched = Scheduler::new(Layout::new(meta), opts.scheduler.clone());
    for m in mirrors {
        if sched.add_mirror(m).is_none() && opts.verbose {
            eprintln!("web seed {m}: not an http(s) URL or a duplicate, skipped");
        }
    }
    let mut picker = RunPicker::new(info.piece_count() as u32);
    let fetcher = Fetcher::new(opts.fetch.clone(), || {});
    let mut hashers: HashMap<u32, Sha1> = HashMap::new();
    let plen = info.piece_length;
    loop {
        let now = Instant::now();
        sched.handle_timeout(now);
        // Assign work, start requests, handle what came back, until the
        // scheduler has nothing more to say (events can free mirrors and
        // release pieces, which calls for another fill).
        loop {
            sched.fill(now, |_, max| picker.next_run(max));
            while let Some(a) = sched.poll_action() {
                fetcher.apply(a);
            }
            let Some(ev) = sched.poll_event() else { break };
            match ev {
                Event::Data { piece, begin, data, .. } => {
                    storage
                        .write(piece as u64 * plen + begin, &data)
                        .map_err(|e| format!("writing piece {piece}: {e}"))?;
                    hashers.entry(piece).or_default().update(&data);
                }
                Event::PieceReceived { piece, .. } => {
                    let h: [u8; 20] = hashers.remove(&piece).unwrap_or_default().finalize().into();
                    let ok = info.pieces[piece as usize] == h;
                    sched.piece_hashed(piece, ok);
                    if ok {
                        picker.set_have(piece);
                    }
                }
                Event::Discard { piece, .. } => {
                    hashers.remove(&piece);
                }
                Event::Released { pieces, .. } => {
                    for p in pieces.clone() {
                        hashers.remove(&p);
                    }
                    picker.release(pieces);
                }
                Event::Backoff { mirror, until, error } => {
                    if opts.verbose {
                        let url = &sched.mirrors()[mirror.0 as usize].url;
                        let secs = until.saturating_duration_since(now).as_secs_f64();
                        eprintln!("web seed {url}: {error}; retrying in {secs:.1} s");
                    }
                }
                Event::Dropped { mirror, reason } => {
                    if opts.verbose {
                        let url = &sched.mirrors()[mirror.0 as usize].url;
                        eprintln!("web seed {url}: dropped: {reason}");
                    }
                }
            }
        }
        if picker.is_complete() {
            break;
        }
        if sched.all_dropped() {
            let why: Vec<String> = sched
                .mirrors()
                .iter()
                .map(|m| match &m.state {
                    super::MirrorState::Dropped { reason } => format!("{}: {reason}", m.url),
                    _ => m.url.clone(),
                })
                .collect();
            return Err(if why.is_empty() {
                "no usable web seeds".to_string()
            } else {
                format!("every web seed failed ({})", why.join("; "))
            });
        }
        if let Some(t) = opts.timeout {
            if start.elapsed() >= t {
                return Err(format!(
                    "timed out after {:.1} s with {} of {} pieces",
                    t.as_secs_f64(),
                    picker.have_count(),
                    info.piece_count()
                ));
            }
        }
        let now = Instant::now();
        let wait = sched
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        if let Some(ev) = fetcher.recv_timeout(wait) {
            sched.handle_fetch(Instant::now(), ev);
        }
        while let Some(ev) = fetcher.try_recv() {
            sched.handle_fetch(Instant::now(), ev);
        }
    }
    // Zero-length files get no data; create them.
    for (i, f) in info.files.iter().enumerate() {
        if let (0, Some(path)) = (f.length, storage.path(i)) {
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let mirrors = sched.mirrors();
    Ok(DownloadReport {
        elapsed: start.elapsed(),
        received: mirrors.iter().map(|m| m.stats.bytes).sum(),
        mirrors,
        pieces: info.piece_count(),
    })
}
