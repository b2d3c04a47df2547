//! An in-memory world for engine tests: engines ("nodes") wired to each
//! other through simulated links (latency and bandwidth, a simulated clock),
//! a disk that keeps each torrent's bytes in a Vec, a hasher that judges
//! pieces from those bytes (both release the budget charges of the jobs
//! they finish, as the threads do), and a tap that decodes what each side sends so
//! tests can count messages. No sockets, no threads, no sleeping. With
//! `SIM_LOG` set in the environment, the engines' log lines go to stderr
//! with the simulated time; with `SIM_TRACE`, every message sent but
//! requests and pieces (`SIM_TRACE_ALL`: every one).

use crate::disk::{DiskEvent, DiskJob};
use crate::engine::budget::Released;
use crate::engine::{Action, CloseReason, Command, Config, ConnKind, Engine, Input, Job, PeerKey};
use crate::hasher::HashJob;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::peer::codec::Decoder;
use torrent_core::peer::message::Message;
use torrent_core::Metainfo;

pub use crate::engine::fuzz::make_torrent as torrent;

pub fn config() -> Config {
    let mut c = crate::engine::fuzz::fuzz_config();
    c.max_peers = 50;
    c.seed = false;
    c.upload_slots = 4;
    c
}

/// What a node's disk holds for a torrent: the bytes and which pieces are
/// there at the start.
pub struct DiskSpec {
    pub data: Vec<u8>,
    pub have: Vec<bool>,
}

pub struct Node {
    pub engine: Engine,
    pub addr: SocketAddr,
    /// Torrent bytes per torrent id (the simulated files).
    pub disk: HashMap<usize, Vec<u8>>,
    /// Prepared disk contents, handed out on `Open`.
    pub specs: HashMap<usize, DiskSpec>,
    /// Our key -> (other node, its key).
    links: HashMap<PeerKey, (usize, PeerKey)>,
    next_key: PeerKey,
    /// Messages this node sent, by kind, decoded from its bytes.
    pub sent: BTreeMap<&'static str, usize>,
    taps: HashMap<PeerKey, Decoder>,
    pub closed: Vec<(SocketAddr, CloseReason)>,
    pub saved_metadata: usize,
    /// Tracker announces asked for: (torrent, event), in order (none is
    /// answered).
    pub announces: Vec<(usize, torrent_core::tracker::Event)>,
    /// Resume records asked for: (when, clean, pieces verified).
    pub resume_saves: Vec<(Instant, bool, usize)>,
    pub disk_jobs_closed: Vec<usize>,
    /// `close N`, `delete HASH`, `resume N` in the order the disk got them.
    pub disk_log: Vec<String>,
    /// Bytes the engine streamed: (torrent offset, bytes), in order.
    pub streamed: Vec<(u64, Vec<u8>)>,
    /// What the engine said to readers ([`crate::engine::readers`]), in
    /// order; the owner's backlog is the test's to report.
    pub reader_out: Vec<crate::engine::readers::ReaderOut>,
    /// Reader data handed out while a piece under it was not verified.
    pub reader_unverified: usize,
    /// Whole pieces handed to the hasher without a disk write (streaming
    /// without saving), by (torrent, piece).
    pub hashed_whole: HashMap<(usize, u32), Vec<u8>>,
    /// The hash thread's running hashes: blocks in order from offset 0, as
    /// `hasher.rs` keeps them (the rest is read from the disk at `Finish`).
    running: HashMap<(usize, u32), (Sha1, u64)>,
    /// A slow disk: bytes written per second. Disk jobs and hash finishes
    /// then wait in order, as on the disk thread, each write taking its
    /// time; without it every job is done at once.
    pub disk_rate: Option<f64>,
    disk_free: Option<Instant>,
    /// Block bytes in disk jobs not yet done (counted here, from the jobs,
    /// not from the engine's charges), and the most it reached, and the
    /// most that plus the bytes asked of peers reached.
    pub backlog: u64,
    pub max_backlog: u64,
    pub max_in_flight: u64,
    /// The charges the hash and disk "threads" released, as reported to
    /// the engine ([`Input::Released`]).
    pub released: Released,
    /// The most the engine counted against its budget plus the bytes
    /// asked of peers, seen at each hand-over.
    pub max_charged: u64,
}

