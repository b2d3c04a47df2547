//! The sans-IO web-seed scheduler: which mirror fetches which run of
//! pieces, and what their answers mean.
//!
//! The caller (an event loop, or [`super::blocking::download`]) owns the
//! clock, the piece picker, the hashing and the HTTP fetcher. The
//! scheduler only turns inputs into outputs:
//!
//! - inputs: [`Scheduler::fill`] (give idle mirrors runs of pieces, chosen
//!   by the caller's picker), [`Scheduler::handle_fetch`] (what the fetcher
//!   reported), [`Scheduler::piece_hashed`] (the caller's hash verdict on a
//!   piece it was handed), [`Scheduler::piece_have`] (the piece arrived
//!   from elsewhere), [`Scheduler::handle_timeout`];
//! - outputs: [`Scheduler::poll_action`] (HTTP requests to start or
//!   cancel), [`Scheduler::poll_event`] (data, finished pieces, pieces
//!   given back, mirrors backing off or dropped) and
//!   [`Scheduler::poll_timeout`].
//!
//! Every piece the picker hands out ends exactly once: either the caller
//! reports a good hash for it ([`Scheduler::piece_hashed`] with `true`), or
//! the scheduler gives it back in an [`Event::Released`].
//!
//! Per-mirror states: idle (active, nothing in flight), busy (requests in
//! flight, at most [`Config::requests_per_mirror`]), backoff (an error; no
//! new requests until a time that doubles with each consecutive error, or
//! what a 503/429 `Retry-After` asks, whichever is later), dropped (too
//! many consecutive errors, a fatal protocol error, or a piece that failed
//! its hash: a mirror is the only source of the pieces it serves, so bad
//! data is its fault alone and no peer is blamed).

use super::layout::{Layout, Part};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Tuning knobs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Requests in flight per mirror (each holds one run of pieces).
    pub requests_per_mirror: usize,
    /// Bytes asked for per run (at least one piece).
    pub run_bytes: u64,
    /// Consecutive errors after which a mirror is dropped.
    pub max_errors: u32,
    /// Pieces failing their hash after which a mirror is dropped.
    pub max_hash_failures: u32,
    /// Backoff after the first error; doubles with each consecutive one.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured (longer ones are cut to this).
    pub max_retry_after: Duration,
    /// A request that delivers no chunk for this long is cancelled and
    /// counts as an error (a slow mirror is treated like a slow peer): with
    /// the fetcher's chunks of [`super::FetchConfig::chunk`] bytes this is
    /// a minimum rate of `chunk / stall_timeout` per request.
    pub stall_timeout: Duration,
    /// Endgame: most duplicate requests at once (a piece another mirror is
    /// on, fetched by an idle mirror too; the first whole copy wins).
    pub max_duplicates: usize,
    /// Endgame with idle peers: a piece a mirror has been on for this long
    /// since its request was trimmed is given back to them (its partial
    /// bytes thrown away; the mirror is not blamed).
    pub give_up_after: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            requests_per_mirror: 2,
            run_bytes: 4 << 20,
            max_errors: 5,
            max_hash_failures: 1,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(600),
            stall_timeout: Duration::from_secs(30),
            max_duplicates: 2,
            give_up_after: Duration::from_secs(5),
        }
    }
}

/// The caller's handle for a mirror (its index in [`Scheduler::mirrors`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MirrorId(pub u32);

/// One HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// An HTTP range request for the fetcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub mirror: MirrorId,
    /// Fully encoded URL (send it as it is).
    pub url: String,
    /// `Range: bytes=file_offset-(file_offset+len-1)`.
    pub file_offset: u64,
    pub len: u64,
    /// Torrent offset of the first byte; with `piece_length` it lets the
    /// fetcher cut the body into chunks that never cross a piece boundary.
    pub offset: u64,
    pub piece_length: u64,
}

/// What the caller should do with its fetcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Fetch(Job),
    /// Stop this request; anything it still reports is ignored.
    Cancel(JobId),
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// A status other than 200/206 (or a 3xx without a usable Location).
    Status { code: u16, retry_after: Option<Duration> },
    TooManyRedirects,
    /// A redirect to something that is not an http(s) URL.
    BadRedirect(String),
    /// The server sent the whole file (200) for a range that does not
    /// start at 0.
    RangeIgnored,
    /// A 206 whose Content-Range is not the range asked for.
    WrongRange(String),
    /// The body ended before `len` bytes.
    ShortBody { got: u64, expected: u64 },
    /// Connect/read timeout.
    Timeout,
    /// Connection, DNS, TLS or protocol trouble.
    Transport(String),
}

