//! Embedded tracker (HTTP and UDP) on loopback.
//!
//! [`Tracker::start`] binds an HTTP listener and a UDP socket on
//! 127.0.0.1 port 0 (and on [::1] with [`TrackerOptions::ipv6`]) and serves
//! them from background threads until dropped. Swarms live in memory: peers
//! per info-hash with the IP the request came from and the port they
//! announced; `event=stopped` removes a peer, `left == 0` counts as a seeder,
//! `event=completed` bumps the `downloaded` counter, `numwant` and
//! `compact=0/1` are honoured.
//!
//! The HTTP side is a tiny hand-written HTTP/1.0-1.1 server (one request per
//! connection, `Connection: close`); the UDP side implements BEP 15 with
//! connection ids checked. Both are written independently from
//! torrent-core's client so the tests compare two implementations.
//!
//! [`Tracker::set_mode`] makes the tracker misbehave in the ways clients
//! must survive: [`Mode::Failure`], [`Mode::Timeout`], [`Mode::Garbage`],
//! [`Mode::Truncated`], [`Mode::Oversized`], [`Mode::Slow`],
//! [`Mode::FailFirst`].

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use torrent_core::bencode::OwnedValue as O;
use torrent_core::InfoHash;

/// How the tracker behaves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Answer properly.
    #[default]
    Normal,
    /// Refuse with this `failure reason` (HTTP) / error action (UDP).
    Failure(String),
    /// Read requests, never answer (HTTP connections are held open).
    Timeout,
    /// Answer with random bytes (UDP: random datagrams, so with a wrong
    /// transaction id).
    Garbage,
    /// Cut the proper answer short (UDP: announce and scrape replies lose
    /// their last 3 bytes; connect replies stay intact).
    Truncated,
    /// HTTP: a 6 MB body (a valid start of a reply with a huge peer list).
    /// UDP: an announce reply with 10,000 peers, a scrape reply with 5,000
    /// entries.
    Oversized,
    /// HTTP: the proper answer written as some real trackers do: dictionary
    /// keys in reverse order, a repeated `interval` after them (the first
    /// one counts) and a newline after the dictionary. UDP: as Normal.
    Unsorted,
    /// HTTP: the proper answer, one byte every [`TrackerOptions::slow_byte_delay`].
    /// UDP: the proper answer after [`TrackerOptions::udp_slow_delay`].
    Slow,
    /// Refuse (as [`Mode::Failure`]) the first N announces of each kind
    /// (HTTP, UDP) since the tracker started, then answer properly: a
    /// tracker that is down, then recovers.
    FailFirst(u64),
}

impl Mode {
    /// What to do for announce number `nth` (1-based) of its kind.
    fn for_announce(self, nth: u64) -> Mode {
        match self {
            Mode::FailFirst(n) if nth <= n => Mode::Failure(format!("down for now (announce {nth} of the first {n})")),
            Mode::FailFirst(_) => Mode::Normal,
            m => m,
        }
    }
}

/// Settings of an embedded tracker.
#[derive(Debug, Clone)]
pub struct TrackerOptions {
    /// Also listen on [::1] (HTTP and UDP).
    pub ipv6: bool,
    /// `interval` sent to clients.
    pub interval: u32,
    /// `min interval` sent to HTTP clients.
    pub min_interval: Option<u32>,
    /// `warning message` sent with every HTTP announce reply.
    pub warning: Option<String>,
    /// Default peers per reply when the client gives no numwant.
    pub default_numwant: usize,
    /// Delay between bytes in [`Mode::Slow`] (HTTP).
    pub slow_byte_delay: Duration,
    /// Delay before each reply in [`Mode::Slow`] (UDP).
    pub udp_slow_delay: Duration,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        TrackerOptions {
            ipv6: false,
            interval: 60,
            min_interval: Some(5),
            warning: None,
            default_numwant: 50,
            slow_byte_delay: Duration::from_millis(250),
            udp_slow_delay: Duration::from_secs(5),
        }
    }
}

/// Most peers returned in one reply whatever numwant says.
const MAX_NUMWANT: usize = 1000;
/// Longest HTTP request head accepted.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// A client's peer entry.
#[derive(Debug, Clone)]
struct Peer {
    peer_id: [u8; 20],
    addr: SocketAddr,
    left: u64,
}

#[derive(Debug, Default)]
struct Swarm {
    peers: Vec<Peer>,
    downloaded: u32,
}

