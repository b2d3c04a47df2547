//! The event loop. One `mio::Poll` owns every torrent and peer: sockets are
//! non-blocking, protocol decoding is torrent-core's sans-IO codec, and the
//! slow work happens elsewhere and comes back as messages:
//! - disk writes, hash checks and reads for uploads on the disk thread
//!   ([`crate::disk`]), answered over a channel + `mio::Waker`;
//! - tracker announces on short-lived threads ([`crate::announce`]), same way.

use crate::announce::{self, AnnounceResult};
use crate::choke;
use crate::dht::Dht;
use crate::disk::{self, Backlog, DiskEvent, DiskJob};
use crate::hasher::{self, HashJob};
use crate::peer::{Peer, Phase, MAX_OUT_BUFFER, MAX_PEER_REQUESTS, MAX_PIPELINE, MAX_REQUEST_LEN, MIN_PIPELINE};
use crate::progress::Reporter;
use crate::rate::TokenBucket;
use crate::torrent::{State, Torrent};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use torrent_core::dht::node::DhtEvent;
use torrent_core::peer::bitfield::Bitfield;
use torrent_core::peer::extension::{ExtendedHandshake, MetadataAssembler, MetadataMessage, UT_METADATA};
use torrent_core::peer::handshake::Handshake;
use torrent_core::peer::pex::{PexMessage, MAX_ADDED, UT_PEX};
use torrent_core::peer::message::{piece_header, Message};
use torrent_core::picker::{Block, BlockOutcome, Picker};
use torrent_core::{InfoHash, Metainfo};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const DHT: Token = Token(2);
const FIRST_PEER: usize = 3;
/// Time between DHT lookups (get_peers + announce_peer) of a torrent.
const DHT_EVERY: Duration = Duration::from_secs(300);
const DHT_RETRY: Duration = Duration::from_secs(60);

/// The id we ask peers to use for ut_metadata messages to us.
const OUR_UT_METADATA: u8 = 1;
/// The id we ask peers to use for ut_pex messages to us.
const OUR_UT_PEX: u8 = 2;
const PEX_EVERY: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(6);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(12);
const KEEPALIVE_EVERY: Duration = Duration::from_secs(90);
const IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// No block for this long while requests are out: the peer is snubbing us.
const SNUB_TIMEOUT: Duration = Duration::from_secs(15);
/// Stop requesting while this many bytes wait for the disk thread.
const MAX_DISK_BACKLOG: u64 = 32 * 1024 * 1024;
const MAX_HALF_OPEN: usize = 16;
/// Request pipeline depth per peer in endgame mode.
const ENDGAME_DEPTH: usize = 8;
const RECHOKE_EVERY: Duration = Duration::from_secs(10);
const OPTIMISTIC_EVERY: Duration = Duration::from_secs(30);
/// Unrequested block data a peer may send before it is dropped.
const MAX_UNREQUESTED: u64 = 2 * 1024 * 1024;
/// Most reads for one peer's requests waiting for the disk at once.
const MAX_READS_PER_PEER: usize = 32;

/// Everything the command line decides.
#[derive(Debug, Clone)]
pub struct Config {
    pub out_dir: PathBuf,
    pub max_peers: usize,
    /// Addresses to try, in order, for accepting peers (first that binds);
    /// empty: do not listen.
    pub listen: Vec<SocketAddr>,
    pub extra_peers: Vec<SocketAddr>,
    pub seed: bool,
    pub seed_only: bool,
    pub seed_ratio: Option<f64>,
    pub seed_time: Option<Duration>,
    pub timeout: Option<Duration>,
    pub max_download_rate: u64,
    pub max_upload_rate: u64,
    pub upload_slots: usize,
    pub json: bool,
    pub quiet: bool,
    pub tracker_timeout: Duration,
    pub announce_interval_min: Duration,
    /// Peer exchange (BEP 11), never for private torrents.
    pub pex: bool,
    /// Log peer connections and why they ended.
    pub verbose: bool,
    /// Ignore resume data: hash everything on disk first.
    pub recheck: bool,
    /// The DHT (BEP 5), never for private torrents.
    pub dht: bool,
    /// DHT bootstrap nodes, `host:port`.
    pub dht_bootstrap: Vec<String>,
    /// Where the DHT node table is saved between runs.
    pub dht_state: Option<PathBuf>,
}

/// A torrent to add: a parsed .torrent or a magnet link.
pub enum Job {
    Torrent { meta: Box<Metainfo>, select: Option<Vec<usize>> },
    Magnet { magnet: torrent_core::Magnet, select: Option<Vec<usize>> },
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every torrent complete.
    Done,
    /// Stopped (signal, timeout) with some torrents incomplete.
    Partial,
    /// A torrent failed (disk error, bad metadata...).
    Failed,
}

pub struct Session {
    cfg: Config,
    poll: Poll,
    listener: Option<TcpListener>,
    listen_port: u16,
    peers: Vec<Option<Peer>>,
    free: Vec<usize>,
    torrents: Vec<Torrent>,
    peer_id: [u8; 20],
    rng: StdRng,
    disk_tx: Sender<DiskJob>,
    disk_rx: Receiver<DiskEvent>,
    disk_thread: Option<std::thread::JoinHandle<()>>,
    hash_tx: Sender<HashJob>,
    hash_thread: Option<std::thread::JoinHandle<()>>,
    backlog: Backlog,
    ann_tx: Sender<AnnounceResult>,
    ann_rx: Receiver<AnnounceResult>,
    waker: Arc<Waker>,
    reporter: Reporter,
    down_bucket: TokenBucket,
    up_bucket: TokenBucket,
    stop: Arc<AtomicBool>,
    last_rechoke: Instant,
    last_optimistic: Instant,
    optimistic: Option<usize>,
    /// Peers with unread socket data (stopped early for a bound); revisited.
    unread: Vec<usize>,
    dht: Option<Dht>,
}

