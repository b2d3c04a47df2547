//! Web seeds (BEP 19) inside the engine: one [`Scheduler`] per torrent,
//! sans-IO like the rest. The engine emits [`Action::WebSeed`] (a range to
//! fetch from a mirror, or a cancel); the loop runs it on a worker pool
//! (`torrent_core::webseed::Fetcher`) and feeds what comes back as
//! [`Input::WebSeed`].
//!
//! Sharing pieces with peers: a mirror is given runs of whole pieces that
//! are wanted, not had, and that no peer has started; while a mirror holds
//! a piece, peers are not asked for it (the `claimed` set is consulted by
//! `fill_requests`), so nothing is downloaded twice. A mirror that stalls is
//! cancelled by the scheduler and its pieces go back to the picker.
//!
//! Data from a mirror goes to the disk and hash threads exactly like peer
//! blocks. A piece of a mirror failing its hash is the mirror's fault only
//! (it sent the whole piece): the scheduler drops it, no peer is blamed, and
//! the piece goes back to the picker (its partial hash state forgotten).

use super::{Action, Engine, Input, Lifecycle, Report, TorrentId};
use crate::hasher::HashJob;
use serde_json::json;
use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;
use crate::control::WebSeedStatus;
use torrent_core::webseed::{self, Config as WsConfig, Event, FetchEvent, Layout, MirrorState, Scheduler};

/// A torrent's mirrors: the URLs known before the metadata (command line,
/// magnet `ws=`), then the scheduler once the data is checked.
#[derive(Default)]
pub struct WebSeeds {
    /// Extra mirrors (`--web-seed`, magnet `ws=`), added to the url-list.
    pub extra: Vec<String>,
    pub sched: Option<Scheduler>,
    /// Pieces a mirror holds (peers are not asked for them).
    pub claimed: HashSet<u32>,
    /// Pieces a mirror delivered whole, waiting for the hash verdict.
    pub hashing: HashSet<u32>,
    /// Pieces from mirrors that failed the hash check.
    pub hash_failures: u32,
}

impl WebSeeds {
    pub fn is_claimed(&self, piece: u32) -> bool {
        self.claimed.contains(&piece)
    }

    /// Each mirror's state for the progress view, `--json` and the
    /// daemon's detail.
    pub fn statuses(&self) -> Vec<WebSeedStatus> {
        let Some(s) = self.sched.as_ref() else { return Vec::new() };
        s.mirrors().into_iter().map(|m| status(&m)).collect()
    }

    /// (mirrors not dropped, mirrors) for the progress line.
    pub fn counts(&self) -> (usize, usize) {
        let Some(s) = self.sched.as_ref() else { return (0, 0) };
        let all = s.mirrors();
        (all.iter().filter(|m| !matches!(m.state, MirrorState::Dropped { .. })).count(), all.len())
    }

    /// Per-mirror figures for `--json` and `-v`.
    pub fn report(&self) -> Vec<serde_json::Value> {
        let Some(s) = self.sched.as_ref() else { return Vec::new() };
        s.mirrors()
            .into_iter()
            .map(|m| {
                let st = status(&m);
                json!({
                    "url": m.url,
                    "state": st.state,
                    "reason": st.reason,
                    "requests_in_flight": st.requests_in_flight,
                    "dropped": matches!(m.state, MirrorState::Dropped { .. }),
                    "bytes": m.stats.bytes,
                    "pieces_ok": m.stats.pieces_ok,
                    "pieces_bad": m.stats.pieces_bad,
                    "wasted": m.stats.wasted,
                    "errors": m.stats.errors,
                    "requests": m.stats.requests,
                })
            })
            .collect()
    }
}

