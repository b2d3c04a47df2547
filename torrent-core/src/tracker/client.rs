//! Blocking tracker client: one call per announce or scrape, HTTP(S) via
//! `ureq` and UDP via [`udp::run_blocking`], plus BEP 12 tiers.
//!
//! Each call is bounded by [`Options::timeout`] from start to finish
//! (connect, send, every retransmission, reading the body).

use super::http;
use super::udp::{self, RetryPolicy, UdpRequest, UdpResponse};
use super::{
    AnnounceRequest, AnnounceResponse, ErrorKind, ScrapeResponse, TrackerError,
    DEFAULT_MAX_PEERS,
};
use crate::infohash::InfoHash;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Default limit on an HTTP response body.
pub const DEFAULT_MAX_BODY: u64 = 4 * 1024 * 1024;

/// Limits and timeouts for one tracker request.
#[derive(Debug, Clone)]
pub struct Options {
    /// Total time for one tracker (HTTP: whole exchange; UDP: all attempts).
    pub timeout: Duration,
    /// UDP retransmission schedule (BEP 15: 15 s · 2^n, 8 retries); the
    /// total is still cut at `timeout`.
    pub udp_retry: RetryPolicy,
    /// Largest HTTP response body accepted.
    pub max_body: u64,
    /// Most peers accepted from one response.
    pub max_peers: usize,
    pub user_agent: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(30),
            udp_retry: RetryPolicy::default(),
            max_body: DEFAULT_MAX_BODY,
            max_peers: DEFAULT_MAX_PEERS,
            user_agent: concat!("torrent-toolkit/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// The protocol a tracker URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Udp,
}

/// Which protocol a tracker URL uses.
pub fn scheme_of(url: &str) -> Result<Scheme, ErrorKind> {
    let (scheme, _) = url
        .split_once("://")
        .ok_or_else(|| ErrorKind::BadUrl(format!("{url:?} has no scheme")))?;
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => Ok(Scheme::Http),
        "udp" => Ok(Scheme::Udp),
        _ => Err(ErrorKind::UnsupportedScheme(scheme.to_string())),
    }
}

/// The `host:port` of a `udp://host:port[/path]` URL, resolved.
pub fn udp_address(url: &str) -> Result<SocketAddr, ErrorKind> {
    let rest = url
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("udp://"))
        .map(|_| &url[6..])
        .ok_or_else(|| ErrorKind::BadUrl(format!("{url:?} is not a udp:// URL")))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6
            .split_once(']')
            .ok_or_else(|| ErrorKind::BadUrl(format!("{url:?}: unclosed '['")))?;
        (h, p.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port: u16 = port
        .ok_or_else(|| ErrorKind::BadUrl(format!("{url:?} has no port")))?
        .parse()
        .map_err(|_| ErrorKind::BadUrl(format!("{url:?} has an invalid port")))?;
    if host.is_empty() {
        return Err(ErrorKind::BadUrl(format!("{url:?} has no host")));
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| ErrorKind::Transport(format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| ErrorKind::Transport(format!("{host} has no address")))
}

fn agent(opts: &Options) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .http_status_as_error(false)
        .max_redirects(5)
        .user_agent(opts.user_agent.as_str())
        .build()
        .into()
}

/// GET `url` and return (status, body), body bounded by `max_body`.
fn http_get(url: &str, opts: &Options) -> Result<(u16, Vec<u8>), ErrorKind> {
    let map = |e: ureq::Error| match e {
        ureq::Error::Timeout(t) => {
            ErrorKind::Timeout(format!("HTTP {t} after {:?}", opts.timeout))
        }
        ureq::Error::BodyExceedsLimit(n) => ErrorKind::BodyTooLarge(n),
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            ErrorKind::Timeout(format!("HTTP read: {io}"))
        }
        e => ErrorKind::Transport(format!("HTTP: {e}")),
    };
    let mut resp = agent(opts).get(url).call().map_err(map)?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(opts.max_body)
        .read_to_vec()
        .map_err(map)?;
    Ok((status, body))
}

/// Turn an HTTP reply into a parsed response: a `failure reason` wins over
/// a bad status (some trackers send it with 4xx), otherwise non-200 is an
/// error.
fn http_result<T>(
    status: u16,
    body: &[u8],
    parse: impl Fn(&[u8]) -> Result<T, ErrorKind>,
) -> Result<T, ErrorKind> {
    match parse(body) {
        Err(ErrorKind::Failure(f)) => Err(ErrorKind::Failure(f)),
        _ if status != 200 => Err(ErrorKind::HttpStatus(status)),
        r => r,
    }
}

/// Announce to one tracker.
pub fn announce(
    url: &str,
    req: &AnnounceRequest,
    opts: &Options,
) -> Result<AnnounceResponse, TrackerError> {
    announce_kind(url, req, opts).map_err(|k| TrackerError::new(url, k))
}

fn announce_kind(
    url: &str,
    req: &AnnounceRequest,
    opts: &Options,
) -> Result<AnnounceResponse, ErrorKind> {
    let deadline = Instant::now() + opts.timeout;
    match scheme_of(url)? {
        Scheme::Http => {
            let (status, body) = http_get(&http::announce_url(url, req), opts)?;
            http_result(status, &body, |b| {
                http::parse_announce_response_with(b, opts.max_peers)
            })
        }
        Scheme::Udp => {
            let addr = udp_address(url)?;
            match udp::run_blocking(
                addr,
                UdpRequest::Announce(req.clone()),
                opts.udp_retry,
                opts.max_peers,
                deadline,
            )? {
                UdpResponse::Announce(a) => Ok(a),
                UdpResponse::Scrape(_) => {
                    Err(ErrorKind::Malformed("scrape answer to an announce".into()))
                }
            }
        }
    }
}