impl FetchError {
    /// Errors that no retry can fix: the mirror is dropped at once.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            FetchError::RangeIgnored | FetchError::WrongRange(_) | FetchError::BadRedirect(_)
        )
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Status { code, retry_after: Some(r) } => {
                write!(f, "HTTP {code} (retry after {} s)", r.as_secs())
            }
            FetchError::Status { code, retry_after: None } => write!(f, "HTTP {code}"),
            FetchError::TooManyRedirects => write!(f, "too many redirects"),
            FetchError::BadRedirect(l) => write!(f, "redirect to unusable location {l:?}"),
            FetchError::RangeIgnored => write!(f, "server ignores Range requests"),
            FetchError::WrongRange(r) => write!(f, "server sent the wrong range ({r})"),
            FetchError::ShortBody { got, expected } => {
                write!(f, "body ended after {got} of {expected} bytes")
            }
            FetchError::Timeout => write!(f, "timed out"),
            FetchError::Transport(e) => write!(f, "{e}"),
        }
    }
}

/// What the fetcher reports about a [`Job`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// The next bytes of the body, in order.
    Data { job: JobId, data: Vec<u8> },
    /// Exactly `len` bytes were delivered.
    Done { job: JobId },
    Failed { job: JobId, error: FetchError },
}

/// What the scheduler tells the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes `begin..begin+data.len()` of `piece`, in order within the
    /// piece (a chunk never crosses a piece boundary). Padding files come
    /// as zeros.
    Data { mirror: MirrorId, piece: u32, begin: u64, data: Vec<u8> },
    /// Every byte of `piece` was delivered: hash it and call
    /// [`Scheduler::piece_hashed`].
    PieceReceived { mirror: MirrorId, piece: u32 },
    /// These assigned pieces will not come from this mirror: drop any
    /// partial data of them and give them to another source.
    Released { mirror: MirrorId, pieces: Range<u32> },
    /// The mirror had an error and takes no new requests until `until`.
    Backoff { mirror: MirrorId, until: Instant, error: String },
    /// The mirror is given up for good.
    Dropped { mirror: MirrorId, reason: String },
    /// Endgame: a duplicate request finished `piece` before the mirror that
    /// was on it. Drop what the caller has of it (`bytes` came from the
    /// slow mirror: over-download); the whole piece follows as `Data` and
    /// `PieceReceived` from the duplicate's mirror.
    Discard { piece: u32, bytes: u64 },
}

/// A mirror's state, for progress views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorState {
    Idle,
    /// Requests in flight.
    Busy(usize),
    Backoff { until: Instant },
    Dropped { reason: String },
}

/// Counters per mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// Body bytes received (padding zeros not counted).
    pub bytes: u64,
    pub pieces_ok: u64,
    pub pieces_bad: u64,
    /// Bytes received that did not become a verified piece (partial runs
    /// given back, pieces that failed their hash, pieces had elsewhere).
    pub wasted: u64,
    pub errors: u64,
    pub requests: u64,
}

