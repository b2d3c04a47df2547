//! The daemon on the event loop's side ([`Controller`]): it restores the
//! session at the first turn, carries out the API's [`Call`]s with engine
//! commands (`Input::Command`) and queries, keeps the session on disk in
//! step, saves resume data and totals every few seconds, fans events out
//! to `/v1/events` subscribers and runs `--on-done`.

use super::session::{now_secs, Entry, Session};
use super::{AddOp, Call, Op, Reply};
use crate::args::parse_number_select;
use crate::control::{Added, ApiError, Limits, Removed, TorrentList, TorrentStatus};
use crate::engine::lifecycle::Lifecycle;
use crate::engine::{Command, Engine, Input, Job, TorrentId};
use crate::event_loop::Controller;
use crate::lock::TorrentLock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};
use torrent_core::source::Source;
use torrent_core::InfoHash;

/// A torrent of the session, as the daemon keeps it.
struct Tracked {
    entry: Entry,
    /// Totals of earlier runs (the engine counts this one).
    base_down: u64,
    base_up: u64,
    _lock: TorrentLock,
}

pub struct Daemon {
    session: Session,
    calls: Receiver<Call>,
    default_dir: PathBuf,
    limits: Limits,
    on_done: Option<String>,
    save_every: Duration,
    quiet: bool,
    restored: bool,
    torrents: HashMap<InfoHash, Tracked>,
    subscribers: Vec<SyncSender<String>>,
    streams: super::stream::Sinks,
    next_save: Option<Instant>,
    next_check: Option<Instant>,
}

fn reply(status: u16, body: impl serde::Serialize) -> Reply {
    Reply { status, body: serde_json::to_value(body).expect("replies serialise") }
}

pub(super) fn error(status: u16, msg: impl Into<String>) -> Reply {
    reply(status, ApiError { error: msg.into() })
}

/// A magnet's selection: by number (0-based, the engine maps them once the
/// metadata is known), or by name and glob when an earlier run saved the
/// metadata in the download directory.
fn magnet_select(spec: &str, dir: &std::path::Path, hash: &InfoHash) -> Result<Vec<usize>, String> {
    parse_number_select(spec).or_else(|e| {
        let meta = std::fs::read(crate::disk::metadata_path(dir, hash))
            .ok()
            .and_then(|b| torrent_core::Metainfo::from_bytes(&b).ok())
            .filter(|m| m.info_hash == *hash)
            .ok_or(e)?;
        let numbers = torrent_core::select::numbers(&meta.info);
        let idx = torrent_core::select::select(&meta.info, spec).map_err(|e| format!("select: {e}"))?;
        Ok(idx.iter().filter_map(|&i| numbers[i]).map(|n| n - 1).collect())
    })
}

/// The engine's job for a source and a `--select` spec; its name; and the
/// metainfo to keep when there is one.
fn make_job(source: Source, select: Option<&str>, dir: &std::path::Path) -> Result<(Job, String, Option<Vec<u8>>), String> {
    match source {
        Source::Torrent(meta) => {
            let sel = select.map(|s| torrent_core::select::select(&meta.info, s).map_err(|e| format!("select: {e}"))).transpose()?;
            let (name, bytes) = (meta.info.name.clone(), meta.to_torrent_bytes());
            Ok((Job::Torrent { meta, select: sel }, name, Some(bytes)))
        }
        Source::Magnet(magnet) => {
            let sel = select.map(|s| magnet_select(s, dir, &magnet.info_hash)).transpose()?;
            let name = magnet.display_name.clone().unwrap_or_else(|| magnet.info_hash.to_hex());
            Ok((Job::Magnet { magnet, select: sel }, name, None))
        }
    }
}

fn source_hash(s: &Source) -> InfoHash {
    match s {
        Source::Torrent(m) => m.info_hash,
        Source::Magnet(m) => m.info_hash,
    }
}

impl Daemon {
    pub fn new(session: Session, calls: Receiver<Call>, default_dir: PathBuf, limits: Limits, on_done: Option<String>, save_every: Duration, quiet: bool) -> Daemon {
        Daemon {
            session,
            calls,
            default_dir,
            limits,
            on_done,
            save_every,
            quiet,
            restored: false,
            torrents: HashMap::new(),
            subscribers: Vec::new(),
            streams: super::stream::Sinks::new(quiet),
            next_save: None,
            next_check: None,
        }
    }

    fn warn(&self, msg: String) {
        cli_support::warning(msg);
    }

    fn note(&self, msg: String) {
        if !self.quiet {
            cli_support::note(msg);
        }
    }

