//! What torrent-get tells people and scripts while it works.
//!
//! - On a terminal (stderr is a TTY and `TERM` is not `dumb`): an indicatif
//!   MultiProgress, one bar per torrent with bytes, rate, peers and ETA.
//!   Messages and the stdout result lines are printed through the bars'
//!   `suspend`, so redraws never erase them; at the end a finished torrent's
//!   bar is finished, an unfinished one abandoned where it stopped.
//! - `--json`: one JSON object per line on stdout (`"event"`: `added`,
//!   `metadata`, `checked`, `progress`, `done`, `error`, `stopped`, ...).
//! - Otherwise (no terminal, `TERM=dumb`): plain message lines on stderr and
//!   a status line per torrent every `--status-interval` seconds.
//! - `-q`: errors only.
//!
//! Sizes and rates are binary (KiB, MiB, GiB), everywhere.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static STATUS_INTERVAL_MS: AtomicU64 = AtomicU64::new(10_000);

/// How often a status line is printed without a terminal (0: never).
pub fn set_status_interval(d: Duration) {
    STATUS_INTERVAL_MS.store(d.as_millis() as u64, Ordering::Relaxed);
}

/// `TERM` unset or `dumb`: no cursor movement (indicatif would draw nothing).
pub fn dumb_terminal() -> bool {
    std::env::var("TERM").map(|t| t.is_empty() || t == "dumb").unwrap_or(true)
}

/// A size in binary units: `512 B`, `1.50 MiB`.
pub fn human_bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}

/// A rate in binary units: `1.50 MiB/s`.
pub fn human_rate(bytes_per_sec: f64) -> String {
    format!("{}/s", human_bytes(bytes_per_sec.max(0.0) as u64))
}

/// `h:mm:ss` or `m:ss`.
pub fn human_duration(secs: u64) -> String {
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// Whether a message is an error (all that `-q` lets through).
pub fn is_error(msg: &str) -> bool {
    msg.starts_with("error:") || msg.contains(": error: ")
}

/// The `progress` event of `--json` (and the daemon's event stream).
pub fn progress_json(s: &Snapshot) -> serde_json::Value {
    json!({
        "event": "progress",
        "info_hash": s.info_hash,
        "name": s.name,
        "total_bytes": s.total,
        "have_bytes": s.have_bytes,
        "have_pieces": s.have_pieces,
        "pieces": s.pieces,
        "download_rate": s.down_rate.round() as u64,
        "upload_rate": s.up_rate.round() as u64,
        "downloaded": s.downloaded,
        "uploaded": s.uploaded,
        "peers": s.peers,
        "connecting": s.connecting,
        "known": s.known,
        "mirrors": s.mirrors,
        "mirrors_known": s.mirrors_known,
        "webseeds": s.webseeds,
        "seeding": s.seeding,
    })
}

/// A snapshot of one torrent for the progress view.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub name: String,
    pub info_hash: String,
    pub total: u64,
    pub have_bytes: u64,
    pub have_pieces: usize,
    pub pieces: usize,
    pub down_rate: f64,
    pub up_rate: f64,
    pub downloaded: u64,
    pub uploaded: u64,
    /// Connected peers (in the progress reports: exchanging messages).
    pub peers: usize,
    /// Connections still being set up (connect, handshake).
    pub connecting: usize,
    /// Peer addresses known (trackers, DHT, PEX, --peer).
    pub known: usize,
    /// Web seeds not dropped, and all of them.
    pub mirrors: usize,
    pub mirrors_known: usize,
    pub webseeds: Vec<crate::control::WebSeedStatus>,
    pub seeding: bool,
}

pub enum Mode {
    Bars,
    Json,
    /// No terminal (or a dumb one): lines, and a status line now and then.
    Plain,
    Quiet,
}