/// A mirror as the caller sees it.
#[derive(Debug, Clone)]
pub struct MirrorInfo {
    pub url: String,
    pub state: MirrorState,
    pub stats: MirrorStats,
    /// The last error (what a backoff or drop was about).
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct Slot {
    run: Range<u32>,
    /// First piece of the run not yet completely delivered.
    next_piece: u32,
    parts: VecDeque<Part>,
    /// The request in flight: its id, part and bytes received so far.
    job: Option<(JobId, Part, u64)>,
    last_progress: Instant,
    /// Bytes received for pieces not yet completed.
    partial_bytes: u64,
    /// Endgame: cut to the piece it is on (the rest released), and when.
    trimmed: bool,
    trimmed_at: Option<Instant>,
    /// A duplicate of another mirror's piece: its bytes are kept here
    /// (one piece at most) and passed on only if it finishes first.
    dup: Option<Vec<u8>>,
}

#[derive(Debug)]
enum State {
    Active,
    Backoff(Instant),
    Dropped(String),
}

#[derive(Debug)]
struct Mirror {
    url: String,
    state: State,
    slots: Vec<Slot>,
    errors: u32,
    hash_failures: u32,
    stats: MirrorStats,
    last_error: Option<String>,
}

/// Zeros for padding files are emitted in chunks of at most this size.
const ZERO_CHUNK: u64 = 1 << 20;

/// The scheduler for one torrent.
pub struct Scheduler {
    layout: Layout,
    cfg: Config,
    mirrors: Vec<Mirror>,
    jobs: HashMap<JobId, MirrorId>,
    next_job: u64,
    /// Pieces delivered and awaiting the caller's hash verdict.
    awaiting: HashMap<u32, MirrorId>,
    /// Pieces the caller has from elsewhere.
    had: Vec<bool>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    rr: usize,
}

impl Scheduler {
    pub fn new(layout: Layout, cfg: Config) -> Scheduler {
        let n = layout.num_pieces as usize;
        Scheduler {
            layout,
            cfg,
            mirrors: Vec::new(),
            jobs: HashMap::new(),
            next_job: 0,
            awaiting: HashMap::new(),
            had: vec![false; n],
            actions: VecDeque::new(),
            events: VecDeque::new(),
            rr: 0,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Add a mirror (a url-list entry or `--web-seed`). Returns None for a
    /// URL that is not http(s) or is already known.
    pub fn add_mirror(&mut self, url: &str) -> Option<MirrorId> {
        let url = url.trim();
        if !super::layout::is_http_url(url) || self.mirrors.iter().any(|m| m.url == url) {
            return None;
        }
        self.mirrors.push(Mirror {
            url: url.to_string(),
            state: State::Active,
            slots: Vec::new(),
            errors: 0,
            hash_failures: 0,
            stats: MirrorStats::default(),
            last_error: None,
        });
        Some(MirrorId(self.mirrors.len() as u32 - 1))
    }

    /// Every mirror with its state and counters, indexed by [`MirrorId`].
    pub fn mirrors(&self) -> Vec<MirrorInfo> {
        self.mirrors
            .iter()
            .map(|m| MirrorInfo {
                url: m.url.clone(),
                state: match &m.state {
                    State::Dropped(r) => MirrorState::Dropped { reason: r.clone() },
                    State::Backoff(t) => MirrorState::Backoff { until: *t },
                    State::Active if m.slots.is_empty() => MirrorState::Idle,
                    State::Active => MirrorState::Busy(m.slots.len()),
                },
                stats: m.stats.clone(),
                last_error: m.last_error.clone(),
            })
            .collect()
    }

    /// True when every mirror is dropped (or there are none): nothing more
    /// will come from web seeds.
    pub fn all_dropped(&self) -> bool {
        self.mirrors.iter().all(|m| matches!(m.state, State::Dropped(_)))
    }

    /// No request in flight and no piece awaiting a hash verdict.
    pub fn is_quiet(&self) -> bool {
        self.jobs.is_empty() && self.awaiting.is_empty() && self.mirrors.iter().all(|m| m.slots.is_empty())
    }

    /// Pieces per run.
    pub fn run_pieces(&self) -> u32 {
        (self.cfg.run_bytes / self.layout.piece_length.max(1)).clamp(1, u32::MAX as u64) as u32
    }

    /// Give every mirror that can take a request a run of pieces. `pick`
    /// is the caller's picker: given a mirror and a most number of pieces,
    /// it returns a non-empty run of pieces that mirror should fetch (and
    /// that the caller now counts as assigned), or None when it has
    /// nothing to give. Call after handling events and timeouts.
    pub fn fill(&mut self, now: Instant, mut pick: impl FnMut(MirrorId, u32) -> Option<Range<u32>>) {
        let n = self.mirrors.len();
        let max = self.run_pieces();
        // Round-robin over mirrors, one run at a time, so mirrors share.
        let mut progress = true;
        while progress {
            progress = false;
            for k in 0..n {
                let i = (self.rr + k) % n;
                let m = &self.mirrors[i];
                if !matches!(m.state, State::Active) || m.slots.len() >= self.cfg.requests_per_mirror {
                    continue;
                }
                let Some(run) = pick(MirrorId(i as u32), max) else {
                    self.duplicate(now);
                    return;
                };
                let run = run.start..run.end.min(self.layout.num_pieces);
                if run.is_empty() {
                    return;
                }
                let parts: VecDeque<Part> = self.layout.parts(&self.mirrors[i].url, run.clone()).into();
                self.mirrors[i].slots.push(Slot {
                    next_piece: run.start,
                    run,
                    parts,
                    job: None,
                    last_progress: now,
                    partial_bytes: 0,
                    trimmed: false,
                    trimmed_at: None,
                    dup: None,
                });
                let s = self.mirrors[i].slots.len() - 1;
                self.advance(now, i, s);
                progress = true;
            }
            self.rr = (self.rr + 1) % n.max(1);
        }
    }

    /// Start the next part of slot `s` of mirror `m`, emitting zeros for
    /// padding; removes the slot when its run is done.
    fn advance(&mut self, now: Instant, m: usize, s: usize) {
        loop {
            let Some(part) = self.mirrors[m].slots[s].parts.pop_front() else {
                self.mirrors[m].slots.remove(s);
                return;
            };
            match &part.url {
                None => {
                    let mut off = part.offset;
                    let end = part.offset + part.len;
                    while off < end {
                        let piece_end = (off / self.layout.piece_length + 1) * self.layout.piece_length;
                        let take = (end - off).min(piece_end - off).min(ZERO_CHUNK);
                        if self.deliver(m, s, off, vec![0; take as usize], false) {
                            return;
                        }
                        off += take;
                    }
                }
                Some(url) => {
                    let id = JobId(self.next_job);
                    self.next_job += 1;
                    let job = Job {
                        id,
                        mirror: MirrorId(m as u32),
                        url: url.clone(),
                        file_offset: part.file_offset,
                        len: part.len,
                        offset: part.offset,
                        piece_length: self.layout.piece_length,
                    };
                    let slot = &mut self.mirrors[m].slots[s];
                    slot.job = Some((id, part, 0));
                    slot.last_progress = now;
                    self.mirrors[m].stats.requests += 1;
                    self.jobs.insert(id, MirrorId(m as u32));
                    self.actions.push_back(Action::Fetch(job));
                    return;
                }
            }
        }
    }

    /// Pass bytes at torrent offset `off` of slot `s` to the caller, and
    /// report the pieces they complete.
    /// True when slot `s` is gone (a duplicate that completed, a trimmed
    /// request that delivered its piece).
    fn deliver(&mut self, m: usize, s: usize, mut off: u64, mut data: Vec<u8>, counted: bool) -> bool {
        let plen = self.layout.piece_length;
        let mid = MirrorId(m as u32);
        if counted {
            self.mirrors[m].stats.bytes += data.len() as u64;
        }
        let slot = &mut self.mirrors[m].slots[s];
        if let Some(buf) = slot.dup.as_mut() {
            buf.extend_from_slice(&data);
            slot.partial_bytes += data.len() as u64;
            if buf.len() as u64 >= self.layout.piece_len(slot.run.start) {
                self.dup_done(m, s);
                return true;
            }
            return false;
        }
        while !data.is_empty() {
            let piece = (off / plen) as u32;
            let begin = off - piece as u64 * plen;
            let take = (plen - begin).min(data.len() as u64) as usize;
            let rest = if take < data.len() { data.split_off(take) } else { Vec::new() };
            let n = data.len() as u64;
            if self.had[piece as usize] || piece >= self.mirrors[m].slots[s].run.end {
                self.mirrors[m].stats.wasted += n;
            } else {
                self.events.push_back(Event::Data { mirror: mid, piece, begin, data });
                self.mirrors[m].slots[s].partial_bytes += n;
            }
            off += n;
            data = rest;
            // Completed pieces.
            let mut completed = Vec::new();
            let slot = &mut self.mirrors[m].slots[s];
            while slot.next_piece < slot.run.end {
                let p = slot.next_piece;
                let end = (p as u64 * plen + self.layout.piece_len(p)).min(self.layout.total_length);
                if off < end {
                    break;
                }
                slot.next_piece += 1;
                let pl = self.layout.piece_len(p);
                if !self.had[p as usize] {
                    slot.partial_bytes = slot.partial_bytes.saturating_sub(pl);
                    self.awaiting.insert(p, mid);
                    self.events.push_back(Event::PieceReceived { mirror: mid, piece: p });
                    completed.push(p);
                }
            }
            for p in completed {
                self.drop_dups(p);
            }
        }
        let slot = &self.mirrors[m].slots[s];
        if slot.trimmed && slot.next_piece >= slot.run.end {
            // Its piece is in: the rest of the request is not wanted.
            let slot = self.mirrors[m].slots.remove(s);
            if let Some((id, _, _)) = slot.job {
                if self.jobs.remove(&id).is_some() {
                    self.actions.push_back(Action::Cancel(id));
                }
            }
            self.mirrors[m].errors = 0;
            return true;
        }
        false
    }

    /// Feed what the fetcher reported. Reports about jobs that were
    /// cancelled or are unknown are ignored.
    pub fn handle_fetch(&mut self, now: Instant, ev: FetchEvent) {
        let job = match &ev {
            FetchEvent::Data { job, .. } | FetchEvent::Done { job } | FetchEvent::Failed { job, .. } => *job,
        };
        let Some(&mid) = self.jobs.get(&job) else {
            return;
        };
        let m = mid.0 as usize;
        let Some(s) = self.mirrors[m]
            .slots
            .iter()
            .position(|sl| matches!(sl.job, Some((id, _, _)) if id == job))
        else {
            self.jobs.remove(&job);
            return;
        };
        match ev {
            FetchEvent::Data { data, .. } => {
                if data.is_empty() {
                    return;
                }
                let slot = &mut self.mirrors[m].slots[s];
                let (_, part, got) = slot.job.as_mut().expect("slot with job");
                if *got + data.len() as u64 > part.len {
                    let e = FetchError::Transport(format!(
                        "body longer than the {} bytes asked for",
                        part.len
                    ));
                    self.jobs.remove(&job);
                    self.actions.push_back(Action::Cancel(job));
                    self.fail_slot(now, m, s, e, true);
                    return;
                }
                let off = part.offset + *got;
                *got += data.len() as u64;
                slot.last_progress = now;
                self.deliver(m, s, off, data, true);
            }
            FetchEvent::Done { .. } => {
                self.jobs.remove(&job);
                let (_, part, got) = self.mirrors[m].slots[s].job.take().expect("slot with job");
                if got < part.len {
                    let e = FetchError::ShortBody { got, expected: part.len };
                    self.mirrors[m].slots[s].job = Some((job, part, got));
                    self.fail_slot(now, m, s, e, false);
                    return;
                }
                self.mirrors[m].errors = 0;
                self.advance(now, m, s);
            }
            FetchEvent::Failed { error, .. } => {
                self.jobs.remove(&job);
                self.fail_slot(now, m, s, error, false);
            }
        }
    }

    /// Give back the undelivered pieces of slot `s` and remove it.
    fn release_slot(&mut self, m: usize, s: usize) {
        let slot = self.mirrors[m].slots.remove(s);
        if let Some((id, _, _)) = slot.job {
            if self.jobs.remove(&id).is_some() {
                self.actions.push_back(Action::Cancel(id));
            }
        }
        self.mirrors[m].stats.wasted += slot.partial_bytes;
        if slot.dup.is_some() {
            return;
        }
        if slot.next_piece < slot.run.end {
            for p in slot.next_piece..slot.run.end {
                self.drop_dups(p);
            }
            self.events.push_back(Event::Released {
                mirror: MirrorId(m as u32),
                pieces: slot.next_piece..slot.run.end,
            });
        }
    }

    /// A request of slot `s` failed: release its run, then back off or
    /// drop the mirror.
    fn fail_slot(&mut self, now: Instant, m: usize, s: usize, e: FetchError, fatal: bool) {
        self.release_slot(m, s);
        let mirror = &mut self.mirrors[m];
        mirror.last_error = Some(e.to_string());
        if matches!(mirror.state, State::Dropped(_)) {
            return;
        }
        // Other requests that were in flight when the mirror went into
        // backoff fail for the same reason: one error per backoff round.
        if matches!(mirror.state, State::Backoff(_)) && !fatal && !e.is_fatal() {
            mirror.stats.errors += 1;
            return;
        }
        mirror.errors += 1;
        mirror.stats.errors += 1;
        if fatal || e.is_fatal() || mirror.errors >= self.cfg.max_errors {
            let reason = if fatal || e.is_fatal() {
                e.to_string()
            } else {
                format!("{} errors in a row, the last: {e}", mirror.errors)
            };
            self.drop_mirror(m, reason);
            return;
        }
        let shift = (mirror.errors - 1).min(20);
        let mut delay = self.cfg.backoff_base.saturating_mul(1 << shift).min(self.cfg.backoff_max);
        if let FetchError::Status { retry_after: Some(r), .. } = &e {
            delay = delay.max((*r).min(self.cfg.max_retry_after));
        }
        let until = now + delay;
        let until = match mirror.state {
            State::Backoff(t) if t > until => t,
            _ => until,
        };
        mirror.state = State::Backoff(until);
        self.events.push_back(Event::Backoff {
            mirror: MirrorId(m as u32),
            until,
            error: e.to_string(),
        });
    }

    fn drop_mirror(&mut self, m: usize, reason: String) {
        while !self.mirrors[m].slots.is_empty() {
            self.release_slot(m, 0);
        }
        self.mirrors[m].state = State::Dropped(reason.clone());
        self.events.push_back(Event::Dropped { mirror: MirrorId(m as u32), reason });
    }

    /// Drop a mirror on the caller's behalf (say, `--no-web-seeds` or a
    /// user action). Its runs are released.
    pub fn remove_mirror(&mut self, mirror: MirrorId, reason: &str) {
        let m = mirror.0 as usize;
        if m < self.mirrors.len() && !matches!(self.mirrors[m].state, State::Dropped(_)) {
            self.drop_mirror(m, reason.to_string());
        }
    }

    /// The caller's verdict on a piece from [`Event::PieceReceived`]. A bad
    /// piece is released and counts against its mirror (dropped after
    /// [`Config::max_hash_failures`]).
    pub fn piece_hashed(&mut self, piece: u32, ok: bool) {
        let Some(mid) = self.awaiting.remove(&piece) else {
            return;
        };
        let m = mid.0 as usize;
        let len = self.layout.piece_len(piece);
        let mirror = &mut self.mirrors[m];
        if ok {
            mirror.stats.pieces_ok += 1;
            return;
        }
        mirror.stats.pieces_bad += 1;
        mirror.stats.wasted += len;
        mirror.hash_failures += 1;
        self.events.push_back(Event::Released { mirror: mid, pieces: piece..piece + 1 });
        if mirror.hash_failures >= self.cfg.max_hash_failures
            && !matches!(mirror.state, State::Dropped(_))
        {
            let n = mirror.hash_failures;
            self.drop_mirror(m, format!("served {n} piece(s) that failed the hash check (last: piece {piece})"));
        }
    }

    /// The caller has `piece` from another source (a peer in endgame).
    /// Its bytes from mirrors are no longer passed on; a request whose
    /// remaining pieces are all had is cancelled (and the rest of its run,
    /// if any, released).
    pub fn piece_have(&mut self, piece: u32) {
        let Some(h) = self.had.get_mut(piece as usize) else {
            return;
        };
        *h = true;
        for m in 0..self.mirrors.len() {
            let mut s = 0;
            while s < self.mirrors[m].slots.len() {
                let sl = &self.mirrors[m].slots[s];
                if sl.run.contains(&piece)
                    && (sl.next_piece..sl.run.end).all(|p| self.had[p as usize])
                {
                    self.release_slot(m, s);
                } else {
                    s += 1;
                }
            }
        }
    }

    /// The next request to start or cancel.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Scheduler::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut min = |x: Instant| t = Some(t.map_or(x, |y| y.min(x)));
        for m in &self.mirrors {
            if let State::Backoff(u) = m.state {
                min(u);
            }
            for s in &m.slots {
                if s.job.is_some() {
                    min(s.last_progress + self.cfg.stall_timeout);
                }
            }
        }
        t
    }

    /// End backoffs that are over and cancel stalled requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        for m in 0..self.mirrors.len() {
            if let State::Backoff(u) = self.mirrors[m].state {
                if u <= now {
                    self.mirrors[m].state = State::Active;
                }
            }
            let mut s = 0;
            while s < self.mirrors[m].slots.len() {
                let sl = &self.mirrors[m].slots[s];
                if sl.job.is_some() && sl.last_progress + self.cfg.stall_timeout <= now {
                    let secs = self.cfg.stall_timeout.as_secs_f64();
                    self.fail_slot(now, m, s, FetchError::Transport(format!("no data for {secs:.1} s")), false);
                    if matches!(self.mirrors[m].state, State::Dropped(_)) {
                        break;
                    }
                } else {
                    s += 1;
                }
            }
        }
    }
}

#[path = "scheduler_endgame.rs"]
mod endgame;

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;

pub use super::run_picker::RunPicker;