    /// Every torrent of the session back into the engine, in its state.
    fn restore(&mut self, engine: &mut Engine, now: Instant) {
        for entry in self.session.load() {
            let loaded = if entry.magnet.is_none() {
                std::fs::read(self.session.torrent_path(&entry.info_hash))
                    .map_err(|e| e.to_string())
                    .and_then(|b| torrent_core::Metainfo::from_bytes(&b).map_err(|e| e.to_string()))
                    .map(|m| Source::Torrent(Box::new(m)))
            } else {
                torrent_core::load::load(entry.magnet.as_deref().unwrap_or_default()).map_err(|e| e.to_string())
            };
            let source = match loaded {
                Ok(s) if source_hash(&s).to_hex() == entry.info_hash => s,
                Ok(_) => {
                    self.warn(format!("session entry {}: its metainfo is for another torrent; skipped", entry.info_hash));
                    continue;
                }
                Err(e) => {
                    self.warn(format!("session entry {} ({}): {e}; skipped", entry.info_hash, entry.name));
                    continue;
                }
            };
            let paused = entry.paused;
            if let Err(e) = self.start(engine, source, entry, paused, now) {
                self.warn(format!("restoring the session: {}", e.body["error"].as_str().unwrap_or("?")));
            }
        }
        let n = self.torrents.len();
        if n > 0 {
            self.note(format!("session: {n} torrents restored"));
        }
    }

    /// Lock, add to the engine (paused if asked), track.
    fn start(&mut self, engine: &mut Engine, source: Source, entry: Entry, paused: bool, now: Instant) -> Result<TorrentId, Reply> {
        let hash = source_hash(&source);
        std::fs::create_dir_all(&entry.save_dir).map_err(|e| error(400, format!("{}: cannot create the download directory: {e}", entry.save_dir.display())))?;
        let lock = crate::lock::acquire(&crate::lock::lock_path(&entry.save_dir, None, &hash)).map_err(|e| error(409, format!("{}: {e}", entry.name)))?;
        let (job, _, _) = make_job(source, entry.select.as_deref(), &entry.save_dir).map_err(|e| error(400, e))?;
        let tid = engine.add_in(job, Some(entry.save_dir.clone()), now);
        engine.set_uploaded_before(tid, entry.uploaded);
        let limits = entry.seed_limits();
        if limits != Default::default() {
            engine.handle(Input::Command(Command::SetSeedLimits(tid, limits)), now);
        }
        if paused {
            engine.handle(Input::Command(Command::Pause(tid)), now);
        }
        let (base_down, base_up) = (entry.downloaded, entry.uploaded);
        self.torrents.insert(hash, Tracked { entry, base_down, base_up, _lock: lock });
        Ok(tid)
    }

    fn add(&mut self, engine: &mut Engine, op: AddOp, now: Instant) -> Reply {
        let hash = source_hash(&op.source);
        if engine.find(&hash).is_some() {
            let name = self.torrents.get(&hash).map(|t| t.entry.name.clone()).unwrap_or_default();
            return reply(200, Added { info_hash: hash.to_hex(), name, new: false });
        }
        let save_dir = op.save_dir.clone().unwrap_or_else(|| self.default_dir.clone());
        // Check the selection before anything is written.
        let (name, bytes) = match make_job(clone_source(&op.source), op.select.as_deref(), &save_dir) {
            Ok((_, name, bytes)) => (name, bytes),
            Err(e) => return error(400, e),
        };
        let entry = Entry {
            info_hash: hash.to_hex(),
            name: name.clone(),
            magnet: op.magnet.clone(),
            save_dir,
            select: op.select.clone(),
            paused: op.paused,
            downloaded: 0,
            uploaded: 0,
            completed: false,
            added_at: now_secs(),
            seed_ratio: op.seed_ratio,
            seed_time: op.seed_time,
        };
        // Session first: a crash right after still knows the torrent.
        if let Some(b) = &bytes {
            if let Err(e) = self.session.save_torrent(&entry.info_hash, b) {
                return error(500, format!("saving the session: {e}"));
            }
        }
        if let Err(e) = self.session.save(&entry) {
            return error(500, format!("saving the session: {e}"));
        }
        match self.start(engine, op.source, entry, op.paused, now) {
            Ok(_) => {
                self.note(format!("{name}: added ({})", hash.to_hex()));
                reply(201, Added { info_hash: hash.to_hex(), name, new: true })
            }
            Err(r) => {
                let _ = self.session.remove(&hash.to_hex());
                r
            }
        }
    }

    /// A torrent's status with the totals of earlier runs added.
    fn status(&self, engine: &mut Engine, tid: TorrentId, now: Instant) -> Option<TorrentStatus> {
        let mut s = engine.status(tid, now)?;
        self.adjust(&mut s);
        Some(s)
    }

    fn adjust(&self, s: &mut TorrentStatus) {
        let Some(t) = crate::daemon::parse_hash(&s.info_hash).and_then(|h| self.torrents.get(&h)) else { return };
        s.downloaded += t.base_down;
        s.uploaded += t.base_up;
        s.ratio = s.uploaded as f64 / s.downloaded.max(s.total_bytes).max(1) as f64;
    }