impl Node {
    /// Bytes asked of peers and not yet received.
    fn asked(&self) -> u64 {
        let blocks: usize = self.engine.peers.iter().flatten().map(|p| p.st.outstanding()).sum();
        blocks as u64 * 16384
    }
}

enum Ev {
    Deliver { node: usize, key: PeerKey, data: Vec<u8> },
    Close { node: usize, key: PeerKey },
    /// A job of a slow disk, done now (see [`Node::disk_rate`]).
    Disk { node: usize, job: Queued },
}

enum Queued {
    Disk(DiskJob),
    Hash(HashJob),
}

pub struct Sim {
    pub nodes: Vec<Node>,
    pub start: Instant,
    pub now: Instant,
    queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    /// One-way latency and per-direction bandwidth (bytes/s) of every link;
    /// `slow` overrides the bandwidth of links from a node.
    pub latency: Duration,
    pub bandwidth: f64,
    pub slow: HashMap<usize, f64>,
    /// One-way latency of every link of a node (the larger of its two
    /// ends' wins), overriding `latency`: a far peer.
    pub far: HashMap<usize, Duration>,
    link_free: HashMap<(usize, PeerKey), Instant>,
    /// Nodes that serve wrong bytes (see [`Liar`]).
    pub liars: HashMap<usize, Liar>,
}

/// A node that flips bytes of the blocks it serves.
#[derive(Debug, Clone, Copy)]
pub struct Liar {
    /// The node whose state a cunning liar watches.
    pub victim: usize,
    /// Cunning: good bytes for the pieces the victim has on parole (it
    /// knows when it is watched), wrong bytes for every other piece.
    pub honest_on_parole: bool,
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::Request { .. } => "request",
        Message::Cancel { .. } => "cancel",
        Message::Piece { .. } => "piece",
        Message::Choke => "choke",
        Message::Unchoke => "unchoke",
        Message::Interested => "interested",
        Message::Have(_) => "have",
        Message::Extended { .. } => "extended",
        Message::RejectRequest { .. } => "reject",
        _ => "other",
    }
}

impl Sim {
    pub fn new() -> Sim {
        let start = Instant::now();
        Sim {
            nodes: Vec::new(),
            start,
            now: start,
            queue: BTreeMap::new(),
            seq: 0,
            latency: Duration::from_millis(5),
            bandwidth: 20e6,
            slow: HashMap::new(),
            far: HashMap::new(),
            link_free: HashMap::new(),
            liars: HashMap::new(),
        }
    }

    pub fn add_node(&mut self, cfg: Config, seed: u64) -> usize {
        let i = self.nodes.len();
        let addr: SocketAddr = format!("127.0.0.{}:6881", i + 1).parse().unwrap();
        let mut id = [b'-'; 20];
        id[..8].copy_from_slice(format!("SIM{i:05}").as_bytes());
        let engine = Engine::new(cfg, id, 6881, Some(seed), self.now);
        self.nodes.push(Node {
            engine,
            addr,
            disk: HashMap::new(),
            specs: HashMap::new(),
            links: HashMap::new(),
            next_key: 0,
            sent: BTreeMap::new(),
            taps: HashMap::new(),
            closed: Vec::new(),
            saved_metadata: 0,
            announces: Vec::new(),
            resume_saves: Vec::new(),
            disk_jobs_closed: Vec::new(),
            disk_log: Vec::new(),
            streamed: Vec::new(),
            reader_out: Vec::new(),
            reader_unverified: 0,
            hashed_whole: HashMap::new(),
            running: HashMap::new(),
            disk_rate: None,
            disk_free: None,
            backlog: 0,
            max_backlog: 0,
            max_in_flight: 0,
            released: Released::default(),
            max_charged: 0,
        });
        i
    }