impl Engine {
    /// The torrent's data is checked: start its mirrors (url-list, then
    /// `--web-seed` and magnet `ws=`), unless `--no-web-seeds`.
    pub(crate) fn webseed_start(&mut self, tid: TorrentId, now: Instant) {
        if self.cfg.no_web_seeds {
            return;
        }
        let extra_cli = self.cfg.web_seeds.clone();
        let Some(t) = self.torrents[tid].as_mut() else { return };
        if t.webseeds.sched.is_some() {
            return;
        }
        let Some(l) = t.life.loaded() else { return };
        let mut urls = webseed::mirrors(&l.meta);
        urls.extend(t.webseeds.extra.iter().cloned());
        urls.extend(extra_cli);
        // A mirror holds at most 1/16 of the torrent per request, so peers
        // (and other mirrors) keep pieces to fetch in a small torrent too.
        let info = &l.meta.info;
        let default = WsConfig::default();
        let run_bytes = (info.total_length / 16).clamp(info.piece_length, default.run_bytes.max(info.piece_length));
        let mut sched = Scheduler::new(Layout::new(&l.meta), WsConfig { run_bytes, ..default });
        for (i, h) in l.picker.have_slice().iter().enumerate() {
            if *h {
                sched.piece_have(i as u32);
            }
        }
        let mut added = Vec::new();
        for u in urls {
            if webseed::layout::is_http_url(&u) && !added.contains(&u) && sched.add_mirror(&u).is_some() {
                added.push(u);
            }
        }
        if added.is_empty() {
            return;
        }
        let name = t.name.clone();
        t.webseeds.sched = Some(sched);
        self.log(format!("{name}: {} web seed(s): {}", added.len(), added.join(", ")));
        self.webseed_pump(tid, now);
    }

    /// What the worker pool reported for a torrent's mirror.
    pub(crate) fn webseed_input(&mut self, tid: TorrentId, ev: FetchEvent, now: Instant) {
        let Some(Some(t)) = self.torrents.get_mut(tid) else { return };
        let Some(s) = t.webseeds.sched.as_mut() else { return };
        s.handle_fetch(now, ev);
        self.webseed_pump(tid, now);
    }

    /// Once a second: backoffs and stalls; the endgame when every missing
    /// piece is held by a peer or a mirror.
    pub(crate) fn webseed_tick(&mut self, now: Instant) {
        for tid in 0..self.torrents.len() {
            let idle = self.webseed_idle_peers(tid);
            let Some(t) = self.torrents[tid].as_mut() else { continue };
            let Some(s) = t.webseeds.sched.as_mut() else { continue };
            if s.poll_timeout().is_some_and(|d| d <= now) {
                s.handle_timeout(now);
            }
            if let Lifecycle::Downloading(l) = &t.life {
                let (pk, claimed) = (&l.picker, &t.webseeds.claimed);
                let free = (0..pk.num_pieces() as u32)
                    .any(|i| pk.is_wanted(i) && !pk.has(i) && !pk.is_started(i) && !claimed.contains(&i));
                if !free && !claimed.is_empty() {
                    s.endgame(now, idle);
                }
            }
            self.webseed_pump(tid, now);
        }
    }

    /// A connected peer of the torrent that does not choke us, has none of
    /// our requests and has a piece a mirror holds: it could take it.
    fn webseed_idle_peers(&self, tid: TorrentId) -> bool {
        let Some(t) = self.torrents[tid].as_ref() else { return false };
        let claimed = &t.webseeds.claimed;
        t.peers.iter().any(|&k| {
            self.peers.get(k).and_then(|p| p.as_ref()).is_some_and(|p| {
                p.active()
                    && !p.st.peer_choking
                    && p.st.outstanding() == 0
                    && p.st.peer_pieces().is_some_and(|bf| claimed.iter().any(|&i| bf.get(i as usize)))
            })
        })
    }

    /// Pause or remove: every request of the torrent's mirrors is cancelled
    /// (the pool's workers stop reading) and their pieces given back.
    /// `remove`: the scheduler goes too (nothing is handed out again).
    pub(crate) fn webseed_cancel(&mut self, tid: TorrentId, now: Instant, remove: bool) {
        let Some(Some(t)) = self.torrents.get_mut(tid) else { return };
        let Some(s) = t.webseeds.sched.as_mut() else { return };
        s.cancel_all();
        if remove {
            while let Some(a) = s.poll_action() {
                self.actions.push_back(Action::WebSeed { torrent: tid, action: a });
            }
            t.webseeds.sched = None;
            t.webseeds.claimed.clear();
            return;
        }
        self.webseed_pump(tid, now);
    }

