//! The event loop: one `mio::Poll` that owns the listener, every connection,
//! the DHT socket, the channels and the worker threads (disk, hash,
//! announces), feeds the [`Engine`] what happens and carries out the
//! [`Action`]s it returns. No policy lives here.
//!
//! A connection is a byte stream, an address and a kind ([`ConnKind`]);
//! [`Stream`] is where another transport (a uTP socket) would be added.
//! MSE/PE runs here too ([`crate::crypt`]): a dialled connection the engine
//! wants encrypted, and every incoming one unless encryption is off, first
//! goes through the handshake; the engine hears of it (`Connected`,
//! `Accepted`) once that is done, then reads and writes plaintext while
//! the RC4 pair, if any, works on the bytes in place.
//!
//! One UDP socket on the listen port carries uTP and the DHT (token `UTP`;
//! [`crate::utp_driver`] tells the datagrams apart); the `DHT` token is
//! only used when the node needs a socket of its own.

mod conn;
mod connections;
mod fds;
mod handshake;

use conn::{Conn, Stream};
use crate::announce::{self, AnnounceResult};
use crate::crypt::{self, Handshake};
use crate::dht::Dht;
use crate::disk::{self, DiskEvent, DiskJob};
use crate::releases::Releases;
use crate::engine::{Action, CloseReason, Config, ConnKind, Engine, Input, Job, Outcome, PeerKey, Report};
use crate::hasher::{self, HashJob};
use crate::progress::Reporter;
use crate::utp_driver::UtpDriver;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use serde_json::json;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use torrent_core::mse::{Method, Policy};
use torrent_core::transport::TransportKind;
use torrent_core::utp::Event as UtpEvent;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const DHT: Token = Token(2);
const UTP: Token = Token(3);
const FIRST_PEER: usize = 4;
/// Stop reading from a peer while this much waits to be sent to it.
const MAX_OUT_BUFFER: usize = crate::engine::peer::MAX_OUT_BUFFER;
/// Bytes read from one peer per readiness event before the others' turn.
const READ_BUDGET: usize = 4 * 1024 * 1024;

/// Drives a long-running engine from outside (the daemon): called on every
/// turn of the loop, woken by [`EventLoop::waker`]; hears every event.
pub trait Controller {
    /// Apply what came in (API requests, watched files) to the engine; the
    /// loop carries out the actions right after.
    fn turn(&mut self, engine: &mut Engine, now: Instant);
    /// An event the engine reported (the objects `--json` prints).
    fn event(&mut self, event: &serde_json::Value);
    /// The loop is stopping (before resume data is saved).
    fn stopping(&mut self, _engine: &mut Engine, _now: Instant) {}
    /// Bytes for one of the readers it opened, or its end.
    fn reader(&mut self, _out: crate::engine::readers::ReaderOut) {}
}

pub struct EventLoop {
    engine: Engine,
    /// With a controller the loop runs until stopped, torrents or not.
    controller: Option<Box<dyn Controller>>,
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    disk_tx: Sender<DiskJob>,
    disk_rx: Receiver<DiskEvent>,
    disk_thread: Option<std::thread::JoinHandle<()>>,
    hash_tx: Sender<HashJob>,
    hash_thread: Option<std::thread::JoinHandle<()>>,
    releases: Releases,
    ann_tx: Sender<AnnounceResult>,
    ann_rx: Receiver<AnnounceResult>,
    waker: Arc<Waker>,
    /// `--stdout`: the thread writing the streamed file.
    stream_out: Option<crate::stream_out::StreamWriter>,
    reporter: Reporter,
    stop: Arc<AtomicBool>,
    timeout: Option<Duration>,
    /// Peers with unread socket data (stopped early for a bound); revisited.
    unread: Vec<PeerKey>,
    /// The connection being read: what the engine sends it meanwhile is
    /// written once at the end of the burst (fewer, fuller segments).
    reading: Option<PeerKey>,
    dht: Option<Dht>,
    /// Web-seed worker pools, one per torrent with mirrors (made on its
    /// first request).
    webseeds: crate::webseed_pool::Pools,
    encryption: Policy,
    utp: Option<UtpDriver>,
    /// Next look for encryption handshakes that take too long.
    next_sweep: Instant,
    /// Accepting failed (out of descriptors): when to try again, and when
    /// the next such failure may be reported (see `fds`).
    accept_retry: Option<Instant>,
    accept_warned: Option<Instant>,
}