impl Swarm {
    fn counts(&self) -> (u32, u32) {
        let seeders = self.peers.iter().filter(|p| p.left == 0).count() as u32;
        (seeders, self.peers.len() as u32 - seeders)
    }
}

#[derive(Debug, Default)]
struct State {
    swarms: HashMap<[u8; 20], Swarm>,
    mode: Mode,
    /// UDP connection ids handed out, with when.
    connections: HashMap<u64, Instant>,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    opts: TrackerOptions,
    rng: AtomicU64,
    http_announces: AtomicU64,
    udp_announces: AtomicU64,
    scrapes: AtomicU64,
    udp_connects: AtomicU64,
    synthetic_ids: AtomicU64,
}

impl Shared {
    fn random_u64(&self) -> u64 {
        // splitmix64 over an atomic counter.
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn random_bytes(&self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.random_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    fn mode(&self) -> Mode {
        self.state.lock().unwrap().mode.clone()
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleep up to `d`, returning early (false) if the tracker stops.
    fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.stopped() {
                return false;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
        }
        !self.stopped()
    }
}

/// What an announce carries, whichever protocol it came by.
struct Announce {
    info_hash: [u8; 20],
    peer_id: [u8; 20],
    addr: SocketAddr,
    left: u64,
    event: &'static str,
    numwant: Option<usize>,
}

struct AnnounceResult {
    peers: Vec<Peer>,
    seeders: u32,
    leechers: u32,
}

impl Shared {
    fn announce(&self, a: &Announce, same_family_only: bool) -> AnnounceResult {
        let mut st = self.state.lock().unwrap();
        let swarm = st.swarms.entry(a.info_hash).or_default();
        // A peer is known by its id and by its address (a client that
        // restarts with a new peer id replaces its old entry).
        swarm
            .peers
            .retain(|p| p.peer_id != a.peer_id && p.addr != a.addr);
        if a.event != "stopped" {
            swarm.peers.push(Peer {
                peer_id: a.peer_id,
                addr: a.addr,
                left: a.left,
            });
        }
        if a.event == "completed" {
            swarm.downloaded += 1;
        }
        let want = a
            .numwant
            .unwrap_or(self.opts.default_numwant)
            .min(MAX_NUMWANT);
        let peers: Vec<Peer> = swarm
            .peers
            .iter()
            .filter(|p| p.peer_id != a.peer_id)
            .filter(|p| !same_family_only || p.addr.is_ipv6() == a.addr.is_ipv6())
            .take(want)
            .cloned()
            .collect();
        let (seeders, leechers) = swarm.counts();
        AnnounceResult {
            peers,
            seeders,
            leechers,
        }
    }

    /// (seeders, downloaded, leechers) per info-hash; all swarms if empty.
    fn scrape(&self, hashes: &[[u8; 20]]) -> Vec<([u8; 20], u32, u32, u32)> {
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        let st = self.state.lock().unwrap();
        let one = |h: &[u8; 20]| match st.swarms.get(h) {
            Some(s) => {
                let (c, i) = s.counts();
                (*h, c, s.downloaded, i)
            }
            None => (*h, 0, 0, 0),
        };
        if hashes.is_empty() {
            st.swarms.keys().map(one).collect()
        } else {
            hashes.iter().map(one).collect()
        }
    }
}

/// A running embedded tracker; stops when dropped.
pub struct Tracker {
    shared: Arc<Shared>,
    http: Vec<SocketAddr>,
    udp: Vec<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
}

impl Tracker {
    /// Start on 127.0.0.1 (and [::1] if asked), ports chosen by the system.
    /// Panics if a socket cannot be bound (use [`Tracker::try_start`]).
    pub fn start(opts: TrackerOptions) -> Tracker {
        Tracker::try_start(opts).expect("start embedded tracker")
    }

    pub fn try_start(opts: TrackerOptions) -> std::io::Result<Tracker> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ (std::process::id() as u64) << 32;
        let mut ips: Vec<IpAddr> = vec![Ipv4Addr::LOCALHOST.into()];
        if opts.ipv6 {
            ips.push(Ipv6Addr::LOCALHOST.into());
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            opts,
            rng: AtomicU64::new(seed),
            http_announces: AtomicU64::new(0),
            udp_announces: AtomicU64::new(0),
            scrapes: AtomicU64::new(0),
            udp_connects: AtomicU64::new(0),
            synthetic_ids: AtomicU64::new(0),
        });
        let mut t = Tracker {
            shared: shared.clone(),
            http: Vec::new(),
            udp: Vec::new(),
            threads: Vec::new(),
        };
        for ip in ips {
            let listener = TcpListener::bind(SocketAddr::new(ip, 0))?;
            t.http.push(listener.local_addr()?);
            let s = shared.clone();
            t.threads.push(
                std::thread::Builder::new()
                    .name("tracker-http".into())
                    .spawn(move || http_accept_loop(listener, s))?,
            );
            let sock = UdpSocket::bind(SocketAddr::new(ip, 0))?;
            sock.set_read_timeout(Some(Duration::from_millis(50)))?;
            t.udp.push(sock.local_addr()?);
            let s = shared.clone();
            t.threads.push(
                std::thread::Builder::new()
                    .name("tracker-udp".into())
                    .spawn(move || udp_loop(sock, s))?,
            );
        }
        Ok(t)
    }

