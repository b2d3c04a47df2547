//! UDP tracker protocol (BEP 15).
//!
//! Three layers:
//! - pure encoders/parsers for the client's packets ([`encode_connect`],
//!   [`encode_announce`], [`encode_scrape`], [`parse_response`]);
//! - [`Transaction`], a sans-IO state machine for one exchange (connect,
//!   then announce or scrape) that tells its driver what to send and when
//!   the next retransmission is due (15·2^n s by default, bounded by a retry
//!   count), checks transaction ids and remembers the connection id (valid
//!   for one minute);
//! - [`run_blocking`], a driver over `std::net::UdpSocket` with a total
//!   deadline and a process-wide connection-id cache.

use super::{AnnounceRequest, AnnounceResponse, ErrorKind, ScrapeResponse, ScrapeStats};
use crate::infohash::InfoHash;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Magic constant of the connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
pub const ACTION_CONNECT: u32 = 0;
pub const ACTION_ANNOUNCE: u32 = 1;
pub const ACTION_SCRAPE: u32 = 2;
pub const ACTION_ERROR: u32 = 3;
/// A connection id may be used for one minute after it was received.
pub const CONNECTION_ID_LIFETIME: Duration = Duration::from_secs(60);
/// Most info-hashes in one scrape packet (BEP 15).
pub const MAX_SCRAPE_HASHES: usize = 74;
/// Largest datagram we read (the largest UDP payload there is).
pub const MAX_PACKET: usize = 65536;
/// How often one transaction renews an expired connection id before it
/// gives up (a tracker that answers connects but never the request must not
/// keep a transaction alive forever).
pub const MAX_RECONNECTS: u32 = 2;

/// A connection id and when we received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub id: u64,
    pub obtained: Instant,
}

impl Connection {
    pub fn is_valid(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.obtained) < CONNECTION_ID_LIFETIME
    }
}

/// What one transaction asks for after connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpRequest {
    Announce(AnnounceRequest),
    /// Up to [`MAX_SCRAPE_HASHES`] info-hashes.
    Scrape(Vec<InfoHash>),
}

/// A parsed tracker packet (after its transaction id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Connect(u64),
    Announce(AnnounceResponse),
    /// Stats in the order the info-hashes were asked for.
    Scrape(Vec<ScrapeStats>),
    Error(String),
}

pub fn encode_connect(tid: u32) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(&PROTOCOL_ID.to_be_bytes());
    p[8..12].copy_from_slice(&ACTION_CONNECT.to_be_bytes());
    p[12..].copy_from_slice(&tid.to_be_bytes());
    p
}

/// The 98-byte announce packet.
pub fn encode_announce(connection_id: u64, tid: u32, req: &AnnounceRequest) -> Vec<u8> {
    let mut p = Vec::with_capacity(98);
    p.extend_from_slice(&connection_id.to_be_bytes());
    p.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    p.extend_from_slice(&tid.to_be_bytes());
    p.extend_from_slice(req.info_hash.as_bytes());
    p.extend_from_slice(&req.peer_id);
    p.extend_from_slice(&req.downloaded.to_be_bytes());
    p.extend_from_slice(&req.left.to_be_bytes());
    p.extend_from_slice(&req.uploaded.to_be_bytes());
    p.extend_from_slice(&req.event.udp_code().to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes()); // IP: use the sender's
    p.extend_from_slice(&req.key.to_be_bytes());
    let numwant: i32 = match req.numwant {
        Some(n) => n.min(i32::MAX as u32) as i32,
        None => -1,
    };
    p.extend_from_slice(&numwant.to_be_bytes());
    p.extend_from_slice(&req.port.to_be_bytes());
    p
}

