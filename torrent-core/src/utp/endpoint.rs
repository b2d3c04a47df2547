//! Many uTP connections over one UDP socket, sans-IO.
//!
//! The driver owns the socket and the clock:
//! - every received datagram goes to [`Endpoint::handle_datagram`] with its
//!   source address (an `Err` means "not uTP": a DHT or tracker datagram
//!   sharing the socket can be handed elsewhere);
//! - after a batch of input, [`Endpoint::poll_transmit`] until it returns
//!   `None`, sending each datagram to the address returned (ACKs of a
//!   batch are coalesced this way);
//! - [`Endpoint::poll_event`] for what happened to which connection;
//! - sleep until [`Endpoint::poll_timeout`], then [`Endpoint::handle_timeout`].
//!
//! Packets are matched to a connection by source address and connection id.
//! A SYN from an unknown (address, id) opens an incoming connection when
//! accepting and below [`Endpoint::MAX_CONNECTIONS`]-style limits; anything
//! else unknown is answered with a RESET (RESETs themselves never are).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::connection::{CloseReason, Config, ConnEvent, Connection, State, Stats};
use super::packet::{Packet, PacketType, ParseError};

/// The application's name for one connection (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle(pub u64);

/// What happened, per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A peer opened a connection to us (already usable).
    Incoming(SocketAddr),
    /// Our outgoing connection was answered.
    Connected,
    /// Bytes to read.
    Readable,
    /// Room to write again after a short write.
    Writable,
    /// The peer finished sending (reads end once the buffer is drained).
    PeerFinished,
    /// The connection ended; call [`Endpoint::release`] when done reading.
    Closed(CloseReason),
}

/// Endpoint-wide limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointConfig {
    pub conn: Config,
    /// Open incoming connections on SYNs.
    pub accept: bool,
    /// Most connections held (incoming and outgoing, until released).
    pub max_connections: usize,
    /// Most RESET replies queued (more are dropped).
    pub max_pending_resets: usize,
}

impl Default for EndpointConfig {
    fn default() -> EndpointConfig {
        EndpointConfig {
            conn: Config::default(),
            accept: true,
            max_connections: 1024,
            max_pending_resets: 64,
        }
    }
}

struct Entry {
    addr: SocketAddr,
    conn: Connection,
    released: bool,
    /// Still in the (address, recv id) map.
    routed: bool,
}

/// Endpoint counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub datagrams_in: u64,
    pub not_utp: u64,
    pub resets_sent: u64,
    pub syns_refused: u64,
}

pub struct Endpoint {
    cfg: EndpointConfig,
    epoch: Instant,
    rng: StdRng,
    conns: HashMap<ConnHandle, Entry>,
    routes: HashMap<(SocketAddr, u16), ConnHandle>,
    next: u64,
    dirty: VecDeque<ConnHandle>,
    dirty_set: HashSet<ConnHandle>,
    resets: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<(ConnHandle, Event)>,
    stats: EndpointStats,
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such uTP connection")
}

impl Endpoint {
    pub fn new(cfg: EndpointConfig, now: Instant) -> Endpoint {
        Endpoint::with_rng(cfg, now, StdRng::from_entropy())
    }

    /// Deterministic connection ids and sequence numbers (tests).
    pub fn with_seed(cfg: EndpointConfig, now: Instant, seed: u64) -> Endpoint {
        Endpoint::with_rng(cfg, now, StdRng::seed_from_u64(seed))
    }

    fn with_rng(cfg: EndpointConfig, now: Instant, rng: StdRng) -> Endpoint {
        Endpoint {
            cfg,
            epoch: now,
            rng,
            conns: HashMap::new(),
            routes: HashMap::new(),
            next: 1,
            dirty: VecDeque::new(),
            dirty_set: HashSet::new(),
            resets: VecDeque::new(),
            events: VecDeque::new(),
            stats: EndpointStats::default(),
        }
    }

