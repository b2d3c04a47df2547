//! KRPC parsing and a [`DhtNode`] driven by a fuzzed script of datagrams
//! (raw, or well-formed answers to the queries it sent), incoming queries,
//! user lookups and time steps.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use torrent_core::dht::krpc::{
    self, Body, KrpcError, Message, NodeInfo, Query, Response, MAX_TID_LEN,
};
use torrent_core::dht::{Config, DhtEvent, DhtNode, LookupId, NodeId, K};
use torrent_core::infohash::InfoHash;

use crate::input::Input;

/// Largest datagram the node may send: answers and queries must fit a
/// common path MTU.
pub const MAX_OUT_DATAGRAM: usize = 1500;

/// An accepted datagram re-encodes to bytes that parse to the same message.
pub fn check_krpc_parse(buf: &[u8]) -> Option<Message> {
    match krpc::parse(buf) {
        Ok(m) => {
            assert!(!m.tid.is_empty() && m.tid.len() <= MAX_TID_LEN);
            let enc = m.encode();
            let again = krpc::parse(&enc).expect("own encoding parses");
            assert_eq!(again, m, "round trip of {:?}", String::from_utf8_lossy(buf));
            Some(m)
        }
        Err(e) => {
            if let Some(t) = &e.tid {
                assert!(!t.is_empty() && t.len() <= MAX_TID_LEN);
            }
            None
        }
    }
}

const OWN: NodeId = NodeId([0x80; 20]);

/// Remote addresses the script can speak from: IPv4 peers, an
/// IPv4-mapped IPv6 one, a pure IPv6 one and a port-0 one (both ignored).
fn addrs() -> [SocketAddr; 10] {
    let v4 = |a: u8, p: u16| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, a), p));
    [
        v4(1, 6881),
        v4(2, 6881),
        v4(3, 6881),
        v4(4, 1),
        v4(5, 65535),
        v4(6, 6882),
        "[::ffff:10.0.0.7]:6881".parse().unwrap(),
        v4(8, 6881),
        "[2001:db8::1]:6881".parse().unwrap(),
        v4(9, 0),
    ]
}

/// An id near or far from ours, or arbitrary.
fn node_id(inp: &mut Input) -> NodeId {
    let b = inp.u8();
    match b % 4 {
        0 => OWN,
        1 => {
            // Shares a fuzzed prefix with our id.
            let mut id = OWN.0;
            let bit = inp.u8() as usize % 160;
            id[bit / 8] ^= 0x80 >> (bit % 8);
            id[19] ^= inp.u8();
            NodeId(id)
        }
        2 => NodeId([inp.u8(); 20]),
        _ => NodeId(inp.array20()),
    }
}

fn node_info(inp: &mut Input) -> NodeInfo {
    let id = node_id(inp);
    let a = inp.u8();
    let port = match inp.u8() % 4 {
        0 => 0,
        1 => 6881,
        _ => inp.u16(),
    };
    let ip = if a == 0 {
        Ipv4Addr::UNSPECIFIED
    } else {
        Ipv4Addr::new(10, 0, a / 16, a % 16)
    };
    NodeInfo {
        id,
        addr: SocketAddrV4::new(ip, port),
    }
}

fn response(inp: &mut Input) -> Response {
    let id = node_id(inp);
    let nodes = (0..inp.u8() % 12).map(|_| node_info(inp)).collect();
    let values = (0..inp.u8() % 8)
        .map(|_| {
            if inp.u8() < 200 {
                SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::new(192, 0, 2, inp.u8()),
                    inp.u16(),
                ))
            } else {
                format!("[2001:db8::{}]:{}", inp.u8(), inp.u16()).parse().unwrap()
            }
        })
        .collect();
    let token = match inp.u8() % 3 {
        0 => None,
        _ => {
            let n = inp.u8() as usize % 12;
            Some(inp.bytes(n).to_vec())
        }
    };
    Response {
        id,
        nodes,
        values,
        token,
    }
}