pub fn encode_scrape(connection_id: u64, tid: u32, hashes: &[InfoHash]) -> Result<Vec<u8>, ErrorKind> {
    if hashes.len() > MAX_SCRAPE_HASHES {
        return Err(ErrorKind::Malformed(format!(
            "cannot scrape {} info-hashes in one UDP packet (at most {MAX_SCRAPE_HASHES})",
            hashes.len()
        )));
    }
    let mut p = Vec::with_capacity(16 + 20 * hashes.len());
    p.extend_from_slice(&connection_id.to_be_bytes());
    p.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    p.extend_from_slice(&tid.to_be_bytes());
    for h in hashes {
        p.extend_from_slice(h.as_bytes());
    }
    Ok(p)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The transaction id of a tracker packet, if it is long enough to have one.
pub fn packet_tid(buf: &[u8]) -> Option<u32> {
    (buf.len() >= 8).then(|| be32(buf, 4))
}

/// Parse a tracker packet: returns its transaction id and content.
/// `ipv6`: announce peers are 18-byte entries (the tracker was reached
/// over IPv6) instead of 6-byte ones.
pub fn parse_response(
    buf: &[u8],
    ipv6: bool,
    max_peers: usize,
) -> Result<(u32, Response), ErrorKind> {
    if buf.len() < 8 {
        return Err(ErrorKind::Malformed(format!(
            "UDP packet of {} bytes is shorter than 8",
            buf.len()
        )));
    }
    let action = be32(buf, 0);
    let tid = be32(buf, 4);
    let body = &buf[8..];
    let resp = match action {
        ACTION_CONNECT => {
            if body.len() < 8 {
                return Err(ErrorKind::Malformed(format!(
                    "connect response of {} bytes is shorter than 16",
                    buf.len()
                )));
            }
            let mut id = [0u8; 8];
            id.copy_from_slice(&body[..8]);
            Response::Connect(u64::from_be_bytes(id))
        }
        ACTION_ANNOUNCE => {
            if body.len() < 12 {
                return Err(ErrorKind::Malformed(format!(
                    "announce response of {} bytes is shorter than 20",
                    buf.len()
                )));
            }
            let peers_raw = &body[12..];
            let peers = if ipv6 {
                super::parse_compact_v6(peers_raw, max_peers)?
            } else {
                super::parse_compact_v4(peers_raw, max_peers)?
            };
            Response::Announce(AnnounceResponse {
                interval: be32(body, 0),
                min_interval: None,
                peers,
                incomplete: Some(be32(body, 4)),
                complete: Some(be32(body, 8)),
                warning: None,
                tracker_id: None,
            })
        }
        ACTION_SCRAPE => {
            if !body.len().is_multiple_of(12) {
                return Err(ErrorKind::Malformed(format!(
                    "scrape response body of {} bytes is not a multiple of 12",
                    body.len()
                )));
            }
            Response::Scrape(
                body.chunks_exact(12)
                    .map(|c| ScrapeStats {
                        complete: be32(c, 0),
                        downloaded: be32(c, 4),
                        incomplete: be32(c, 8),
                    })
                    .collect(),
            )
        }
        ACTION_ERROR => Response::Error(
            String::from_utf8_lossy(&body[..body.len().min(1024)])
                .trim_end_matches('\0')
                .to_string(),
        ),
        a => {
            return Err(ErrorKind::Malformed(format!(
                "unknown action {a} in UDP tracker packet"
            )))
        }
    };
    Ok((tid, resp))
}

/// Retransmission schedule: attempt n waits `base · 2^n`; after
/// `max_retries` retransmissions the transaction gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_retries: u32,
}

impl Default for RetryPolicy {
    /// BEP 15: 15 s, doubling, up to 8 retransmissions.
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(15),
            max_retries: 8,
        }
    }
}

impl RetryPolicy {
    pub fn timeout(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(1u32 << attempt.min(16))
    }
}

/// The answer to a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpResponse {
    Announce(AnnounceResponse),
    Scrape(ScrapeResponse),
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this datagram, then wait until [`Transaction::deadline`].
    Send(Vec<u8>),
    /// The transaction is over.
    Done(Result<UdpResponse, ErrorKind>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Requesting(Connection),
    Finished,
}

/// One UDP tracker exchange, without the socket.
#[derive(Debug)]
pub struct Transaction {
    request: UdpRequest,
    ipv6: bool,
    policy: RetryPolicy,
    max_peers: usize,
    phase: Phase,
    tid: u32,
    attempt: u32,
    deadline: Instant,
    packet: Vec<u8>,
    ignored: u32,
    last_ignored: Option<String>,
    conn: Option<Connection>,
    reconnects: u32,
}