    fn with_torrent(&mut self, engine: &mut Engine, hash: &InfoHash, now: Instant, f: impl FnOnce(&mut Self, &mut Engine, TorrentId) -> Result<(), Reply>) -> Reply {
        let Some(tid) = engine.find(hash) else { return error(404, format!("no torrent {} in the session", hash.to_hex())) };
        if let Err(r) = f(self, engine, tid) {
            return r;
        }
        match self.status(engine, tid, now) {
            Some(s) => reply(200, s),
            None => error(404, format!("no torrent {} in the session", hash.to_hex())),
        }
    }

    fn set_paused(&mut self, hash: &InfoHash, paused: bool) -> Result<(), Reply> {
        let Some(t) = self.torrents.get_mut(hash) else { return Ok(()) };
        t.entry.paused = paused;
        self.session.save(&t.entry).map_err(|e| error(500, format!("saving the session: {e}")))
    }

    fn call(&mut self, engine: &mut Engine, op: Op, now: Instant) -> Option<Reply> {
        Some(match op {
            Op::List => {
                let torrents = engine.torrent_ids().into_iter().filter_map(|tid| self.status(engine, tid, now)).collect();
                reply(200, TorrentList { torrents })
            }
            Op::Detail(h) => match engine.find(&h).and_then(|tid| engine.detail(tid, now)) {
                Some(mut d) => {
                    self.adjust(&mut d.status);
                    reply(200, d)
                }
                None => error(404, format!("no torrent {} in the session", h.to_hex())),
            },
            Op::Add(op) => self.add(engine, *op, now),
            Op::Pause(h) => self.with_torrent(engine, &h, now, |me, engine, tid| {
                engine.handle(Input::Command(Command::Pause(tid)), now);
                me.set_paused(&h, true)
            }),
            Op::Resume(h) => self.with_torrent(engine, &h, now, |me, engine, tid| {
                engine.handle(Input::Command(Command::Resume(tid)), now);
                me.set_paused(&h, false)
            }),
            Op::Remove(h, delete) => {
                let Some(tid) = engine.find(&h) else { return Some(error(404, format!("no torrent {} in the session", h.to_hex()))) };
                let name = self.torrents.get(&h).map(|t| t.entry.name.clone()).unwrap_or_default();
                if let Err(e) = self.session.remove(&h.to_hex()) {
                    return Some(error(500, format!("saving the session: {e}")));
                }
                engine.handle(Input::Command(if delete { Command::RemoveWithData(tid) } else { Command::Remove(tid) }), now);
                self.torrents.remove(&h);
                self.note(format!("{name}: removed{}", if delete { " with its data" } else { "" }));
                reply(200, Removed { info_hash: h.to_hex(), deleted_data: delete })
            }
            Op::Select(h, spec) => self.with_torrent(engine, &h, now, |me, engine, tid| {
                let info = engine.torrent(tid).and_then(|t| t.life.meta()).map(|m| m.info.clone());
                let sel = match (&spec, &info) {
                    (None, _) => None,
                    (Some(s), Some(info)) => Some(torrent_core::select::select(info, s).map_err(|e| error(400, format!("select: {e}")))?),
                    (Some(s), None) => Some(parse_number_select(s).map_err(|e| error(400, e))?),
                };
                engine.handle(Input::Command(Command::SelectFiles(tid, sel)), now);
                if let Some(t) = me.torrents.get_mut(&h) {
                    t.entry.select = spec.clone();
                    // More files wanted: the hook runs again when they are in.
                    t.entry.completed = false;
                    me.session.save(&t.entry).map_err(|e| error(500, format!("saving the session: {e}")))?;
                }
                Ok(())
            }),
            Op::SeedLimits(h, r) => self.with_torrent(engine, &h, now, |me, engine, tid| {
                let Some(t) = me.torrents.get_mut(&h) else { return Ok(()) };
                if let Some(x) = r.seed_ratio {
                    t.entry.seed_ratio = x;
                }
                if let Some(x) = r.seed_time {
                    t.entry.seed_time = x;
                }
                me.session.save(&t.entry).map_err(|e| error(500, format!("saving the session: {e}")))?;
                engine.handle(Input::Command(Command::SetSeedLimits(tid, t.entry.seed_limits())), now);
                Ok(())
            }),
            Op::GetLimits => reply(200, self.limits),
            Op::SetLimits(l) => {
                engine.handle(Input::Command(Command::SetRateLimits { download: l.download, upload: l.upload }), now);
                self.limits = l;
                if let Err(e) = self.session.save_limits(&l) {
                    return Some(error(500, format!("saving the limits: {e}")));
                }
                reply(200, l)
            }
            Op::Subscribe(Some(tx)) => {
                self.subscribers.push(tx);
                return None;
            }
            Op::Subscribe(None) => return None,
            Op::Stream(s) => match engine.find(&s.hash) {
                Some(tid) => self.streams.open(engine, tid, s, now),
                None => error(404, format!("no torrent {} in the session", s.hash.to_hex())),
            },
        })
    }