    /// `http://127.0.0.1:PORT/announce`
    pub fn http_announce_url(&self) -> String {
        format!("http://{}/announce", self.http[0])
    }

    /// `udp://127.0.0.1:PORT/announce`
    pub fn udp_announce_url(&self) -> String {
        format!("udp://{}/announce", self.udp[0])
    }

    /// `http://[::1]:PORT/announce` when started with `ipv6`.
    pub fn http_announce_url_v6(&self) -> Option<String> {
        self.http.get(1).map(|a| format!("http://{a}/announce"))
    }

    /// `udp://[::1]:PORT/announce` when started with `ipv6`.
    pub fn udp_announce_url_v6(&self) -> Option<String> {
        self.udp.get(1).map(|a| format!("udp://{a}/announce"))
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http[0]
    }

    pub fn udp_addr(&self) -> SocketAddr {
        self.udp[0]
    }

    /// Peers currently in the swarm of `info_hash`.
    pub fn peers(&self, info_hash: &InfoHash) -> Vec<SocketAddr> {
        let st = self.shared.state.lock().unwrap();
        st.swarms
            .get(info_hash.as_bytes())
            .map(|s| s.peers.iter().map(|p| p.addr).collect())
            .unwrap_or_default()
    }

    /// Add a seeder at `addr` to the swarm of `info_hash` (as if it had
    /// announced with `left=0`).
    pub fn add_peer(&self, info_hash: &InfoHash, addr: SocketAddr) {
        self.add_peer_with_left(info_hash, addr, 0)
    }

    /// Add a peer with the given `left` (0: seeder, else leecher).
    pub fn add_peer_with_left(&self, info_hash: &InfoHash, addr: SocketAddr, left: u64) {
        let n = self.shared.synthetic_ids.fetch_add(1, Ordering::Relaxed);
        let mut peer_id = [0u8; 20];
        peer_id[..8].copy_from_slice(b"-FX0000-");
        peer_id[12..].copy_from_slice(&n.to_be_bytes());
        let mut st = self.shared.state.lock().unwrap();
        st.swarms
            .entry(*info_hash.as_bytes())
            .or_default()
            .peers
            .push(Peer {
                peer_id,
                addr,
                left,
            });
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.state.lock().unwrap().mode = mode;
    }

    /// Announces answered or attempted over HTTP.
    pub fn http_announces(&self) -> u64 {
        self.shared.http_announces.load(Ordering::Relaxed)
    }

    /// UDP announce requests received with a valid connection id.
    pub fn udp_announces(&self) -> u64 {
        self.shared.udp_announces.load(Ordering::Relaxed)
    }

    /// UDP connect requests received.
    pub fn udp_connects(&self) -> u64 {
        self.shared.udp_connects.load(Ordering::Relaxed)
    }

    /// Scrape requests served (both protocols).
    pub fn scrapes(&self) -> u64 {
        self.shared.scrapes.load(Ordering::Relaxed)
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() calls.
        for a in &self.http {
            let _ = TcpStream::connect_timeout(a, Duration::from_millis(200));
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------------------------ HTTP

fn http_accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopped() {
            break;
        }
        let Ok(stream) = conn else { continue };
        let s = shared.clone();
        let _ = std::thread::Builder::new()
            .name("tracker-conn".into())
            .spawn(move || {
                let _ = handle_http(stream, &s);
            });
    }
}

/// Read the request head (up to the blank line).
fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_REQUEST_HEAD {
            return Err(std::io::Error::other("request head too large"));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if i + 2 < s.len() => {
                match (hex(s[i + 1]), hex(s[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Query parameters in order, values percent-decoded to bytes.
fn parse_query(q: &[u8]) -> Vec<(String, Vec<u8>)> {
    q.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &b""[..]),
            };
            (
                String::from_utf8_lossy(&percent_decode(k)).into_owned(),
                percent_decode(v),
            )
        })
        .collect()
}

fn param<'a>(q: &'a [(String, Vec<u8>)], key: &str) -> Option<&'a [u8]> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
}

