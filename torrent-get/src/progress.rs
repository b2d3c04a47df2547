//! What torrent-get tells people and scripts while it works.
//!
//! - On a terminal (stderr is a TTY): an indicatif MultiProgress, one bar per
//!   torrent with bytes, rate, peers and ETA.
//! - `--json`: one JSON object per line on stdout (`"event"`: `added`,
//!   `metadata`, `checked`, `progress`, `done`, `error`, `stopped`).
//! - Otherwise (or `--quiet`): no progress; the final summary only.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::io::{IsTerminal, Write};

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
    pub peers: usize,
    pub seeding: bool,
}

pub enum Mode {
    Bars,
    Json,
    Quiet,
}

pub struct Reporter {
    mode: Mode,
    multi: Option<MultiProgress>,
    bars: Vec<Option<ProgressBar>>,
}

impl Reporter {
    pub fn new(json: bool, quiet: bool) -> Reporter {
        let mode = if json {
            Mode::Json
        } else if quiet || !std::io::stderr().is_terminal() {
            Mode::Quiet
        } else {
            Mode::Bars
        };
        let multi = matches!(mode, Mode::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4)));
        Reporter { mode, multi, bars: Vec::new() }
    }

    pub fn is_json(&self) -> bool {
        matches!(self.mode, Mode::Json)
    }

    /// A message for people: above the bars on a TTY, else plain stderr
    /// (unless quiet JSON mode, where stderr still gets it).
    pub fn log(&self, msg: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => eprintln!("{msg}"),
        }
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
                    format!(" eta {}:{:02}", secs / 60, secs % 60)
                } else {
                    String::new()
                };
                bar.set_message(format!(
                    "{}/s down {}/s up, {} peers{}{}",
                    indicatif::HumanBytes(s.down_rate as u64),
                    indicatif::HumanBytes(s.up_rate as u64),
                    s.peers,
                    eta,
                    if s.seeding { " seeding" } else { "" }
                ));
            }
            Mode::Json => self.event(json!({
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
                "seeding": s.seeding,
            })),
            Mode::Quiet => {}
        }
    }

    pub fn finish(&mut self, id: usize) {
        if let Some(Some(b)) = self.bars.get(id) {
            b.finish();
        }
    }
}