/// Scrape one tracker for `info_hashes` (UDP: at most 74).
pub fn scrape(
    url: &str,
    info_hashes: &[InfoHash],
    opts: &Options,
) -> Result<ScrapeResponse, TrackerError> {
    scrape_kind(url, info_hashes, opts).map_err(|k| TrackerError::new(url, k))
}

fn scrape_kind(
    url: &str,
    info_hashes: &[InfoHash],
    opts: &Options,
) -> Result<ScrapeResponse, ErrorKind> {
    let deadline = Instant::now() + opts.timeout;
    match scheme_of(url)? {
        Scheme::Http => {
            let (status, body) = http_get(&http::scrape_url(url, info_hashes)?, opts)?;
            http_result(status, &body, http::parse_scrape_response)
        }
        Scheme::Udp => {
            let addr = udp_address(url)?;
            match udp::run_blocking(
                addr,
                UdpRequest::Scrape(info_hashes.to_vec()),
                opts.udp_retry,
                opts.max_peers,
                deadline,
            )? {
                UdpResponse::Scrape(s) => Ok(s),
                UdpResponse::Announce(_) => {
                    Err(ErrorKind::Malformed("announce answer to a scrape".into()))
                }
            }
        }
    }
}

/// Shuffle the trackers inside each tier (BEP 12: done once, when the
/// tiers are loaded).
pub fn shuffle_tiers(tiers: &mut [Vec<String>]) {
    use rand::seq::SliceRandom;
    let mut rng = rand::thread_rng();
    for t in tiers.iter_mut() {
        t.shuffle(&mut rng);
    }
}

/// A successful multi-tracker announce.
#[derive(Debug, Clone)]
pub struct TierAnswer {
    /// The tracker that answered.
    pub url: String,
    pub response: AnnounceResponse,
    /// Trackers tried before it, with what went wrong.
    pub failures: Vec<TrackerError>,
}

/// Every tracker failed (or there were none).
#[derive(Debug, Clone, thiserror::Error)]
pub struct AllTrackersFailed {
    pub failures: Vec<TrackerError>,
}

impl std::fmt::Display for AllTrackersFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.failures.is_empty() {
            return write!(f, "{}", ErrorKind::NoTrackers);
        }
        write!(f, "no tracker answered")?;
        for e in &self.failures {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

/// BEP 12: try the tiers in order and the trackers of each tier in order;
/// the first that answers is moved to the front of its tier and its
/// answer returned. Call [`shuffle_tiers`] once beforehand.
pub fn announce_tiers(
    tiers: &mut [Vec<String>],
    req: &AnnounceRequest,
    opts: &Options,
) -> Result<TierAnswer, AllTrackersFailed> {
    let mut failures = Vec::new();
    for tier in tiers.iter_mut() {
        for i in 0..tier.len() {
            match announce(&tier[i], req, opts) {
                Ok(response) => {
                    let url = tier.remove(i);
                    tier.insert(0, url.clone());
                    return Ok(TierAnswer {
                        url,
                        response,
                        failures,
                    });
                }
                Err(e) => failures.push(e),
            }
        }
    }
    Err(AllTrackersFailed { failures })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(scheme_of("http://a/announce"), Ok(Scheme::Http));
        assert_eq!(scheme_of("HTTPS://a/announce"), Ok(Scheme::Http));
        assert_eq!(scheme_of("udp://a:1"), Ok(Scheme::Udp));
        assert_eq!(
            scheme_of("wss://a"),
            Err(ErrorKind::UnsupportedScheme("wss".into()))
        );
        assert!(matches!(scheme_of("nothing"), Err(ErrorKind::BadUrl(_))));
    }

    #[test]
    fn udp_addresses() {
        assert_eq!(
            udp_address("udp://127.0.0.1:6969/announce").unwrap(),
            "127.0.0.1:6969".parse().unwrap()
        );
        assert_eq!(
            udp_address("udp://[::1]:80").unwrap(),
            "[::1]:80".parse().unwrap()
        );
        assert_eq!(
            udp_address("UDP://127.0.0.1:1?x=1").unwrap(),
            "127.0.0.1:1".parse().unwrap()
        );
        assert!(matches!(udp_address("udp://127.0.0.1"), Err(ErrorKind::BadUrl(m)) if m.contains("no port")));
        assert!(udp_address("udp://127.0.0.1:99999").is_err());
        assert!(udp_address("udp://[::1:80").is_err());
        assert!(udp_address("udp://:80").is_err());
        assert!(udp_address("http://a:1").is_err());
    }

    #[test]
    fn tiers_fall_through_on_bad_urls() {
        let mut tiers = vec![vec!["wss://x".to_string(), "bogus".to_string()]];
        let req = AnnounceRequest::new(InfoHash([0; 20]), [0; 20], 1);
        let e = announce_tiers(&mut tiers, &req, &Options::default()).unwrap_err();
        assert_eq!(e.failures.len(), 2);
        assert!(e.to_string().starts_with("no tracker answered; "));
        let e = announce_tiers(&mut [], &req, &Options::default()).unwrap_err();
        assert_eq!(e.to_string(), "no trackers to ask");
    }
}