fn param_num<T: std::str::FromStr>(q: &[(String, Vec<u8>)], key: &str) -> Option<T> {
    param(q, key).and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
}

/// A canonical dictionary rewritten with its keys reversed, a second
/// `interval` and a trailing newline.
fn unsorted(body: &[u8]) -> Vec<u8> {
    let v = torrent_core::bencode::decode(body).expect("our own replies are canonical");
    let mut out = b"d".to_vec();
    for (k, v) in v.as_dict().expect("a dictionary").iter().rev() {
        out.extend_from_slice(format!("{}:", k.len()).as_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(v.raw);
    }
    out.extend_from_slice(b"8:intervali99999ee\n");
    out
}

fn failure_body(reason: &str) -> Vec<u8> {
    O::dict().with("failure reason", reason.into()).encode()
}

fn write_response(stream: &mut TcpStream, status: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

fn handle_http(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let peer_ip = stream.peer_addr()?.ip();
    let head = read_head(&mut stream)?;
    if shared.stopped() {
        return Ok(());
    }
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return write_response(&mut stream, "405 Method Not Allowed", b"GET only\n");
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let q = parse_query(query.as_bytes());
    let mut nth = 0;
    let body = match path {
        "/announce" => {
            nth = shared.http_announces.fetch_add(1, Ordering::Relaxed) + 1;
            http_announce(&q, peer_ip, shared)
        }
        "/scrape" => http_scrape(&q, shared),
        _ => return write_response(&mut stream, "404 Not Found", b"not found\n"),
    };
    // A scrape (nth 0) is answered by a FailFirst tracker.
    match shared.mode().for_announce(if nth == 0 { u64::MAX } else { nth }) {
        Mode::Normal | Mode::FailFirst(_) => write_response(&mut stream, "200 OK", &body),
        Mode::Failure(reason) => write_response(&mut stream, "200 OK", &failure_body(&reason)),
        Mode::Timeout => {
            shared.sleep(Duration::from_secs(120));
            Ok(())
        }
        Mode::Garbage => {
            let mut g = shared.random_bytes(64 + (shared.random_u64() % 448) as usize);
            // Never a valid start of bencode, so the error is deterministic.
            g[0] = 0xff;
            write_response(&mut stream, "200 OK", &g)
        }
        Mode::Truncated => write_response(&mut stream, "200 OK", &body[..body.len() / 2]),
        Mode::Unsorted => write_response(&mut stream, "200 OK", &unsorted(&body)),
        Mode::Oversized => {
            const PEERS: usize = 6_000_000;
            let prefix = format!("d8:intervali60e5:peers{PEERS}:");
            let len = prefix.len() + PEERS + 1;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{prefix}"
            );
            stream.write_all(head.as_bytes())?;
            let chunk = vec![7u8; 64 * 1024];
            let mut left = PEERS;
            while left > 0 && !shared.stopped() {
                let n = left.min(chunk.len());
                stream.write_all(&chunk[..n])?;
                left -= n;
            }
            stream.write_all(b"e")
        }
        Mode::Slow => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes())?;
            for b in &body {
                if !shared.sleep(shared.opts.slow_byte_delay) {
                    break;
                }
                stream.write_all(&[*b])?;
            }
            Ok(())
        }
    }
    .map(|_| {
        let _ = stream.shutdown(Shutdown::Write);
    })
}