    /// Add `meta` to node `n` with `have` pieces of `data` on its disk (the
    /// rest zeros: missing). Returns the torrent id.
    pub fn add_torrent(&mut self, n: usize, meta: &Metainfo, data: &[u8], have: Vec<bool>) -> usize {
        let plen = meta.info.piece_length as usize;
        let mut disk = vec![0u8; data.len()];
        for (i, h) in have.iter().enumerate() {
            if *h {
                let r = i * plen..((i + 1) * plen).min(data.len());
                disk[r.clone()].copy_from_slice(&data[r]);
            }
        }
        let tid = self.nodes[n].engine.add(Job::Torrent { meta: Box::new(meta.clone()), select: None }, self.now);
        self.nodes[n].specs.insert(tid, DiskSpec { data: disk, have });
        self.settle();
        tid
    }

    /// Node 1 seeding the torrent and node 2 with none of it, told of the
    /// seeder; both with the default test config. Returns (seeder, leecher).
    pub fn seeder_and_leecher(&mut self, meta: &Metainfo, data: &[u8]) -> (usize, usize) {
        let n = meta.info.pieces.len();
        let mut scfg = config();
        scfg.seed = true;
        let s = self.add_node(scfg, 1);
        self.add_torrent(s, meta, data, vec![true; n]);
        let mut lcfg = config();
        lcfg.extra_peers.push(self.addr(s));
        let l = self.add_node(lcfg, 2);
        self.add_torrent(l, meta, data, vec![false; n]);
        (s, l)
    }

    pub fn command(&mut self, n: usize, c: Command) {
        self.nodes[n].engine.handle(Input::Command(c), self.now);
        self.settle();
    }

    pub fn addr(&self, n: usize) -> SocketAddr {
        self.nodes[n].addr
    }

    /// Carry out every node's actions until none are left.
    pub fn settle(&mut self) {
        loop {
            let mut any = false;
            for n in 0..self.nodes.len() {
                while let Some(a) = self.nodes[n].engine.poll_action() {
                    any = true;
                    self.act(n, a);
                }
            }
            if !any {
                return;
            }
        }
    }

    fn link_latency(&self, a: usize, b: usize) -> Duration {
        match (self.far.get(&a), self.far.get(&b)) {
            (None, None) => self.latency,
            (x, y) => x.max(y).copied().unwrap_or(self.latency),
        }
    }

    fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    fn act(&mut self, n: usize, a: Action) {
        let now = self.now;
        match a {
            Action::Send { peer, data } => {
                let Some(&(other, okey)) = self.nodes[n].links.get(&peer) else { return };
                self.tap(n, peer, &data);
                let bw = self.slow.get(&n).copied().unwrap_or(self.bandwidth);
                let mut done = self.link_free.get(&(n, peer)).copied().unwrap_or(now).max(now);
                let latency = self.link_latency(n, other);
                // In chunks as a stream delivers them: the first blocks of
                // a long send arrive before the last have left.
                for chunk in data.chunks(16 * 1024) {
                    done += Duration::from_secs_f64(chunk.len() as f64 / bw);
                    self.push(done + latency, Ev::Deliver { node: other, key: okey, data: chunk.to_vec() });
                }
                self.link_free.insert((n, peer), done);
                // The "socket" took it all.
                self.nodes[n].engine.handle(Input::Sent { peer, pending: 0 }, now);
            }
            Action::Close { peer, reason } => {
                let node = &mut self.nodes[n];
                if let Some((other, okey)) = node.links.remove(&peer) {
                    let addr = self.nodes[other].addr;
                    self.nodes[n].closed.push((addr, reason));
                    let at = self.link_free.get(&(n, peer)).copied().unwrap_or(now).max(now) + self.link_latency(n, other);
                    self.push(at, Ev::Close { node: other, key: okey });
                }
            }
            Action::Dial { torrent, addr, kind } => {
                let Some(other) = self.nodes.iter().position(|x| x.addr == addr) else {
                    self.nodes[n].engine.handle(Input::DialFailed { torrent, addr }, now);
                    return;
                };
                let k = self.key(n);
                let ok = self.key(other);
                self.nodes[n].links.insert(k, (other, ok));
                self.nodes[other].links.insert(ok, (n, k));
                let me = self.nodes[n].addr;
                // Our dialled address seen from the other side: our ip, another port.
                let from = SocketAddr::new(me.ip(), 40000 + k as u16);
                self.nodes[n].engine.handle(Input::Dialing { peer: k, torrent, addr, kind }, now);
                self.nodes[n].engine.handle(Input::Connected { peer: k, local: Some(from) }, now);
                self.nodes[other].engine.handle(Input::Accepted { peer: ok, addr: from, kind: ConnKind::Tcp }, now);
            }
            Action::Disk(job) => self.enqueue(n, Queued::Disk(job)),
            Action::StreamData { offset, data, range, .. } => {
                // A reader that takes everything at once.
                self.nodes[n].streamed.push((offset, data[range].to_vec()));
                self.nodes[n].engine.handle(Input::StreamBacklog(0), now);
            }
            Action::Reader(out) => {
                let node = &mut self.nodes[n];
                if let crate::engine::readers::ReaderOut::Data { at, data, .. } = &out {
                    // The sim's readers read torrent 0.
                    let l = node.engine.torrent(0).and_then(|t| t.life.loaded()).expect("loaded");
                    let plen = l.meta.info.piece_length;
                    let end = at + data.len() as u64;
                    if data.is_empty() || (at / plen..=(end - 1) / plen).any(|i| !l.picker.has(i as u32)) {
                        node.reader_unverified += 1;
                    }
                }
                node.reader_out.push(out);
            }
            Action::Hash(job @ HashJob::Finish { .. }) if self.nodes[n].disk_rate.is_some() => self.enqueue(n, Queued::Hash(job)),
            Action::Hash(job) => self.hash(n, job),
            Action::Report(crate::engine::Report::Log(m)) if std::env::var_os("SIM_LOG").is_some() => {
                eprintln!("[{:?} node {n}] {m}", now - self.start);
            }
            Action::Announce { torrent, request, .. } => self.nodes[n].announces.push((torrent, request.event)),
            Action::DhtLookup { .. } | Action::DhtPing { .. } | Action::Report(_) | Action::WebSeed { .. } | Action::WebSeedClose { .. } => {}
        }
    }

    /// A disk job or a hash finish: done at once, or behind the slow
    /// disk's earlier jobs (a finish reads the piece back from the disk).
    fn enqueue(&mut self, n: usize, job: Queued) {
        let now = self.now;
        let node = &mut self.nodes[n];
        if let Queued::Disk(DiskJob::Write { data, charge, .. }) = &job {
            assert_eq!(*charge, data.len() as u64, "a written block not charged in full");
            node.backlog += data.len() as u64;
            node.max_backlog = node.max_backlog.max(node.backlog);
            let asked = node.asked();
            node.max_in_flight = node.max_in_flight.max(node.backlog + asked);
            node.max_charged = node.max_charged.max(node.engine.budget_held() + asked);
        }
        let Some(rate) = node.disk_rate else { return self.run_queued(n, job) };
        let cost = match &job {
            Queued::Disk(DiskJob::Write { data, .. }) => Duration::from_secs_f64(data.len() as f64 / rate),
            _ => Duration::ZERO,
        };
        let at = node.disk_free.unwrap_or(now).max(now) + cost;
        node.disk_free = Some(at);
        self.push(at, Ev::Disk { node: n, job });
    }

    fn run_queued(&mut self, n: usize, job: Queued) {
        match job {
            Queued::Disk(job) => {
                let (written, charge) = match &job {
                    DiskJob::Write { data, charge, .. } => (data.len() as u64, *charge),
                    _ => (0, 0),
                };
                self.disk(n, job);
                let node = &mut self.nodes[n];
                node.backlog -= written;
                if charge > 0 {
                    node.released.written += charge;
                    let r = node.released;
                    node.engine.handle(Input::Released(r), self.now);
                }
            }
            Queued::Hash(job) => self.hash(n, job),
        }
    }