pub struct Reporter {
    mode: Mode,
    multi: Option<MultiProgress>,
    bars: Vec<Option<ProgressBar>>,
    /// Latest snapshot of each torrent (Plain mode's status lines).
    latest: Vec<Option<Snapshot>>,
    last_status: Instant,
    /// `-q` (also with `--json`): messages for people are errors only.
    quiet: bool,
}

impl Reporter {
    pub fn new(json: bool, quiet: bool) -> Reporter {
        let mode = if json {
            Mode::Json
        } else if quiet {
            Mode::Quiet
        } else if !std::io::stderr().is_terminal() || dumb_terminal() {
            Mode::Plain
        } else {
            Mode::Bars
        };
        let mut r = Reporter::with_mode(mode);
        r.quiet = quiet;
        r
    }

    pub fn with_mode(mode: Mode) -> Reporter {
        let multi = matches!(mode, Mode::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4)));
        let quiet = matches!(mode, Mode::Quiet);
        Reporter { mode, multi, bars: Vec::new(), latest: Vec::new(), last_status: Instant::now(), quiet }
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    pub fn is_json(&self) -> bool {
        matches!(self.mode, Mode::Json)
    }

    /// A message for people on stderr: above the bars on a terminal (the
    /// bars are cleared, the line written, the bars drawn again), plain
    /// otherwise; with `-q` only errors.
    pub fn log(&self, msg: &str) {
        if self.is_quiet() && !is_error(msg) {
            return;
        }
        self.suspend(|| {
            let _ = writeln!(std::io::stderr().lock(), "{msg}");
        });
    }

    /// Run `f` with the bars out of the way (writes to stdout or stderr
    /// that a redraw must not erase).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.multi {
            Some(m) => m.suspend(f),
            None => f(),
        }
    }

    /// A result line on stdout, never erased by a redraw.
    pub fn result_line(&self, line: &str) {
        self.suspend(|| crate::out_line(line));
    }

    /// Emit a JSON event line on stdout (JSON mode only).
    pub fn event(&self, v: serde_json::Value) {
        if self.is_json() {
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{v}").and_then(|_| out.flush()).is_err() {
                // Closed pipe: nobody is reading; keep working quietly.
            }
        }
    }

    pub fn update(&mut self, id: usize, s: &Snapshot) {
        match self.mode {
            Mode::Bars => {
                if self.bars.len() <= id {
                    self.bars.resize(id + 1, None);
                }
                let multi = self.multi.as_ref().expect("bars mode");
                let bar = self.bars[id].get_or_insert_with(|| {
                    let b = multi.add(ProgressBar::new(s.total.max(1)));
                    b.set_style(
                        ProgressStyle::with_template(
                            "{prefix:20!} [{bar:30}] {bytes}/{total_bytes} {msg}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    b
                });
                bar.set_prefix(s.name.clone());
                bar.set_length(s.total.max(1));
                bar.set_position(s.have_bytes);
                let eta = if s.down_rate > 1.0 && s.total > s.have_bytes {
                    let secs = ((s.total - s.have_bytes) as f64 / s.down_rate) as u64;
                    format!(" eta {}", human_duration(secs))
                } else {
                    String::new()
                };
                bar.set_message(format!(
                    "{} down {} up, {}{}{}",
                    human_rate(s.down_rate),
                    human_rate(s.up_rate),
                    peer_counts(s),
                    eta,
                    if s.seeding { format!(" seeding, ratio {}", ratio(s)) } else { String::new() }
                ));
            }
            Mode::Json => self.event(progress_json(s)),
            Mode::Plain => {
                if self.latest.len() <= id {
                    self.latest.resize(id + 1, None);
                }
                self.latest[id] = Some(s.clone());
                let every = STATUS_INTERVAL_MS.load(Ordering::Relaxed);
                if every > 0 && self.last_status.elapsed() >= Duration::from_millis(every) {
                    self.last_status = Instant::now();
                    for snap in self.latest.iter().flatten() {
                        eprintln!("{}", status_line(snap));
                    }
                }
            }
            Mode::Quiet => {}
        }
    }

    /// The end of a torrent's display: a complete torrent's bar is
    /// finished, an unfinished one (Ctrl-C, --timeout, failure) abandoned
    /// showing what was done.
    pub fn finish(&mut self, id: usize, complete: bool) {
        if let Some(Some(b)) = self.bars.get(id) {
            if complete {
                b.finish();
            } else {
                b.abandon();
            }
        }
    }

    /// Every bar ended (before the summary), so none is drawn again.
    pub fn finish_all(&mut self) {
        for b in self.bars.iter().flatten() {
            if !b.is_finished() {
                b.abandon();
            }
        }
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

/// Upload ratio (uploaded / downloaded, or / size when seeding what was
/// already there), two decimals.
pub fn ratio(s: &Snapshot) -> String {
    let base = if s.downloaded > 0 { s.downloaded } else { s.total };
    if base == 0 {
        return "0.00".into();
    }
    format!("{:.2}", s.uploaded as f64 / base as f64)
}

/// `3 peers, 1 connecting / 12 known`, then `, 2/50 mirrors` (not dropped
/// of all) when the torrent has web seeds.
pub fn peer_counts(s: &Snapshot) -> String {
    let mut out = format!("{} peers, {} connecting / {} known", s.peers, s.connecting, s.known);
    if s.mirrors_known > 0 {
        out.push_str(&format!(", {}/{} mirrors", s.mirrors, s.mirrors_known));
    }
    out
}

/// The status line printed without a terminal.
pub fn status_line(s: &Snapshot) -> String {
    let pct = if s.total > 0 { s.have_bytes as f64 * 100.0 / s.total as f64 } else { 0.0 };
    let mut line = format!(
        "{}: {} of {} ({pct:.0}%), {} down, {} up, {}",
        s.name,
        human_bytes(s.have_bytes),
        human_bytes(s.total),
        human_rate(s.down_rate),
        human_rate(s.up_rate),
        peer_counts(s)
    );
    if s.seeding {
        line.push_str(&format!(", seeding, ratio {}", ratio(s)));
    } else if s.down_rate > 1.0 && s.total > s.have_bytes {
        let secs = ((s.total - s.have_bytes) as f64 / s.down_rate) as u64;
        line.push_str(&format!(", eta {}", human_duration(secs)));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_binary() {
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(5 << 20), "5.00 MiB");
        assert_eq!(human_rate(1048576.0), "1.00 MiB/s");
        assert_eq!(human_duration(3725), "1:02:05");
        let s = Snapshot { name: "x".into(), total: 4 << 20, have_bytes: 1 << 20, down_rate: 1048576.0, peers: 2, ..Default::default() };
        assert_eq!(
            status_line(&s),
            "x: 1.00 MiB of 4.00 MiB (25%), 1.00 MiB/s down, 0 B/s up, 2 peers, 0 connecting / 0 known, eta 0:03"
        );
        let m = Snapshot { mirrors: 2, mirrors_known: 50, ..s.clone() };
        assert_eq!(peer_counts(&m), "2 peers, 0 connecting / 0 known, 2/50 mirrors");
        assert!(is_error("x: error: disk full"));
        assert!(!is_error("x: complete"));
    }

    #[test]
    fn an_unfinished_bar_keeps_its_position() {
        let mut r = Reporter::with_mode(Mode::Bars);
        let s = Snapshot { name: "x".into(), total: 1000, have_bytes: 71, ..Default::default() };
        r.update(0, &s);
        r.finish(0, false);
        let b = r.bars[0].as_ref().unwrap();
        assert_eq!(b.position(), 71);
        assert!(b.is_finished());
        r.update(1, &s);
        r.finish(1, true);
        assert_eq!(r.bars[1].as_ref().unwrap().position(), 1000);
    }
}