fn http_announce(q: &[(String, Vec<u8>)], ip: IpAddr, shared: &Shared) -> Vec<u8> {
    let Some(info_hash) = param(q, "info_hash").and_then(|v| <[u8; 20]>::try_from(v).ok()) else {
        return failure_body("invalid or missing info_hash");
    };
    let Some(peer_id) = param(q, "peer_id").and_then(|v| <[u8; 20]>::try_from(v).ok()) else {
        return failure_body("invalid or missing peer_id");
    };
    let Some(port) = param_num::<u16>(q, "port") else {
        return failure_body("invalid or missing port");
    };
    let event = match param(q, "event").unwrap_or(b"") {
        b"started" => "started",
        b"completed" => "completed",
        b"stopped" => "stopped",
        _ => "",
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let a = Announce {
        info_hash,
        peer_id,
        addr: SocketAddr::new(ip, port),
        left: param_num(q, "left").unwrap_or(0),
        event,
        numwant: param_num(q, "numwant"),
    };
    let r = shared.announce(&a, false);
    let compact = param(q, "compact") != Some(b"0");
    let mut d = O::dict()
        .with("interval", (shared.opts.interval as i64).into())
        .with("complete", (r.seeders as i64).into())
        .with("incomplete", (r.leechers as i64).into());
    if let Some(mi) = shared.opts.min_interval {
        d.insert("min interval", (mi as i64).into());
    }
    if let Some(w) = &shared.opts.warning {
        d.insert("warning message", w.as_str().into());
    }
    if compact {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for p in &r.peers {
            match p.addr {
                SocketAddr::V4(a) => {
                    v4.extend_from_slice(&a.ip().octets());
                    v4.extend_from_slice(&a.port().to_be_bytes());
                }
                SocketAddr::V6(a) => {
                    v6.extend_from_slice(&a.ip().octets());
                    v6.extend_from_slice(&a.port().to_be_bytes());
                }
            }
        }
        d.insert("peers", O::Bytes(v4));
        if !v6.is_empty() {
            d.insert("peers6", O::Bytes(v6));
        }
    } else {
        let list = r
            .peers
            .iter()
            .map(|p| {
                O::dict()
                    .with("peer id", O::bytes(p.peer_id))
                    .with("ip", p.addr.ip().to_string().into())
                    .with("port", (p.addr.port() as i64).into())
            })
            .collect();
        d.insert("peers", O::List(list));
    }
    d.encode()
}

fn http_scrape(q: &[(String, Vec<u8>)], shared: &Shared) -> Vec<u8> {
    let mut hashes = Vec::new();
    for (k, v) in q {
        if k == "info_hash" {
            match <[u8; 20]>::try_from(v.as_slice()) {
                Ok(h) => hashes.push(h),
                Err(_) => return failure_body("invalid info_hash"),
            }
        }
    }
    let mut files = std::collections::BTreeMap::new();
    for (h, complete, downloaded, incomplete) in shared.scrape(&hashes) {
        files.insert(
            h.to_vec(),
            O::dict()
                .with("complete", (complete as i64).into())
                .with("downloaded", (downloaded as i64).into())
                .with("incomplete", (incomplete as i64).into()),
        );
    }
    O::dict().with("files", O::Dict(files)).encode()
}

// ------------------------------------------------------------------- UDP

const UDP_PROTOCOL_ID: u64 = 0x41727101980;

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes(b[i..i + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_be_bytes(b[i..i + 8].try_into().unwrap())
}

fn udp_error(tid: u32, msg: &str) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&3u32.to_be_bytes());
    p.extend_from_slice(&tid.to_be_bytes());
    p.extend_from_slice(msg.as_bytes());
    p
}

fn udp_loop(sock: UdpSocket, shared: Arc<Shared>) {
    let sock = Arc::new(sock);
    let mut buf = vec![0u8; 2048];
    while !shared.stopped() {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue, // timeout: check the stop flag
        };
        let Some((reply, is_connect)) = udp_handle(&buf[..n], from, &shared) else {
            continue;
        };
        // Action 1 is an announce (counted by udp_handle).
        let announce = !is_connect && n >= 12 && u32_at(&buf, 8) == 1;
        let nth = if announce { shared.udp_announces.load(Ordering::Relaxed) } else { u64::MAX };
        let reply = match shared.mode().for_announce(nth) {
            Mode::Normal | Mode::Unsorted | Mode::FailFirst(_) => reply,
            Mode::Failure(reason) => udp_error(u32_at(&buf, 12), &reason),
            Mode::Timeout => continue,
            Mode::Garbage => {
                let len = 8 + (shared.random_u64() % 120) as usize;
                shared.random_bytes(len)
            }
            Mode::Truncated if !is_connect => reply[..reply.len() - 3].to_vec(),
            Mode::Truncated => reply,
            Mode::Oversized if !is_connect => {
                let mut r = reply[..8].to_vec();
                if u32_at(&reply, 0) == 1 {
                    r.extend_from_slice(&reply[8..20]);
                    let entry = if from.is_ipv6() { 18 } else { 6 };
                    r.extend(vec![9u8; entry * 10_000usize.min(60_000 / entry)]);
                } else {
                    r.extend(vec![1u8; 12 * 5000]);
                }
                r
            }
            Mode::Oversized => reply,
            Mode::Slow => {
                let (s, sh) = (sock.clone(), shared.clone());
                std::thread::spawn(move || {
                    if sh.sleep(sh.opts.udp_slow_delay) {
                        let _ = s.send_to(&reply, from);
                    }
                });
                continue;
            }
        };
        let _ = sock.send_to(&reply, from);
    }
}

