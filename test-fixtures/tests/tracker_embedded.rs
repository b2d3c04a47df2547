//! torrent-core's tracker client against the embedded tracker: HTTP and
//! UDP, IPv4 and IPv6, scrape, failure replies, every misbehaviour mode
//! (each must end in a clear error in bounded time) and BEP 12 tiers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};
use test_fixtures::tracker::{Mode, Tracker, TrackerOptions};
use torrent_core::tracker::client::{self, Options};
use torrent_core::tracker::udp::RetryPolicy;
use torrent_core::tracker::{AnnounceRequest, ErrorKind, Event};
use torrent_core::InfoHash;

fn hash(n: u8) -> InfoHash {
    InfoHash([n; 20])
}

fn req(h: InfoHash, id: u8, port: u16, left: u64) -> AnnounceRequest {
    let mut peer_id = *b"-TK0001-000000000000";
    peer_id[19] = id;
    AnnounceRequest {
        left,
        event: Event::Started,
        ..AnnounceRequest::new(h, peer_id, port)
    }
}

fn quick() -> Options {
    Options {
        timeout: Duration::from_millis(1500),
        udp_retry: RetryPolicy {
            base: Duration::from_millis(300),
            max_retries: 1,
        },
        ..Options::default()
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn http_announce_sees_other_peers() {
    let t = Tracker::start(TrackerOptions {
        warning: Some("be nice".into()),
        interval: 77,
        min_interval: Some(11),
        ..Default::default()
    });
    let url = t.http_announce_url();
    let h = hash(1);
    let a = client::announce(&url, &req(h, 1, 1001, 0), &quick()).unwrap();
    assert!(a.peers.is_empty(), "a peer never sees itself: {:?}", a.peers);
    assert_eq!(a.complete, Some(1));
    assert_eq!(a.interval, 77);
    assert_eq!(a.min_interval, Some(11));
    assert_eq!(a.warning.as_deref(), Some("be nice"));
    let b = client::announce(&url, &req(h, 2, 1002, 500), &quick()).unwrap();
    assert_eq!(b.peers, vec![addr("127.0.0.1:1001")]);
    assert_eq!((b.complete, b.incomplete), (Some(1), Some(1)));
    let mut swarm = t.peers(&h);
    swarm.sort();
    assert_eq!(swarm, vec![addr("127.0.0.1:1001"), addr("127.0.0.1:1002")]);
    // Another torrent's swarm is separate.
    let c = client::announce(&url, &req(hash(2), 3, 1003, 0), &quick()).unwrap();
    assert!(c.peers.is_empty());
    // event=stopped removes the peer.
    let mut stop = req(h, 1, 1001, 0);
    stop.event = Event::Stopped;
    client::announce(&url, &stop, &quick()).unwrap();
    assert_eq!(t.peers(&h), vec![addr("127.0.0.1:1002")]);
    assert_eq!(t.http_announces(), 4);
}

#[test]
fn http_numwant_and_non_compact() {
    let t = Tracker::start(TrackerOptions::default());
    let h = hash(3);
    for i in 0..30u16 {
        t.add_peer(&h, SocketAddr::from(([10, 0, 0, 1], 2000 + i)));
    }
    t.add_peer(&h, addr("[::1]:7000"));
    let mut r = req(h, 1, 1, 10);
    r.numwant = Some(5);
    let a = client::announce(&t.http_announce_url(), &r, &quick()).unwrap();
    assert_eq!(a.peers.len(), 5);
    assert_eq!(a.peers[0], addr("10.0.0.1:2000"));
    r.numwant = Some(100);
    let a = client::announce(&t.http_announce_url(), &r, &quick()).unwrap();
    assert_eq!(a.peers.len(), 31);
    assert!(a.peers.contains(&addr("[::1]:7000")), "peers6 is parsed");

    // compact=0 by hand: the dictionary peer list.
    let url = format!(
        "/announce?info_hash={}&peer_id=-XX0000-abcdefghijkl&port=9&left=1&compact=0&numwant=2",
        "%03".repeat(20)
    );
    let body = raw_get(t.http_addr(), &url);
    assert!(body.starts_with(b"d"), "{}", String::from_utf8_lossy(&body));
    assert!(body.windows(7).any(|w| w == b"peer id"), "dictionary peers");
    let parsed = torrent_core::tracker::http::parse_announce_response(&body).unwrap();
    assert_eq!(parsed.peers, vec![addr("10.0.0.1:2000"), addr("10.0.0.1:2001")]);
}

/// GET a path over a raw HTTP/1.0 connection; returns the body.
fn raw_get(a: SocketAddr, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let i = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(all.starts_with(b"HTTP/1.1 200"));
    all[i + 4..].to_vec()
}

#[test]
fn udp_announce_reuses_connection_id() {
    let t = Tracker::start(TrackerOptions::default());
    let url = t.udp_announce_url();
    let h = hash(4);
    let a = client::announce(&url, &req(h, 1, 3001, 0), &quick()).unwrap();
    assert!(a.peers.is_empty());
    assert_eq!(a.interval, 60);
    let b = client::announce(&url, &req(h, 2, 3002, 9), &quick()).unwrap();
    assert_eq!(b.peers, vec![addr("127.0.0.1:3001")]);
    assert_eq!((b.complete, b.incomplete), (Some(1), Some(1)));
    assert_eq!(t.udp_announces(), 2);
    assert_eq!(t.udp_connects(), 1, "the connection id is reused within a minute");
}

#[test]
fn ipv6_http_and_udp() {
    let t = Tracker::start(TrackerOptions {
        ipv6: true,
        ..Default::default()
    });
    let h = hash(5);
    let http6 = t.http_announce_url_v6().unwrap();
    let udp6 = t.udp_announce_url_v6().unwrap();
    assert!(http6.starts_with("http://[::1]:"));
    client::announce(&http6, &req(h, 1, 4001, 0), &quick()).unwrap();
    // UDP over IPv6: 18-byte peer entries.
    let b = client::announce(&udp6, &req(h, 2, 4002, 0), &quick()).unwrap();
    assert_eq!(b.peers, vec![addr("[::1]:4001")]);
    // An IPv4 announce gets the IPv6 peers in peers6 over HTTP...
    let c = client::announce(&t.http_announce_url(), &req(h, 3, 4003, 0), &quick()).unwrap();
    let mut got = c.peers.clone();
    got.sort();
    assert_eq!(got, vec![addr("[::1]:4001"), addr("[::1]:4002")]);
    // ...but over UDP/IPv4 only IPv4 peers fit.
    let d = client::announce(&t.udp_announce_url(), &req(h, 4, 4004, 0), &quick()).unwrap();
    assert_eq!(d.peers, vec![addr("127.0.0.1:4003")]);
    let s = client::scrape(&udp6, &[h], &quick()).unwrap();
    assert_eq!(s.get(&h).unwrap().complete, 4);
}

#[test]
fn scrape_http_and_udp() {
    let t = Tracker::start(TrackerOptions::default());
    let (h, other) = (hash(6), hash(7));
    client::announce(&t.http_announce_url(), &req(h, 1, 5001, 0), &quick()).unwrap();
    client::announce(&t.http_announce_url(), &req(h, 2, 5002, 7), &quick()).unwrap();
    let mut done = req(h, 2, 5002, 0);
    done.event = Event::Completed;
    client::announce(&t.udp_announce_url(), &done, &quick()).unwrap();
    client::announce(&t.udp_announce_url(), &req(h, 3, 5003, 1), &quick()).unwrap();
    for url in [t.http_announce_url(), t.udp_announce_url()] {
        let s = client::scrape(&url, &[h, other], &quick()).unwrap();
        let st = s.get(&h).unwrap();
        assert_eq!((st.complete, st.incomplete, st.downloaded), (2, 1, 1), "{url}");
        let o = s.get(&other).unwrap();
        assert_eq!((o.complete, o.incomplete, o.downloaded), (0, 0, 0), "{url}");
    }
    assert_eq!(t.scrapes(), 2);
    // BEP 48: no "announce" in the last segment means no scrape.
    let bad = format!("http://{}/tracker", t.http_addr());
    let e = client::scrape(&bad, &[h], &quick()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoScrape);
    assert_eq!(t.scrapes(), 2);
}

#[test]
fn failure_reason_both_protocols() {
    let t = Tracker::start(TrackerOptions::default());
    t.set_mode(Mode::Failure("torrent not registered".into()));
    for url in [t.http_announce_url(), t.udp_announce_url()] {
        let e = client::announce(&url, &req(hash(8), 1, 1, 0), &quick()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Failure("torrent not registered".into()));
        assert_eq!(
            e.to_string(),
            format!("{url}: tracker failure: torrent not registered")
        );
        let e = client::scrape(&url, &[hash(8)], &quick()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Failure("torrent not registered".into()));
    }
    t.set_mode(Mode::Normal);
    assert!(client::announce(&t.http_announce_url(), &req(hash(8), 1, 1, 0), &quick()).is_ok());
}

/// Announce in `mode`; the error must come within the time budget (plus
/// slack) and satisfy `check`.
fn misbehave(mode: Mode, udp: bool, check: impl Fn(&ErrorKind) -> bool) {
    let t = Tracker::start(TrackerOptions {
        slow_byte_delay: Duration::from_millis(200),
        udp_slow_delay: Duration::from_secs(3),
        ..Default::default()
    });
    t.add_peer(&hash(9), addr("10.1.1.1:1"));
    t.set_mode(mode.clone());
    let url = if udp {
        t.udp_announce_url()
    } else {
        t.http_announce_url()
    };
    let start = Instant::now();
    let r = client::announce(&url, &req(hash(9), 1, 1, 0), &quick());
    let took = start.elapsed();
    let e = r.expect_err("a misbehaving tracker must give an error");
    assert!(took < Duration::from_secs(4), "{mode:?} took {took:?}");
    assert!(check(&e.kind), "{mode:?} over {}: unexpected error {e}", if udp { "UDP" } else { "HTTP" });
    assert!(e.to_string().starts_with(&url), "{e}");
}

#[test]
fn http_timeout_mode() {
    misbehave(Mode::Timeout, false, |k| matches!(k, ErrorKind::Timeout(_)));
}

#[test]
fn http_garbage_mode() {
    misbehave(Mode::Garbage, false, |k| matches!(k, ErrorKind::NotBencode(e) if e.offset == 0));
}

#[test]
fn http_truncated_mode() {
    misbehave(Mode::Truncated, false, |k| {
        matches!(k, ErrorKind::NotBencode(e) if e.to_string().contains("end"))
    });
}

#[test]
fn http_oversized_mode() {
    misbehave(Mode::Oversized, false, |k| matches!(k, ErrorKind::BodyTooLarge(n) if *n == 4 << 20));
}

#[test]
fn http_slow_mode() {
    misbehave(Mode::Slow, false, |k| matches!(k, ErrorKind::Timeout(_)));
}

#[test]
fn udp_timeout_mode() {
    misbehave(Mode::Timeout, true, |k| {
        matches!(k, ErrorKind::Timeout(m) if m.contains("connect"))
    });
}

#[test]
fn udp_garbage_mode() {
    misbehave(Mode::Garbage, true, |k| {
        matches!(k, ErrorKind::Timeout(m) if m.contains("ignored"))
    });
}

#[test]
fn udp_truncated_mode() {
    misbehave(Mode::Truncated, true, |k| matches!(k, ErrorKind::Malformed(_)));
}

#[test]
fn udp_oversized_mode() {
    misbehave(Mode::Oversized, true, |k| {
        matches!(k, ErrorKind::TooManyPeers { count: 10000, .. })
    });
}

#[test]
fn udp_slow_mode() {
    misbehave(Mode::Slow, true, |k| matches!(k, ErrorKind::Timeout(_)));
}

/// A port nobody listens on (bound, then released).
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    let u = UdpSocket::bind(("127.0.0.1", p));
    drop(u);
    p
}

#[test]
fn tiers_fall_through_and_promote() {
    let t = Tracker::start(TrackerOptions::default());
    let silent = Tracker::start(TrackerOptions::default());
    silent.set_mode(Mode::Timeout);
    let dead_http = format!("http://127.0.0.1:{}/announce", dead_port());
    let dead_udp = format!("udp://127.0.0.1:{}/announce", dead_port());
    let good = t.udp_announce_url();
    let mut tiers = vec![
        vec![dead_http.clone(), silent.udp_announce_url()],
        vec![dead_udp.clone(), good.clone(), t.http_announce_url()],
    ];
    let start = Instant::now();
    let ans = client::announce_tiers(&mut tiers, &req(hash(10), 1, 1, 0), &quick()).unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(ans.url, good);
    assert_eq!(ans.failures.len(), 3);
    assert_eq!(ans.failures[0].url, dead_http);
    assert_eq!(ans.failures[2].url, dead_udp);
    assert!(matches!(ans.failures[1].kind, ErrorKind::Timeout(_)));
    // The tracker that answered moved to the front of its tier.
    assert_eq!(tiers[1][0], good);
    assert_eq!(tiers[1][1], dead_udp);
    // Next time it is asked first in its tier.
    t.set_mode(Mode::Normal);
    let e = {
        t.set_mode(Mode::Failure("nope".into()));
        let mut only_bad = vec![vec![dead_http.clone()], vec![t.http_announce_url()]];
        client::announce_tiers(&mut only_bad, &req(hash(10), 1, 1, 0), &quick()).unwrap_err()
    };
    assert_eq!(e.failures.len(), 2);
    assert!(e.to_string().contains("tracker failure: nope"), "{e}");
}
