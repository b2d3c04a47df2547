//! The engine: every torrent and peer policy of torrent-get, sans-IO. It owns
//! no socket, thread or file and never reads the clock: the caller (the mio
//! loop in [`crate::event_loop`], or a test) feeds [`Input`]s with the time,
//! carries out the [`Action`]s it returns, and calls again at
//! [`Engine::poll_timeout`]. The style is that of `DhtNode` and
//! `udp::Transaction` in torrent-core.
//!
//! Where things are, by what they own:
//! - [`api`]: the inputs, actions, commands and configuration;
//! - [`wire`]: handshakes, the opening messages, decoding and dispatch;
//! - [`download`]: interest, request scheduling (pipeline, endgame, rate
//!   limit), received blocks, hash verdicts and bans;
//! - [`blame`]: who sent the bad blocks of a failed piece (parole, block
//!   comparison);
//! - [`budget`]: received bytes handed to the hash and disk threads, what
//!   each job charges and when the threads' releases uncount it;
//! - [`upload`]: serving requests (disk reads, upload rate limit);
//! - [`metadata`]: BEP 9, fetching and serving the info dictionary
//!   ([`metadata_fetch`]: the fetch no single peer can stall);
//! - [`pex`]: BEP 11 peer exchange;
//! - [`choke`]: tit-for-tat choking and the optimistic unchoke;
//! - [`lifecycle`]: a torrent's states and transitions, commands;
//! - [`trackers`]: announces, DHT lookups, dialling;
//! - [`candidates`]: the bounded table of addresses to dial (sources, caps);
//! - [`eyeballs`]: uTP with a head start, then TCP too; the first up wins;
//! - [`torrent`], [`peer`]: the per-torrent and per-peer records.

pub mod api;
pub mod blame;
pub mod budget;
pub mod candidates;
pub mod choke;
pub mod download;
pub mod encryption;
pub mod eyeballs;
pub mod fuzz;
pub mod lifecycle;
pub mod metadata;
pub mod metadata_fetch;
pub mod peer;
pub mod pex;
pub mod pipeline;
pub mod query;
pub mod slots;
pub mod readers;
pub mod seeding;
pub mod stream;
pub mod torrent;
pub mod trackers;
pub mod upload;
pub mod wire;
pub mod webseed;
#[cfg(test)]
mod tests;

use crate::disk::{DiskEvent, DiskJob};
use crate::rate::TokenBucket;
use lifecycle::Lifecycle;
use peer::{Peer, Phase};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent::Torrent;

pub use api::*;
pub use encryption::Transports;

const TICK: Duration = Duration::from_secs(1);
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(6);
/// A uTP dial with TCP to fall back on (`--transport both`) gives up
/// sooner, as in libtorrent. (A closed port answers with ICMP, which fails
/// the dial at once; a port that drops UDP silently costs the 250 ms head
/// start, [`eyeballs`], TCP being dialled then too.)
pub(crate) const UTP_FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(12);
const KEEPALIVE_EVERY: Duration = Duration::from_secs(90);
const IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// No block for this long while requests are out: the peer is snubbing us.
const SNUB_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Engine {
    pub(crate) cfg: Config,
    pub(crate) peers: Vec<Option<Peer>>,
    pub(crate) torrents: Vec<Option<Torrent>>,
    pub(crate) peer_id: [u8; 20],
    pub(crate) listen_port: u16,
    /// The UDP port our DHT node answers on (BEP 5 `port` messages), if any.
    pub(crate) dht_port: Option<u16>,
    pub(crate) rng: StdRng,
    pub(crate) actions: VecDeque<Action>,
    dirty: Vec<PeerKey>,
    /// Block bytes handed to the disk and hash threads and not yet
    /// released by them ([`Input::Released`]).
    pub(crate) budget: budget::Budget,
    /// Requests were held back for [`download::MAX_IN_FLIGHT`].
    pub(crate) held_back: bool,
    /// Where the next refill of every peer starts (see `fill_order`).
    pub(crate) fill_cursor: usize,
    pub(crate) down_bucket: TokenBucket,
    pub(crate) up_bucket: TokenBucket,
    pub(crate) choker: choke::Choker,
    pub(crate) dialling: usize,
    next_tick: Instant,
    /// Numbers connections, so late disk reads find the right one.
    serial: u64,
    /// The file streamed to stdout, if any.
    pub(crate) stream: Option<stream::Stream>,
    /// Readers of files as they download (the daemon's streams).
    pub(crate) readers: readers::Readers,
    /// Peers whose MSE handshake or uTP connect failed (then dialled in
    /// plaintext, over TCP).
    pub(crate) failed: encryption::Failed,
    /// uTP dials racing a TCP one ([`eyeballs`]).
    pub(crate) races: eyeballs::Races,
    /// Connections refused or dropped by the slot rules ([`slots`]), and
    /// peers evicted for a newcomer.
    pub refused: u64,
    pub evicted: u64,
}