    /// Give idle mirrors work, pass their requests to the loop and their
    /// data to the disk and hash threads; until nothing is left to do.
    pub(crate) fn webseed_pump(&mut self, tid: TorrentId, now: Instant) {
        loop {
            let Some(t) = self.torrents[tid].as_mut() else { return };
            let ws = &mut t.webseeds;
            let Some(s) = ws.sched.as_mut() else { return };
            if let Lifecycle::Downloading(l) = &t.life {
                if self.budget.held() > super::download::MAX_IN_FLIGHT {
                    self.held_back = true;
                } else {
                    let picker = &l.picker;
                    let claimed = &mut ws.claimed;
                    let mut exhausted = false;
                    s.fill(now, |_mirror, max| {
                        let run = free_run(picker.num_pieces() as u32, max, |i| {
                            picker.is_wanted(i) && !picker.has(i) && !picker.is_started(i) && !claimed.contains(&i)
                        });
                        exhausted = run.is_none();
                        claimed.extend(run.clone()?);
                        run
                    });
                    if exhausted && !claimed.is_empty() {
                        // An idle mirror and nothing left: trim and
                        // duplicate the others' last pieces.
                        s.endgame(now, false);
                    }
                }
            }
            let mut any = false;
            while let Some(a) = s.poll_action() {
                any = true;
                self.actions.push_back(Action::WebSeed { torrent: tid, action: a });
            }
            let mut events = Vec::new();
            while let Some(e) = s.poll_event() {
                events.push(e);
            }
            if events.is_empty() {
                if !any {
                    return;
                }
                continue;
            }
            for e in events {
                self.webseed_event(tid, e, now);
            }
        }
    }

    fn webseed_event(&mut self, tid: TorrentId, e: Event, now: Instant) {
        let verbose = self.cfg.verbose;
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let url = |t: &super::torrent::Torrent, m: webseed::MirrorId| {
            t.webseeds.sched.as_ref().and_then(|s| s.mirrors().get(m.0 as usize).map(|i| i.url.clone())).unwrap_or_default()
        };
        match e {
            Event::Data { piece, begin, data, .. } => {
                let len = data.len() as u64;
                t.down.add(now, len);
                t.downloaded += len;
                let Some(l) = t.life.downloading() else {
                    t.wasted += len;
                    return;
                };
                if l.picker.has(piece) {
                    t.wasted += len;
                    return;
                }
                let offset = piece as u64 * l.meta.info.piece_length + begin;
                self.hand_over(tid, piece, begin as u32, Arc::new(data), Some(offset));
            }
            Event::PieceReceived { piece, .. } => {
                let Some(l) = t.life.downloading() else { return };
                let expected = l.meta.info.pieces[piece as usize];
                let piece_len = l.picker.piece_len(piece) as u64;
                t.webseeds.hashing.insert(piece);
                self.actions.push_back(Action::Hash(HashJob::Finish { torrent: tid, piece, piece_len, expected }));
            }
            Event::Released { mirror, pieces } => {
                if verbose {
                    let (name, u) = (t.name.clone(), url(t, mirror));
                    self.log(format!("{name}: web seed {u}: pieces {}..{} given back", pieces.start, pieces.end));
                }
                let Some(t) = self.torrents[tid].as_mut() else { return };
                for p in pieces {
                    if !t.webseeds.hashing.contains(&p) && t.webseeds.claimed.remove(&p) {
                        // Bytes hashed so far came from the mirror: forget them.
                        self.actions.push_back(Action::Hash(HashJob::Forget { torrent: tid, piece: p }));
                    }
                }
                // Peers may ask for these pieces now.
                for key in t.peers.clone() {
                    self.update_interest(key, now);
                    self.fill_requests(key, now);
                }
            }
            Event::Backoff { mirror, error, .. } => {
                let (name, u) = (t.name.clone(), url(t, mirror));
                if verbose {
                    self.log(format!("{name}: web seed {u}: {error}; backing off"));
                }
                self.report(Report::Json(json!({"event": "webseed_backoff", "info_hash": self.torrents[tid].as_ref().map(|t| t.info_hash.to_hex()), "url": u, "error": error})));
            }
            Event::Discard { piece, bytes } => {
                // A duplicate won the endgame race: the slow mirror's part
                // of the piece is over-download; the whole copy follows.
                t.wasted += bytes;
                self.actions.push_back(Action::Hash(HashJob::Forget { torrent: tid, piece }));
            }
            Event::Dropped { mirror, reason } => {
                let (name, u, hash) = (t.name.clone(), url(t, mirror), t.info_hash.to_hex());
                self.log(format!("{name}: web seed {u} dropped: {reason}"));
                self.report(Report::Json(json!({"event": "webseed_dropped", "info_hash": hash, "url": u, "reason": reason})));
            }
        }
    }

