//! [`DhtNode`]: a sans-IO Mainline DHT node.
//!
//! The owner moves bytes and time in and out:
//!
//! ```text
//! loop {
//!     while let Some((to, bytes)) = node.poll_transmit() { socket.send_to(&bytes, to) }
//!     wait for a datagram, at most until node.next_timeout()
//!     on a datagram:  node.handle_datagram(from, &bytes, Instant::now())
//!     on timeout:     node.handle_timeout(Instant::now())
//!     while let Some(ev) = node.poll_event() { ... }
//! }
//! ```
//!
//! Everything is bounded: pending transactions, queued datagrams and events,
//! concurrent lookups, the routing table (160 buckets of 8), stored peers, and
//! the rate of answers to incoming queries.

use super::krpc::{self, code, Body, Message, NodeInfo, Query, Response};
use super::lookup::{Lookup, LookupId};
use super::persist::SavedState;
use super::routing::{Insert, RoutingTable};
use super::store::PeerStore;
use super::token::Tokens;
use super::{to_v4, NodeId, K};
use crate::InfoHash;
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

/// Tunables. `Config::default()` suits real use; tests shorten the timeouts.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long to wait for an answer to a query.
    pub query_timeout: Duration,
    /// Queries in flight per lookup.
    pub alpha: usize,
    /// Pending transactions (queries awaiting an answer) overall.
    pub max_pending: usize,
    /// Concurrent lookups started by the owner.
    pub max_lookups: usize,
    /// Datagrams queued for sending; more are dropped.
    pub max_outgoing: usize,
    /// Events queued for the owner; the oldest are dropped beyond this.
    pub max_events: usize,
    /// Announce-token secret rotation (BEP 5: 5 minutes).
    pub token_rotation: Duration,
    /// How long an announced peer is kept.
    pub peer_ttl: Duration,
    /// Info-hashes with stored peers.
    pub max_torrents: usize,
    /// Stored peers per info-hash.
    pub max_peers_per_torrent: usize,
    /// Peers returned in one `get_peers` answer (keeps datagrams small).
    pub max_values_per_reply: usize,
    /// Answers to incoming queries per second (token bucket).
    pub replies_per_second: u32,
    /// Period of housekeeping (token rotation, expiry, pings, refreshes).
    pub maintenance_interval: Duration,
    /// Refresh buckets idle this long (BEP 5: 15 minutes).
    pub bucket_refresh: Duration,
    /// `v` sent in our messages (client version).
    pub version: Option<Vec<u8>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            query_timeout: Duration::from_secs(3),
            alpha: 3,
            max_pending: 256,
            max_lookups: 32,
            max_outgoing: 1024,
            max_events: 4096,
            token_rotation: Duration::from_secs(300),
            peer_ttl: Duration::from_secs(30 * 60),
            max_torrents: 2048,
            max_peers_per_torrent: 256,
            max_values_per_reply: 50,
            replies_per_second: 500,
            maintenance_interval: Duration::from_secs(10),
            bucket_refresh: Duration::from_secs(15 * 60),
            version: Some(b"TC01".to_vec()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhtEvent {
    /// New peers found by a `get_peers` or `announce_peer` lookup (each peer
    /// reported once per lookup).
    Peers {
        lookup: LookupId,
        info_hash: InfoHash,
        peers: Vec<SocketAddr>,
    },
    /// A `get_peers` / `announce_peer` lookup converged (or ran out of nodes).
    LookupDone {
        lookup: LookupId,
        info_hash: InfoHash,
        /// Distinct peers reported for this lookup.
        peers_found: usize,
        /// Nodes that answered.
        nodes_answered: usize,
    },
    /// `announce_peer` queries were sent to the closest nodes that gave us a
    /// token; `acked` of `sent` were acknowledged.
    Announced {
        lookup: LookupId,
        info_hash: InfoHash,
        sent: usize,
        acked: usize,
    },
    /// A bootstrap lookup finished; the routing table holds `table_size`.
    Bootstrapped { lookup: LookupId, table_size: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhtError {
    #[error("too many lookups in progress (limit {0})")]
    TooManyLookups(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bootstrap,
    /// Internal bucket refresh: no events.
    Refresh,
    GetPeers,
    Announce {
        port: u16,
        implied_port: bool,
    },
}

#[derive(Debug)]
struct Search {
    lookup: Lookup,
    kind: Kind,
    /// Peers reported so far (bounded).
    seen: std::collections::HashSet<SocketAddr>,
}

#[derive(Debug, Clone, Copy)]
struct AnnounceRound {
    info_hash: InfoHash,
    sent: usize,
    pending: usize,
    acked: usize,
}

#[derive(Debug, Clone, Copy)]
enum Purpose {
    Lookup(LookupId),
    /// Is this table entry still alive?
    Ping,
    /// An unknown node queried us; ping it before adding it.
    Verify,
    Announce(LookupId),
}

#[derive(Debug, Clone)]
struct Pending {
    addr: SocketAddrV4,
    id: Option<NodeId>,
    deadline: Instant,
    purpose: Purpose,
}

/// Most distinct peers remembered per lookup (for de-duplication).
const MAX_SEEN_PEERS: usize = 4096;
/// Most bootstrap addresses remembered.
const MAX_BOOTSTRAP: usize = 64;

pub struct DhtNode {
    id: NodeId,
    config: Config,
    table: RoutingTable,
    pending: HashMap<u16, Pending>,
    next_tid: u16,
    searches: HashMap<LookupId, Search>,
    rounds: HashMap<LookupId, AnnounceRound>,
    next_lookup: u64,
    outgoing: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<DhtEvent>,
    tokens: Tokens,
    store: PeerStore,
    bootstrap_addrs: Vec<SocketAddrV4>,
    next_maintenance: Instant,
    last_bootstrap: Option<Instant>,
    allowance: f64,
    allowance_at: Instant,
}

impl DhtNode {
    pub fn new(id: NodeId, now: Instant) -> DhtNode {
        DhtNode::with_config(id, Config::default(), now)
    }

    pub fn with_config(id: NodeId, config: Config, now: Instant) -> DhtNode {
        DhtNode {
            id,
            table: RoutingTable::new(id, now),
            pending: HashMap::new(),
            next_tid: rand::random(),
            searches: HashMap::new(),
            rounds: HashMap::new(),
            next_lookup: 1,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            tokens: Tokens::new(config.token_rotation, now),
            store: PeerStore::new(
                config.max_torrents,
                config.max_peers_per_torrent,
                config.peer_ttl,
            ),
            bootstrap_addrs: Vec::new(),
            next_maintenance: now + config.maintenance_interval,
            last_bootstrap: None,
            allowance: config.replies_per_second as f64,
            allowance_at: now,
            config,
        }
    }

    /// Resume from a saved state: same id; the saved nodes are asked first
    /// by a bootstrap lookup (they enter the table once they answer).
    pub fn from_saved(state: &SavedState, config: Config, now: Instant) -> DhtNode {
        let mut n = DhtNode::with_config(state.id, config, now);
        let addrs: Vec<SocketAddr> = state.nodes.iter().map(|n| SocketAddr::V4(n.addr)).collect();
        n.bootstrap(&addrs, now);
        n
    }

    /// Our id and the nodes of the routing table, for [`SavedState::to_bytes`].
    pub fn saved_state(&self) -> SavedState {
        SavedState {
            id: self.id,
            nodes: self.table.nodes(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn routing_table(&self) -> &RoutingTable {
        &self.table
    }

    /// Peers stored here by others' `announce_peer` (unexpired).
    pub fn stored_peers(&self, info_hash: InfoHash, now: Instant) -> Vec<SocketAddr> {
        self.store
            .get(&NodeId::from(info_hash), usize::MAX, now)
            .into_iter()
            .map(SocketAddr::V4)
            .collect()
    }

    /// Queries awaiting an answer.
    pub fn pending_queries(&self) -> usize {
        self.pending.len()
    }

    /// Lookups in progress.
    pub fn active_lookups(&self) -> usize {
        self.searches.len()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.outgoing.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<DhtEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn next_timeout(&self) -> Option<Instant> {
        let t = self
            .pending
            .values()
            .map(|p| p.deadline)
            .min()
            .map_or(self.next_maintenance, |d| d.min(self.next_maintenance));
        Some(t)
    }

    /// Start a lookup of our own id through `nodes` (and whatever the table
    /// already knows); `Bootstrapped` is reported when it ends. The addresses
    /// are remembered to bootstrap again if the table empties. Non-IPv4
    /// addresses are ignored.
    pub fn bootstrap(&mut self, nodes: &[SocketAddr], now: Instant) -> LookupId {
        for a in nodes.iter().filter_map(|a| to_v4(*a)) {
            if !self.bootstrap_addrs.contains(&a) && self.bootstrap_addrs.len() < MAX_BOOTSTRAP {
                self.bootstrap_addrs.push(a);
            }
        }
        let boot: Vec<SocketAddrV4> = nodes
            .iter()
            .filter_map(|a| to_v4(*a))
            .take(MAX_BOOTSTRAP)
            .collect();
        self.last_bootstrap = Some(now);
        let id = self.id;
        self.start(id, Kind::Bootstrap, &boot, now)
    }

    /// Ping a node we learnt of outside the DHT (a peer's BEP 5 `port`
    /// message): if it answers it goes into the table like any responder.
    /// Skipped (false) when it is not IPv4, already known or being asked,
    /// or when half the pending budget is in use (peers cannot make us
    /// flood).
    pub fn ping(&mut self, addr: SocketAddr, now: Instant) -> bool {
        let Some(a) = to_v4(addr) else {
            return false;
        };
        if a.port() == 0
            || self.pending.len() >= self.config.max_pending / 2
            || self.pending.values().any(|p| p.addr == a)
            || self.table.nodes().iter().any(|n| n.addr == a)
        {
            return false;
        }
        self.send_query(a, None, Query::Ping { id: self.id }, Purpose::Verify, now)
    }

    /// Start an iterative `get_peers` lookup; peers arrive as
    /// [`DhtEvent::Peers`], then [`DhtEvent::LookupDone`].
    pub fn get_peers(&mut self, info_hash: InfoHash, now: Instant) -> Result<LookupId, DhtError> {
        self.start_user(info_hash, Kind::GetPeers, now)
    }

    /// Look up `info_hash` like [`get_peers`](Self::get_peers) and then
    /// announce that we accept peers on `port` (`None`: the source port of
    /// our datagrams, BEP 5's `implied_port`) to the closest nodes that gave
    /// us a token; ends with [`DhtEvent::Announced`].
    pub fn announce_peer(
        &mut self,
        info_hash: InfoHash,
        port: Option<u16>,
        now: Instant,
    ) -> Result<LookupId, DhtError> {
        let kind = Kind::Announce {
            port: port.unwrap_or(0),
            implied_port: port.is_none() || port == Some(0),
        };
        self.start_user(info_hash, kind, now)
    }

    fn start_user(
        &mut self,
        info_hash: InfoHash,
        kind: Kind,
        now: Instant,
    ) -> Result<LookupId, DhtError> {
        let user = self
            .searches
            .values()
            .filter(|s| !matches!(s.kind, Kind::Refresh | Kind::Bootstrap))
            .count();
        if user >= self.config.max_lookups {
            return Err(DhtError::TooManyLookups(self.config.max_lookups));
        }
        // With a thin table, ask the bootstrap nodes too.
        let boot = if self.table.len() < K {
            self.bootstrap_addrs.clone()
        } else {
            Vec::new()
        };
        Ok(self.start(NodeId::from(info_hash), kind, &boot, now))
    }

    fn start(
        &mut self,
        target: NodeId,
        kind: Kind,
        boot: &[SocketAddrV4],
        now: Instant,
    ) -> LookupId {
        let lid = LookupId(self.next_lookup);
        self.next_lookup += 1;
        let seeds = self.table.closest(&target, K * 2);
        let lookup = Lookup::new(self.id, target, &seeds, boot);
        self.searches.insert(
            lid,
            Search {
                lookup,
                kind,
                seen: Default::default(),
            },
        );
        self.step(lid, now);
        lid
    }

    /// Feed one received datagram. Malformed input is answered with a KRPC
    /// error when it looks like a query with a transaction id, else dropped.
    pub fn handle_datagram(&mut self, from: SocketAddr, bytes: &[u8], now: Instant) {
        let Some(from) = to_v4(from) else { return };
        if from.port() == 0 {
            return;
        }
        match krpc::parse(bytes) {
            Ok(msg) => match msg.body {
                Body::Query(q) => self.on_query(from, msg.tid, q, now),
                Body::Response(r) => self.on_response(from, &msg.tid, r, now),
                Body::Error(_) => self.on_error(from, &msg.tid, now),
            },
            Err(e) => {
                if let (Some(tid), true) = (e.tid, e.wants_answer) {
                    if self.allow_reply(now) {
                        let m = self.stamp(Message::error(tid, e.code, e.what));
                        self.send(SocketAddr::V4(from), m.encode());
                    }
                }
            }
        }
        self.step_all(now);
    }

    /// Expire transactions and do housekeeping; call at `next_timeout()`
    /// (calling it earlier is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for tid in expired {
            if let Some(p) = self.pending.remove(&tid) {
                self.table.failed(p.addr, p.id, now);
                self.fail(p, now);
            }
        }
        if now >= self.next_maintenance {
            self.maintenance(now);
            self.next_maintenance = now + self.config.maintenance_interval;
        }
        self.step_all(now);
    }

    fn maintenance(&mut self, now: Instant) {
        self.tokens.maybe_rotate(now);
        self.store.expire(now);
        // Ping a few questionable nodes not already being asked.
        for n in self.table.questionable(now, 3) {
            if !self.pending.values().any(|p| p.addr == n.addr) {
                self.send_query(
                    n.addr,
                    Some(n.id),
                    Query::Ping { id: self.id },
                    Purpose::Ping,
                    now,
                );
            }
        }
        for target in self.table.refresh_targets(now, self.config.bucket_refresh) {
            if self.searches.len() >= self.config.max_lookups * 2 {
                break;
            }
            self.start(target, Kind::Refresh, &[], now);
        }
        // Lost every node: bootstrap again, at most once a minute.
        if self.table.is_empty()
            && !self.bootstrap_addrs.is_empty()
            && self
                .last_bootstrap
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(60))
            && !self.searches.values().any(|s| s.kind == Kind::Bootstrap)
        {
            let boot = self.bootstrap_addrs.clone();
            self.last_bootstrap = Some(now);
            let id = self.id;
            self.start(id, Kind::Bootstrap, &boot, now);
        }
    }

    fn stamp(&self, mut m: Message) -> Message {
        m.version = self.config.version.clone();
        m
    }

    fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        if self.outgoing.len() < self.config.max_outgoing {
            self.outgoing.push_back((to, bytes));
        }
    }

    fn emit(&mut self, ev: DhtEvent) {
        if self.events.len() >= self.config.max_events {
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }

    fn allow_reply(&mut self, now: Instant) -> bool {
        let rate = self.config.replies_per_second as f64;
        let dt = now
            .saturating_duration_since(self.allowance_at)
            .as_secs_f64();
        self.allowance_at = now.max(self.allowance_at);
        self.allowance = (self.allowance + dt * rate).min(rate);
        if self.allowance >= 1.0 {
            self.allowance -= 1.0;
            true
        } else {
            false
        }
    }

    /// Send a query; false if too many are pending.
    fn send_query(
        &mut self,
        addr: SocketAddrV4,
        id: Option<NodeId>,
        q: Query,
        purpose: Purpose,
        now: Instant,
    ) -> bool {
        let limit = self.config.max_pending;
        self.send_query_limit(addr, id, q, purpose, now, limit)
    }

    fn send_query_limit(
        &mut self,
        addr: SocketAddrV4,
        id: Option<NodeId>,
        q: Query,
        purpose: Purpose,
        now: Instant,
        limit: usize,
    ) -> bool {
        if self.pending.len() >= limit {
            return false;
        }
        let mut tid = self.next_tid;
        while self.pending.contains_key(&tid) {
            tid = tid.wrapping_add(1);
        }
        self.next_tid = tid.wrapping_add(1);
        self.pending.insert(
            tid,
            Pending {
                addr,
                id,
                deadline: now + self.config.query_timeout,
                purpose,
            },
        );
        let m = self.stamp(Message::query(tid.to_be_bytes().to_vec(), q));
        self.send(SocketAddr::V4(addr), m.encode());
        true
    }

    fn take_pending(&mut self, from: SocketAddrV4, tid: &[u8]) -> Option<Pending> {
        let tid: [u8; 2] = tid.try_into().ok()?;
        let tid = u16::from_be_bytes(tid);
        match self.pending.get(&tid) {
            Some(p) if p.addr == from => self.pending.remove(&tid),
            _ => None,
        }
    }

    fn on_query(&mut self, from: SocketAddrV4, tid: Vec<u8>, q: Query, now: Instant) {
        if !self.allow_reply(now) {
            return;
        }
        let sender = q.sender();
        if sender != self.id {
            if self.table.get(&sender).is_some() {
                self.table.seen(&sender, from, now);
            } else if self.table.has_room_for(&sender, now)
                && self.pending.len() < self.config.max_pending / 2
                && !self.pending.values().any(|p| p.addr == from)
            {
                self.send_query(
                    from,
                    Some(sender),
                    Query::Ping { id: self.id },
                    Purpose::Verify,
                    now,
                );
            }
        }
        let reply = match q {
            Query::Ping { .. } => Message::response(
                tid,
                Response {
                    id: self.id,
                    ..Default::default()
                },
            ),
            Query::FindNode { target, .. } => Message::response(
                tid,
                Response {
                    id: self.id,
                    nodes: self.closest_for(&target, from),
                    ..Default::default()
                },
            ),
            Query::GetPeers { info_hash, .. } => {
                let values = self
                    .store
                    .get(&info_hash, self.config.max_values_per_reply, now)
                    .into_iter()
                    .map(SocketAddr::V4)
                    .collect();
                Message::response(
                    tid,
                    Response {
                        id: self.id,
                        nodes: self.closest_for(&info_hash, from),
                        values,
                        token: Some(self.tokens.token_for(*from.ip())),
                    },
                )
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
                ..
            } => {
                if !self.tokens.verify(*from.ip(), &token) {
                    Message::error(tid, code::PROTOCOL, "bad token")
                } else {
                    let port = if implied_port { from.port() } else { port };
                    if self
                        .store
                        .insert(info_hash, SocketAddrV4::new(*from.ip(), port), now)
                    {
                        Message::response(
                            tid,
                            Response {
                                id: self.id,
                                ..Default::default()
                            },
                        )
                    } else {
                        Message::error(tid, code::SERVER, "peer store full")
                    }
                }
            }
        };
        let m = self.stamp(reply);
        self.send(SocketAddr::V4(from), m.encode());
    }

    /// The K closest nodes we know, leaving out the one asking.
    fn closest_for(&self, target: &NodeId, asking: SocketAddrV4) -> Vec<NodeInfo> {
        let mut v = self.table.closest(target, K + 1);
        v.retain(|n| n.addr != asking);
        v.truncate(K);
        v
    }

    fn on_response(&mut self, from: SocketAddrV4, tid: &[u8], r: Response, now: Instant) {
        let Some(p) = self.take_pending(from, tid) else {
            return;
        };
        if let Some(expected) = p.id {
            if expected != r.id && matches!(p.purpose, Purpose::Ping | Purpose::Verify) {
                // A different node answers at that address now.
                self.table.remove(&expected);
            }
        }
        if r.id != self.id {
            if let Insert::PingFirst(old) = self.table.insert(
                NodeInfo {
                    id: r.id,
                    addr: from,
                },
                now,
            ) {
                if !self.pending.values().any(|q| q.addr == old.addr) {
                    self.send_query(
                        old.addr,
                        Some(old.id),
                        Query::Ping { id: self.id },
                        Purpose::Ping,
                        now,
                    );
                }
            }
        }
        match p.purpose {
            Purpose::Ping | Purpose::Verify => {}
            Purpose::Lookup(lid) => {
                let Some(s) = self.searches.get_mut(&lid) else {
                    return;
                };
                s.lookup.on_answer(from, r.id, r.token, &r.nodes);
                if matches!(s.kind, Kind::GetPeers | Kind::Announce { .. }) && !r.values.is_empty()
                {
                    let mut fresh = Vec::new();
                    for v in r.values {
                        if v.port() == 0 || s.seen.len() >= MAX_SEEN_PEERS {
                            continue;
                        }
                        if s.seen.insert(v) {
                            fresh.push(v);
                        }
                    }
                    if !fresh.is_empty() {
                        let info_hash = InfoHash::from(s.lookup.target);
                        self.emit(DhtEvent::Peers {
                            lookup: lid,
                            info_hash,
                            peers: fresh,
                        });
                    }
                }
            }
            Purpose::Announce(lid) => self.announce_reply(lid, true),
        }
    }

    fn on_error(&mut self, from: SocketAddrV4, tid: &[u8], now: Instant) {
        // The node is alive but the query failed.
        if let Some(p) = self.take_pending(from, tid) {
            self.fail(p, now);
        }
    }

    fn fail(&mut self, p: Pending, _now: Instant) {
        match p.purpose {
            Purpose::Lookup(lid) => {
                if let Some(s) = self.searches.get_mut(&lid) {
                    s.lookup.on_failure(p.addr);
                }
            }
            Purpose::Announce(lid) => self.announce_reply(lid, false),
            Purpose::Ping | Purpose::Verify => {}
        }
    }

    fn announce_reply(&mut self, lid: LookupId, ok: bool) {
        let Some(r) = self.rounds.get_mut(&lid) else {
            return;
        };
        r.pending -= 1;
        if ok {
            r.acked += 1;
        }
        if r.pending == 0 {
            let r = self.rounds.remove(&lid).expect("present");
            self.emit(DhtEvent::Announced {
                lookup: lid,
                info_hash: r.info_hash,
                sent: r.sent,
                acked: r.acked,
            });
        }
    }

    fn step_all(&mut self, now: Instant) {
        let ids: Vec<LookupId> = self.searches.keys().copied().collect();
        for lid in ids {
            self.step(lid, now);
        }
    }

    /// Send the queries a lookup wants; finish it when it is done.
    fn step(&mut self, lid: LookupId, now: Instant) {
        loop {
            if self.pending.len() >= self.config.max_pending {
                break;
            }
            let alpha = self.config.alpha;
            let Some(s) = self.searches.get_mut(&lid) else {
                return;
            };
            let Some((addr, id)) = s.lookup.next_query(alpha) else {
                break;
            };
            let target = s.lookup.target;
            let q = match s.kind {
                Kind::Bootstrap | Kind::Refresh => Query::FindNode {
                    id: self.id,
                    target,
                },
                Kind::GetPeers | Kind::Announce { .. } => Query::GetPeers {
                    id: self.id,
                    info_hash: target,
                },
            };
            self.send_query(addr, id, q, Purpose::Lookup(lid), now);
        }
        let done = self.searches.get(&lid).is_some_and(|s| s.lookup.is_done());
        if !done {
            return;
        }
        let s = self.searches.remove(&lid).expect("present");
        let info_hash = InfoHash::from(s.lookup.target);
        match s.kind {
            Kind::Refresh => {}
            Kind::Bootstrap => self.emit(DhtEvent::Bootstrapped {
                lookup: lid,
                table_size: self.table.len(),
            }),
            Kind::GetPeers | Kind::Announce { .. } => {
                self.emit(DhtEvent::LookupDone {
                    lookup: lid,
                    info_hash,
                    peers_found: s.seen.len(),
                    nodes_answered: s.lookup.answered(),
                });
                if let Kind::Announce { port, implied_port } = s.kind {
                    let mut sent = 0;
                    for (n, token) in s.lookup.closest_answered() {
                        let Some(token) = token else { continue };
                        let q = Query::AnnouncePeer {
                            id: self.id,
                            info_hash: s.lookup.target,
                            port: if implied_port { 1 } else { port },
                            implied_port,
                            token,
                        };
                        // Announces may exceed max_pending by up to K.
                        let limit = self.config.max_pending + K;
                        if self.send_query_limit(
                            n.addr,
                            Some(n.id),
                            q,
                            Purpose::Announce(lid),
                            now,
                            limit,
                        ) {
                            sent += 1;
                        }
                    }
                    if sent == 0 {
                        self.emit(DhtEvent::Announced {
                            lookup: lid,
                            info_hash,
                            sent: 0,
                            acked: 0,
                        });
                    } else {
                        self.rounds.insert(
                            lid,
                            AnnounceRound {
                                info_hash,
                                sent,
                                pending: sent,
                                acked: 0,
                            },
                        );
                    }
                }
            }
        }
    }
}
