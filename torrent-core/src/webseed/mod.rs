//! Web seeds (BEP 19, GetRight style): HTTP(S) mirrors of a torrent's
//! files, fetched with byte-range requests.
//!
//! - [`layout`]: url-list entries, per-file URLs (percent-encoded byte by
//!   byte) and the split of a run of pieces into per-file HTTP ranges;
//! - [`scheduler`]: the sans-IO part: per-mirror state machine (idle, busy,
//!   backoff, dropped), assignment of piece runs, bookkeeping of what came
//!   back, simulated-clock friendly (`poll_timeout`/`handle_timeout`);
//! - [`fetch`]: the blocking HTTP side: `ureq` on a few worker threads,
//!   redirects followed up to a limit, reports through a bounded channel
//!   plus a wake-up callback (a `mio::Waker` in an event loop);
//! - [`blocking`]: a complete web-seed-only download on one thread.
//!
//! # Driving it from an event loop
//!
//! ```text
//! let mut sched = Scheduler::new(Layout::new(&meta), Config::default());
//! for url in webseed::mirrors(&meta) /* + --web-seed */ { sched.add_mirror(&url); }
//! let fetcher = Fetcher::new(FetchConfig::default(), move || { let _ = waker.wake(); });
//! // on every loop turn (after peer events, on the waker's token, on timeouts):
//! while let Some(ev) = fetcher.try_recv() { sched.handle_fetch(now, ev); }
//! sched.handle_timeout(now);                      // when poll_timeout() is due
//! sched.fill(now, |mirror, max| picker_run_for_mirror(mirror, max));
//! while let Some(a) = sched.poll_action() { fetcher.apply(a); }
//! while let Some(ev) = sched.poll_event() {
//!     match ev {
//!         Event::Data { piece, begin, data, .. } => { /* write + hash incrementally */ }
//!         Event::PieceReceived { piece, .. } => { /* hash done -> */ sched.piece_hashed(piece, ok); }
//!         Event::Released { pieces, .. } => { /* drop partial state, picker gives them out again */ }
//!         Event::Backoff { .. } | Event::Dropped { .. } => { /* progress view */ }
//!     }
//! }   // piece_hashed may queue more events/actions: loop until both are empty
//! // a piece completed by a peer: sched.piece_have(piece)
//! // next wake-up: min(peer timers, sched.poll_timeout())
//! ```
//!
//! A piece failing its hash after `PieceReceived` is the mirror's fault
//! only (mirrors get whole pieces): call `piece_hashed(piece, false)` and
//! blame no peer. `Scheduler::mirrors()` gives state and counters for
//! `--json` and the progress view.
//!
//! BEP 17 (`httpseeds`, the Hoffman-style seeding script protocol) is not
//! supported; hardly any mirror speaks it.

pub mod blocking;
pub mod fetch;
pub mod layout;
pub mod run_picker;
pub mod scheduler;

pub use fetch::{FetchConfig, Fetcher};
pub use layout::{mirrors, Layout, Part};
pub use scheduler::{
    Action, Config, Event, FetchError, FetchEvent, Job, JobId, MirrorId, MirrorInfo, MirrorState,
    MirrorStats, RunPicker, Scheduler,
};