impl Transaction {
    /// Start a transaction; returns it and the first datagram to send.
    /// `cached`: a connection id from an earlier exchange with the same
    /// tracker (used only while it is valid).
    pub fn new(
        request: UdpRequest,
        ipv6: bool,
        policy: RetryPolicy,
        max_peers: usize,
        cached: Option<Connection>,
        now: Instant,
    ) -> (Transaction, Vec<u8>) {
        let mut t = Transaction {
            request,
            ipv6,
            policy,
            max_peers,
            phase: Phase::Connecting,
            tid: 0,
            attempt: 0,
            deadline: now,
            packet: Vec::new(),
            ignored: 0,
            last_ignored: None,
            conn: None,
            reconnects: 0,
        };
        let first = match cached.filter(|c| c.is_valid(now)) {
            Some(c) => t.enter_request(c, now),
            None => t.enter_connect(now),
        };
        let first = match first {
            Action::Send(p) => p,
            // Only an invalid request (too many scrape hashes) ends here;
            // report it at the first deadline check.
            Action::Done(_) => Vec::new(),
        };
        (t, first)
    }

    fn new_tid(&mut self) {
        let mut tid = rand::random::<u32>();
        if tid == self.tid {
            tid = tid.wrapping_add(1);
        }
        self.tid = tid;
    }

    fn enter_connect(&mut self, now: Instant) -> Action {
        self.phase = Phase::Connecting;
        self.conn = None;
        self.new_tid();
        self.attempt = 0;
        self.packet = encode_connect(self.tid).to_vec();
        self.deadline = now + self.policy.timeout(0);
        Action::Send(self.packet.clone())
    }

    fn enter_request(&mut self, c: Connection, now: Instant) -> Action {
        self.phase = Phase::Requesting(c);
        self.conn = Some(c);
        self.new_tid();
        self.attempt = 0;
        self.packet = match &self.request {
            UdpRequest::Announce(r) => encode_announce(c.id, self.tid, r),
            UdpRequest::Scrape(h) => match encode_scrape(c.id, self.tid, h) {
                Ok(p) => p,
                Err(e) => return self.finish(Err(e)),
            },
        };
        self.deadline = now + self.policy.timeout(0);
        Action::Send(self.packet.clone())
    }

    fn finish(&mut self, r: Result<UdpResponse, ErrorKind>) -> Action {
        self.phase = Phase::Finished;
        Action::Done(r)
    }

    /// When the current attempt times out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// The connection id in use or last used (to cache for later
    /// transactions).
    pub fn connection(&self) -> Option<Connection> {
        self.conn
    }

    /// How many datagrams were ignored (wrong transaction id, too short).
    pub fn ignored_packets(&self) -> u32 {
        self.ignored
    }

    fn describe_wait(&self) -> String {
        let what = match (self.phase, &self.request) {
            (Phase::Connecting, _) => "connect",
            (_, UdpRequest::Announce(_)) => "announce",
            (_, UdpRequest::Scrape(_)) => "scrape",
        };
        let mut s = format!("no answer to the UDP {what} request");
        if self.ignored > 0 {
            s.push_str(&format!(
                " ({} unrelated or invalid datagrams ignored{})",
                self.ignored,
                self.last_ignored
                    .as_ref()
                    .map(|m| format!(", last: {m}"))
                    .unwrap_or_default()
            ));
        }
        s
    }