    fn hash(&mut self, n: usize, job: HashJob) {
        let now = self.now;
        if let HashJob::Block { torrent, piece, begin, data, charge } = &job {
            let node = &mut self.nodes[n];
            assert_eq!(*charge, data.len() as u64, "a block to hash not charged in full");
            node.max_charged = node.max_charged.max(node.engine.budget_held() + node.asked());
            let plen = node.engine.torrent(*torrent).and_then(|t| t.life.picker()).map(|p| p.piece_len(*piece)).unwrap_or(0);
            if *begin == 0 && data.len() == plen as usize {
                node.hashed_whole.insert((*torrent, *piece), data.to_vec());
            } else {
                let (h, next) = node.running.entry((*torrent, *piece)).or_insert_with(|| (Sha1::new(), 0));
                if *begin as u64 == *next {
                    h.update(&data[..]);
                    *next += data.len() as u64;
                }
            }
            // Done with it: its charge goes, whoever else holds the bytes.
            node.released.hashed += *charge;
            let r = node.released;
            node.engine.handle(Input::Released(r), now);
        }
        if let HashJob::Forget { torrent, piece } = &job {
            self.nodes[n].running.remove(&(*torrent, *piece));
        }
        if let HashJob::Finish { torrent, piece, piece_len, expected } = job {
            let node = &mut self.nodes[n];
            if let Some(whole) = node.hashed_whole.remove(&(torrent, piece)) {
                let got: [u8; 20] = Sha1::digest(&whole).into();
                node.engine.handle(Input::Disk(DiskEvent::Verified { torrent, piece, ok: got == expected }), now);
                return;
            }
            let plen = node.engine.torrent(torrent).and_then(|t| t.life.meta()).map(|m| m.info.piece_length).unwrap_or(0);
            let start = piece as u64 * plen;
            // The running hash, then the rest from the disk.
            let (mut h, next) = node.running.remove(&(torrent, piece)).unwrap_or_else(|| (Sha1::new(), 0));
            let ok = node.disk.get(&torrent).is_some_and(|d| {
                h.update(&d[(start + next.min(piece_len)) as usize..(start + piece_len) as usize]);
                let got: [u8; 20] = h.finalize().into();
                got == expected
            });
            node.engine.handle(Input::Disk(DiskEvent::Verified { torrent, piece, ok }), now);
        }
    }

    fn key(&mut self, n: usize) -> PeerKey {
        let k = self.nodes[n].next_key;
        self.nodes[n].next_key += 1;
        k
    }

    fn tap(&mut self, n: usize, peer: PeerKey, data: &[u8]) {
        let node = &mut self.nodes[n];
        let d = node.taps.entry(peer).or_default();
        // In chunks: one send can hold more than the decoder buffers.
        for chunk in data.chunks(64 * 1024) {
            d.feed(chunk).expect("tap buffer");
            if !d.handshake_done() && d.next_handshake().expect("our handshake is valid").is_none() {
                continue;
            }
            while let Some(m) = d.next_message().expect("we send valid messages") {
                if std::env::var_os("SIM_TRACE").is_some() && !matches!(m, Message::Piece { .. } | Message::Request { .. }) || std::env::var_os("SIM_TRACE_ALL").is_some() {
                    eprintln!("[{:?} node {n} peer {peer}] {}", self.now - self.start, kind(&m));
                }
                *node.sent.entry(kind(&m)).or_default() += 1;
            }
        }
    }

