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
//! BEP 17 (`httpseeds`, the Hoffman-style seeding script protocol) is not
//! supported; hardly any mirror speaks it.

pub mod blocking;
pub mod fetch;
pub mod layout;
pub mod scheduler;

pub use fetch::{FetchConfig, Fetcher};
pub use layout::{mirrors, Layout, Part};
pub use scheduler::{
    Action, Config, Event, FetchError, FetchEvent, Job, JobId, MirrorId, MirrorInfo, MirrorState,
    MirrorStats, RunPicker, Scheduler,
};