    /// Call when `now >= deadline()` without an answer: retransmit (after
    /// reconnecting if the connection id expired) or give up.
    pub fn handle_timeout(&mut self, now: Instant) -> Action {
        if self.phase == Phase::Finished {
            return Action::Done(Err(ErrorKind::Timeout("transaction already finished".into())));
        }
        if self.packet.is_empty() {
            // The request could not be encoded.
            let e = match &self.request {
                UdpRequest::Scrape(h) => encode_scrape(0, 0, h).err(),
                _ => None,
            };
            return self.finish(Err(e.unwrap_or(ErrorKind::Malformed("empty request".into()))));
        }
        if self.attempt >= self.policy.max_retries {
            let msg = format!(
                "{} after {} attempt{}",
                self.describe_wait(),
                self.attempt + 1,
                if self.attempt == 0 { "" } else { "s" }
            );
            return self.finish(Err(ErrorKind::Timeout(msg)));
        }
        if let Phase::Requesting(c) = self.phase {
            if !c.is_valid(now) {
                if self.reconnects >= MAX_RECONNECTS {
                    let msg = format!(
                        "{} (connection id expired {} times)",
                        self.describe_wait(),
                        self.reconnects + 1
                    );
                    return self.finish(Err(ErrorKind::Timeout(msg)));
                }
                self.reconnects += 1;
                return self.enter_connect(now);
            }
        }
        self.attempt += 1;
        self.deadline = now + self.policy.timeout(self.attempt);
        Action::Send(self.packet.clone())
    }

    /// Feed a datagram from the tracker. `None`: ignored (not ours);
    /// otherwise what to do next.
    pub fn handle_packet(&mut self, buf: &[u8], now: Instant) -> Option<Action> {
        if self.phase == Phase::Finished {
            return None;
        }
        if packet_tid(buf) != Some(self.tid) {
            self.ignored = self.ignored.saturating_add(1);
            self.last_ignored = Some(match packet_tid(buf) {
                None => format!("{} bytes, too short", buf.len()),
                Some(t) => format!("transaction id {t:08x}, expected {:08x}", self.tid),
            });
            return None;
        }
        let (_, resp) = match parse_response(buf, self.ipv6, self.max_peers) {
            Ok(r) => r,
            Err(e) => return Some(self.finish(Err(e))),
        };
        let action = match (self.phase, resp) {
            (_, Response::Error(msg)) => self.finish(Err(ErrorKind::Failure(msg))),
            (Phase::Connecting, Response::Connect(id)) => {
                self.enter_request(Connection { id, obtained: now }, now)
            }
            (Phase::Requesting(_), Response::Announce(a))
                if matches!(self.request, UdpRequest::Announce(_)) =>
            {
                self.finish(Ok(UdpResponse::Announce(a)))
            }
            (Phase::Requesting(_), Response::Scrape(stats)) => {
                let UdpRequest::Scrape(hashes) = &self.request else {
                    return Some(self.finish(Err(ErrorKind::Malformed(
                        "scrape response to an announce".into(),
                    ))));
                };
                if stats.len() != hashes.len() {
                    let msg = format!(
                        "scrape response has {} entries for {} info-hashes",
                        stats.len(),
                        hashes.len()
                    );
                    return Some(self.finish(Err(ErrorKind::Malformed(msg))));
                }
                let files = hashes.iter().copied().zip(stats).collect();
                self.finish(Ok(UdpResponse::Scrape(ScrapeResponse { files })))
            }
            (phase, resp) => {
                let got = match resp {
                    Response::Connect(_) => "connect",
                    Response::Announce(_) => "announce",
                    Response::Scrape(_) => "scrape",
                    Response::Error(_) => "error",
                };
                let want = if phase == Phase::Connecting { "connect" } else { "request" };
                self.finish(Err(ErrorKind::Malformed(format!(
                    "got a {got} response while waiting for the {want} response"
                ))))
            }
        };
        Some(action)
    }
}

/// Connection ids of the trackers this process talked to.
static CONNECTIONS: Mutex<Option<HashMap<SocketAddr, Connection>>> = Mutex::new(None);

fn cached_connection(addr: SocketAddr, now: Instant) -> Option<Connection> {
    let guard = CONNECTIONS.lock().ok()?;
    guard.as_ref()?.get(&addr).copied().filter(|c| c.is_valid(now))
}