    fn disk(&mut self, n: usize, job: DiskJob) {
        let now = self.now;
        let lie = match (&job, self.liars.get(&n)) {
            (DiskJob::Read { torrent, piece, .. }, Some(l)) => {
                let watched = self.nodes[l.victim].engine.torrent(*torrent).is_some_and(|t| t.blame.on_parole(*piece));
                !(l.honest_on_parole && watched)
            }
            _ => false,
        };
        let node = &mut self.nodes[n];
        match job {
            DiskJob::Open { torrent, info, .. } => {
                let spec = node.specs.remove(&torrent).unwrap_or_else(|| DiskSpec {
                    data: vec![0; info.total_length as usize],
                    have: vec![false; info.pieces.len()],
                });
                node.disk.insert(torrent, spec.data);
                node.engine.handle(Input::Disk(DiskEvent::Opened { torrent, have: spec.have, rechecked: true }), now);
            }
            DiskJob::Write { torrent, offset, data, .. } => {
                if let Some(d) = node.disk.get_mut(&torrent) {
                    d[offset as usize..offset as usize + data.len()].copy_from_slice(&data);
                }
            }
            DiskJob::Read { torrent, peer, conn, piece, begin, len } => {
                let plen = node.engine.torrent(torrent).and_then(|t| t.life.meta()).map(|m| m.info.piece_length).unwrap_or(0);
                let start = (piece as u64 * plen + begin as u64) as usize;
                let mut data = node.disk[&torrent][start..start + len as usize].to_vec();
                if lie {
                    data.iter_mut().step_by(97).for_each(|b| *b ^= 0x5a);
                }
                node.engine.handle(Input::Disk(DiskEvent::ReadDone { torrent, peer, conn, piece, begin, data }), now);
            }
            DiskJob::LoadMetadata { torrent, .. } => {
                node.engine.handle(Input::Disk(DiskEvent::MetadataLoaded { torrent, meta: None }), now)
            }
            DiskJob::SaveMetadata { .. } => node.saved_metadata += 1,
            DiskJob::Close { torrent } => {
                node.disk_jobs_closed.push(torrent);
                node.disk_log.push(format!("close {torrent}"));
            }
            DiskJob::Delete { info_hash, info, .. } => node.disk_log.push(format!("delete {info_hash} {}", info.is_some())),
            DiskJob::SaveResume { torrent, have, clean } => {
                node.disk_log.push(format!("resume {torrent}"));
                node.resume_saves.push((now, clean, have.iter().filter(|h| **h).count()));
            }
            DiskJob::Verify { .. } | DiskJob::CreateEmpty { .. } | DiskJob::Shutdown => {}
        }
    }

    /// Advance the simulated clock by `d`: deliver bytes, tick engines.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until, |_| false);
    }

    /// Run until `done(self)` or the clock reaches `until`; true if done.
    pub fn run_until(&mut self, until: Instant, done: impl Fn(&Sim) -> bool) -> bool {
        loop {
            self.settle();
            if done(self) {
                return true;
            }
            let tick = self.nodes.iter().map(|x| x.engine.poll_timeout()).min().unwrap_or(until);
            let next = self.queue.keys().next().map(|k| k.0);
            let at = match next {
                Some(t) if t <= tick => t,
                _ => tick,
            };
            if at > until {
                self.now = until;
                return done(self);
            }
            self.now = self.now.max(at);
            if next.is_some_and(|t| t <= tick) {
                let key = *self.queue.keys().next().expect("checked");
                match self.queue.remove(&key).expect("checked") {
                    Ev::Deliver { node, key, data } => {
                        if self.nodes[node].links.contains_key(&key) {
                            self.nodes[node].engine.feed(key, &data, self.now);
                        }
                    }
                    Ev::Close { node, key } => {
                        if self.nodes[node].links.remove(&key).is_some() {
                            self.nodes[node].engine.handle(Input::Closed { peer: key, reason: CloseReason::PeerClosed }, self.now);
                        }
                    }
                    Ev::Disk { node, job } => self.run_queued(node, job),
                }
            } else {
                for x in &mut self.nodes {
                    if x.engine.poll_timeout() <= self.now {
                        x.engine.handle(Input::Tick, self.now);
                    }
                }
            }
        }
    }

    pub fn complete(&self, n: usize, tid: usize) -> bool {
        self.nodes[n].engine.torrent(tid).and_then(|t| t.life.picker()).is_some_and(|p| p.is_complete())
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }
}
