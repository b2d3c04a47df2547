//! Tracker replies: HTTP announce/scrape bodies (bencode) and UDP packets,
//! plus the UDP [`Transaction`] state machine driven by a fuzzed script of
//! packets and timeouts.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use torrent_core::bencode::OwnedValue;
use torrent_core::infohash::InfoHash;
use torrent_core::tracker::udp::{
    self, Action, Connection, Response, RetryPolicy, Transaction, UdpRequest, UdpResponse,
};
use torrent_core::tracker::{
    encode_compact, http, AnnounceRequest, AnnounceResponse, ErrorKind, Event, ScrapeResponse,
    DEFAULT_MAX_PEERS,
};

use crate::input::Input;

/// Byte 0 chooses the peer limit (255: the default), the rest is the body.
pub fn check_tracker_http(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let max = if sel == 255 {
        DEFAULT_MAX_PEERS
    } else {
        sel as usize % 64
    };
    let small = http::parse_announce_response_with(body, max);
    let full = http::parse_announce_response(body);
    match &small {
        Ok(a) => {
            assert!(a.peers.len() <= max, "{} peers > limit {max}", a.peers.len());
            assert_eq!(full.as_ref().ok(), Some(a), "a larger limit changes the result");
        }
        Err(ErrorKind::TooManyPeers { count, max: m }) => {
            assert_eq!(*m, max);
            assert!(count > m);
        }
        // Only the peer count depends on the limit.
        Err(e) => assert_eq!(full.as_ref().err(), Some(e)),
    }
    match &full {
        Ok(a) => {
            assert!(a.peers.len() <= DEFAULT_MAX_PEERS);
            check_announce_round_trip(a);
        }
        Err(ErrorKind::TooManyPeers { count, max }) => assert!(count > max),
        Err(_) => {}
    }
    if let Ok(s) = http::parse_scrape_response(body) {
        let again = http::parse_scrape_response(&encode_scrape(&s)).expect("own scrape parses");
        assert_eq!(again, s);
    }
}

fn encode_announce_response(a: &AnnounceResponse) -> Vec<u8> {
    let (v4, v6) = encode_compact(&a.peers);
    let mut d = OwnedValue::dict()
        .with("interval", OwnedValue::Int(a.interval as i64))
        .with("peers", OwnedValue::Bytes(v4));
    if !v6.is_empty() {
        d.insert("peers6", OwnedValue::Bytes(v6));
    }
    let ints = [
        ("min interval", a.min_interval),
        ("complete", a.complete),
        ("incomplete", a.incomplete),
    ];
    for (k, v) in ints {
        if let Some(v) = v {
            d.insert(k, OwnedValue::Int(v as i64));
        }
    }
    if let Some(w) = &a.warning {
        d.insert("warning message", OwnedValue::bytes(w));
    }
    if let Some(t) = &a.tracker_id {
        d.insert("tracker id", OwnedValue::bytes(t));
    }
    d.encode()
}

/// Re-encoding an accepted reply (compact peers, IPv4 then IPv6) gives the
/// same reply back.
fn check_announce_round_trip(a: &AnnounceResponse) {
    let again = http::parse_announce_response(&encode_announce_response(a))
        .expect("own announce reply parses");
    let mut expected = a.clone();
    let (v4, v6): (Vec<SocketAddr>, Vec<SocketAddr>) =
        a.peers.iter().partition(|p| p.is_ipv4());
    expected.peers = v4.into_iter().chain(v6).collect();
    assert_eq!(again, expected);
}