impl Engine {
    /// `listen_port`: where we accept peers (0: we do not). `seed`: for the
    /// random choices (tests pass a fixed one).
    pub fn new(cfg: Config, peer_id: [u8; 20], listen_port: u16, seed: Option<u64>, now: Instant) -> Engine {
        let slots = cfg.upload_slots;
        Engine {
            down_bucket: TokenBucket::new(cfg.max_download_rate, now),
            up_bucket: TokenBucket::new(cfg.max_upload_rate, now),
            cfg,
            peers: Vec::new(),
            torrents: Vec::new(),
            peer_id,
            listen_port,
            dht_port: None,
            rng: seed.map(StdRng::seed_from_u64).unwrap_or_else(StdRng::from_entropy),
            actions: VecDeque::new(),
            dirty: Vec::new(),
            budget: Default::default(),
            held_back: false,
            fill_cursor: 0,
            choker: choke::Choker::new(now, slots),
            dialling: 0,
            next_tick: now,
            serial: 0,
            stream: None,
            readers: Default::default(),
            failed: Default::default(),
            races: Default::default(),
            refused: 0,
            evicted: 0,
        }
    }

    /// Feed one input. Actions collect for [`Engine::poll_action`].
    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Dialing { peer, torrent, addr, kind } => {
                self.dialling = self.dialling.saturating_sub(1);
                if self.torrents.get(torrent).is_some_and(|t| t.is_some()) {
                    self.insert_peer(peer, Peer::new(addr, kind, true, Some(torrent), now));
                    self.eyeballs_dialing(peer, torrent, addr, kind);
                    if let Some(t) = self.torrents[torrent].as_mut() {
                        t.peers.push(peer);
                    }
                } else {
                    self.actions.push_back(Action::Close { peer, reason: CloseReason::TorrentRemoved });
                }
            }
            Input::DialFailed { torrent, addr } => {
                self.dialling = self.dialling.saturating_sub(1);
                // A racer's: the other attempt goes on.
                if !self.eyeballs_dial_failed(torrent, addr) {
                    if let Some(Some(t)) = self.torrents.get_mut(torrent) {
                        t.connection_failed(addr, now, false);
                    }
                    self.peer_failed(torrent, addr, "cannot connect".into());
                    self.connect_more(now);
                }
            }
            Input::Connected { peer, local } => {
                self.eyeballs_up(peer);
                self.on_connected(peer, local, now);
            }
            Input::TransportUp { peer } => self.eyeballs_up(peer),
            Input::Accepted { peer, addr, kind } => self.on_accepted(peer, addr, kind, now),
            Input::Negotiated { peer, kind } => {
                if let Some(Some(p)) = self.peers.get_mut(peer) {
                    p.kind = kind;
                }
            }
            Input::Received { peer, n } => self.on_received(peer, n, now),
            Input::Sent { peer, pending } => {
                if let Some(Some(p)) = self.peers.get_mut(peer) {
                    p.unsent = pending;
                    if p.active() && p.out_pending() < peer::MAX_OUT_BUFFER / 2 {
                        self.dispatch_reads(peer, now);
                    }
                }
            }
            Input::Closed { peer, reason } => {
                if let Some(Some(p)) = self.peers.get_mut(peer) {
                    p.close(reason);
                    p.outbox.clear();
                    self.remove_peer(peer, now, false);
                }
            }
            Input::Disk(ev) => self.on_disk(ev, now),
            Input::Released(r) => {
                let drained = self.budget.report(r);
                if self.held_back && drained {
                    // The disk caught up: request again now, not at the next tick.
                    self.held_back = false;
                    for key in self.fill_order() {
                        self.fill_requests(key, now);
                    }
                    for tid in 0..self.torrents.len() {
                        self.webseed_pump(tid, now);
                    }
                }
            }
            Input::Announced(r) => self.on_announced(r, now),
            Input::Dht(ev) => self.on_dht(ev, now),
            Input::DhtLookupFailed { torrent } => {
                if let Some(Some(t)) = self.torrents.get_mut(torrent) {
                    t.dht_lookup = false;
                    t.next_dht = now + trackers::dht_retry(t.dht_empty);
                    t.dht_empty += 1;
                }
            }
            Input::Tick => self.tick(now),
            Input::Command(c) => self.command(c, now),
            Input::StreamBacklog(n) => self.stream_backlog(n, now),
            Input::ReaderBacklog { reader, bytes } => self.reader_backlog(reader, bytes, now),
            Input::ReaderClosed(reader) => self.reader_closed(reader),
            Input::WebSeed { torrent, event } => self.webseed_input(torrent, event, now),
        }
        self.reap_at(now);
        // Head starts run out; an attempt that ended freed a slot for a
        // waiting racer.
        self.eyeballs_due(now);
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        if self.actions.is_empty() {
            self.flush_outboxes();
        }
        self.actions.pop_front()
    }

    /// When to send [`Input::Tick`]: the once-a-second tick, or sooner a
    /// uTP dial's head start running out ([`eyeballs`]).
    pub fn poll_timeout(&self) -> Instant {
        self.races.next_deadline().map_or(self.next_tick, |d| d.min(self.next_tick))
    }

    /// Where the loop reads a peer's bytes (then [`Input::Received`]): the
    /// decoder's own buffer, so bytes are not copied twice.
    pub fn recv_buffer(&mut self, peer: PeerKey, want: usize) -> Option<&mut [u8]> {
        match self.peers.get_mut(peer) {
            Some(Some(p)) if p.live() => Some(p.decoder.spare(want)),
            _ => None,
        }
    }

    /// Copy `bytes` in as if read from the peer (tests, fuzzing).
    pub fn feed(&mut self, peer: PeerKey, mut bytes: &[u8], now: Instant) {
        while !bytes.is_empty() {
            let Some(buf) = self.recv_buffer(peer, bytes.len()) else { return };
            let n = buf.len().min(bytes.len());
            if n == 0 {
                return;
            }
            buf[..n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.handle(Input::Received { peer, n }, now);
        }
    }

    /// Every torrent finished (done or failed): the run's outcome.
    pub fn finished(&self) -> Option<Outcome> {
        let live: Vec<&Torrent> = self.torrents.iter().flatten().collect();
        if !live.iter().all(|t| t.life.finished()) {
            return None;
        }
        // A finished torrent still streaming: wait for the last bytes.
        if let Some(s) = &self.stream {
            let failed = self.torrents.get(s.torrent).and_then(|t| t.as_ref()).map_or(true, |t| matches!(t.life, Lifecycle::Failed { .. }));
            if !s.done() && !failed {
                return None;
            }
        }
        let failed = live.iter().any(|t| matches!(t.life, Lifecycle::Failed { input: false, .. }));
        let invalid = live.iter().any(|t| matches!(t.life, Lifecycle::Failed { input: true, .. }));
        Some(if failed {
            Outcome::Failed
        } else if invalid {
            Outcome::Invalid
        } else {
            Outcome::Done
        })
    }

    /// Start the end of the run: resume data, `stopped` announces.
    pub fn shutdown(&mut self) {
        self.webseed_summary();
        for tid in 0..self.torrents.len() {
            let Some(t) = self.torrents[tid].as_ref() else { continue };
            if let Some(p) = t.life.picker().filter(|_| !self.stream_no_save(tid)) {
                self.actions.push_back(Action::Disk(DiskJob::SaveResume { torrent: tid, have: p.have_slice().to_vec(), clean: true }));
            }
            self.announce_stopped(tid);
        }
    }

    /// How each torrent ended, and the run's outcome given how it stopped.
    pub fn summaries(&mut self, mut outcome: Outcome, now: Instant) -> (Outcome, Vec<Summary>) {
        // Stopped while only seeding: every download is complete (exit 0).
        let all_complete = self.torrents.iter().flatten().all(|t| matches!(t.life, Lifecycle::Done(_) | Lifecycle::Seeding(_)));
        if outcome == Outcome::Partial && all_complete {
            outcome = Outcome::Done;
        }
        let mut out = Vec::new();
        for tid in 0..self.torrents.len() {
            if self.torrents[tid].is_none() {
                continue;
            }
            let snap = self.snapshot(tid, now);
            let Some(t) = self.torrents[tid].as_ref() else { continue };
            let status = match &t.life {
                Lifecycle::Done(_) | Lifecycle::Seeding(_) => "done",
                Lifecycle::Failed { .. } => "failed",
                _ => "incomplete",
            };
            if let Lifecycle::Failed { input, .. } = t.life {
                // A failure while running (3) outweighs an unusable torrent (2).
                outcome = if input && outcome != Outcome::Failed { Outcome::Invalid } else { Outcome::Failed };
            } else if status == "incomplete" && outcome == Outcome::Done {
                outcome = Outcome::Partial;
            }
            out.push(Summary {
                status,
                snap,
                path: torrent_core::path::join_bytes(&t.dir, &[&t.name_disk]),
                downloaded: t.downloaded,
                uploaded: t.uploaded,
                hash_failures: t.hash_failures,
                error: match &t.life {
                    Lifecycle::Failed { reason, .. } => Some(reason.clone()),
                    _ => None,
                },
                secs: now.duration_since(t.started_at).as_secs_f64(),
            });
        }
        (outcome, out)
    }

    /// The torrent's state, for callers and tests.
    pub fn lifecycle(&self, tid: TorrentId) -> Option<&Lifecycle> {
        self.torrents.get(tid)?.as_ref().map(|t| &t.life)
    }

    pub fn torrent(&self, tid: TorrentId) -> Option<&Torrent> {
        self.torrents.get(tid)?.as_ref()
    }

    pub fn peer(&self, key: PeerKey) -> Option<&Peer> {
        self.peers.get(key)?.as_ref()
    }

    pub fn listen_port(&self) -> u16 {
        self.listen_port
    }

    /// Where our DHT node answers (the loop's; None: no DHT). Peers of
    /// public torrents are told in the handshake's DHT bit and a `port`
    /// message (BEP 5).
    pub fn set_dht_port(&mut self, port: Option<u16>) {
        self.dht_port = port.filter(|p| *p != 0);
    }

    // ------------------------------------------------------------------

    pub(crate) fn report(&mut self, r: Report) {
        self.actions.push_back(Action::Report(r));
    }

    pub(crate) fn log(&mut self, msg: String) {
        self.report(Report::Log(msg));
    }

    fn command(&mut self, c: Command, now: Instant) {
        match c {
            Command::Add(job) => {
                self.add(job, now);
            }
            Command::Pause(t) => self.pause(t, now),
            Command::Resume(t) => self.resume(t, now),
            Command::Remove(t) => self.remove(t, false, now),
            Command::RemoveWithData(t) => self.remove(t, true, now),
            Command::SelectFiles(t, sel) => self.select_files(t, sel, now),
            Command::SetSeedLimits(t, limits) => self.set_seed_limits(t, limits, now),
            Command::SetRateLimits { download, upload } => {
                self.cfg.max_download_rate = download;
                self.cfg.max_upload_rate = upload;
                self.down_bucket = TokenBucket::new(download, now);
                self.up_bucket = TokenBucket::new(upload, now);
            }
        }
    }

    /// Add a torrent (in the download directory); returns its id.
    pub fn add(&mut self, job: Job, now: Instant) -> TorrentId {
        self.add_in(job, None, now)
    }

    /// Add a torrent whose data goes in `dir` (None: the download
    /// directory of the configuration); returns its id.
    pub fn add_in(&mut self, job: Job, dir: Option<std::path::PathBuf>, now: Instant) -> TorrentId {
        let id = self.torrents.len();
        let dir = dir.unwrap_or_else(|| self.cfg.out_dir.clone());
        let mut t = match job {
            Job::Torrent { meta, select } => {
                let mut t = Torrent::new(id, meta.info_hash, meta.info.name.clone(), dir, now);
                t.name_disk = meta.info.name_disk.clone();
                t.trackers = meta.tracker_tiers();
                t.select = select;
                self.actions.push_back(Action::Disk(DiskJob::Open {
                    torrent: id,
                    dir: t.dir.clone(),
                    info: Box::new(meta.info.clone()),
                    info_hash: meta.info_hash,
                    recheck: self.cfg.recheck,
                }));
                t.life = Lifecycle::Checking { meta };
                t
            }
            Job::Magnet { magnet, select } => {
                let name = magnet.display_name.clone().unwrap_or_else(|| magnet.info_hash.to_hex());
                let mut t = Torrent::new(id, magnet.info_hash, name, dir, now);
                t.trackers = magnet.trackers.iter().map(|u| vec![u.clone()]).collect();
                t.select = select;
                t.webseeds.extra = magnet.web_seeds.clone();
                for p in &magnet.peers {
                    if let Ok(a) = p.parse::<SocketAddr>() {
                        t.add_candidate(a, candidates::Source::Explicit, now);
                    }
                }
                // A previous run may have saved the metadata.
                self.actions.push_back(Action::Disk(DiskJob::LoadMetadata { torrent: id, dir: t.dir.clone(), info_hash: magnet.info_hash }));
                t
            }
        };
        torrent_core::tracker::client::shuffle_tiers(&mut t.trackers);
        for a in &self.cfg.extra_peers {
            t.add_candidate(*a, candidates::Source::Explicit, now);
        }
        self.report(Report::Json(json!({"event": "added", "info_hash": t.info_hash.to_hex(), "name": t.name})));
        self.torrents.push(Some(t));
        id
    }

    pub(crate) fn insert_peer(&mut self, key: PeerKey, mut p: Peer) {
        self.serial += 1;
        p.serial = self.serial;
        if self.peers.len() <= key {
            self.peers.resize_with(key + 1, || None);
        }
        self.peers[key] = Some(p);
    }

    fn on_disk(&mut self, ev: DiskEvent, now: Instant) {
        match ev {
            DiskEvent::Opened { torrent, have, rechecked } => self.on_opened(torrent, have, rechecked, now),
            DiskEvent::Verified { torrent, piece, ok } => self.on_verified(torrent, piece, ok, now),
            DiskEvent::ReadDone { torrent, peer: stream::STREAM_READER, piece, begin, data, .. } => self.stream_read_done(torrent, piece, begin, data, now),
            DiskEvent::ReadDone { torrent, peer: readers::READER_KEY, conn, piece, begin, data } => self.reader_read_done(torrent, conn, piece, begin, data, now),
            DiskEvent::ReadDone { torrent, peer: download::BLAME_READER, piece, data, .. } => self.blame_read_done(torrent, piece, &data),
            DiskEvent::ReadDone { torrent, peer, conn, piece, begin, data } => self.on_read_done(torrent, peer, conn, piece, begin, data, now),
            DiskEvent::MetadataLoaded { torrent, meta } => {
                let fetching = self.torrents.get(torrent).and_then(|t| t.as_ref()).is_some_and(|t| matches!(t.life.settled_ref(), Lifecycle::FetchingMetadata { .. }));
                if let (Some(meta), true) = (meta, fetching) {
                    self.metadata_ready(torrent, *meta, false);
                }
            }
            DiskEvent::Existing { torrent, files } => self.on_existing(torrent, files),
            DiskEvent::Error { torrent, msg } => self.fail_torrent(torrent, msg),
            DiskEvent::Warning { torrent, msg } => {
                let name = self.torrents.get(torrent).and_then(|t| t.as_ref()).map(|t| t.name.clone()).unwrap_or_default();
                self.log(format!("{name}: warning: {msg}"));
            }
        }
    }

    /// Once a second: timeouts, keep-alives, snubbing, pipeline sizing,
    /// then choking, PEX, dialling, announces, seeding limits, progress.
    fn tick(&mut self, now: Instant) {
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + TICK;
        let utp_first = self.cfg.transports == Transports::Both;
        for key in 0..self.peers.len() {
            let Some(p) = self.peers[key].as_mut() else { continue };
            if !p.live() {
                continue;
            }
            let connect_timeout =
                if utp_first && p.kind.transport == TransportKind::Utp { UTP_FIRST_CONNECT_TIMEOUT } else { CONNECT_TIMEOUT };
            match p.phase {
                Phase::Connecting if now.duration_since(p.started) > connect_timeout => p.close(CloseReason::Timeout("connect")),
                Phase::Handshaking if now.duration_since(p.started) > Engine::handshake_timeout(p) => p.close(CloseReason::Timeout("handshake")),
                Phase::Active => {
                    if now.duration_since(p.last_recv) > IDLE_TIMEOUT {
                        p.close(CloseReason::Idle);
                        continue;
                    }
                    if now.duration_since(p.last_send) > KEEPALIVE_EVERY {
                        p.send(&torrent_core::peer::message::Message::KeepAlive, now);
                    }
                    let piece_length = p.torrent.and_then(|t| self.torrents[t].as_ref()).and_then(|t| t.life.loaded()).map_or(0, |l| l.meta.info.piece_length);
                    let st = &p.st;
                    p.pipeline.tick(now, pipeline::Pipeline::unproven_cap(p.proven, piece_length), |b| st.is_requested(b));
                    if p.st.outstanding() > 0 && !p.snubbed && now.duration_since(p.last_block) > SNUB_TIMEOUT {
                        // Snubbed: give its requests to others, ask one at a time.
                        p.snubbed = true;
                        p.st.drop_requests();
                        if let Some(tid) = p.torrent {
                            if let Some(l) = self.torrents[tid].as_mut().and_then(|t| t.life.loaded_mut()) {
                                l.picker.release_peer(key);
                            }
                        }
                    }
                    self.metadata_timeout(key, now);
                }
                _ => {}
            }
        }
        for key in self.fill_order() {
            if self.peers[key].as_ref().is_some_and(|p| p.active()) {
                self.update_interest(key, now);
                self.fill_requests(key, now);
                self.dispatch_reads(key, now);
                self.request_metadata(key, now);
            }
        }
        self.rechoke(now);
        self.send_pex(now);
        self.connect_more(now);
        self.announce_due(now);
        self.dht_due(now);
        self.seed_limits(now);
        self.resume_due(now);
        self.stream_tick(now);
        for tid in self.readers.list.values().map(|r| r.torrent).collect::<std::collections::BTreeSet<_>>() {
            self.readers_pump(tid, now);
        }
        self.webseed_tick(now);
        for tid in 0..self.torrents.len() {
            let Some(t) = self.torrents[tid].as_mut() else { continue };
            if !t.life.finished() {
                let snap = self.snapshot(tid, now);
                self.report(Report::Progress { torrent: tid, snap });
            }
        }
    }

    /// A torrent's figures; `peers` counts connections exchanging messages,
    /// `connecting` those still connecting or handshaking.
    fn snapshot(&mut self, tid: TorrentId, now: Instant) -> crate::progress::Snapshot {
        let Some(t) = self.torrents[tid].as_mut() else { return Default::default() };
        let mut snap = t.snapshot(now);
        let peers = &self.peers;
        snap.connecting =
            t.peers.iter().filter(|k| peers.get(**k).and_then(|p| p.as_ref()).is_some_and(|p| p.phase != Phase::Active)).count();
        snap.peers -= snap.connecting.min(snap.peers);
        snap
    }

    /// Hand every peer's queued bytes to the loop.
    fn flush_outboxes(&mut self) {
        for key in std::mem::take(&mut self.dirty) {
            if let Some(Some(p)) = self.peers.get_mut(key) {
                if !p.outbox.is_empty() {
                    let data = std::mem::take(&mut p.outbox);
                    p.unsent += data.len();
                    self.actions.push_back(Action::Send { peer: key, data });
                }
            }
        }
    }

    /// Peers with bytes to send are marked; peers marked for closing go
    /// (their last bytes first).
    pub(crate) fn reap_at(&mut self, now: Instant) {
        for key in 0..self.peers.len() {
            let Some(p) = self.peers[key].as_ref() else { continue };
            if !p.outbox.is_empty() && !self.dirty.contains(&key) {
                self.dirty.push(key);
            }
            if p.closing.is_some() {
                self.remove_peer(key, now, true);
            }
        }
    }

    fn remove_peer(&mut self, key: PeerKey, now: Instant, tell_loop: bool) {
        let Some(mut p) = self.peers[key].take() else { return };
        let reason = p.closing.clone().unwrap_or(CloseReason::PeerClosed);
        // The other attempt of its race goes on: no failure, no fallback.
        let racing = self.eyeballs_gone(key, p.addr, p.kind.transport, &reason);
        let retry = if racing { None } else { self.connect_fallback(&p, &reason) };
        if tell_loop {
            self.flush_outboxes();
            if !p.outbox.is_empty() {
                self.actions.push_back(Action::Send { peer: key, data: std::mem::take(&mut p.outbox) });
            }
            self.actions.push_back(Action::Close { peer: key, reason: reason.clone() });
        }
        self.dirty.retain(|k| *k != key);
        if self.cfg.verbose && !p.outgoing && p.torrent.is_none() && matches!(reason, CloseReason::Encryption(_)) {
            // The engine counted it from the accept, but it never got past MSE.
            self.log(format!("peer {}: incoming connection dropped during the {reason}", p.addr));
        } else if self.cfg.verbose {
            self.log(format!(
                "peer {} ({}): closed ({reason}) after {:.1}s, {} bytes in",
                p.addr,
                p.kind,
                now.duration_since(p.started).as_secs_f64(),
                p.down.total
            ));
        }
        if let Some(tid) = p.torrent {
            if let Some(Some(t)) = self.torrents.get_mut(tid) {
                t.peers.retain(|k| *k != key);
                if let Some(l) = t.life.loaded_mut() {
                    let bf = p.st.peer_pieces();
                    l.picker.peer_gone(key, |i| bf.is_some_and(|b| b.get(i)));
                }
                if let Some(f) = t.life.fetch_mut() {
                    f.peer_gone(key);
                }
                if p.outgoing && !racing && reason != CloseReason::Superseded {
                    t.connection_failed(p.addr, now, p.down.total > 0);
                }
            }
            let failure = matches!(
                reason,
                CloseReason::Io(_) | CloseReason::PeerClosed | CloseReason::Protocol(_) | CloseReason::BadHandshake(_)
                    | CloseReason::WrongTorrent | CloseReason::UnknownTorrent | CloseReason::Timeout(_) | CloseReason::Banned
                    | CloseReason::BannedNow | CloseReason::MetadataMismatch
            );
            // A failed first attempt with another way to try next (TCP after
            // uTP, plaintext after MSE) is not the peer's failure yet.
            if failure && p.down.total == 0 && retry.is_none() && !racing {
                self.peer_failed(tid, p.addr, reason.to_string());
            }
        }
        self.choker.peer_gone(key);
        if p.phase == Phase::Active && !p.st.am_choking && p.st.peer_interested {
            // It held an upload slot: give it to a peer waiting for one.
            self.fill_free_slots(now);
        }
        if let Some((torrent, addr, kind)) = retry {
            self.redial(torrent, addr, kind);
        }
    }

    /// A peer failed before it sent any data: a `peer_error` event; for a
    /// peer named with `--peer`, also a message, once per address (the
    /// reason nothing moves is then on the screen without -v).
    fn peer_failed(&mut self, tid: TorrentId, addr: SocketAddr, why: String) {
        if !self.cfg.extra_peers.contains(&addr) {
            return;
        }
        let Some(Some(t)) = self.torrents.get_mut(tid) else { return };
        let (name, hash) = (t.name.clone(), t.info_hash.to_hex());
        let first = t.peer_failures_reported.insert(addr);
        if first && !self.cfg.verbose {
            self.log(format!("{name}: peer {addr}: {why} (will retry)"));
        }
        self.report(Report::Json(json!({"event": "peer_error", "info_hash": hash, "peer": addr.to_string(), "error": why})));
    }
}

impl Lifecycle {
    pub fn settled_ref(&self) -> &Lifecycle {
        match self {
            Lifecycle::Paused(inner) => inner.settled_ref(),
            s => s,
        }
    }
}
