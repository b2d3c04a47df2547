//! Tracker clients: HTTP (BEP 3, 7, 23, 48) and UDP (BEP 15), plus the
//! multi-tracker logic of BEP 12.
//!
//! - [`http`]: pure functions that build announce/scrape URLs and parse the
//!   bencoded replies.
//! - [`udp`]: pure packet encoders/parsers, a sans-IO state machine for one
//!   UDP transaction (connect, then announce or scrape, with retransmission
//!   deadlines) and a blocking driver over `std::net::UdpSocket`.
//! - [`client`]: blocking `announce` / `scrape` / `announce_tiers` for the
//!   command-line tools and torrent-get's announce thread. HTTP goes through
//!   `ureq`, UDP through [`udp::run_blocking`].
//!
//! Everything is bounded: response bodies, peer counts and packet sizes have
//! limits, and every network operation has a total time budget.

pub mod client;
pub mod http;
pub mod udp;

use crate::infohash::InfoHash;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Default limit on the number of peers accepted from one response.
pub const DEFAULT_MAX_PEERS: usize = 2000;

/// The `event` of an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Event {
    /// A regular (periodic) announce.
    #[default]
    None,
    Started,
    Completed,
    Stopped,
}

impl Event {
    /// The value of the HTTP `event` parameter (None for a regular announce).
    pub fn http_name(self) -> Option<&'static str> {
        match self {
            Event::None => None,
            Event::Started => Some("started"),
            Event::Completed => Some("completed"),
            Event::Stopped => Some("stopped"),
        }
    }

    /// The BEP 15 event code.
    pub fn udp_code(self) -> u32 {
        match self {
            Event::None => 0,
            Event::Completed => 1,
            Event::Started => 2,
            Event::Stopped => 3,
        }
    }

    pub fn from_udp_code(code: u32) -> Option<Event> {
        Some(match code {
            0 => Event::None,
            1 => Event::Completed,
            2 => Event::Started,
            3 => Event::Stopped,
            _ => return None,
        })
    }
}

impl std::str::FromStr for Event {
    type Err = String;
    fn from_str(s: &str) -> Result<Event, String> {
        Ok(match s {
            "none" | "" => Event::None,
            "started" => Event::Started,
            "completed" => Event::Completed,
            "stopped" => Event::Stopped,
            _ => {
                return Err(format!(
                    "unknown event {s:?}: expected started, completed, stopped or none"
                ))
            }
        })
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.http_name().unwrap_or("none"))
    }
}

/// What we tell a tracker in an announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub info_hash: InfoHash,
    pub peer_id: [u8; 20],
    /// Port we accept peer connections on.
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Event,
    /// How many peers we would like (None: let the tracker decide).
    pub numwant: Option<u32>,
    /// Random value that identifies us across IP changes.
    pub key: u32,
}

impl AnnounceRequest {
    /// A request with a random key, 50 peers wanted and zero counters.
    pub fn new(info_hash: InfoHash, peer_id: [u8; 20], port: u16) -> Self {
        AnnounceRequest {
            info_hash,
            peer_id,
            port,
            uploaded: 0,
            downloaded: 0,
            left: 0,
            event: Event::None,
            numwant: Some(50),
            key: rand::random(),
        }
    }
}

/// What a tracker answered to an announce.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnounceResponse {
    /// Seconds until the next regular announce.
    pub interval: u32,
    /// Seconds the tracker wants at least between announces.
    pub min_interval: Option<u32>,
    /// Peers, IPv4 and IPv6, in the order the tracker gave them.
    pub peers: Vec<SocketAddr>,
    /// Seeders.
    pub complete: Option<u32>,
    /// Leechers.
    pub incomplete: Option<u32>,
    /// `warning message`: the announce worked, but the tracker has a remark.
    pub warning: Option<String>,
    /// `tracker id` to send back in later announces (HTTP only).
    pub tracker_id: Option<String>,
}

/// Swarm counts for one info-hash from a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Times the torrent was completed (`downloaded`).
    pub downloaded: u32,
}

/// What a tracker answered to a scrape.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    /// One entry per info-hash the tracker reported on.
    pub files: Vec<(InfoHash, ScrapeStats)>,
}

impl ScrapeResponse {
    pub fn get(&self, info_hash: &InfoHash) -> Option<ScrapeStats> {
        self.files
            .iter()
            .find(|(h, _)| h == info_hash)
            .map(|(_, s)| *s)
    }
}

/// What went wrong with a tracker, without the tracker's URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The tracker refused: `failure reason` (HTTP) or the error action (UDP).
    #[error("tracker failure: {0}")]
    Failure(String),
    #[error("response is not bencode: {0}")]
    NotBencode(crate::bencode::Error),
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("response has {count} peers, more than the limit of {max}")]
    TooManyPeers { count: usize, max: usize },
    #[error("response body is larger than {0} bytes")]
    BodyTooLarge(u64),
    #[error("HTTP status {0}")]
    HttpStatus(u16),
    #[error("{0}")]
    Transport(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("invalid tracker URL: {0}")]
    BadUrl(String),
    #[error("unsupported tracker URL scheme {0:?} (expected http, https or udp)")]
    UnsupportedScheme(String),
    #[error("cannot scrape: the last path segment of the announce URL does not start with \"announce\" (BEP 48)")]
    NoScrape,
    #[error("no trackers to ask")]
    NoTrackers,
}

