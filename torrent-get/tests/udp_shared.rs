//! One UDP socket on the listen port for uTP and the DHT (issue 14): the
//! datagrams are told apart by content. A torrent-get seeder with the DHT
//! on answers KRPC pings on its listen port while a leecher downloads from
//! it over uTP through that same port, and it tells peers that port in the
//! BEP 5 `port` message and the extended handshake. A flood of datagrams
//! dressed as each format disturbs neither.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use test_fixtures::dht::DhtNet;
use test_fixtures::payload::{make_payload, Payload};
use torrent_core::dht::krpc::{self, Body, Message, Query};
use torrent_core::dht::NodeId;
use torrent_core::peer::extension::ExtendedHandshake;
use torrent_core::peer::handshake::Handshake;

const LIMIT: Duration = Duration::from_secs(60);

fn seeder(p: &Payload, port: u16, net: &DhtNet, state: &Path) -> Live {
    let mut c = Command::new(bin());
    c.args(["--seed-only", "--json", "-v", "--timeout", "60", "--listen", &format!("127.0.0.1:{port}")]);
    c.arg("--dht-bootstrap").arg(net.bootstrap_addr().to_string()).arg("--dht-state").arg(state);
    c.arg("-o").arg(&p.dir).arg(&p.torrent_path);
    Live::spawn(c)
}

/// A KRPC ping to `to`; the answer's node id, if one came within 2 s.
fn ping(sock: &UdpSocket, to: SocketAddr, tid: &[u8]) -> Option<NodeId> {
    let q = Message::query(tid.to_vec(), Query::Ping { id: NodeId([0x42; 20]) }).encode();
    sock.send_to(&q, to).unwrap();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
        assert_eq!(from, to, "the answer comes from the listen port");
        let m = krpc::parse(&buf[..n]).expect("a KRPC answer");
        if m.tid == tid {
            match m.body {
                Body::Response(r) => return Some(r.id),
                other => panic!("not a response: {other:?}"),
            }
        }
    }
    None
}

#[test]
fn dht_and_utp_share_the_listen_port() {
    let (seed, out, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = make_payload(seed.path(), "shared", &[("a.bin", 3_000_017), ("b.bin", 1_048_576)], 64 * 1024, &[], 91).unwrap();
    let net = DhtNet::start(4).unwrap();
    let port = free_port();
    let mut s = seeder(&p, port, &net, &state.path().join("dht.dat"));
    let listening = s.wait_event(Duration::from_secs(20), |e| e["event"] == "listening").expect("seeder listening");
    assert_eq!(listening["port"], port);
    assert_eq!(listening["dht_port"], port, "the DHT answers on the listen port: {listening}");

    let node = UdpSocket::bind("127.0.0.1:0").unwrap();
    node.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    let id = ping(&node, to, b"p0").expect("no answer to a KRPC ping on the listen port");

    // A uTP-only download through the same port, pinging meanwhile (a
    // rate limit keeps it going for a couple of seconds).
    let mut c = cmd_loud(40);
    c.args(["--no-listen", "--json", "-v", "--transport", "utp", "--max-download-rate", "2M"]);
    c.args(["--peer", &format!("127.0.0.1:{port}")]);
    c.arg("-o").arg(out.path()).arg(&p.torrent_path);
    let mut leecher = Live::spawn(c);
    leecher.wait_event(Duration::from_secs(20), |e| e["event"] == "peer").expect("the leecher never connected");
    // Meanwhile a stranger floods the port with what looks like each
    // format and is not: truncated and oversized bencode, uTP headers with
    // unknown connection ids, tracker-shaped replies, random bytes.
    let flood = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 1400) as usize;
            let mut d: Vec<u8> = (0..len).map(|j| (x >> (j % 57)) as u8).collect();
            d[0] = [b'd', 0x01, 0x41, 0x21, 0x00, 0x13][i as usize % 6];
            if i % 6 == 4 && d.len() >= 4 {
                d[1..4].copy_from_slice(&[0, 0, 1]);
            }
            let _ = s.send_to(&d, to);
        }
    });
    let mut answered = 0;
    for i in 0..5u8 {
        if let Some(again) = ping(&node, to, &[b'q', i]) {
            assert_eq!(again, id, "the same node answers");
            answered += 1;
        }
    }
    flood.join().unwrap();
    assert!(answered >= 4, "only {answered} of 5 pings answered during the uTP download and the flood");
    assert_eq!(ping(&node, to, b"zz"), Some(id), "the node answers after the flood");
    let r = leecher.finish(LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&seed.path().join("shared"), &out.path().join("shared"));
    let events = r.events();
    let peers: Vec<_> = events.iter().filter(|e| e["event"] == "peer").collect();
    assert!(!peers.is_empty() && peers.iter().all(|e| e["transport"] == "utp"), "{}", r.describe());

    // A peer with the DHT bit hears the shared port: the `port` message
    // and the extended handshake's `p`.
    let (dht_port, ext_port) = what_a_peer_is_told(&p, port);
    assert_eq!(dht_port, Some(port), "BEP 5 port message");
    assert_eq!(ext_port, Some(port), "extended handshake p");
    // The seeder counted what it dropped (-v, at the end).
    let _ = Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status();
    let end = s.finish(Duration::from_secs(15));
    let line = end.stderr.lines().find(|l| l.starts_with(&format!("UDP port {port}: "))).unwrap_or_else(|| panic!("no UDP summary\n{}", end.stderr));
    let dropped: u64 = line.split(", ").find_map(|p| p.strip_suffix(" dropped datagrams in")).and_then(|n| n.parse().ok()).expect(line);
    assert!(dropped >= 5_000, "the flood was counted as dropped: {line}");
}

/// Connect over TCP with the DHT bit set; read the seeder's handshake and
/// messages for the port it names in a `port` message and in `p`.
fn what_a_peer_is_told(p: &Payload, port: u16) -> (Option<u16>, Option<u16>) {
    let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut hs = Handshake::new(p.meta.info_hash, *b"-XX0001-abcdefghijkl");
    hs.set_dht(true);
    t.write_all(&hs.encode()).unwrap();
    let mut theirs = [0u8; 68];
    t.read_exact(&mut theirs).unwrap();
    assert_eq!(theirs[27] & 0x01, 0x01, "the seeder's handshake sets the DHT bit");
    let (mut dht_port, mut ext_port) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(5);
    while (dht_port.is_none() || ext_port.is_none()) && Instant::now() < deadline {
        let mut len = [0u8; 4];
        if t.read_exact(&mut len).is_err() {
            break;
        }
        let mut m = vec![0u8; u32::from_be_bytes(len) as usize];
        t.read_exact(&mut m).unwrap();
        match m.first() {
            Some(9) if m.len() == 3 => dht_port = Some(u16::from_be_bytes([m[1], m[2]])),
            Some(20) if m.get(1) == Some(&0) => ext_port = ExtendedHandshake::parse(&m[2..]).unwrap().port(),
            _ => {}
        }
    }
    (dht_port, ext_port)
}