fn encode_scrape(s: &ScrapeResponse) -> Vec<u8> {
    let mut files = std::collections::BTreeMap::new();
    for (h, st) in &s.files {
        files.insert(
            h.0.to_vec(),
            OwnedValue::dict()
                .with("complete", OwnedValue::Int(st.complete as i64))
                .with("downloaded", OwnedValue::Int(st.downloaded as i64))
                .with("incomplete", OwnedValue::Int(st.incomplete as i64)),
        );
    }
    OwnedValue::dict()
        .with("files", OwnedValue::Dict(files))
        .encode()
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Encode a tracker packet the way a tracker would (the inverse of
/// `udp::parse_response`).
fn encode_udp_response(tid: u32, r: &Response, ipv6: bool) -> Vec<u8> {
    let mut p = Vec::new();
    let action = match r {
        Response::Connect(_) => udp::ACTION_CONNECT,
        Response::Announce(_) => udp::ACTION_ANNOUNCE,
        Response::Scrape(_) => udp::ACTION_SCRAPE,
        Response::Error(_) => udp::ACTION_ERROR,
    };
    p.extend_from_slice(&action.to_be_bytes());
    p.extend_from_slice(&tid.to_be_bytes());
    match r {
        Response::Connect(id) => p.extend_from_slice(&id.to_be_bytes()),
        Response::Announce(a) => {
            for v in [a.interval, a.incomplete.unwrap_or(0), a.complete.unwrap_or(0)] {
                p.extend_from_slice(&v.to_be_bytes());
            }
            let (v4, v6) = encode_compact(&a.peers);
            p.extend_from_slice(if ipv6 { &v6 } else { &v4 });
        }
        Response::Scrape(s) => {
            for st in s {
                for v in [st.complete, st.downloaded, st.incomplete] {
                    p.extend_from_slice(&v.to_be_bytes());
                }
            }
        }
        Response::Error(m) => p.extend_from_slice(m.as_bytes()),
    }
    p
}

fn check_udp_parse(buf: &[u8], max: usize) {
    for ipv6 in [false, true] {
        let Ok((tid, r)) = udp::parse_response(buf, ipv6, max) else {
            continue;
        };
        assert!(buf.len() >= 8);
        assert_eq!(tid, be32(buf, 4));
        match &r {
            Response::Connect(_) => assert!(buf.len() >= 16),
            Response::Announce(a) => {
                let entry = if ipv6 { 18 } else { 6 };
                assert!(a.peers.len() <= max);
                assert_eq!(a.peers.len(), (buf.len() - 20) / entry);
                assert!(a.peers.iter().all(|p| p.is_ipv6() == ipv6));
            }
            Response::Scrape(s) => assert_eq!(s.len(), (buf.len() - 8) / 12),
            Response::Error(m) => assert!(m.len() <= 3 * 1024),
        }
        let skip = matches!(&r, Response::Error(m) if m.len() > 1024 || m.ends_with('\0'));
        if !skip {
            let again = udp::parse_response(&encode_udp_response(tid, &r, ipv6), ipv6, max)
                .expect("re-encoded packet parses");
            assert_eq!(again, (tid, r));
        }
    }
}

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([7; 20]),
        peer_id: *b"-TK0001-fuzzfuzzfuzz",
        port: 6881,
        uploaded: 1,
        downloaded: 2,
        left: 3,
        event: Event::Started,
        numwant: Some(50),
        key: 0x1234_5678,
    }
}

/// The shape of a datagram the transaction asks us to send.
fn check_sent(p: &[u8], scrape_hashes: Option<usize>) -> u32 {
    assert!(p.len() >= 16, "datagram of {} bytes", p.len());
    let action = be32(p, 8);
    match action {
        udp::ACTION_CONNECT => {
            assert_eq!(p.len(), 16);
            assert_eq!(&p[..8], &udp::PROTOCOL_ID.to_be_bytes());
        }
        udp::ACTION_ANNOUNCE => {
            assert!(scrape_hashes.is_none());
            assert_eq!(p.len(), 98);
        }
        udp::ACTION_SCRAPE => {
            let n = scrape_hashes.expect("scrape packet for an announce");
            assert!(n <= udp::MAX_SCRAPE_HASHES);
            assert_eq!(p.len(), 16 + 20 * n);
        }
        a => panic!("sent action {a}"),
    }
    be32(p, 12)
}