    /// The hash verdict on a piece; true if it was a mirror's bad one (then
    /// the peers' bookkeeping is not touched). For a good one the caller
    /// calls [`Engine::webseed_pump`] once the picker has it.
    pub(crate) fn webseed_verified(&mut self, tid: TorrentId, piece: u32, ok: bool, now: Instant) -> bool {
        let Some(Some(t)) = self.torrents.get_mut(tid) else { return false };
        let ws = &mut t.webseeds;
        let Some(s) = ws.sched.as_mut() else { return false };
        if !ws.hashing.remove(&piece) {
            if ok {
                s.piece_have(piece);
            }
            return false;
        }
        ws.claimed.remove(&piece);
        s.piece_hashed(piece, ok);
        if ok {
            s.piece_have(piece);
        } else {
            ws.hash_failures += 1;
            t.hash_failures += 1;
            let name = t.name.clone();
            self.log(format!("{name}: piece {piece} from a web seed failed the hash check"));
            self.actions.push_back(Action::Hash(HashJob::Forget { torrent: tid, piece }));
            self.webseed_pump(tid, now);
        }
        // A good piece: the caller marks it had, then pumps (before that the
        // picker would still offer it).
        !ok
    }

    /// Mirrors' figures at the end of the run.
    pub(crate) fn webseed_summary(&mut self) {
        for tid in 0..self.torrents.len() {
            let Some(t) = self.torrents[tid].as_ref() else { continue };
            let mirrors = t.webseeds.report();
            if mirrors.is_empty() {
                continue;
            }
            let (name, hash) = (t.name.clone(), t.info_hash.to_hex());
            if self.cfg.verbose {
                for m in &mirrors {
                    self.log(format!(
                        "{name}: web seed {}: {}{}, {} bytes, {} pieces ok, {} bad, {} wasted, {} errors, {} requests",
                        m["url"].as_str().unwrap_or(""),
                        m["state"].as_str().unwrap_or(""),
                        m["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default(),
                        m["bytes"], m["pieces_ok"], m["pieces_bad"], m["wasted"], m["errors"], m["requests"]
                    ));
                }
            }
            self.report(Report::Json(json!({"event": "webseeds", "info_hash": hash, "mirrors": mirrors})));
        }
    }

    /// Feed a fetcher report (the loop's entry, also for tests).
    pub fn webseed_handle(&mut self, tid: TorrentId, ev: FetchEvent, now: Instant) {
        self.handle(Input::WebSeed { torrent: tid, event: ev }, now);
    }
}

fn status(m: &webseed::MirrorInfo) -> WebSeedStatus {
    let (state, reason, n) = match &m.state {
        MirrorState::Idle => ("idle", None, 0),
        MirrorState::Busy(n) => ("active", None, *n),
        MirrorState::Backoff { .. } => ("backing off", m.last_error.clone(), 0),
        MirrorState::Dropped { reason } => ("dropped", Some(reason.clone()), 0),
    };
    WebSeedStatus { url: m.url.clone(), state: state.into(), reason, bytes: m.stats.bytes, requests_in_flight: n }
}

/// The first run of up to `max` consecutive pieces with `free`.
fn free_run(n: u32, max: u32, free: impl Fn(u32) -> bool) -> Option<Range<u32>> {
    let start = (0..n).find(|&i| free(i))?;
    let mut end = start + 1;
    while end < n && end - start < max.max(1) && free(end) {
        end += 1;
    }
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::free_run;
    use crate::disk::{DiskEvent, DiskJob};
    use crate::engine::fuzz::{fuzz_config, make_torrent};
    use crate::engine::{Action, Engine, Input, Job, Lifecycle};
    use crate::hasher::HashJob;
    use std::time::Instant;
    use torrent_core::webseed::{Action as WsAction, FetchEvent};

    /// One engine, one mirror answered by hand (as the loop's worker pool
    /// would), the hash verdicts given by comparing with the source.
    /// Returns the engine and the bytes fetched.
    fn run(corrupt: bool) -> (Engine, u64) {
        let (meta, data) = make_torrent(10 * 16384 + 1000, 16384, 9);
        let now = Instant::now();
        let mut cfg = fuzz_config();
        cfg.seed = false;
        cfg.web_seeds = vec!["http://127.0.0.1:9/".into()];
        let mut e = Engine::new(cfg, *b"-TE0001-testtesttest", 0, Some(1), now);
        e.add(Job::Torrent { meta: Box::new(meta.clone()), select: None }, now);
        let mut disk = vec![0u8; data.len()];
        let mut fetched = 0u64;
        for _ in 0..1000 {
            let mut inputs = Vec::new();
            while let Some(a) = e.poll_action() {
                match a {
                    Action::Disk(DiskJob::Open { torrent, .. }) => {
                        inputs.push(Input::Disk(DiskEvent::Opened { torrent, have: vec![false; 11], rechecked: true }))
                    }
                    Action::Disk(DiskJob::Write { offset, data: d, .. }) => {
                        disk[offset as usize..offset as usize + d.len()].copy_from_slice(&d);
                    }
                    Action::Hash(HashJob::Finish { torrent, piece, piece_len, .. }) => {
                        let start = piece as usize * 16384;
                        let ok = disk[start..start + piece_len as usize] == data[start..start + piece_len as usize];
                        inputs.push(Input::Disk(DiskEvent::Verified { torrent, piece, ok }));
                    }
                    Action::WebSeed { torrent, action: WsAction::Fetch(job) } => {
                        assert_eq!(job.url, format!("http://127.0.0.1:9/{}", meta.info.name));
                        let mut body = data[job.offset as usize..(job.offset + job.len) as usize].to_vec();
                        if corrupt {
                            body.iter_mut().for_each(|b| *b ^= 0xff);
                        }
                        fetched += body.len() as u64;
                        inputs.push(Input::WebSeed { torrent, event: FetchEvent::Data { job: job.id, data: body } });
                        inputs.push(Input::WebSeed { torrent, event: FetchEvent::Done { job: job.id } });
                    }
                    _ => {}
                }
            }
            if inputs.is_empty() {
                break;
            }
            for i in inputs {
                e.handle(i, now);
            }
        }
        if !corrupt {
            assert_eq!(disk, data, "the mirror's bytes are on disk");
        }
        (e, fetched)
    }

    #[test]
    fn a_torrent_downloads_from_a_mirror_alone_sans_io() {
        let (e, fetched) = run(false);
        assert!(matches!(e.lifecycle(0), Some(Lifecycle::Done(_))));
        assert_eq!(fetched, 10 * 16384 + 1000, "every byte fetched once");
        let m = e.torrent(0).unwrap().webseeds.report();
        assert_eq!(m[0]["pieces_ok"], 11);
        assert_eq!(m[0]["wasted"], 0);
    }

    #[test]
    fn a_mirror_with_wrong_bytes_is_dropped_and_the_torrent_waits_for_others() {
        let (e, _) = run(true);
        assert!(matches!(e.lifecycle(0), Some(Lifecycle::Downloading(_))), "not failed, not done");
        let t = e.torrent(0).unwrap();
        let m = t.webseeds.report();
        assert_eq!(m[0]["dropped"], true, "{m:?}");
        assert_eq!(m[0]["pieces_ok"], 0);
        assert!(t.webseeds.claimed.is_empty(), "its pieces went back to the picker: {:?}", t.webseeds.claimed);
        assert!(t.banned.is_empty() && t.blame.parole_len() == 0, "no peer blamed");
    }

    #[test]
    fn runs_are_consecutive_free_pieces() {
        let free = |i: u32| !(i == 0 || i == 4);
        assert_eq!(free_run(10, 8, free), Some(1..4));
        assert_eq!(free_run(10, 2, free), Some(1..3));
        assert_eq!(free_run(3, 8, |_| false), None);
    }
}