    /// Changed totals (the engine saves resume data every few seconds).
    fn save(&mut self, engine: &mut Engine) {
        for (hash, t) in self.torrents.iter_mut() {
            let Some(tid) = engine.find(hash) else { continue };
            let Some(et) = engine.torrent(tid) else { continue };
            let (down, up) = (t.base_down + et.downloaded, t.base_up + et.uploaded);
            // A magnet's name comes with its metadata.
            if (down, up, &et.name) != (t.entry.downloaded, t.entry.uploaded, &t.entry.name) {
                t.entry.downloaded = down;
                t.entry.uploaded = up;
                t.entry.name = et.name.clone();
                if let Err(e) = self.session.save(&t.entry) {
                    cli_support::warning(format_args!("saving the session: {e}"));
                }
            }
        }
    }

    /// Torrents that completed since the last look: the hook.
    fn check_done(&mut self, engine: &Engine) {
        let mut done = Vec::new();
        for (hash, t) in self.torrents.iter_mut() {
            if t.entry.completed {
                continue;
            }
            let Some(tid) = engine.find(hash) else { continue };
            let complete = matches!(engine.lifecycle(tid).map(|l| l.settled_ref()), Some(Lifecycle::Seeding(_) | Lifecycle::Done(_)));
            if complete {
                t.entry.completed = true;
                let _ = self.session.save(&t.entry);
                let name = engine.torrent(tid).map(|x| x.name.clone()).unwrap_or_else(|| t.entry.name.clone());
                let disk = engine.torrent(tid).map(|x| x.name_disk.clone()).unwrap_or_else(|| name.as_bytes().to_vec());
                done.push((hash.to_hex(), name, torrent_core::path::join_bytes(&t.entry.save_dir, &[disk])));
            }
        }
        let Some(cmd) = self.on_done.clone() else { return };
        for (hash, name, path) in done {
            run_hook(&cmd, &hash, &name, &path);
        }
    }
}

/// `--on-done`: `sh -c CMD` with the torrent in the environment; waited
/// for on a thread of its own (a failure is said on stderr).
fn run_hook(cmd: &str, hash: &str, name: &str, path: &std::path::Path) {
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("TORRENT_GET_INFO_HASH", hash)
        .env("TORRENT_GET_NAME", name)
        .env("TORRENT_GET_PATH", path)
        .stdin(std::process::Stdio::null())
        .spawn();
    let name = name.to_string();
    match child {
        Ok(mut c) => {
            std::thread::spawn(move || match c.wait() {
                Ok(s) if s.success() => {}
                Ok(s) => cli_support::warning(format_args!("{name}: --on-done command {s}")),
                Err(e) => cli_support::warning(format_args!("{name}: --on-done command: {e}")),
            });
        }
        Err(e) => cli_support::warning(format_args!("{name}: cannot run the --on-done command: {e}")),
    }
}

/// A source again (the first copy checks the selection, the second runs).
fn clone_source(s: &Source) -> Source {
    match s {
        Source::Torrent(m) => Source::Torrent(m.clone()),
        Source::Magnet(m) => Source::Magnet(m.clone()),
    }
}

impl Controller for Daemon {
    fn turn(&mut self, engine: &mut Engine, now: Instant) {
        if !self.restored {
            self.restored = true;
            self.restore(engine, now);
        }
        while let Ok(call) = self.calls.try_recv() {
            if let Some(r) = self.call(engine, call.op, now) {
                if let Some(tx) = call.reply {
                    let _ = tx.send(r);
                }
            }
        }
        self.streams.turn(engine, now);
        if self.next_check.map_or(true, |t| now >= t) {
            self.next_check = Some(now + Duration::from_secs(1));
            self.check_done(engine);
        }
        if self.next_save.map_or(true, |t| now >= t) {
            self.next_save = Some(now + self.save_every);
            self.save(engine);
        }
    }

    fn event(&mut self, event: &serde_json::Value) {
        if self.subscribers.is_empty() {
            return;
        }
        let line = event.to_string();
        // A subscriber that cannot keep up is dropped (it may reconnect).
        self.subscribers.retain(|s| match s.try_send(line.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        });
    }

    fn stopping(&mut self, engine: &mut Engine, _now: Instant) {
        self.save(engine);
        self.subscribers.clear();
        self.streams.clear();
    }

    fn reader(&mut self, out: crate::engine::readers::ReaderOut) {
        self.streams.output(out);
    }
}