/// Serve one request; returns the proper reply and whether it answers a
/// connect. None: not a request we answer at all.
fn udp_handle(p: &[u8], from: SocketAddr, shared: &Shared) -> Option<(Vec<u8>, bool)> {
    if p.len() < 16 {
        return None;
    }
    let conn = u64_at(p, 0);
    let action = u32_at(p, 8);
    let tid = u32_at(p, 12);
    if action == 0 {
        if conn != UDP_PROTOCOL_ID {
            return None;
        }
        shared.udp_connects.fetch_add(1, Ordering::Relaxed);
        let id = shared.random_u64();
        {
            let mut st = shared.state.lock().unwrap();
            let now = Instant::now();
            st.connections
                .retain(|_, t| now.duration_since(*t) < Duration::from_secs(120));
            st.connections.insert(id, now);
        }
        let mut r = Vec::with_capacity(16);
        r.extend_from_slice(&0u32.to_be_bytes());
        r.extend_from_slice(&tid.to_be_bytes());
        r.extend_from_slice(&id.to_be_bytes());
        return Some((r, true));
    }
    let known = shared.state.lock().unwrap().connections.contains_key(&conn);
    if !known {
        return Some((udp_error(tid, "unknown connection id"), false));
    }
    match action {
        1 => {
            if p.len() < 98 {
                return Some((udp_error(tid, "announce packet too short"), false));
            }
            shared.udp_announces.fetch_add(1, Ordering::Relaxed);
            let numwant = u32_at(p, 92) as i32;
            let event = match u32_at(p, 80) {
                1 => "completed",
                2 => "started",
                3 => "stopped",
                _ => "",
            };
            let port = u16::from_be_bytes([p[96], p[97]]);
            let a = Announce {
                info_hash: p[16..36].try_into().unwrap(),
                peer_id: p[36..56].try_into().unwrap(),
                addr: SocketAddr::new(from.ip(), port),
                left: u64_at(p, 64),
                event,
                numwant: (numwant >= 0).then_some(numwant as usize),
            };
            let r = shared.announce(&a, true);
            let mut out = Vec::new();
            for v in [1, tid, shared.opts.interval, r.leechers, r.seeders] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            for peer in &r.peers {
                match peer.addr {
                    SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
                    SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
                }
                out.extend_from_slice(&peer.addr.port().to_be_bytes());
            }
            Some((out, false))
        }
        2 => {
            let hashes: Vec<[u8; 20]> = p[16..]
                .chunks_exact(20)
                .take(74)
                .map(|c| c.try_into().unwrap())
                .collect();
            if hashes.is_empty() {
                return Some((udp_error(tid, "scrape without info-hashes"), false));
            }
            let mut out = Vec::new();
            out.extend_from_slice(&2u32.to_be_bytes());
            out.extend_from_slice(&tid.to_be_bytes());
            for (_, complete, downloaded, incomplete) in shared.scrape(&hashes) {
                for v in [complete, downloaded, incomplete] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            Some((out, false))
        }
        _ => Some((udp_error(tid, "unknown action"), false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"%41%zz%4"), b"A%zz%4".to_vec());
        assert_eq!(percent_decode(b"a+b%00%ff"), b"a b\x00\xff".to_vec());
        let q = parse_query(b"info_hash=%12%34&port=1&x&&y=");
        assert_eq!(param(&q, "info_hash"), Some(&[0x12, 0x34][..]));
        assert_eq!(param_num::<u16>(&q, "port"), Some(1));
        assert_eq!(param(&q, "x"), Some(&b""[..]));
        assert_eq!(param(&q, "z"), None);
    }
}