struct Harness {
    node: DhtNode,
    config: Config,
    /// Queries the node sent and nobody answered yet: (to, tid).
    queries: Vec<(SocketAddr, Vec<u8>)>,
    /// Tokens the node gave to each address.
    tokens: HashMap<SocketAddr, Vec<u8>>,
    /// get_peers lookups waiting for LookupDone, announces for Announced.
    get_peers: HashSet<LookupId>,
    announces: HashSet<LookupId>,
}

impl Harness {
    /// Collect what the node wants to send and report, checking bounds.
    fn drain(&mut self) {
        let mut n = 0;
        while let Some((to, bytes)) = self.node.poll_transmit() {
            n += 1;
            assert!(n <= self.config.max_outgoing, "more datagrams than max_outgoing");
            assert!(
                bytes.len() <= MAX_OUT_DATAGRAM,
                "outgoing datagram of {} bytes",
                bytes.len()
            );
            let SocketAddr::V4(v4) = to else {
                panic!("datagram to non-IPv4 {to}")
            };
            assert!(v4.port() != 0 && !v4.ip().is_unspecified(), "datagram to {to}");
            let m = krpc::parse(&bytes).expect("outgoing datagram parses");
            assert_eq!(m.encode(), bytes, "outgoing datagram is canonical");
            match m.body {
                Body::Query(q) => {
                    assert_eq!(q.sender(), OWN);
                    if self.queries.len() >= 256 {
                        self.queries.remove(0);
                    }
                    self.queries.push((to, m.tid));
                }
                Body::Response(r) => {
                    assert_eq!(r.id, OWN);
                    assert!(r.nodes.len() <= K);
                    assert!(r.values.len() <= self.config.max_values_per_reply);
                    assert!(r.nodes.iter().all(|n| SocketAddr::V4(n.addr) != to));
                    if let Some(t) = r.token {
                        self.tokens.insert(to, t);
                    }
                }
                Body::Error(_) => {}
            }
        }
        while let Some(ev) = self.node.poll_event() {
            match ev {
                DhtEvent::LookupDone { lookup, .. } => {
                    self.get_peers.remove(&lookup);
                }
                DhtEvent::Announced {
                    lookup, sent, acked, ..
                } => {
                    assert!(acked <= sent);
                    assert!(self.announces.remove(&lookup), "Announced twice or unasked");
                }
                DhtEvent::Peers { peers, .. } => {
                    assert!(!peers.is_empty() && peers.iter().all(|p| p.port() != 0));
                }
                DhtEvent::Bootstrapped { table_size, .. } => assert!(table_size <= 160 * K),
            }
        }
        assert!(self.node.pending_queries() <= self.config.max_pending + K);
        assert!(self.node.routing_table().len() <= 160 * K);
        assert!(self.node.next_timeout().is_some());
    }
}