fn cache_connection(addr: SocketAddr, c: Option<Connection>) {
    if let Ok(mut guard) = CONNECTIONS.lock() {
        let map = guard.get_or_insert_with(HashMap::new);
        map.retain(|_, v| v.is_valid(Instant::now()));
        match c {
            Some(c) if map.len() < 1024 => {
                map.insert(addr, c);
            }
            _ => {
                map.remove(&addr);
            }
        }
    }
}

/// Run one transaction against `addr` over a fresh UDP socket, giving up at
/// `deadline` whatever the retry policy says.
pub fn run_blocking(
    addr: SocketAddr,
    request: UdpRequest,
    policy: RetryPolicy,
    max_peers: usize,
    deadline: Instant,
) -> Result<UdpResponse, ErrorKind> {
    let bind: SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse().expect("literal")
    } else {
        "0.0.0.0:0".parse().expect("literal")
    };
    let io = |what: &str, e: std::io::Error| ErrorKind::Transport(format!("UDP {what}: {e}"));
    let sock = UdpSocket::bind(bind).map_err(|e| io("bind", e))?;
    sock.connect(addr).map_err(|e| io("connect", e))?;
    let now = Instant::now();
    let (mut tx, first) = Transaction::new(
        request,
        addr.is_ipv6(),
        policy,
        max_peers,
        cached_connection(addr, now),
        now,
    );
    let mut buf = vec![0u8; MAX_PACKET];
    let mut action = if first.is_empty() {
        tx.handle_timeout(now)
    } else {
        Action::Send(first)
    };
    loop {
        match action {
            Action::Done(r) => {
                cache_connection(addr, if r.is_ok() { tx.connection() } else { None });
                return r;
            }
            Action::Send(p) => {
                sock.send(&p).map_err(|e| io("send", e))?;
            }
        }
        // Wait for a datagram, the attempt deadline or the total deadline.
        action = loop {
            let now = Instant::now();
            if now >= deadline {
                cache_connection(addr, None);
                return Err(ErrorKind::Timeout(format!(
                    "{} within the time limit",
                    tx.describe_wait()
                )));
            }
            if now >= tx.deadline() {
                break tx.handle_timeout(now);
            }
            let wait = tx.deadline().min(deadline) - now;
            sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
                .map_err(|e| io("set timeout", e))?;
            match sock.recv(&mut buf) {
                Ok(n) => {
                    if let Some(a) = tx.handle_packet(&buf[..n], Instant::now()) {
                        break a;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    cache_connection(addr, None);
                    return Err(io("receive", e));
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::Event;

    fn req() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([3; 20]),
            peer_id: [4; 20],
            port: 0x1234,
            uploaded: 5,
            downloaded: 6,
            left: 7,
            event: Event::Completed,
            numwant: None,
            key: 0x01020304,
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(1),
            max_retries: 2,
        }
    }

    fn connect_reply(tid: u32, id: u64) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&tid.to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p
    }

    fn announce_reply(tid: u32, peers: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        for v in [1u32, tid, 1800, 2, 3] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        p.extend_from_slice(peers);
        p
    }

    #[test]
    fn announce_packet_layout() {
        let p = encode_announce(0x1122334455667788, 0xaabbccdd, &req());
        assert_eq!(p.len(), 98);
        assert_eq!(&p[..8], &0x1122334455667788u64.to_be_bytes());
        assert_eq!(&p[8..12], &[0, 0, 0, 1]);
        assert_eq!(&p[12..16], &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(&p[16..36], &[3; 20]);
        assert_eq!(&p[36..56], &[4; 20]);
        assert_eq!(&p[56..64], &6u64.to_be_bytes());
        assert_eq!(&p[64..72], &7u64.to_be_bytes());
        assert_eq!(&p[72..80], &5u64.to_be_bytes());
        assert_eq!(&p[80..84], &[0, 0, 0, 1]);
        assert_eq!(&p[88..92], &[1, 2, 3, 4]);
        assert_eq!(&p[92..96], &[0xff; 4]);
        assert_eq!(&p[96..], &[0x12, 0x34]);
        let c = encode_connect(9);
        assert_eq!(&c[..8], &[0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80]);
        assert!(encode_scrape(1, 2, &vec![InfoHash([0; 20]); 75]).is_err());
        assert_eq!(encode_scrape(1, 2, &[InfoHash([0; 20]); 2]).unwrap().len(), 56);
    }

    #[test]
    fn parse_packets() {
        let (tid, r) = parse_response(&announce_reply(7, &[127, 0, 0, 1, 0, 80]), false, 10).unwrap();
        assert_eq!(tid, 7);
        let Response::Announce(a) = r else { panic!() };
        assert_eq!(a.interval, 1800);
        assert_eq!(a.incomplete, Some(2));
        assert_eq!(a.complete, Some(3));
        assert_eq!(a.peers, vec!["127.0.0.1:80".parse().unwrap()]);
        let mut v6 = [0u8; 18];
        v6[15] = 1;
        v6[17] = 81;
        let (_, r) = parse_response(&announce_reply(7, &v6), true, 10).unwrap();
        let Response::Announce(a) = r else { panic!() };
        assert_eq!(a.peers, vec!["[::1]:81".parse().unwrap()]);
        // 18 bytes read as IPv4 entries: three peers; 17 bytes: error.
        assert!(parse_response(&announce_reply(7, &v6[..17]), true, 10).is_err());
        assert!(parse_response(&announce_reply(7, &[0; 7]), false, 10).is_err());
        assert!(matches!(
            parse_response(&announce_reply(7, &[0; 66]), false, 10),
            Err(ErrorKind::TooManyPeers { count: 11, max: 10 })
        ));
        let mut e = vec![0, 0, 0, 3, 0, 0, 0, 7];
        e.extend_from_slice(b"denied\0");
        assert_eq!(
            parse_response(&e, false, 10).unwrap(),
            (7, Response::Error("denied".into()))
        );
        assert!(parse_response(&[0, 0, 0, 9, 0, 0, 0, 7], false, 10).is_err());
        assert!(parse_response(&[0, 0, 0], false, 10).is_err());
        assert!(parse_response(&connect_reply(1, 2)[..12], false, 10).is_err());
        let mut s = vec![0, 0, 0, 2, 0, 0, 0, 7];
        for v in [1u32, 2, 3] {
            s.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(
            parse_response(&s, false, 10).unwrap().1,
            Response::Scrape(vec![ScrapeStats {
                complete: 1,
                downloaded: 2,
                incomplete: 3
            }])
        );
        assert!(parse_response(&s[..19], false, 10).is_err());
    }

    #[test]
    fn transaction_happy_path_and_tid_check() {
        let t0 = Instant::now();
        let (mut tx, p) = Transaction::new(UdpRequest::Announce(req()), false, policy(), 100, None, t0);
        assert_eq!(p.len(), 16);
        let tid = be32(&p, 12);
        assert_eq!(tx.deadline(), t0 + Duration::from_secs(1));
        // Wrong transaction id: ignored.
        assert_eq!(tx.handle_packet(&connect_reply(tid ^ 1, 5), t0), None);
        assert_eq!(tx.handle_packet(&[1, 2], t0), None);
        assert_eq!(tx.ignored_packets(), 2);
        let Some(Action::Send(ann)) = tx.handle_packet(&connect_reply(tid, 0xabc), t0) else {
            panic!()
        };
        assert_eq!(ann.len(), 98);
        assert_eq!(&ann[..8], &0xabcu64.to_be_bytes());
        let tid2 = be32(&ann, 12);
        assert_ne!(tid2, tid);
        assert_eq!(tx.connection().unwrap().id, 0xabc);
        // A late duplicate connect reply is ignored.
        assert_eq!(tx.handle_packet(&connect_reply(tid, 0xabc), t0), None);
        let done = tx.handle_packet(&announce_reply(tid2, &[10, 0, 0, 1, 0, 1]), t0);
        let Some(Action::Done(Ok(UdpResponse::Announce(a)))) = done else {
            panic!("{done:?}")
        };
        assert_eq!(a.peers.len(), 1);
        assert!(tx.is_finished());
        assert_eq!(tx.connection().map(|c| c.id), Some(0xabc), "kept for the cache");
    }

    #[test]
    fn transaction_backoff_and_give_up() {
        let t0 = Instant::now();
        let (mut tx, p) = Transaction::new(UdpRequest::Announce(req()), false, policy(), 100, None, t0);
        let t1 = tx.deadline();
        assert_eq!(tx.handle_timeout(t1), Action::Send(p.clone()));
        assert_eq!(tx.deadline(), t1 + Duration::from_secs(2));
        let t2 = tx.deadline();
        assert_eq!(tx.handle_timeout(t2), Action::Send(p.clone()));
        assert_eq!(tx.deadline(), t2 + Duration::from_secs(4));
        match tx.handle_timeout(tx.deadline()) {
            Action::Done(Err(ErrorKind::Timeout(m))) => {
                assert!(m.contains("connect") && m.contains("3 attempts"), "{m}")
            }
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn cached_connection_and_expiry() {
        let t0 = Instant::now();
        let c = Connection { id: 77, obtained: t0 };
        let (mut tx, p) = Transaction::new(UdpRequest::Announce(req()), false, policy(), 100, Some(c), t0);
        assert_eq!(p.len(), 98, "valid cached id: straight to announce");
        // After the id expired, a timeout makes the transaction reconnect.
        let later = t0 + CONNECTION_ID_LIFETIME + Duration::from_secs(1);
        match tx.handle_timeout(later) {
            Action::Send(p) => assert_eq!(p.len(), 16),
            a => panic!("{a:?}"),
        }
        let stale = Connection { id: 77, obtained: t0 };
        let (_, p) = Transaction::new(UdpRequest::Announce(req()), false, policy(), 100, Some(stale), later);
        assert_eq!(p.len(), 16, "expired cached id: connect first");
    }

    /// Found by the tracker_udp fuzz target: a tracker that answers every
    /// connect but never the announce made the transaction renew its
    /// expired connection id (and reset its retry count) forever.
    #[test]
    fn reconnects_after_expiry_are_bounded() {
        let policy = RetryPolicy {
            base: Duration::from_secs(31),
            max_retries: 5,
        };
        let mut now = Instant::now();
        let (mut tx, p) = Transaction::new(UdpRequest::Announce(req()), false, policy, 100, None, now);
        let mut tid = be32(&p, 12);
        let (mut connects, mut sends) = (1, 1);
        loop {
            assert!(sends < 100, "transaction never ends");
            let action = if tx.phase == Phase::Connecting {
                // Answer the connect at once.
                tx.handle_packet(&connect_reply(tid, 7), now).expect("answered")
            } else {
                // Never answer the announce.
                now = tx.deadline();
                tx.handle_timeout(now)
            };
            match action {
                Action::Send(p) => {
                    sends += 1;
                    tid = be32(&p, 12);
                    if p.len() == 16 {
                        connects += 1;
                    }
                }
                Action::Done(r) => {
                    let Err(ErrorKind::Timeout(m)) = r else { panic!("{r:?}") };
                    assert!(m.contains("expired 3 times"), "{m}");
                    break;
                }
            }
        }
        assert_eq!(connects, 1 + MAX_RECONNECTS as usize);
    }

    #[test]
    fn transaction_error_and_wrong_action() {
        let t0 = Instant::now();
        let (mut tx, p) = Transaction::new(UdpRequest::Scrape(vec![InfoHash([1; 20])]), false, policy(), 100, None, t0);
        let tid = be32(&p, 12);
        let mut e = vec![0, 0, 0, 3];
        e.extend_from_slice(&tid.to_be_bytes());
        e.extend_from_slice(b"go away");
        assert_eq!(
            tx.handle_packet(&e, t0),
            Some(Action::Done(Err(ErrorKind::Failure("go away".into()))))
        );
        let (mut tx, p) = Transaction::new(UdpRequest::Scrape(vec![InfoHash([1; 20])]), false, policy(), 100, None, t0);
        let tid = be32(&p, 12);
        assert!(matches!(
            tx.handle_packet(&announce_reply(tid, &[]), t0),
            Some(Action::Done(Err(ErrorKind::Malformed(_))))
        ));
    }
}