/// Drive one UDP transaction with a fuzzed script of tracker packets and
/// timeouts. It must never panic, must only send well-formed packets, and
/// must end: with timeouts alone it gives up after its retries, and a
/// tracker that keeps answering connects cannot keep it alive forever.
fn run_transaction(inp: &mut Input) {
    let h = inp.u8();
    let ipv6 = h & 1 != 0;
    let scrape = h & 2 != 0;
    let use_cache = h & 4 != 0;
    let max_retries = (h >> 3) as u32 % 6;
    let policy = RetryPolicy {
        base: Duration::from_secs(1 + inp.u8() as u64 % 40),
        max_retries,
    };
    let max_peers = inp.u8() as usize % 40;
    let hashes = if scrape {
        Some(inp.u8() as usize % 80)
    } else {
        None
    };
    let req = match hashes {
        Some(n) => UdpRequest::Scrape((0..n).map(|i| InfoHash([i as u8; 20])).collect()),
        None => UdpRequest::Announce(request()),
    };
    let t0 = Instant::now();
    let mut now = t0;
    let cached = use_cache.then(|| Connection {
        id: 42,
        obtained: t0
            .checked_sub(Duration::from_secs(inp.u8() as u64 % 90))
            .unwrap_or(t0),
    });
    let (mut tx, first) = Transaction::new(req, ipv6, policy, max_peers, cached, now);
    let mut tid = 0;
    // An over-long scrape fails before any packet: its id is never seen.
    let tid_known = !first.is_empty();
    let mut done = false;
    let mut timeout_sends = 0usize;
    if first.is_empty() {
        assert!(hashes.is_some_and(|n| n > udp::MAX_SCRAPE_HASHES));
    } else {
        tid = check_sent(&first, hashes);
    }
    let handle = |a: Action, tx: &Transaction, now: Instant, tid: &mut u32, done: &mut bool| {
        assert!(!*done, "action after the transaction ended");
        match a {
            Action::Send(p) => {
                *tid = check_sent(&p, hashes);
                assert!(tx.deadline() > now, "deadline not in the future");
                assert!(!tx.is_finished());
            }
            Action::Done(r) => {
                assert!(tx.is_finished());
                *done = true;
                match r {
                    Ok(UdpResponse::Announce(a)) => {
                        assert!(hashes.is_none());
                        assert!(a.peers.len() <= max_peers);
                    }
                    Ok(UdpResponse::Scrape(s)) => assert_eq!(Some(s.files.len()), hashes),
                    Err(_) => {}
                }
            }
        }
    };
    while !inp.is_empty() && !done {
        let op = inp.u8();
        match op % 4 {
            0 => {
                now = now.max(tx.deadline()) + Duration::from_millis(inp.u8() as u64 * 10);
                let a = tx.handle_timeout(now);
                if matches!(a, Action::Send(_)) {
                    timeout_sends += 1;
                }
                handle(a, &tx, now, &mut tid, &mut done);
            }
            1 | 2 => {
                now += Duration::from_millis(inp.u16() as u64);
                let use_tid = if inp.u8() < 224 { tid } else { inp.u32() };
                let pkt = if op % 4 == 1 {
                    // A well-formed tracker packet of a fuzzed kind.
                    let r = match inp.u8() % 5 {
                        0 => Response::Connect(inp.u64()),
                        1 => Response::Announce(AnnounceResponse {
                            interval: inp.u32(),
                            incomplete: Some(inp.u32()),
                            complete: Some(inp.u32()),
                            peers: Vec::new(),
                            ..Default::default()
                        }),
                        2 => Response::Scrape(vec![Default::default(); inp.u8() as usize % 80]),
                        3 => Response::Error(String::from_utf8_lossy(inp.short_bytes()).into()),
                        _ => Response::Connect(42),
                    };
                    let mut p = encode_udp_response(use_tid, &r, ipv6);
                    if matches!(r, Response::Announce(_)) {
                        let n = inp.u8() as usize % 48;
                        let entry = if inp.u8() < 240 { if ipv6 { 18 } else { 6 } } else { 7 };
                        p.resize(p.len() + n * entry, 1);
                    }
                    p
                } else {
                    // Raw bytes, with the transaction id patched in.
                    let mut p = inp.short_bytes().to_vec();
                    if p.len() >= 8 {
                        p[4..8].copy_from_slice(&use_tid.to_be_bytes());
                    }
                    p
                };
                check_udp_parse(&pkt, max_peers);
                match tx.handle_packet(&pkt, now) {
                    Some(a) => handle(a, &tx, now, &mut tid, &mut done),
                    None => assert!(!tid_known || use_tid != tid || pkt.len() < 8 || tx.is_finished()),
                }
            }
            _ => now += Duration::from_secs(inp.u8() as u64),
        }
        // However the tracker answers, timeouts are bounded: the connect
        // phase and the request phase each retry at most max_retries times,
        // and an expired connection id is renewed at most twice (each
        // renewal is one more send).
        let cycles = 3;
        assert!(
            timeout_sends <= cycles * (2 * max_retries as usize + 1),
            "{timeout_sends} retransmissions with max_retries {max_retries}"
        );
    }
    // Without answers the transaction gives up after its retries.
    let mut steps = 0;
    while !done {
        steps += 1;
        assert!(steps <= 2 * max_retries as usize + 2, "transaction does not end");
        now = now.max(tx.deadline());
        let a = tx.handle_timeout(now);
        handle(a, &tx, now, &mut tid, &mut done);
    }
    assert!(tx.is_finished());
    assert_eq!(tx.handle_packet(&[0; 16], now), None);
    assert!(matches!(tx.handle_timeout(now), Action::Done(Err(_))));
}

/// Byte 0: peer limit; the rest is parsed as one tracker packet (both
/// address families) and also read as a transaction script.
pub fn check_tracker_udp(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    check_udp_parse(rest, sel as usize % 100);
    run_transaction(&mut Input::new(rest));
}