/// Script: byte 0 picks small limits / a low reply rate / an initial
/// bootstrap; then operations, each preceded by a time step.
pub fn check_dht(data: &[u8]) {
    check_krpc_parse(data);
    let mut inp = Input::new(data);
    let h = inp.u8();
    let mut config = Config::default();
    if h & 1 != 0 {
        config.max_pending = 8;
        config.max_outgoing = 16;
        config.max_lookups = 2;
        config.alpha = 1;
    }
    if h & 2 != 0 {
        config.replies_per_second = 2;
    }
    let addrs = addrs();
    let base = Instant::now();
    let mut now = base;
    let mut hs = Harness {
        node: DhtNode::with_config(OWN, config.clone(), now),
        config,
        queries: Vec::new(),
        tokens: HashMap::new(),
        get_peers: HashSet::new(),
        announces: HashSet::new(),
    };
    if h & 4 != 0 {
        hs.node.bootstrap(&addrs[..3], now);
    }
    hs.drain();
    let mut steps = 0;
    while !inp.is_empty() && steps < 500 {
        steps += 1;
        let op = inp.u8();
        now += Duration::from_millis(inp.u8() as u64 * 20);
        match op % 8 {
            0 => {
                let from = addrs[inp.u8() as usize % addrs.len()];
                let n = inp.u16() as usize % 2048;
                let bytes = inp.bytes(n);
                check_krpc_parse(bytes);
                hs.node.handle_datagram(from, bytes, now);
            }
            1 | 2 => {
                // Answer one of the node's queries.
                if hs.queries.is_empty() {
                    continue;
                }
                let k = inp.u8() as usize % hs.queries.len();
                let (to, tid) = hs.queries.remove(k);
                let m = if op % 8 == 1 {
                    Message::response(tid, response(&mut inp))
                } else {
                    Message {
                        tid,
                        version: None,
                        body: Body::Error(KrpcError {
                            code: 201 + inp.u8() as i64 % 4,
                            message: "fuzz".into(),
                        }),
                    }
                };
                let bytes = m.encode();
                check_krpc_parse(&bytes);
                hs.node.handle_datagram(to, &bytes, now);
            }
            3 => hs.node.handle_timeout(now),
            4 => {
                now += Duration::from_secs(inp.u8() as u64 * 10);
                hs.node.handle_timeout(now);
            }
            5 => {
                let info_hash = InfoHash(node_id(&mut inp).0);
                match inp.u8() % 3 {
                    0 => {
                        if let Ok(l) = hs.node.get_peers(info_hash, now) {
                            hs.get_peers.insert(l);
                        }
                    }
                    1 => {
                        let port = match inp.u8() % 3 {
                            0 => None,
                            1 => Some(0),
                            _ => Some(inp.u16()),
                        };
                        if let Ok(l) = hs.node.announce_peer(info_hash, port, now) {
                            hs.announces.insert(l);
                        }
                    }
                    _ => {
                        let k = 1 + inp.u8() as usize % addrs.len();
                        hs.node.bootstrap(&addrs[..k], now);
                    }
                }
            }
            6 => {
                // A query to us, from one of the addresses.
                let from = addrs[inp.u8() as usize % addrs.len()];
                let id = node_id(&mut inp);
                let q = match inp.u8() % 4 {
                    0 => Query::Ping { id },
                    1 => Query::FindNode {
                        id,
                        target: node_id(&mut inp),
                    },
                    2 => Query::GetPeers {
                        id,
                        info_hash: node_id(&mut inp),
                    },
                    _ => Query::AnnouncePeer {
                        id,
                        info_hash: node_id(&mut inp),
                        port: 1 + inp.u16() % 65535,
                        implied_port: inp.bool(),
                        token: if inp.u8() < 200 {
                            hs.tokens.get(&from).cloned().unwrap_or_default()
                        } else {
                            inp.short_bytes().iter().take(64).copied().collect()
                        },
                    },
                };
                let n = 1 + inp.u8() as usize % 4;
                let tid = inp.bytes(n).to_vec();
                let tid = if tid.is_empty() { vec![0] } else { tid };
                let bytes = Message::query(tid, q).encode();
                check_krpc_parse(&bytes);
                hs.node.handle_datagram(from, &bytes, now);
            }
            _ => {
                let t = hs.node.next_timeout().expect("always a next timeout");
                now = now.max(t);
                hs.node.handle_timeout(now);
            }
        }
        hs.drain();
    }
    // With nobody answering, every lookup the user started ends.
    let mut rounds = 0;
    while !(hs.get_peers.is_empty() && hs.announces.is_empty()) {
        rounds += 1;
        assert!(
            rounds <= 2000,
            "lookups never end: {} get_peers, {} announces, {} pending",
            hs.get_peers.len(),
            hs.announces.len(),
            hs.node.pending_queries()
        );
        let t = hs.node.next_timeout().expect("always a next timeout");
        now = now.max(t);
        hs.node.handle_timeout(now);
        hs.drain();
    }
}