impl Session {
    pub fn new(cfg: Config, jobs: Vec<Job>, stop: Arc<AtomicBool>) -> anyhow::Result<Session> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (disk_tx, jobs_rx) = mpsc::channel();
        let (ev_tx, disk_rx) = mpsc::channel();
        let backlog = Backlog::default();
        let (hash_tx, hash_rx) = mpsc::channel();
        let hash_thread = hasher::spawn(hash_rx, ev_tx.clone(), disk_tx.clone(), waker.clone());
        let disk_thread = disk::spawn(jobs_rx, ev_tx, waker.clone(), backlog.clone());
        let (ann_tx, ann_rx) = mpsc::channel();
        let mut listener = None;
        let mut listen_port = 0;
        let mut bind_errors = Vec::new();
        for addr in &cfg.listen {
            match TcpListener::bind(*addr) {
                Ok(mut l) => {
                    listen_port = l.local_addr()?.port();
                    poll.registry().register(&mut l, LISTENER, Interest::READABLE)?;
                    listener = Some(l);
                    break;
                }
                Err(e) => bind_errors.push(format!("{addr}: {e}")),
            }
        }
        if !cfg.listen.is_empty() && listener.is_none() {
            anyhow::bail!("cannot listen: {}", bind_errors.join("; "));
        }
        let now = Instant::now();
        let mut dht = None;
        if cfg.dht {
            // The DHT node speaks IPv4 (BEP 5): bind the listener's IPv4
            // address, or all IPv4 addresses when listening on IPv6.
            let ip = listener
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map(|a| a.ip())
                .filter(|ip| ip.is_ipv4())
                .unwrap_or_else(|| "0.0.0.0".parse().expect("valid"));
            let mut d = Dht::start(
                SocketAddr::new(ip, listen_port),
                cfg.dht_state.clone(),
                cfg.dht_bootstrap.clone(),
                waker.clone(),
                now,
            )?;
            poll.registry().register(&mut d.socket, DHT, Interest::READABLE)?;
            dht = Some(d);
        }
        let mut s = Session {
            reporter: Reporter::new(cfg.json, cfg.quiet),
            down_bucket: TokenBucket::new(cfg.max_download_rate, now),
            up_bucket: TokenBucket::new(cfg.max_upload_rate, now),
            cfg,
            poll,
            listener,
            listen_port,
            peers: Vec::new(),
            free: Vec::new(),
            torrents: Vec::new(),
            peer_id: torrent_core::peer::handshake::generate_peer_id(),
            rng: StdRng::from_entropy(),
            disk_tx,
            disk_rx,
            disk_thread: Some(disk_thread),
            hash_tx,
            hash_thread: Some(hash_thread),
            backlog,
            ann_tx,
            ann_rx,
            waker,
            stop,
            last_rechoke: now,
            last_optimistic: now,
            optimistic: None,
            unread: Vec::new(),
            dht,
        };
        if s.listener.is_some() {
            s.reporter.log(&format!("listening on port {}", s.listen_port));
            s.reporter.event(json!({"event": "listening", "port": s.listen_port}));
        }
        for job in jobs {
            s.add_job(job, now);
        }
        Ok(s)
    }

    fn add_job(&mut self, job: Job, now: Instant) {
        let id = self.torrents.len();
        match job {
            Job::Torrent { meta, select } => {
                let mut t = Torrent::new(id, meta.info_hash, meta.info.name.clone(), self.cfg.out_dir.clone(), now);
                t.trackers = meta.tracker_tiers();
                t.select = select;
                t.state = State::Checking;
                self.disk_tx
                    .send(DiskJob::Open {
                        torrent: id,
                        dir: t.dir.clone(),
                        info: Box::new(meta.info.clone()),
                        info_hash: meta.info_hash,
                        recheck: self.cfg.recheck,
                    })
                    .expect("disk thread alive");
                t.meta = Some(*meta);
                self.push_torrent(t, now);
            }
            Job::Magnet { magnet, select } => {
                let name = magnet.display_name.clone().unwrap_or_else(|| magnet.info_hash.to_hex());
                let mut t = Torrent::new(id, magnet.info_hash, name, self.cfg.out_dir.clone(), now);
                t.trackers = magnet.trackers.iter().map(|u| vec![u.clone()]).collect();
                t.select = select;
                for p in &magnet.peers {
                    if let Ok(a) = p.parse::<SocketAddr>() {
                        t.add_candidate(a, now);
                    }
                }
                // A previous run may have saved the metadata.
                if let Some(meta) = load_saved_metadata(&t.dir, &magnet.info_hash) {
                    self.push_torrent(t, now);
                    self.metadata_ready(id, meta, now);
                    return;
                }
                self.push_torrent(t, now);
            }
        }
    }

    fn push_torrent(&mut self, mut t: Torrent, now: Instant) {
        torrent_core::tracker::client::shuffle_tiers(&mut t.trackers);
        for a in &self.cfg.extra_peers {
            t.add_candidate(*a, now);
        }
        self.reporter.event(json!({"event": "added", "info_hash": t.info_hash.to_hex(), "name": t.name}));
        self.torrents.push(t);
    }

    // ------------------------------------------------------------------
    // The loop

    pub fn run(&mut self) -> Outcome {
        let mut events = Events::with_capacity(1024);
        let mut last_tick = Instant::now() - Duration::from_secs(2);
        let deadline = self.cfg.timeout.map(|t| Instant::now() + t);
        loop {
            let timeout = if self.unread.is_empty() { Duration::from_millis(100) } else { Duration::ZERO };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.reporter.log(&format!("poll failed: {e}"));
                    return self.shutdown(Outcome::Failed);
                }
            }
            let now = Instant::now();
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(now),
                    WAKER => {}
                    DHT => {
                        if let Some(d) = self.dht.as_mut() {
                            d.readable(now);
                        }
                    }
                    Token(t) => {
                        let key = t - FIRST_PEER;
                        self.peer_ready(key, ev.is_writable(), ev.is_readable() || ev.is_read_closed() || ev.is_error(), now);
                    }
                }
            }
            let unread = std::mem::take(&mut self.unread);
            for key in unread {
                self.peer_ready(key, false, true, now);
            }
            self.drain_disk(now);
            self.drain_announces(now);
            self.pump_dht(now);
            if now.duration_since(last_tick) >= Duration::from_secs(1) {
                last_tick = now;
                self.tick(now);
            }
            self.reap(now);

            if self.stop.load(Ordering::Relaxed) {
                self.reporter.log("interrupted: saving state");
                return self.shutdown(Outcome::Partial);
            }
            if deadline.is_some_and(|d| now >= d) {
                self.reporter.log("time limit reached");
                return self.shutdown(Outcome::Partial);
            }
            if self.torrents.iter().all(|t| matches!(t.state, State::Done | State::Failed(_))) {
                let failed = self.torrents.iter().any(|t| matches!(t.state, State::Failed(_)));
                return self.shutdown(if failed { Outcome::Failed } else { Outcome::Done });
            }
        }
    }

    /// Save resume data, announce `stopped`, stop the disk thread and report.
    fn shutdown(&mut self, mut outcome: Outcome) -> Outcome {
        let now = Instant::now();
        for t in &mut self.torrents {
            if let Some(p) = &t.picker {
                let _ = self.disk_tx.send(DiskJob::SaveResume { torrent: t.id, have: p.have_slice().to_vec() });
            }
            if t.announced_started && !t.trackers.is_empty() {
                let req = announce_request(t, &self.peer_id, self.listen_port, torrent_core::tracker::Event::Stopped);
                // Best effort, bounded: do not wait for slow trackers.
                announce::spawn(t.id, t.trackers.clone(), req, Duration::from_secs(2), self.ann_tx.clone(), self.waker.clone());
            }
        }
        if let Some(d) = &self.dht {
            d.save();
        }
        // The hash thread may still hand pieces to the disk thread: stop it first.
        let _ = self.hash_tx.send(HashJob::Shutdown);
        if let Some(h) = self.hash_thread.take() {
            let _ = h.join();
        }
        let _ = self.disk_tx.send(DiskJob::Shutdown);
        if let Some(h) = self.disk_thread.take() {
            let _ = h.join();
        }
        // Disk errors reported while shutting down.
        while let Ok(ev) = self.disk_rx.try_recv() {
            if let DiskEvent::Error { torrent, msg } = ev {
                self.fail_torrent(torrent, msg);
            }
        }
        // Stopped (signal, time limit) while only seeding: every download is
        // complete, which is a success (exit 0), not "stopped before completion".
        if outcome == Outcome::Partial && self.torrents.iter().all(|t| matches!(t.state, State::Done | State::Seeding)) {
            outcome = Outcome::Done;
        }
        for i in 0..self.torrents.len() {
            let snap = self.torrents[i].snapshot(now);
            self.reporter.update(i, &snap);
            self.reporter.finish(i);
            let t = &self.torrents[i];
            let status = match &t.state {
                State::Done | State::Seeding => "done",
                State::Failed(_) => "failed",
                _ => "incomplete",
            };
            if status == "failed" {
                outcome = Outcome::Failed;
            } else if status == "incomplete" && outcome == Outcome::Done {
                outcome = Outcome::Partial;
            }
            let path = t.dir.join(&t.name);
            if self.reporter.is_json() {
                self.reporter.event(json!({
                    "event": if status == "done" { "done" } else { "stopped" },
                    "status": status,
                    "info_hash": t.info_hash.to_hex(),
                    "name": t.name,
                    "path": path.display().to_string(),
                    "downloaded": t.downloaded,
                    "uploaded": t.uploaded,
                    "have_bytes": snap.have_bytes,
                    "total_bytes": snap.total,
                    "hash_failures": t.hash_failures,
                    "error": match &t.state { State::Failed(m) => Some(m.clone()), _ => None },
                }));
            } else {
                crate::out_line(&format!("{}\t{}\t{}", t.info_hash, status, path.display()));
            }
            let secs = now.duration_since(t.started_at).as_secs_f64();
            self.reporter.log(&format!(
                "{}: {status}, {} of {} bytes, downloaded {} in {:.1}s ({:.1} MB/s), uploaded {}, {} hash failures",
                t.name,
                snap.have_bytes,
                snap.total,
                t.downloaded,
                secs,
                t.downloaded as f64 / secs.max(0.001) / 1e6,
                t.uploaded,
                t.hash_failures
            ));
        }
        // Give the `stopped` announces a moment.
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until && self.ann_rx.recv_timeout(Duration::from_millis(50)).is_ok() {}
        outcome
    }

    // ------------------------------------------------------------------
    // Peers: connecting, accepting, I/O

    fn alloc_peer(&mut self, peer: Peer) -> Option<usize> {
        let key = match self.free.pop() {
            Some(k) => k,
            None => {
                self.peers.push(None);
                self.peers.len() - 1
            }
        };
        self.peers[key] = Some(peer);
        let p = self.peers[key].as_mut().expect("just set");
        if self
            .poll
            .registry()
            .register(&mut p.stream, Token(key + FIRST_PEER), Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            self.peers[key] = None;
            self.free.push(key);
            return None;
        }
        Some(key)
    }

    fn connect(&mut self, tid: usize, addr: SocketAddr, now: Instant) {
        let stream = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(_) => {
                self.torrents[tid].connection_failed(addr, now, false);
                return;
            }
        };
        let peer = Peer::new(stream, addr, true, Some(tid), now);
        if let Some(key) = self.alloc_peer(peer) {
            let t = &mut self.torrents[tid];
            t.peers.push(key);
            if let Some(c) = t.candidates.get_mut(&addr) {
                c.connected = true;
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        loop {
            let Some(l) = self.listener.as_ref() else { return };
            match l.accept() {
                Ok((stream, addr)) => {
                    // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
                    let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
                    let total: usize = self.torrents.iter().map(|t| t.peers.len()).sum();
                    if total >= self.cfg.max_peers * self.torrents.len().max(1) {
                        continue; // drop: over the limit
                    }
                    let peer = Peer::new(stream, addr, false, None, now);
                    self.alloc_peer(peer);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => return,
            }
        }
    }

    fn peer_ready(&mut self, key: usize, writable: bool, readable: bool, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        if p.closing.is_some() {
            return;
        }
        if p.phase == Phase::Connecting {
            if !writable && !readable {
                return;
            }
            match p.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    p.close(format!("connect failed: {e}"));
                    return;
                }
            }
            match p.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return,
                Err(e) => {
                    p.close(format!("connect failed: {e}"));
                    return;
                }
            }
            p.phase = Phase::Handshaking;
            let _ = p.stream.set_nodelay(true);
            let tid = p.torrent.expect("outgoing peers have a torrent");
            self.send_handshake(key, tid, now);
        }
        if readable {
            self.read_peer(key, now);
        }
        self.flush_peer(key);
    }

    fn flush_peer(&mut self, key: usize) {
        if let Some(Some(p)) = self.peers.get_mut(key) {
            if p.closing.is_none() {
                if let Err(e) = p.flush() {
                    p.close(format!("write failed: {e}"));
                } else if p.read_paused && p.out_pending() < MAX_OUT_BUFFER / 2 {
                    // Room again: read what arrived meanwhile (edge-triggered
                    // readiness will not tell us again).
                    p.read_paused = false;
                    self.unread.push(key);
                }
            }
        }
    }

    fn read_peer(&mut self, key: usize, now: Instant) {
        // Bounded work per event so one fast peer cannot starve the rest.
        let mut budget: usize = 4 * 1024 * 1024;
        loop {
            let p = self.peers[key].as_mut().expect("live peer");
            if p.out_pending() > MAX_OUT_BUFFER {
                // The peer does not read what we send: stop reading its
                // requests until the buffer drains (see flush_peer).
                p.read_paused = true;
                return;
            }
            let r = match p.read_some(256 * 1024) {
                Ok(r) => r,
                Err(e) => {
                    p.close(format!("read failed: {e}"));
                    return;
                }
            };
            if r.bytes > 0 {
                p.last_recv = now;
            }
            self.process_messages(key, now);
            let Some(p) = self.peers[key].as_mut() else { return };
            if p.closing.is_some() {
                return;
            }
            if r.eof {
                p.close("peer closed the connection");
                return;
            }
            if r.drained {
                return;
            }
            budget = budget.saturating_sub(r.bytes.max(1));
            if budget == 0 {
                self.unread.push(key);
                return;
            }
        }
    }

    fn send_handshake(&mut self, key: usize, tid: usize, now: Instant) {
        let mut hs = Handshake::new(self.torrents[tid].info_hash, self.peer_id);
        hs.set_extended(true);
        hs.set_fast(true);
        let p = self.peers[key].as_mut().expect("live peer");
        p.queue_raw(&hs.encode(), now);
        p.sent_handshake = true;
    }

    /// After both handshakes: extension handshake and what we have.
    fn send_opening(&mut self, key: usize, now: Instant) {
        let p = self.peers[key].as_ref().expect("live peer");
        let tid = p.torrent.expect("active peer has a torrent");
        let t = &self.torrents[tid];
        let meta_size = t.meta.as_ref().map(|m| m.info_bytes.len());
        let port = (self.listen_port != 0).then_some(self.listen_port);
        let have = t.picker.as_ref().map(|pk| pk.have_slice().to_vec());
        let (extended, fast) = (p.extended, p.fast);
        let pex = self.cfg.pex && !t.is_private();
        let p = self.peers[key].as_mut().expect("live peer");
        if extended {
            let mut hs = ExtendedHandshake::ours(OUR_UT_METADATA, meta_size, port);
            hs.reqq = Some(MAX_PEER_REQUESTS as i64);
            if pex {
                hs.m.insert(UT_PEX.to_string(), OUR_UT_PEX as i64);
            }
            p.send(&Message::Extended { id: 0, payload: hs.encode() }, now);
        }
        match have {
            Some(h) if h.iter().all(|x| *x) && fast => p.send(&Message::HaveAll, now),
            Some(h) if h.iter().any(|x| *x) => p.send(&Message::Bitfield(Bitfield::from_bools(&h).to_bytes()), now),
            _ if fast => p.send(&Message::HaveNone, now),
            _ => {}
        }
    }

    fn process_messages(&mut self, key: usize, now: Instant) {
        loop {
            let Some(p) = self.peers[key].as_mut() else { return };
            if p.closing.is_some() {
                return;
            }
            if p.phase != Phase::Active {
                match p.decoder.next_handshake() {
                    Ok(None) => return,
                    Ok(Some(hs)) => {
                        if !self.on_handshake(key, hs, now) {
                            return;
                        }
                        continue;
                    }
                    Err(e) => {
                        p.close(format!("bad handshake: {e}"));
                        return;
                    }
                }
            }
            match p.decoder.next_message() {
                Ok(None) => return,
                Ok(Some(msg)) => self.on_message(key, msg, now),
                Err(e) => {
                    p.close(format!("protocol error: {e}"));
                    return;
                }
            }
        }
    }

    /// The peer's handshake arrived. False if the connection is dropped.
    fn on_handshake(&mut self, key: usize, hs: Handshake, now: Instant) -> bool {
        let p = self.peers[key].as_mut().expect("live peer");
        let tid = match p.torrent {
            Some(tid) => {
                if hs.info_hash != self.torrents[tid].info_hash {
                    p.close("handshake for another torrent");
                    return false;
                }
                tid
            }
            None => match self.torrents.iter().position(|t| t.info_hash == hs.info_hash) {
                Some(tid) => tid,
                None => {
                    p.close("handshake for a torrent we do not have");
                    return false;
                }
            },
        };
        if hs.peer_id == self.peer_id {
            p.close("connected to ourselves");
            // Trackers (and PEX) hand us our own address: never dial it
            // again. Seen from the accepting side, the address we dialled is
            // that of our outgoing socket whose local end is this peer.
            let incoming_from = p.addr;
            let dialled = if p.outgoing {
                Some(p.addr)
            } else {
                self.peers.iter().flatten().find(|q| q.outgoing && q.stream.local_addr().ok() == Some(incoming_from)).map(|q| q.addr)
            };
            if let Some(addr) = dialled {
                let t = &mut self.torrents[tid];
                t.candidates.remove(&addr);
                t.banned.insert(addr, ());
            }
            return false;
        }
        let t = &mut self.torrents[tid];
        if t.banned.contains_key(&p.addr) {
            p.close("banned peer");
            return false;
        }
        if matches!(t.state, State::Done | State::Failed(_)) {
            p.close("torrent is finished");
            return false;
        }
        p.peer_id = hs.peer_id;
        p.fast = hs.supports_fast();
        p.extended = hs.supports_extended();
        p.phase = Phase::Active;
        if p.torrent.is_none() {
            p.torrent = Some(tid);
            t.peers.push(key);
        }
        let need_handshake = !p.sent_handshake;
        if need_handshake {
            self.send_handshake(key, tid, now);
        }
        self.send_opening(key, now);
        true
    }

    fn num_pieces(&self, tid: usize) -> Option<usize> {
        self.torrents[tid].picker.as_ref().map(|p| p.num_pieces())
    }

    fn on_message(&mut self, key: usize, msg: Message, now: Instant) {
        let p = self.peers[key].as_mut().expect("live peer");
        let tid = p.torrent.expect("active peer has a torrent");
        match msg {
            Message::KeepAlive => {}
            Message::Choke => {
                p.peer_choking = true;
                let had = !p.requests.is_empty();
                p.requests.clear();
                if had {
                    if let Some(pk) = self.torrents[tid].picker.as_mut() {
                        pk.release_peer(key);
                    }
                }
            }
            Message::Unchoke => {
                p.peer_choking = false;
                self.fill_requests(key, now);
            }
            Message::Interested => {
                p.peer_interested = true;
                self.maybe_unchoke_now(key, now);
            }
            Message::NotInterested => p.peer_interested = false,
            Message::Have(i) => self.on_have(key, tid, HaveMsg::One(i), now),
            Message::Bitfield(bytes) => self.on_have(key, tid, HaveMsg::Bitfield(bytes), now),
            Message::HaveAll => {
                if !p.fast {
                    p.close("have_all without the fast extension");
                    return;
                }
                self.on_have(key, tid, HaveMsg::All, now)
            }
            Message::HaveNone => {
                if !p.fast {
                    p.close("have_none without the fast extension");
                }
            }
            Message::Request { index, begin, length } => self.on_request(key, tid, index, begin, length, now),
            Message::Cancel { index, begin, length } => {
                p.peer_requests.retain(|r| *r != (index, begin, length));
            }
            Message::Piece { index, begin, data } => self.on_piece(key, tid, index, begin, data, now),
            Message::RejectRequest { index, begin, length } => {
                let b = Block { index, begin, length };
                if p.requests.remove(&b) {
                    if let Some(pk) = self.torrents[tid].picker.as_mut() {
                        pk.release_block(key, b);
                    }
                }
            }
            Message::AllowedFast(i) => {
                if self.num_pieces(tid).is_some_and(|n| (i as usize) < n) {
                    let p = self.peers[key].as_mut().expect("live peer");
                    p.allowed_fast.insert(i);
                    self.fill_requests(key, now);
                }
            }
            Message::SuggestPiece(_) | Message::Port(_) => {}
            Message::Extended { id, payload } => self.on_extended(key, tid, id, &payload, now),
        }
    }

    fn on_have(&mut self, key: usize, tid: usize, msg: HaveMsg, now: Instant) {
        let n = self.num_pieces(tid);
        let p = self.peers[key].as_mut().expect("live peer");
        let Some(n) = n else {
            // Metadata not known yet: remember for later.
            match msg {
                HaveMsg::One(i) => {
                    if p.early.haves.len() < 1 << 20 {
                        p.early.haves.push(i)
                    }
                }
                HaveMsg::Bitfield(b) => p.early.bitfield = Some(b),
                HaveMsg::All => p.early.all = true,
            }
            return;
        };
        let picker = self.torrents[tid].picker.as_mut().expect("known piece count");
        match msg {
            HaveMsg::One(i) => {
                if i as usize >= n {
                    p.close(format!("have for piece {i}, torrent has {n}"));
                    return;
                }
                let bf = p.have.get_or_insert_with(|| Bitfield::new(n));
                if !bf.get(i as usize) {
                    bf.set(i as usize, true);
                    picker.peer_has_piece(i);
                    if !p.am_interested && picker.is_wanted(i) && !picker.has(i) {
                        p.am_interested = true;
                        p.send(&Message::Interested, now);
                    }
                }
            }
            HaveMsg::Bitfield(bytes) => {
                match Bitfield::from_bytes(&bytes, n) {
                    Ok(bf) => {
                        // A later bitfield replaces what we knew (aria2 sends
                        // its bitfield a second time after `interested`).
                        if let Some(old) = p.have.take() {
                            picker.peer_gone(usize::MAX, |i| old.get(i));
                        }
                        picker.peer_has_pieces(|i| bf.get(i));
                        p.have = Some(bf);
                    }
                    Err(e) => {
                        p.close(format!("bad bitfield: {e}"));
                        return;
                    }
                }
                self.update_interest(key, now);
            }
            HaveMsg::All => {
                if let Some(old) = p.have.take() {
                    picker.peer_lost_pieces(|i| old.get(i));
                }
                picker.peer_has_pieces(|_| true);
                p.have = Some(Bitfield::full(n));
                self.update_interest(key, now);
            }
        }
        // Two seeds have nothing to give each other.
        let p = self.peers[key].as_mut().expect("live peer");
        if self.torrents[tid].state == State::Seeding && p.have.as_ref().is_some_and(|b| b.is_complete()) {
            p.close("both are seeds");
            return;
        }
        self.fill_requests(key, now);
    }

    /// Recompute whether we want anything from this peer.
    fn update_interest(&mut self, key: usize, now: Instant) {
        let Some(p) = self.peers[key].as_mut() else { return };
        let Some(tid) = p.torrent else { return };
        let t = &self.torrents[tid];
        let want = match (&t.picker, &p.have) {
            (Some(pk), Some(bf)) if t.state == State::Downloading => {
                (0..pk.num_pieces()).any(|i| bf.get(i) && pk.is_wanted(i as u32) && !pk.has(i as u32))
            }
            _ => false,
        };
        if want != p.am_interested {
            p.am_interested = want;
            p.send(if want { &Message::Interested } else { &Message::NotInterested }, now);
        }
    }

    /// Keep the peer's request pipeline full.
    fn fill_requests(&mut self, key: usize, now: Instant) {
        let Some(p) = self.peers[key].as_mut() else { return };
        let Some(tid) = p.torrent else { return };
        let t = &mut self.torrents[tid];
        if t.state != State::Downloading || p.closing.is_some() || !p.am_interested {
            return;
        }
        if p.peer_choking && p.allowed_fast.is_empty() {
            return;
        }
        if self.backlog.get() > MAX_DISK_BACKLOG {
            return;
        }
        let mut depth = if p.snubbed || p.probation { 1 } else { p.pipeline.min(p.reqq.unwrap_or(250)) };
        let Some(endgame) = t.picker.as_ref().map(|pk| pk.in_endgame()) else { return };
        if endgame {
            // In endgame, only peers that drained their own queue duplicate
            // others' blocks, a few at a time: little over-download.
            depth = depth.min(ENDGAME_DEPTH);
        }
        if p.requests.len() >= depth {
            return;
        }
        if !endgame && !p.requests.is_empty() && p.requests.len() + depth / 8 > depth {
            // Refill in batches of depth/8, not one block per block received.
            return;
        }
        let mut want = depth - p.requests.len();
        if !self.down_bucket.unlimited() {
            let mut allowed = 0;
            while allowed < want && self.down_bucket.take(now, torrent_core::picker::BLOCK_SIZE as u64) {
                allowed += 1;
            }
            want = allowed;
        }
        let Some(picker) = t.picker.as_mut() else { return };
        let Some(bf) = p.have.as_ref() else { return };
        let choked = p.peer_choking;
        let fast_set = &p.allowed_fast;
        let blocks = picker.pick(key, |i| bf.get(i) && (!choked || fast_set.contains(&(i as u32))), want, &mut self.rng);
        for b in blocks {
            p.send(&Message::Request { index: b.index, begin: b.begin, length: b.length }, now);
            p.requests.insert(b);
        }
    }

    fn on_piece(&mut self, key: usize, tid: usize, index: u32, begin: u32, data: Vec<u8>, now: Instant) {
        let p = self.peers[key].as_mut().expect("live peer");
        let len = data.len() as u64;
        let block = Block { index, begin, length: data.len() as u32 };
        let was_requested = p.requests.remove(&block);
        p.down.add(now, len);
        p.last_block = now;
        p.snubbed = false;
        let t = &mut self.torrents[tid];
        t.down.add(now, len);
        t.downloaded += len;
        let Some(picker) = t.picker.as_mut() else {
            t.wasted += len;
            return;
        };
        if !was_requested {
            // Only blocks we asked this peer for are kept: unrequested data
            // (late blocks after a choke or cancel, or pollution) is dropped.
            t.wasted += len;
            p.unrequested += len;
            if p.unrequested > MAX_UNREQUESTED {
                p.close("sent too much data we did not ask for");
            }
            return;
        }
        match picker.block_received(key, block) {
            BlockOutcome::Unwanted => t.wasted += len,
            BlockOutcome::Accepted { piece_complete, cancel } => {
                let info = &t.meta.as_ref().expect("picker implies meta").info;
                let offset = index as u64 * info.piece_length + begin as u64;
                // The same bytes go to the disk thread and the hash thread.
                let data = Arc::new(data);
                self.backlog.add(len);
                let _ = self.hash_tx.send(HashJob::Block { torrent: tid, piece: index, begin, data: data.clone() });
                let _ = self.disk_tx.send(DiskJob::Write { torrent: tid, offset, data });
                if piece_complete {
                    let expected = info.pieces[index as usize];
                    let piece_len = picker.piece_len(index) as u64;
                    let _ = self.hash_tx.send(HashJob::Finish { torrent: tid, piece: index, piece_len, expected });
                }
                for other in cancel {
                    if let Some(Some(op)) = self.peers.get_mut(other) {
                        if op.requests.remove(&block) {
                            op.send(&Message::Cancel { index, begin, length: block.length }, now);
                        }
                    }
                }

            }
        }
        self.fill_requests(key, now);
    }

    fn on_request(&mut self, key: usize, tid: usize, index: u32, begin: u32, length: u32, now: Instant) {
        let p = self.peers[key].as_mut().expect("live peer");
        let t = &self.torrents[tid];
        let Some(picker) = t.picker.as_ref() else {
            p.close("request before we have metadata");
            return;
        };
        if index as usize >= picker.num_pieces() {
            p.close(format!("request for piece {index}, torrent has {}", picker.num_pieces()));
            return;
        }
        let plen = picker.piece_len(index);
        if length == 0 || length > MAX_REQUEST_LEN || begin as u64 + length as u64 > plen as u64 {
            p.close(format!("bad request: piece {index} begin {begin} length {length} (piece is {plen} bytes)"));
            return;
        }
        let reject = |p: &mut Peer| {
            if p.fast {
                p.send(&Message::RejectRequest { index, begin, length }, now);
            }
        };
        if p.am_choking || !picker.has(index) || p.peer_requests.len() >= MAX_PEER_REQUESTS {
            reject(p);
            return;
        }
        p.peer_requests.push_back((index, begin, length));
        self.dispatch_reads(key, now);
    }

    /// Send queued upload requests to the disk thread, within limits.
    fn dispatch_reads(&mut self, key: usize, now: Instant) {
        let Some(p) = self.peers[key].as_mut() else { return };
        let Some(tid) = p.torrent else { return };
        while p.reads_in_flight < MAX_READS_PER_PEER && p.out_pending() < MAX_OUT_BUFFER {
            let Some(&(index, begin, length)) = p.peer_requests.front() else { break };
            if !self.up_bucket.take(now, length as u64) {
                break;
            }
            p.peer_requests.pop_front();
            p.reads_in_flight += 1;
            let _ = self.disk_tx.send(DiskJob::Read { torrent: tid, peer: key, piece: index, begin, len: length });
        }
    }

    fn on_extended(&mut self, key: usize, tid: usize, id: u8, payload: &[u8], now: Instant) {
        let p = self.peers[key].as_mut().expect("live peer");
        if id == 0 {
            match ExtendedHandshake::parse(payload) {
                Ok(hs) => {
                    p.ut_metadata = hs.extension_id(UT_METADATA);
                    p.metadata_size = hs.metadata_size.and_then(|s| usize::try_from(s).ok());
                    p.reqq = hs.reqq.and_then(|r| usize::try_from(r).ok()).map(|r| r.clamp(1, MAX_PIPELINE));
                    p.ut_pex = hs.extension_id(UT_PEX);
                    p.listen_port = hs.port();
                }
                Err(e) => {
                    p.close(format!("bad extension handshake: {e}"));
                    return;
                }
            }
            self.request_metadata(key, tid, now);
            return;
        }
        if id == OUR_UT_PEX {
            let t = &mut self.torrents[tid];
            if !self.cfg.pex || t.is_private() {
                return; // not offered
            }
            match PexMessage::parse(payload) {
                Ok(m) => {
                    for (a, _) in m.added {
                        t.add_candidate(a, now);
                    }
                }
                Err(e) => p.close(format!("bad ut_pex message: {e}")),
            }
            return;
        }
        if id != OUR_UT_METADATA {
            return; // an extension we did not offer: ignore
        }
        let msg = match MetadataMessage::parse(payload) {
            Ok(m) => m,
            Err(e) => {
                p.close(format!("bad ut_metadata message: {e}"));
                return;
            }
        };
        match msg {
            MetadataMessage::Request { piece } => {
                let Some(their_id) = p.ut_metadata else { return };
                let reply = match &self.torrents[tid].meta {
                    Some(m) if (piece as usize) * 16384 < m.info_bytes.len() => {
                        let start = piece as usize * 16384;
                        let end = (start + 16384).min(m.info_bytes.len());
                        MetadataMessage::Data {
                            piece,
                            total_size: m.info_bytes.len() as u64,
                            data: m.info_bytes[start..end].to_vec(),
                        }
                    }
                    _ => MetadataMessage::Reject { piece },
                };
                p.send(&Message::Extended { id: their_id, payload: reply.encode() }, now);
            }
            MetadataMessage::Reject { piece } => {
                p.metadata_in_flight = p.metadata_in_flight.saturating_sub(1);
                p.ut_metadata = None; // do not ask this peer again
                if let Some(a) = self.torrents[tid].metadata.as_mut() {
                    a.unrequest(piece);
                }
            }
            MetadataMessage::Data { piece, total_size, data } => {
                p.metadata_in_flight = p.metadata_in_flight.saturating_sub(1);
                let t = &mut self.torrents[tid];
                let Some(a) = t.metadata.as_mut() else { return };
                match a.add_piece(piece, total_size, &data) {
                    Ok(false) => self.request_metadata(key, tid, now),
                    Ok(true) => {
                        let trackers = t.trackers.clone();
                        match a.finish(trackers) {
                            Ok(meta) => {
                                t.metadata = None;
                                save_metadata(&t.dir, &meta);
                                self.metadata_ready(tid, meta, now);
                            }
                            Err(e) => {
                                self.reporter.log(&format!("{}: metadata from {} rejected: {e}", t.name, p.addr));
                                p.close("sent metadata that does not match the info-hash");
                            }
                        }
                    }
                    Err(e) => p.close(format!("bad metadata piece: {e}")),
                }
            }
        }
    }

    /// Ask this peer for metadata pieces (magnet links).
    fn request_metadata(&mut self, key: usize, tid: usize, now: Instant) {
        let t = &mut self.torrents[tid];
        if t.state != State::Metadata {
            return;
        }
        let p = self.peers[key].as_mut().expect("live peer");
        let (Some(their_id), Some(size)) = (p.ut_metadata, p.metadata_size) else { return };
        if t.metadata.is_none() {
            match MetadataAssembler::new(t.info_hash, size as i64) {
                Ok(a) => t.metadata = Some(a),
                Err(e) => {
                    p.close(format!("bad metadata_size: {e}"));
                    return;
                }
            }
        }
        let a = t.metadata.as_mut().expect("just set");
        if a.size() != size {
            return; // disagrees with the peer we started with; ignore it
        }
        while p.metadata_in_flight < 4 {
            let Some(piece) = a.next_request() else { break };
            p.metadata_in_flight += 1;
            p.send(&Message::Extended { id: their_id, payload: MetadataMessage::Request { piece }.encode() }, now);
        }
    }

    /// Metadata is known (from a .torrent saved earlier or fetched by BEP 9).
    fn metadata_ready(&mut self, tid: usize, meta: Metainfo, now: Instant) {
        let t = &mut self.torrents[tid];
        t.name = meta.info.name.clone();
        if let Some(sel) = &t.select {
            if let Some(bad) = sel.iter().find(|&&i| i >= meta.info.files.len()) {
                let msg = format!("--select {}: torrent has {} files", bad + 1, meta.info.files.len());
                self.fail_torrent(tid, msg);
                return;
            }
        }
        t.state = State::Checking;
        self.reporter.event(json!({"event": "metadata", "info_hash": t.info_hash.to_hex(), "name": t.name, "size": meta.info.total_length}));
        self.reporter.log(&format!("{}: metadata received ({} bytes of data)", t.name, meta.info.total_length));
        let _ = self.disk_tx.send(DiskJob::Open {
            torrent: tid,
            dir: t.dir.clone(),
            info: Box::new(meta.info.clone()),
            info_hash: meta.info_hash,
            recheck: self.cfg.recheck,
        });
        t.meta = Some(meta);
        let _ = now;
    }

    fn fail_torrent(&mut self, tid: usize, msg: String) {
        let t = &mut self.torrents[tid];
        if matches!(t.state, State::Failed(_)) {
            return;
        }
        self.reporter.log(&format!("{}: error: {msg}", t.name));
        self.reporter.event(json!({"event": "error", "info_hash": t.info_hash.to_hex(), "error": msg}));
        t.state = State::Failed(msg);
        for &k in &t.peers {
            if let Some(Some(p)) = self.peers.get_mut(k) {
                p.close("torrent failed");
            }
        }
    }

    // ------------------------------------------------------------------
    // Results from the disk thread and trackers

    fn drain_disk(&mut self, now: Instant) {
        while let Ok(ev) = self.disk_rx.try_recv() {
            match ev {
                DiskEvent::Opened { torrent, have, rechecked } => self.on_opened(torrent, have, rechecked, now),
                DiskEvent::Verified { torrent, piece, ok } => self.on_verified(torrent, piece, ok, now),
                DiskEvent::ReadDone { torrent, peer, piece, begin, data } => {
                    let Some(Some(p)) = self.peers.get_mut(peer) else { continue };
                    if p.torrent != Some(torrent) || p.closing.is_some() {
                        continue;
                    }
                    p.reads_in_flight = p.reads_in_flight.saturating_sub(1);
                    if p.am_choking {
                        continue; // choked meanwhile: the request is void
                    }
                    p.queue_raw(&piece_header(piece, begin, data.len()), now);
                    p.queue_raw(&data, now);
                    p.up.add(now, data.len() as u64);
                    let t = &mut self.torrents[torrent];
                    t.up.add(now, data.len() as u64);
                    t.uploaded += data.len() as u64;
                    self.dispatch_reads(peer, now);
                    self.flush_peer(peer);
                }
                DiskEvent::Error { torrent, msg } => self.fail_torrent(torrent, msg),
            }
        }
    }

    fn on_opened(&mut self, tid: usize, have: Vec<bool>, rechecked: bool, now: Instant) {
        let t = &mut self.torrents[tid];
        let meta = t.meta.as_ref().expect("opened torrents have metadata");
        let mut picker = Picker::new(meta.info.piece_length, meta.info.total_length);
        if let Some(sel) = &t.select {
            let wanted: Vec<bool> = (0..picker.num_pieces())
                .map(|i| {
                    let start = i as u64 * meta.info.piece_length;
                    let end = start + picker.piece_len(i as u32) as u64;
                    sel.iter().any(|&f| {
                        let fe = &meta.info.files[f];
                        fe.length > 0 && fe.offset < end && fe.offset + fe.length > start
                    })
                })
                .collect();
            picker.set_wanted(wanted);
        }
        let mut n = 0;
        for (i, h) in have.iter().enumerate() {
            if *h {
                picker.mark_have(i as u32);
                n += 1;
            }
        }
        let how = if rechecked { "checked" } else { "resume data" };
        self.reporter.log(&format!("{}: {n} of {} pieces already verified ({how})", t.name, have.len()));
        self.reporter.event(json!({"event": "checked", "info_hash": t.info_hash.to_hex(), "have_pieces": n, "pieces": have.len(), "rechecked": rechecked}));
        t.picker = Some(picker);
        t.state = State::Downloading;
        if self.cfg.seed_only {
            t.state = State::Seeding;
            t.completed_at = Some(now);
            self.reporter.log(&format!("{}: seeding {n} verified pieces", t.name));
        }
        // Peers connected before (magnet): replay what they told us.
        let keys = t.peers.clone();
        for key in keys {
            let Some(Some(p)) = self.peers.get_mut(key) else { continue };
            let early = std::mem::take(&mut p.early);
            if let Some(b) = early.bitfield {
                self.on_have(key, tid, HaveMsg::Bitfield(b), now);
            }
            if early.all {
                self.on_have(key, tid, HaveMsg::All, now);
            }
            for i in early.haves {
                self.on_have(key, tid, HaveMsg::One(i), now);
            }
            // Tell them what we have now.
            if let Some(Some(p)) = self.peers.get_mut(key) {
                if p.phase == Phase::Active && n > 0 {
                    let bits = self.torrents[tid].picker.as_ref().expect("set").have_slice().to_vec();
                    for (i, h) in bits.iter().enumerate() {
                        if *h {
                            p.send(&Message::Have(i as u32), now);
                        }
                    }
                }
            }
            self.update_interest(key, now);
            self.fill_requests(key, now);
        }
        self.check_complete(tid, now);
    }

    fn on_verified(&mut self, tid: usize, piece: u32, ok: bool, now: Instant) {
        let t = &mut self.torrents[tid];
        let Some(picker) = t.picker.as_mut() else { return };
        if ok {
            let helped: Vec<usize> = picker.contributors(piece).to_vec();
            picker.piece_verified(piece);
            for k in helped {
                if let Some(Some(p)) = self.peers.get_mut(k) {
                    t.credit(p.addr);
                    p.probation = false;
                }
            }
            let keys = t.peers.clone();
            for k in keys {
                if let Some(Some(p)) = self.peers.get_mut(k) {
                    if p.phase == Phase::Active && !p.has_piece(piece as usize) {
                        p.send(&Message::Have(piece), now);
                    }
                }
            }
            self.check_complete(tid, now);
        } else {
            let blame: Vec<usize> = picker.contributors(piece).to_vec();
            let alone = blame.len() == 1;
            picker.piece_failed(piece);
            t.hash_failures += 1;
            let mut names = Vec::new();
            for k in blame {
                let Some(Some(p)) = self.peers.get_mut(k) else { continue };
                names.push(p.addr.to_string());
                p.probation = true;
                if t.strike(p.addr, alone) {
                    p.close("banned: sent data that failed the hash check");
                    self.reporter.log(&format!("{}: banned {} after repeated hash failures", t.name, p.addr));
                }
            }
            self.reporter.log(&format!("{}: piece {piece} failed the hash check (from {})", t.name, names.join(", ")));
        }
    }

    fn check_complete(&mut self, tid: usize, now: Instant) {
        let t = &mut self.torrents[tid];
        if t.state != State::Downloading || !t.is_complete() {
            return;
        }
        t.completed_at = Some(now);
        let have = t.picker.as_ref().expect("complete").have_slice().to_vec();
        let _ = self.disk_tx.send(DiskJob::SaveResume { torrent: tid, have });
        let was_downloading = t.downloaded > 0;
        self.reporter.log(&format!("{}: complete", t.name));
        if self.cfg.seed {
            t.state = State::Seeding;
        } else {
            t.state = State::Done;
        }
        if was_downloading && t.announced_started && !t.announced_completed && !t.trackers.is_empty() {
            t.announced_completed = true;
            let req = announce_request(t, &self.peer_id, self.listen_port, torrent_core::tracker::Event::Completed);
            t.announcing = true;
            announce::spawn(tid, t.trackers.clone(), req, self.cfg.tracker_timeout, self.ann_tx.clone(), self.waker.clone());
        }
        let keys = t.peers.clone();
        let done = t.state == State::Done;
        for k in keys {
            if let Some(Some(p)) = self.peers.get_mut(k) {
                if done {
                    p.close("download complete");
                } else {
                    p.requests.clear();
                }
            }
            self.update_interest(k, now);
        }
    }

    fn drain_announces(&mut self, now: Instant) {
        while let Ok(r) = self.ann_rx.try_recv() {
            let Some(t) = self.torrents.get_mut(r.torrent) else { continue };
            t.announcing = false;
            match r.result {
                Ok(ans) => {
                    if let Some(tiers) = r.tiers {
                        t.trackers = tiers;
                    }
                    let interval = Duration::from_secs(ans.response.interval.max(1) as u64)
                        .max(self.cfg.announce_interval_min)
                        .min(Duration::from_secs(3600));
                    t.next_announce = now + interval;
                    let n = ans.response.peers.len();
                    for a in ans.response.peers {
                        if a.port() != 0 {
                            t.add_candidate(a, now);
                        }
                    }
                    if let Some(w) = ans.response.warning {
                        self.reporter.log(&format!("{}: tracker {} warns: {w}", t.name, ans.url));
                    }
                    self.reporter.event(json!({"event": "announce", "info_hash": t.info_hash.to_hex(), "tracker": ans.url, "peers": n}));
                }
                Err(e) => {
                    t.next_announce = now + Duration::from_secs(60);
                    self.reporter.log(&format!("{}: {e}", t.name));
                }
            }
        }
    }

    // ------------------------------------------------------------------
    // Once a second

    fn tick(&mut self, now: Instant) {
        // Timeouts, keep-alives, snubbing, pipeline sizing.
        for key in 0..self.peers.len() {
            let Some(p) = self.peers[key].as_mut() else { continue };
            if p.closing.is_some() {
                continue;
            }
            match p.phase {
                Phase::Connecting if now.duration_since(p.started) > CONNECT_TIMEOUT => p.close("connect timed out"),
                Phase::Handshaking if now.duration_since(p.started) > HANDSHAKE_TIMEOUT => p.close("handshake timed out"),
                Phase::Active => {
                    if now.duration_since(p.last_recv) > IDLE_TIMEOUT {
                        p.close("idle");
                        continue;
                    }
                    if now.duration_since(p.last_send) > KEEPALIVE_EVERY {
                        p.send(&Message::KeepAlive, now);
                    }
                    let rate = p.down.rate(now);
                    p.pipeline = ((rate / 16384.0) as usize + MIN_PIPELINE).clamp(MIN_PIPELINE, MAX_PIPELINE);
                    if !p.requests.is_empty() && !p.snubbed && now.duration_since(p.last_block) > SNUB_TIMEOUT {
                        // Snubbed: give its requests to others, ask one at a time.
                        p.snubbed = true;
                        p.requests.clear();
                        if let Some(tid) = p.torrent {
                            if let Some(pk) = self.torrents[tid].picker.as_mut() {
                                pk.release_peer(key);
                            }
                        }
                    }
                    let has_metadata_wait = p.metadata_in_flight > 0 && now.duration_since(p.last_recv) > SNUB_TIMEOUT;
                    if has_metadata_wait {
                        p.metadata_in_flight = 0;
                        p.ut_metadata = None;
                        if let Some(tid) = p.torrent {
                            if let Some(a) = self.torrents[tid].metadata.as_mut() {
                                a.unrequest_all();
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        // Interest and requests (cheap re-evaluation once a second).
        for key in 0..self.peers.len() {
            if self.peers[key].as_ref().is_some_and(|p| p.phase == Phase::Active && p.closing.is_none()) {
                self.update_interest(key, now);
                self.fill_requests(key, now);
                self.dispatch_reads(key, now);
                if self.torrents[self.peers[key].as_ref().expect("live").torrent.expect("active")].state == State::Metadata {
                    let tid = self.peers[key].as_ref().expect("live").torrent.expect("active");
                    self.request_metadata(key, tid, now);
                }
            }
        }
        self.rechoke(now);
        self.send_pex(now);
        self.connect_more(now);
        self.announce_due(now);
        self.seed_limits(now);
        for i in 0..self.torrents.len() {
            let snap = self.torrents[i].snapshot(now);
            if !matches!(self.torrents[i].state, State::Done | State::Failed(_)) {
                self.reporter.update(i, &snap);
            }
        }
    }

    /// Tell each PEX-capable peer, once a minute, which peers of the same
    /// torrent we are connected to now (added) and no longer (dropped).
    fn send_pex(&mut self, now: Instant) {
        if !self.cfg.pex {
            return;
        }
        for tid in 0..self.torrents.len() {
            let t = &self.torrents[tid];
            if t.is_private() {
                continue;
            }
            let current: Vec<SocketAddr> = t
                .peers
                .iter()
                .filter_map(|k| self.peers[*k].as_ref())
                .filter(|p| p.phase == Phase::Active && p.closing.is_none())
                .filter_map(|p| p.reachable_addr())
                .collect();
            for &k in &t.peers {
                let Some(p) = self.peers[k].as_mut() else { continue };
                let Some(id) = p.ut_pex else { continue };
                if p.phase != Phase::Active || p.last_pex.is_some_and(|l| now.duration_since(l) < PEX_EVERY) {
                    continue;
                }
                let me = p.reachable_addr();
                let added: Vec<(SocketAddr, u8)> = current
                    .iter()
                    .filter(|a| Some(**a) != me && !p.pex_sent.contains(a))
                    .take(MAX_ADDED)
                    .map(|a| (*a, 0))
                    .collect();
                let dropped: Vec<SocketAddr> =
                    p.pex_sent.iter().filter(|a| !current.contains(a)).take(MAX_ADDED).copied().collect();
                if added.is_empty() && dropped.is_empty() {
                    continue;
                }
                for (a, _) in &added {
                    p.pex_sent.insert(*a);
                }
                for a in &dropped {
                    p.pex_sent.remove(a);
                }
                p.last_pex = Some(now);
                p.send(&Message::Extended { id, payload: PexMessage { added, dropped }.encode() }, now);
            }
        }
    }

    /// Drive the DHT node: timeouts, datagrams out, events in.
    fn pump_dht(&mut self, now: Instant) {
        let Some(d) = self.dht.as_mut() else { return };
        d.pump(now);
        for ev in d.events() {
            match ev {
                DhtEvent::Peers { info_hash, peers, .. } => {
                    if let Some(t) = self.torrents.iter_mut().find(|t| t.info_hash == info_hash) {
                        if !t.is_private() {
                            for a in peers {
                                t.add_candidate(a, now);
                            }
                        }
                    }
                }
                DhtEvent::LookupDone { lookup, info_hash, peers_found, .. } => {
                    if let Some(t) = self.torrents.iter_mut().find(|t| t.dht_lookup == Some(lookup)) {
                        t.dht_lookup = None;
                        t.next_dht = now + if peers_found == 0 { DHT_RETRY } else { DHT_EVERY };
                    }
                    self.reporter.event(json!({"event": "dht", "info_hash": info_hash.to_hex(), "peers": peers_found}));
                }
                DhtEvent::Announced { .. } | DhtEvent::Bootstrapped { .. } => {}
            }
        }
        // Start due lookups (announce_peer does get_peers first).
        let port = self.listen_port;
        for t in &mut self.torrents {
            if t.dht_lookup.is_some() || now < t.next_dht || t.is_private() {
                continue;
            }
            if !matches!(t.state, State::Metadata | State::Downloading | State::Seeding) {
                continue;
            }
            let res = if port != 0 {
                d.node.announce_peer(t.info_hash, Some(port), now)
            } else {
                d.node.get_peers(t.info_hash, now)
            };
            match res {
                Ok(id) => t.dht_lookup = Some(id),
                Err(_) => t.next_dht = now + DHT_RETRY,
            }
        }
        d.pump(now);
    }

    fn connect_more(&mut self, now: Instant) {
        let half_open = self.peers.iter().flatten().filter(|p| p.phase == Phase::Connecting).count();
        let mut budget = MAX_HALF_OPEN.saturating_sub(half_open);
        for tid in 0..self.torrents.len() {
            let t = &self.torrents[tid];
            // Seeds dial too: some leechers (transmission) wait to be called.
            if !matches!(t.state, State::Metadata | State::Downloading | State::Seeding) {
                continue;
            }
            let room = self.cfg.max_peers.saturating_sub(t.peers.len()).min(budget);
            if room == 0 {
                continue;
            }
            let connected: Vec<SocketAddr> = t
                .peers
                .iter()
                .filter_map(|k| self.peers[*k].as_ref().map(|p| p.addr))
                .collect();
            let addrs: Vec<SocketAddr> = t
                .ready_candidates(now, room + connected.len())
                .into_iter()
                .filter(|a| !connected.contains(a))
                .take(room)
                .collect();
            for a in addrs {
                budget -= 1;
                self.connect(tid, a, now);
            }
        }
    }

    fn announce_due(&mut self, now: Instant) {
        for t in &mut self.torrents {
            if t.announcing || t.trackers.is_empty() || now < t.next_announce {
                continue;
            }
            if matches!(t.state, State::Done | State::Failed(_)) {
                continue;
            }
            let event = if t.announced_started { torrent_core::tracker::Event::None } else { torrent_core::tracker::Event::Started };
            t.announced_started = true;
            t.announcing = true;
            let req = announce_request(t, &self.peer_id, self.listen_port, event);
            announce::spawn(t.id, t.trackers.clone(), req, self.cfg.tracker_timeout, self.ann_tx.clone(), self.waker.clone());
        }
    }

    fn seed_limits(&mut self, now: Instant) {
        for t in &mut self.torrents {
            if t.state != State::Seeding {
                continue;
            }
            let total = t.meta.as_ref().map(|m| m.info.total_length).unwrap_or(1).max(1);
            let ratio_hit = self.cfg.seed_ratio.is_some_and(|r| t.uploaded as f64 / total as f64 >= r);
            let time_hit = self
                .cfg
                .seed_time
                .is_some_and(|d| t.completed_at.is_some_and(|c| now.duration_since(c) >= d));
            if ratio_hit || time_hit {
                self.reporter.log(&format!("{}: seeding limit reached", t.name));
                t.state = State::Done;
                for &k in &t.peers {
                    if let Some(Some(p)) = self.peers.get_mut(k) {
                        p.close("seeding finished");
                    }
                }
            }
        }
    }

    /// Tit-for-tat choking: every 10 s unchoke the interested peers that give
    /// us the most (or, when seeding, take the most), plus one optimistic
    /// unchoke rotated every 30 s.
    fn rechoke(&mut self, now: Instant) {
        if now.duration_since(self.last_rechoke) < RECHOKE_EVERY {
            return;
        }
        self.last_rechoke = now;
        let rotate = now.duration_since(self.last_optimistic) >= OPTIMISTIC_EVERY;
        if rotate {
            self.last_optimistic = now;
        }
        let mut cands = Vec::new();
        for (key, p) in self.peers.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            if p.phase != Phase::Active || p.closing.is_some() {
                continue;
            }
            let seeding = p.torrent.is_some_and(|t| self.torrents[t].state == State::Seeding);
            let rate = if seeding { p.up.rate(now) } else { p.down.rate(now) };
            cands.push(choke::Candidate { key, interested: p.peer_interested, rate });
        }
        let decision = choke::decide(&cands, self.cfg.upload_slots, self.optimistic, rotate, &mut self.rng);
        self.optimistic = decision.optimistic;
        for (key, unchoke) in decision.states {
            self.set_choke(key, !unchoke, now);
        }
    }

    /// A peer became interested: unchoke at once if a slot is free.
    fn maybe_unchoke_now(&mut self, key: usize, now: Instant) {
        let unchoked = self.peers.iter().flatten().filter(|p| !p.am_choking && p.peer_interested).count();
        if unchoked < self.cfg.upload_slots + 1 {
            self.set_choke(key, false, now);
        }
    }

    fn set_choke(&mut self, key: usize, choke: bool, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        if p.am_choking == choke {
            return;
        }
        p.am_choking = choke;
        if choke {
            p.send(&Message::Choke, now);
            if p.fast {
                for (index, begin, length) in p.peer_requests.drain(..).collect::<Vec<_>>() {
                    p.send(&Message::RejectRequest { index, begin, length }, now);
                }
            } else {
                p.peer_requests.clear();
            }
        } else {
            p.send(&Message::Unchoke, now);
        }
    }

    /// Remove peers marked for closing.
    fn reap(&mut self, now: Instant) {
        for key in 0..self.peers.len() {
            let closing = self.peers[key].as_ref().and_then(|p| p.closing.clone());
            if closing.is_none() {
                // Flush what handlers queued.
                self.flush_peer(key);
                if self.peers[key].as_ref().and_then(|p| p.closing.as_ref()).is_none() {
                    continue;
                }
            }
            let mut p = self.peers[key].take().expect("checked");
            let _ = p.flush();
            if self.cfg.verbose {
                self.reporter.log(&format!(
                    "peer {}: closed ({}) after {:.1}s, {} bytes in",
                    p.addr,
                    closing.as_deref().unwrap_or("?"),
                    now.duration_since(p.started).as_secs_f64(),
                    p.down.total
                ));
            }
            let _ = self.poll.registry().deregister(&mut p.stream);
            if let Some(tid) = p.torrent {
                let t = &mut self.torrents[tid];
                t.peers.retain(|k| *k != key);
                if let Some(pk) = t.picker.as_mut() {
                    let bf = p.have.clone();
                    pk.peer_gone(key, |i| bf.as_ref().is_some_and(|b| b.get(i)));
                }
                if let Some(a) = t.metadata.as_mut() {
                    if p.metadata_in_flight > 0 {
                        a.unrequest_all();
                    }
                }
                if p.outgoing {
                    t.connection_failed(p.addr, now, p.down.total > 0);
                }
            }
            if self.optimistic == Some(key) {
                self.optimistic = None;
            }
            self.free.push(key);
        }
    }
}

enum HaveMsg {
    One(u32),
    Bitfield(Vec<u8>),
    All,
}

fn announce_request(t: &Torrent, peer_id: &[u8; 20], port: u16, event: torrent_core::tracker::Event) -> torrent_core::tracker::AnnounceRequest {
    let mut req = torrent_core::tracker::AnnounceRequest::new(t.info_hash, *peer_id, port.max(1));
    req.uploaded = t.uploaded;
    req.downloaded = t.downloaded;
    req.left = t.left();
    req.event = event;
    req
}

fn metadata_path(dir: &std::path::Path, hash: &InfoHash) -> PathBuf {
    dir.join(".torrent-get").join(format!("{hash}.torrent"))
}

/// Keep fetched metadata so a resumed magnet download does not fetch it again.
fn save_metadata(dir: &std::path::Path, meta: &Metainfo) {
    let path = metadata_path(dir, &meta.info_hash);
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(path, meta.to_torrent_bytes());
}

fn load_saved_metadata(dir: &std::path::Path, hash: &InfoHash) -> Option<Metainfo> {
    let bytes = std::fs::read(metadata_path(dir, hash)).ok()?;
    let m = Metainfo::from_bytes(&bytes).ok()?;
    (m.info_hash == *hash).then_some(m)
}