/// A tracker error naming the tracker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url}: {kind}")]
pub struct TrackerError {
    pub url: String,
    pub kind: ErrorKind,
}

impl TrackerError {
    pub fn new(url: impl Into<String>, kind: ErrorKind) -> Self {
        TrackerError {
            url: url.into(),
            kind,
        }
    }
}

/// Parse a BEP 23 compact IPv4 peer list (6 bytes per peer).
pub fn parse_compact_v4(buf: &[u8], max: usize) -> Result<Vec<SocketAddr>, ErrorKind> {
    parse_compact(buf, 6, max)
}

/// Parse a BEP 7 compact IPv6 peer list (18 bytes per peer).
pub fn parse_compact_v6(buf: &[u8], max: usize) -> Result<Vec<SocketAddr>, ErrorKind> {
    parse_compact(buf, 18, max)
}

fn parse_compact(buf: &[u8], entry: usize, max: usize) -> Result<Vec<SocketAddr>, ErrorKind> {
    if !buf.len().is_multiple_of(entry) {
        return Err(ErrorKind::Malformed(format!(
            "compact peer list of {} bytes is not a multiple of {entry}",
            buf.len()
        )));
    }
    let count = buf.len() / entry;
    if count > max {
        return Err(ErrorKind::TooManyPeers { count, max });
    }
    Ok(buf
        .chunks_exact(entry)
        .map(|c| {
            let port = u16::from_be_bytes([c[entry - 2], c[entry - 1]]);
            if entry == 6 {
                SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::new(c[0], c[1], c[2], c[3]),
                    port,
                ))
            } else {
                let mut ip = [0u8; 16];
                ip.copy_from_slice(&c[..16]);
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0))
            }
        })
        .collect())
}

/// Encode peers compactly: IPv4 peers as 6-byte entries, IPv6 as 18-byte
/// entries (each family goes to its own buffer).
pub fn encode_compact(peers: &[SocketAddr]) -> (Vec<u8>, Vec<u8>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for p in peers {
        match p {
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
    (v4, v6)
}

/// Format a peer address as `ip:port`, IPv6 as `[addr]:port` (what
/// `SocketAddr`'s Display does, minus scope ids).
pub fn format_peer(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => format!("{}:{}", v4, a.port()),
            None => format!("[{}]:{}", a.ip(), a.port()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_round_trip() {
        let peers: Vec<SocketAddr> = vec![
            "1.2.3.4:6881".parse().unwrap(),
            "[::1]:51413".parse().unwrap(),
            "127.0.0.1:1".parse().unwrap(),
        ];
        let (v4, v6) = encode_compact(&peers);
        assert_eq!(v4.len(), 12);
        assert_eq!(v6.len(), 18);
        assert_eq!(&v4[..6], &[1, 2, 3, 4, 0x1a, 0xe1]);
        let a = parse_compact_v4(&v4, 10).unwrap();
        assert_eq!(a, vec![peers[0], peers[2]]);
        assert_eq!(parse_compact_v6(&v6, 10).unwrap(), vec![peers[1]]);
    }

    #[test]
    fn compact_errors() {
        assert!(matches!(
            parse_compact_v4(&[0; 7], 10),
            Err(ErrorKind::Malformed(m)) if m.contains("7 bytes")
        ));
        assert_eq!(
            parse_compact_v4(&[0; 18], 2),
            Err(ErrorKind::TooManyPeers { count: 3, max: 2 })
        );
        assert!(parse_compact_v6(&[0; 17], 10).is_err());
        assert_eq!(parse_compact_v4(&[], 0).unwrap(), vec![]);
    }

    #[test]
    fn events() {
        for e in [Event::None, Event::Started, Event::Completed, Event::Stopped] {
            assert_eq!(Event::from_udp_code(e.udp_code()), Some(e));
            assert_eq!(e.to_string().parse::<Event>().unwrap(), e);
        }
        assert!("bogus".parse::<Event>().is_err());
        assert_eq!(Event::from_udp_code(4), None);
    }

    #[test]
    fn peer_format() {
        assert_eq!(format_peer(&"[::1]:80".parse().unwrap()), "[::1]:80");
        assert_eq!(format_peer(&"10.0.0.1:80".parse().unwrap()), "10.0.0.1:80");
        assert_eq!(
            format_peer(&"[::ffff:10.0.0.1]:80".parse().unwrap()),
            "10.0.0.1:80"
        );
    }

    #[test]
    fn error_names_url() {
        let e = TrackerError::new(
            "http://127.0.0.1:5/announce",
            ErrorKind::Failure("go away".into()),
        );
        assert_eq!(
            e.to_string(),
            "http://127.0.0.1:5/announce: tracker failure: go away"
        );
    }
}