    pub fn set_accept(&mut self, accept: bool) {
        self.cfg.accept = accept;
    }
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }
    pub fn handles(&self) -> impl Iterator<Item = ConnHandle> + '_ {
        self.conns.keys().copied()
    }

    fn new_handle(&mut self) -> ConnHandle {
        let h = ConnHandle(self.next);
        self.next += 1;
        h
    }

    /// Open a connection to `addr`; the SYN goes out with the next
    /// `poll_transmit`. Fails when the connection table is full.
    pub fn connect(&mut self, addr: SocketAddr, now: Instant) -> io::Result<ConnHandle> {
        self.connect_with_seq(addr, now, 1)
    }

    /// Like [`connect`](Self::connect) with a chosen first sequence number
    /// (tests start near 65535 to cross the wrap early).
    pub fn connect_with_seq(
        &mut self,
        addr: SocketAddr,
        now: Instant,
        seq: u16,
    ) -> io::Result<ConnHandle> {
        if self.conns.len() >= self.cfg.max_connections {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "uTP connection table full",
            ));
        }
        let recv_id = loop {
            let id: u16 = self.rng.gen();
            // Our id, and the one the peer will answer on, both free.
            if !self.routes.contains_key(&(addr, id))
                && !self.routes.contains_key(&(addr, id.wrapping_add(1)))
                && !self.routes.contains_key(&(addr, id.wrapping_sub(1)))
            {
                break id;
            }
        };
        let conn = Connection::connect(self.cfg.conn, self.epoch, now, recv_id, seq);
        let h = self.new_handle();
        self.routes.insert((addr, recv_id), h);
        self.conns.insert(
            h,
            Entry {
                addr,
                conn,
                released: false,
                routed: true,
            },
        );
        self.touch(h);
        Ok(h)
    }

    /// Feed one received datagram. `Err` when it is not a uTP packet.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), ParseError> {
        self.stats.datagrams_in += 1;
        let p = match Packet::decode(data) {
            Ok(p) => p,
            Err(e) => {
                self.stats.not_utp += 1;
                return Err(e);
            }
        };
        match p.ty {
            PacketType::Syn => {
                let key = (from, p.conn_id.wrapping_add(1));
                if let Some(&h) = self.routes.get(&key) {
                    self.conns.get_mut(&h).unwrap().conn.handle_packet(&p, now);
                    self.touch(h);
                } else if self.cfg.accept
                    && self.conns.len() < self.cfg.max_connections
                    && !self.routes.contains_key(&(from, p.conn_id))
                {
                    let seq = self.rng.gen();
                    let conn = Connection::accept(self.cfg.conn, self.epoch, now, &p, seq);
                    let h = self.new_handle();
                    self.routes.insert(key, h);
                    self.conns.insert(
                        h,
                        Entry {
                            addr: from,
                            conn,
                            released: false,
                            routed: true,
                        },
                    );
                    self.events.push_back((h, Event::Incoming(from)));
                    self.touch(h);
                } else {
                    self.stats.syns_refused += 1;
                    self.queue_reset(from, &p, now);
                }
            }
            PacketType::Reset => {
                // The id is the sender's send id or its receive id.
                let id = p.conn_id;
                let found = [id, id.wrapping_add(1), id.wrapping_sub(1)]
                    .into_iter()
                    .filter_map(|k| self.routes.get(&(from, k)).copied())
                    .find(|h| {
                        let c = &self.conns[h].conn;
                        c.recv_id() == id || c.send_id() == id
                    });
                if let Some(h) = found {
                    self.conns.get_mut(&h).unwrap().conn.handle_packet(&p, now);
                    self.touch(h);
                }
            }
            _ => {
                if let Some(&h) = self.routes.get(&(from, p.conn_id)) {
                    self.conns.get_mut(&h).unwrap().conn.handle_packet(&p, now);
                    self.touch(h);
                } else {
                    self.queue_reset(from, &p, now);
                }
            }
        }
        Ok(())
    }

    fn queue_reset(&mut self, to: SocketAddr, p: &Packet<'_>, now: Instant) {
        if self.resets.len() >= self.cfg.max_pending_resets {
            return;
        }
        let mut r = Packet::new(PacketType::Reset, p.conn_id, self.rng.gen(), p.seq_nr);
        r.timestamp_us = now.saturating_duration_since(self.epoch).as_micros() as u32;
        self.resets.push_back((to, r.encode()));
    }

    /// Collect the connection's events, schedule it for output, drop it if
    /// it is finished and released.
    fn touch(&mut self, h: ConnHandle) {
        let Some(e) = self.conns.get_mut(&h) else {
            return;
        };
        while let Some(ev) = e.conn.poll_event() {
            self.events.push_back((
                h,
                match ev {
                    ConnEvent::Connected => Event::Connected,
                    ConnEvent::Readable => Event::Readable,
                    ConnEvent::Writable => Event::Writable,
                    ConnEvent::PeerFinished => Event::PeerFinished,
                    ConnEvent::Closed(r) => Event::Closed(r),
                },
            ));
        }
        if e.conn.is_closed() {
            // A cleanly finished connection stays routed until released, to
            // acknowledge a repeated FIN.
            let finished = e.conn.state() == State::Closed(CloseReason::Finished);
            if e.routed && (e.released || !finished) {
                e.routed = false;
                self.routes.remove(&(e.addr, e.conn.recv_id()));
            }
            if e.released {
                self.conns.remove(&h);
                return;
            }
        }
        if self.dirty_set.insert(h) {
            self.dirty.push_back(h);
        }
    }

    /// The next datagram to send: written to `out` (cleared first), with
    /// its destination. `None` when nothing is due.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<SocketAddr> {
        if let Some((to, r)) = self.resets.pop_front() {
            out.clear();
            out.extend_from_slice(&r);
            self.stats.resets_sent += 1;
            return Some(to);
        }
        while let Some(h) = self.dirty.pop_front() {
            let Some(e) = self.conns.get_mut(&h) else {
                self.dirty_set.remove(&h);
                continue;
            };
            if e.conn.poll_transmit(now, out) {
                let addr = e.addr;
                // Round robin: it may have more, after the others.
                self.dirty.push_back(h);
                return Some(addr);
            }
            self.dirty_set.remove(&h);
        }
        None
    }

    pub fn poll_event(&mut self) -> Option<(ConnHandle, Event)> {
        self.events.pop_front()
    }

    /// The earliest deadline of any connection.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter_map(|e| e.conn.poll_timeout())
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<ConnHandle> = self
            .conns
            .iter()
            .filter(|(_, e)| e.conn.poll_timeout().is_some_and(|t| t <= now))
            .map(|(h, _)| *h)
            .collect();
        for h in due {
            self.conns.get_mut(&h).unwrap().conn.handle_timeout(now);
            self.touch(h);
        }
    }

    /// Queue bytes on a connection; `WouldBlock` when its send buffer is full.
    pub fn write(&mut self, h: ConnHandle, data: &[u8]) -> io::Result<usize> {
        let e = self.conns.get_mut(&h).ok_or_else(not_found)?;
        let r = e.conn.write(data);
        self.touch(h);
        r
    }

    /// Take received bytes: `Ok(0)` is the end of the stream, `WouldBlock`
    /// means nothing yet.
    pub fn read(&mut self, h: ConnHandle, buf: &mut [u8]) -> io::Result<usize> {
        let e = self.conns.get_mut(&h).ok_or_else(not_found)?;
        let r = e.conn.read(buf);
        self.touch(h);
        r
    }

    /// Graceful close: FIN after the queued bytes.
    pub fn close(&mut self, h: ConnHandle) {
        if let Some(e) = self.conns.get_mut(&h) {
            e.conn.close();
            self.touch(h);
        }
    }

    /// An ICMP error came back for datagrams sent to `addr` (the socket's
    /// error queue): connects to it still waiting for an answer fail now
    /// ([`CloseReason::Unreachable`]) instead of after every SYN timed out.
    /// Returns how many closed.
    pub fn handle_unreachable(&mut self, addr: SocketAddr) -> usize {
        let hit: Vec<ConnHandle> = self.conns.iter().filter(|(_, e)| e.addr == addr).map(|(h, _)| *h).collect();
        let mut closed = 0;
        for h in hit {
            if self.conns.get_mut(&h).is_some_and(|e| e.conn.unreachable()) {
                closed += 1;
                self.touch(h);
            }
        }
        closed
    }

    /// Abort: send a RESET and forget the connection now.
    pub fn abort(&mut self, h: ConnHandle, now: Instant) {
        if let Some(mut e) = self.conns.remove(&h) {
            if !e.conn.is_closed() && self.resets.len() < self.cfg.max_pending_resets {
                self.resets.push_back((e.addr, e.conn.reset_packet(now)));
            }
            e.conn.abort();
            if e.routed {
                self.routes.remove(&(e.addr, e.conn.recv_id()));
            }
        }
    }

    /// The application is done with `h`: closed connections are dropped
    /// now, open ones are closed gracefully and dropped once finished.
    pub fn release(&mut self, h: ConnHandle) {
        if let Some(e) = self.conns.get_mut(&h) {
            e.released = true;
            e.conn.close();
            self.touch(h);
        }
    }

    pub fn peer_addr(&self, h: ConnHandle) -> Option<SocketAddr> {
        self.conns.get(&h).map(|e| e.addr)
    }
    pub fn state(&self, h: ConnHandle) -> Option<State> {
        self.conns.get(&h).map(|e| e.conn.state())
    }
    pub fn conn_stats(&self, h: ConnHandle) -> Option<Stats> {
        self.conns.get(&h).map(|e| e.conn.stats())
    }
    /// The connection itself, for inspection (rtt, cwnd, buffered bytes).
    pub fn connection(&self, h: ConnHandle) -> Option<&Connection> {
        self.conns.get(&h).map(|e| &e.conn)
    }
}