impl EventLoop {
    pub fn new(mut cfg: Config, jobs: Vec<Job>, stop: Arc<AtomicBool>) -> anyhow::Result<EventLoop> {
        // Connections never take the descriptors files and sockets of
        // our own need (fds.rs).
        cfg.max_connections = cfg.max_connections.min(fds::connection_budget());
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (disk_tx, jobs_rx) = mpsc::channel();
        let (ev_tx, disk_rx) = mpsc::channel();
        let releases = Releases::default();
        let (hash_tx, hash_rx) = mpsc::channel();
        let hash_thread = hasher::spawn(hash_rx, ev_tx.clone(), disk_tx.clone(), waker.clone(), releases.clone());
        let disk_thread = disk::spawn(jobs_rx, ev_tx, waker.clone(), releases.clone());
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
        let mut utp = None;
        if cfg.transports.utp() {
            // The same port as TCP, as other clients do; when not listening,
            // an ephemeral one that only dials.
            let (addr, accept) = match listener.as_ref().and_then(|l| l.local_addr().ok()) {
                Some(a) => (a, true),
                None => ("0.0.0.0:0".parse().expect("valid"), false),
            };
            let mut u = UtpDriver::bind(addr, accept, now).map_err(|e| anyhow::anyhow!("cannot bind the uTP socket on {addr}: {e}"))?;
            poll.registry().register(&mut u.socket, UTP, Interest::READABLE | Interest::WRITABLE)?;
            utp = Some(u);
        }
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
            // One UDP port for uTP and the DHT when the uTP socket reaches
            // IPv4 (datagrams told apart by content, utp_driver.rs).
            let shared = utp.as_ref().is_some_and(|u| u.speaks_ipv4());
            let bind = (!shared).then(|| SocketAddr::new(ip, listen_port));
            let mut d = Dht::start(bind, cfg.dht_state.clone(), cfg.dht_bootstrap.clone(), waker.clone(), now)?;
            if let Some(s) = d.socket.as_mut() {
                poll.registry().register(s, DHT, Interest::READABLE)?;
            }
            dht = Some(d);
        }
        let dht_port = dht.as_ref().and_then(|d| d.port(utp.as_ref()));
        let reporter = Reporter::new(cfg.json, cfg.quiet);
        let timeout = cfg.timeout;
        let encryption = cfg.encryption;
        let peer_id = torrent_core::peer::handshake::generate_peer_id();
        let mut engine = Engine::new(cfg, peer_id, listen_port, None, now);
        engine.set_dht_port(dht_port);
        if listener.is_some() {
            reporter.log(&format!("listening on port {listen_port}"));
            reporter.event(json!({"event": "listening", "port": listen_port, "dht_port": dht_port}));
        }
        for job in jobs {
            engine.add(job, now);
        }
        Ok(EventLoop {
            engine,
            controller: None,
            poll,
            listener,
            conns: Vec::new(),
            free: Vec::new(),
            disk_tx,
            disk_rx,
            disk_thread: Some(disk_thread),
            hash_tx,
            hash_thread: Some(hash_thread),
            releases,
            ann_tx,
            ann_rx,
            waker,
            reporter,
            stop,
            timeout,
            unread: Vec::new(),
            reading: None,
            dht,
            stream_out: None,
            webseeds: Default::default(),
            encryption,
            utp,
            next_sweep: now,
            accept_retry: None,
            accept_warned: None,
        })
    }

    /// Hand the loop to a controller: it runs until stopped.
    pub fn set_controller(&mut self, c: Box<dyn Controller>) {
        self.controller = Some(c);
    }

    /// Wakes the loop from another thread (a controller's requests).
    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    /// The port peers connect to (0: not listening).
    pub fn listen_port(&self) -> u16 {
        self.engine.listen_port()
    }

    /// Stream one file of the (first) torrent to stdout.
    pub fn stream(&mut self, spec: crate::engine::stream::StreamSpec) -> anyhow::Result<()> {
        self.engine.stream_file(0, spec).map_err(anyhow::Error::msg)?;
        let waker = self.waker.clone();
        self.stream_out = Some(crate::stream_out::StreamWriter::stdout(Box::new(move || {
            let _ = waker.wake();
        }))?);
        Ok(())
    }

    /// The reader of the stream went away (`| head -c`): not a failure.
    pub fn stream_closed(&self) -> bool {
        self.stream_out.as_ref().is_some_and(|w| w.closed() && w.error().is_none())
    }

    pub fn run(&mut self) -> Outcome {
        let mut events = Events::with_capacity(1024);
        let deadline = self.timeout.map(|t| Instant::now() + t);
        self.run_actions(Instant::now());
        loop {
            let now = Instant::now();
            self.pump_utp(now);
            let mut until_tick = self.engine.poll_timeout().saturating_duration_since(now);
            if let Some(t) = self.utp.as_ref().and_then(|u| u.poll_timeout()) {
                until_tick = until_tick.min(t.saturating_duration_since(now));
            }
            // Requests held back for the disk and hash threads: woken by their next release.
            let released = self.releases.wait_for_release(self.engine.held_back(), self.engine.released());
            let timeout = if self.unread.is_empty() && !released { until_tick.min(Duration::from_millis(100)) } else { Duration::ZERO };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.reporter.log(&format!("poll failed: {e}"));
                    return self.shutdown(Outcome::Failed);
                }
            }
            let now = Instant::now();
            self.engine.handle(Input::Released(self.releases.get()), now);
            if let Some(w) = &self.stream_out {
                if w.closed() {
                    if let Some(e) = w.error() {
                        self.reporter.log(&format!("writing to stdout: {e}"));
                        return self.shutdown(Outcome::Failed);
                    }
                    return self.shutdown(Outcome::Partial);
                }
                let pending = w.pending();
                self.engine.handle(Input::StreamBacklog(pending), now);
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(now),
                    WAKER => {}
                    UTP => self.utp_ready(now),
                    DHT => {
                        if let Some(d) = self.dht.as_mut() {
                            d.readable(now);
                        }
                    }
                    Token(t) => {
                        let key = t - FIRST_PEER;
                        self.conn_ready(key, ev.is_writable(), ev.is_readable() || ev.is_read_closed() || ev.is_error(), now);
                    }
                }
                self.run_actions(now);
            }
            for key in std::mem::take(&mut self.unread) {
                self.read_conn(key, now);
                self.run_actions(now);
            }
            while let Ok(ev) = self.disk_rx.try_recv() {
                self.engine.handle(Input::Disk(ev), now);
            }
            while let Ok(r) = self.ann_rx.try_recv() {
                self.engine.handle(Input::Announced(r), now);
            }
            for (torrent, event) in self.webseeds.drain() {
                self.engine.handle(Input::WebSeed { torrent, event }, now);
                self.run_actions(now);
            }
            self.pump_dht(now);
            if self.accept_retry.is_some_and(|t| now >= t) {
                self.accept_retry = None;
                self.accept(now);
            }
            if now >= self.next_sweep {
                self.sweep_handshakes(now);
                self.next_sweep = now + Duration::from_secs(1);
            }
            if now >= self.engine.poll_timeout() {
                self.engine.handle(Input::Tick, now);
            }
            self.run_actions(now);
            if let Some(mut c) = self.controller.take() {
                c.turn(&mut self.engine, now);
                self.controller = Some(c);
                self.run_actions(now);
            }

            if self.stop.load(Ordering::Relaxed) {
                self.reporter.log("interrupted: saving state");
                return self.shutdown(Outcome::Partial);
            }
            if deadline.is_some_and(|d| now >= d) {
                self.reporter.log("time limit reached");
                return self.shutdown(Outcome::Partial);
            }
            if let Some(outcome) = self.engine.finished().filter(|_| self.controller.is_none()) {
                return self.shutdown(outcome);
            }
        }
    }

    /// Carry out what the engine asked for.
    fn run_actions(&mut self, now: Instant) {
        while let Some(a) = self.engine.poll_action() {
            match a {
                Action::Send { peer, data } => {
                    let Some(Some(c)) = self.conns.get_mut(peer) else { continue };
                    if c.mse.is_some() {
                        // The engine only talks to connections it was told
                        // about, after their handshake: nothing to send yet.
                        continue;
                    }
                    if data.is_empty() {
                        continue;
                    }
                    c.queue(data);
                    if !c.connecting && self.reading != Some(peer) {
                        self.flush_conn(peer, now);
                    }
                }
                Action::Close { peer, .. } => self.drop_conn(peer),
                Action::Dial { torrent, addr, kind } => self.dial(torrent, addr, kind, now),
                Action::Disk(job) => {
                    let _ = self.disk_tx.send(job);
                }
                Action::Hash(job) => {
                    let _ = self.hash_tx.send(job);
                }
                Action::Announce { torrent, tiers, request, timeout } => {
                    announce::spawn(torrent, tiers, request, timeout, self.ann_tx.clone(), self.waker.clone());
                }
                Action::DhtLookup { torrent, info_hash, port } => {
                    let started = match self.dht.as_mut() {
                        Some(d) => match port {
                            Some(p) => d.node.announce_peer(info_hash, Some(p), now).is_ok(),
                            None => d.node.get_peers(info_hash, now).is_ok(),
                        },
                        None => false,
                    };
                    if !started {
                        self.engine.handle(Input::DhtLookupFailed { torrent }, now);
                    }
                }
                Action::DhtPing { addr } => {
                    if let Some(d) = self.dht.as_mut() {
                        d.node.ping(addr, now);
                    }
                }
                Action::StreamData { data, range, .. } => {
                    if let Some(w) = &self.stream_out {
                        w.push(data, range);
                    }
                }
                Action::WebSeed { torrent, action } => self.webseeds.apply(torrent, action, &self.waker),
                Action::WebSeedClose { torrent } => self.webseeds.close(torrent),
                Action::Reader(out) => {
                    if let Some(c) = self.controller.as_mut() {
                        c.reader(out);
                    }
                }
                Action::Report(r) => match r {
                    Report::Log(m) => self.reporter.log(&m),
                    Report::Json(v) => {
                        if let Some(c) = self.controller.as_mut() {
                            c.event(&v);
                        }
                        self.reporter.event(v)
                    }
                    Report::Progress { torrent, snap } => {
                        if let Some(c) = self.controller.as_mut() {
                            c.event(&crate::progress::progress_json(&snap));
                        }
                        self.reporter.update(torrent, &snap)
                    }
                },
            }
        }
    }

    /// Drive the DHT node: timeouts, datagrams out, events to the engine.
    fn pump_dht(&mut self, now: Instant) {
        let Some(d) = self.dht.as_mut() else { return };
        d.pump(now, self.utp.as_mut());
        for ev in d.events() {
            self.engine.handle(Input::Dht(ev), now);
        }
        self.run_actions(now);
        if let Some(d) = self.dht.as_mut() {
            d.pump(now, self.utp.as_mut());
        }
    }

    /// Save resume data, announce `stopped`, stop the workers and report.
    fn shutdown(&mut self, outcome: Outcome) -> Outcome {
        let now = Instant::now();
        if let Some(mut c) = self.controller.take() {
            c.stopping(&mut self.engine, now);
            self.run_actions(now);
        }
        self.engine.shutdown();
        self.run_actions(now);
        self.webseeds.stop();
        if let Some(d) = &self.dht {
            d.save();
        }
        if let (Some(u), true) = (&self.utp, self.engine.cfg.verbose) {
            let c = u.counts;
            let port = u.local_addr().map_or(0, |a| a.port());
            self.reporter.log(&format!("UDP port {port}: {} uTP, {} DHT, {} dropped datagrams in", c.utp, c.dht, c.dropped));
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
            if matches!(ev, DiskEvent::Error { .. } | DiskEvent::Warning { .. }) {
                self.engine.handle(Input::Disk(ev), now);
            }
        }
        self.run_actions(now);
        // Everything streamed reaches stdout before we end.
        let streaming = self.stream_out.is_some();
        if let Some(w) = self.stream_out.as_mut() {
            w.finish();
        }
        let quiet_end = self.stream_closed();
        let (outcome, summaries) = self.engine.summaries(outcome, now);
        // Bars first: each one finished (complete) or abandoned where it
        // stopped, so nothing is drawn again over the summary.
        for (i, s) in summaries.iter().enumerate() {
            self.reporter.update(i, &s.snap);
            self.reporter.finish(i, s.status == "done");
        }
        self.reporter.finish_all();
        for s in &summaries {
            if self.reporter.is_json() {
                self.reporter.event(json!({
                    "event": if s.status == "done" { "done" } else { "stopped" },
                    "status": s.status,
                    "info_hash": s.snap.info_hash,
                    "name": s.snap.name,
                    "path": torrent_core::path::show_path(&s.path),
                    "downloaded": s.downloaded,
                    "uploaded": s.uploaded,
                    "have_bytes": s.snap.have_bytes,
                    "total_bytes": s.snap.total,
                    "hash_failures": s.hash_failures,
                    "error": s.error,
                }));
            } else if !streaming {
                self.reporter.result_line(&format!("{}\t{}\t{}", s.snap.info_hash, s.status, torrent_core::path::show_path(&s.path)));
            }
            if quiet_end {
                continue;
            }
            self.reporter.log(&summary_line(s));
        }
        // Give the `stopped` announces a moment.
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until && self.ann_rx.recv_timeout(Duration::from_millis(50)).is_ok() {}
        outcome
    }
}

/// The summary of one torrent for people: human sizes (binary units), its
/// own elapsed time, the ratio when it uploaded.
pub fn summary_line(s: &crate::engine::Summary) -> String {
    use crate::progress::{human_bytes, human_duration, human_rate};
    let mut line = format!(
        "{}: {}, {} of {}, downloaded {} in {} ({})",
        s.snap.name,
        s.status,
        human_bytes(s.snap.have_bytes),
        human_bytes(s.snap.total),
        human_bytes(s.downloaded),
        human_duration(s.secs.round() as u64),
        human_rate(s.downloaded as f64 / s.secs.max(0.001))
    );
    line.push_str(&format!(", uploaded {}", human_bytes(s.uploaded)));
    if s.uploaded > 0 {
        line.push_str(&format!(" (ratio {})", crate::progress::ratio(&s.snap)));
    }
    if s.hash_failures > 0 {
        line.push_str(&format!(", {} hash failures", s.hash_failures));
    }
    if let Some(e) = &s.error {
        line.push_str(&format!(", error: {e}"));
    }
    line
}
