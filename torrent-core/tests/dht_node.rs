//! DhtNode without sockets: datagrams in, datagrams out, time passed in.

use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::dht::krpc::{self, Body, Message, NodeInfo, Query, Response};
use torrent_core::dht::{Config, DhtError, DhtEvent, DhtNode, NodeId};
use torrent_core::InfoHash;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn drain(node: &mut DhtNode) -> Vec<(SocketAddr, Message)> {
    let mut out = Vec::new();
    while let Some((to, b)) = node.poll_transmit() {
        out.push((to, krpc::parse(&b).expect("our own output parses")));
    }
    out
}

/// The answer (response or error) with this tid among the output.
fn reply(node: &mut DhtNode, tid: &[u8]) -> Message {
    drain(node)
        .into_iter()
        .find(|(_, m)| m.tid == tid && !matches!(m.body, Body::Query(_)))
        .unwrap_or_else(|| panic!("no answer to {tid:?}"))
        .1
}

fn query(tid: &[u8], q: Query) -> Vec<u8> {
    Message::query(tid.to_vec(), q).encode()
}

fn response_to(m: &Message) -> &Response {
    match &m.body {
        Body::Response(r) => r,
        b => panic!("expected a response, got {b:?}"),
    }
}

#[test]
fn answers_queries_and_stores_announces() {
    let t0 = Instant::now();
    let me = NodeId([0x11; 20]);
    let mut node = DhtNode::new(me, t0);
    let peer = addr("127.0.0.1:4000");
    let their = NodeId([0x22; 20]);

    node.handle_datagram(peer, &query(b"p1", Query::Ping { id: their }), t0);
    let out = drain(&mut node);
    // The answer, then a ping to verify the unknown querier.
    let answer = out.iter().find(|(_, m)| m.tid == b"p1").unwrap();
    assert_eq!(answer.0, peer);
    assert_eq!(response_to(&answer.1).id, me);
    assert!(out
        .iter()
        .any(|(to, m)| *to == peer && matches!(m.body, Body::Query(Query::Ping { .. }))));

    // get_peers hands out a token; nothing stored yet.
    let ih = NodeId([0x33; 20]);
    node.handle_datagram(
        peer,
        &query(
            b"g1",
            Query::GetPeers {
                id: their,
                info_hash: ih,
            },
        ),
        t0,
    );
    let r = response_to(&reply(&mut node, b"g1")).clone();
    assert!(r.values.is_empty());
    let token = r.token.expect("token");

    // A wrong token is refused with 203.
    let bad = Query::AnnouncePeer {
        id: their,
        info_hash: ih,
        port: 5000,
        implied_port: false,
        token: b"nope".to_vec(),
    };
    node.handle_datagram(peer, &query(b"a0", bad), t0);
    match &reply(&mut node, b"a0").body {
        Body::Error(e) => assert_eq!(e.code, 203),
        b => panic!("{b:?}"),
    }
    // The right token from another IP is refused too.
    let good = Query::AnnouncePeer {
        id: their,
        info_hash: ih,
        port: 5000,
        implied_port: false,
        token: token.clone(),
    };
    node.handle_datagram(addr("127.0.0.2:4000"), &query(b"a1", good.clone()), t0);
    assert!(matches!(reply(&mut node, b"a1").body, Body::Error(_)));
    assert!(node.stored_peers(InfoHash(ih.0), t0).is_empty());
    // The right token from the right IP is stored.
    node.handle_datagram(peer, &query(b"a2", good), t0);
    assert!(matches!(reply(&mut node, b"a2").body, Body::Response(_)));
    assert_eq!(
        node.stored_peers(InfoHash(ih.0), t0),
        vec![addr("127.0.0.1:5000")]
    );

    // Another node asking gets the peer back.
    node.handle_datagram(
        addr("127.0.0.3:4000"),
        &query(
            b"g2",
            Query::GetPeers {
                id: NodeId([0x44; 20]),
                info_hash: ih,
            },
        ),
        t0,
    );
    let out = drain(&mut node);
    let answer = out.iter().find(|(_, m)| m.tid == b"g2").unwrap();
    assert_eq!(response_to(&answer.1).values, vec![addr("127.0.0.1:5000")]);

    // Tokens survive one rotation, not two.
    let later = t0 + Duration::from_secs(301);
    node.handle_timeout(later);
    let again = Query::AnnouncePeer {
        id: their,
        info_hash: ih,
        port: 5001,
        implied_port: false,
        token: token.clone(),
    };
    node.handle_datagram(peer, &query(b"a3", again.clone()), later);
    assert!(matches!(reply(&mut node, b"a3").body, Body::Response(_)));
    let much_later = later + Duration::from_secs(301);
    node.handle_timeout(much_later);
    node.handle_datagram(peer, &query(b"a4", again), much_later);
    assert!(matches!(reply(&mut node, b"a4").body, Body::Error(_)));
    // Stored peers expire after 30 minutes.
    // Stored peers expire 30 minutes after their last announce.
    assert_eq!(
        node.stored_peers(InfoHash(ih.0), later + Duration::from_secs(29 * 60))
            .len(),
        1
    );
    assert!(node
        .stored_peers(InfoHash(ih.0), later + Duration::from_secs(31 * 60))
        .is_empty());
}

#[test]
fn lookup_times_out_and_ignores_spoofed_answers() {
    let t0 = Instant::now();
    let cfg = Config {
        query_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let mut node = DhtNode::with_config(NodeId::random(), cfg, t0);
    let boot = addr("127.0.0.1:6000");
    node.bootstrap(&[boot], t0);
    let ih = InfoHash([9; 20]);
    let lid = node.get_peers(ih, t0).unwrap();
    let out = drain(&mut node);
    // One find_node (bootstrap) and one get_peers, both to the bootstrap node.
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|(to, _)| *to == boot));
    assert_eq!(node.pending_queries(), 2);
    assert_eq!(node.next_timeout(), Some(t0 + Duration::from_secs(2)));
    let gp = out
        .iter()
        .find(|(_, m)| matches!(m.body, Body::Query(Query::GetPeers { .. })))
        .unwrap()
        .1
        .clone();

    // An answer with the right tid from the wrong address is ignored.
    let fake = Message::response(
        gp.tid.clone(),
        Response {
            id: NodeId::random(),
            values: vec![addr("6.6.6.6:666")],
            token: Some(b"t".to_vec()),
            ..Default::default()
        },
    );
    node.handle_datagram(addr("127.0.0.1:6001"), &fake.encode(), t0);
    assert_eq!(node.pending_queries(), 2);
    assert!(node.poll_event().is_none());

    // Nothing before the deadline, then both fail.
    node.handle_timeout(t0 + Duration::from_millis(1999));
    assert_eq!(node.pending_queries(), 2);
    node.handle_timeout(t0 + Duration::from_secs(2));
    assert_eq!(node.pending_queries(), 0);
    let events: Vec<DhtEvent> = std::iter::from_fn(|| node.poll_event()).collect();
    assert!(events.contains(&DhtEvent::LookupDone {
        lookup: lid,
        info_hash: ih,
        peers_found: 0,
        nodes_answered: 0
    }));
    assert!(events
        .iter()
        .any(|e| matches!(e, DhtEvent::Bootstrapped { table_size: 0, .. })));
    assert_eq!(node.active_lookups(), 0);
}

#[test]
fn answered_lookup_reports_peers_once() {
    let t0 = Instant::now();
    let mut node = DhtNode::new(NodeId([0; 20]), t0);
    let a = addr("127.0.0.1:6100");
    let b = addr("127.0.0.1:6101");
    node.bootstrap(&[a], t0);
    drain(&mut node); // the bootstrap find_node stays unanswered
    let ih = InfoHash([0x80; 20]);
    let lid = node.get_peers(ih, t0).unwrap();
    let out = drain(&mut node);
    let (_, q) = out.iter().find(|(to, _)| *to == a).unwrap();
    // A answers with a peer and names B.
    let b_id = NodeId([0x81; 20]);
    let r = Message::response(
        q.tid.clone(),
        Response {
            id: NodeId([0x70; 20]),
            nodes: vec![NodeInfo {
                id: b_id,
                addr: match b {
                    SocketAddr::V4(v) => v,
                    _ => unreachable!(),
                },
            }],
            values: vec![addr("10.0.0.1:1"), addr("10.0.0.2:2")],
            token: Some(b"tokA".to_vec()),
        },
    );
    node.handle_datagram(a, &r.encode(), t0);
    assert_eq!(
        node.poll_event(),
        Some(DhtEvent::Peers {
            lookup: lid,
            info_hash: ih,
            peers: vec![addr("10.0.0.1:1"), addr("10.0.0.2:2")]
        })
    );
    // The lookup now asks B; B repeats one peer and adds one.
    let out = drain(&mut node);
    let (_, q) = out.iter().find(|(to, _)| *to == b).expect("asks B next");
    let r = Message::response(
        q.tid.clone(),
        Response {
            id: b_id,
            values: vec![addr("10.0.0.2:2"), addr("10.0.0.3:3")],
            token: Some(b"tokB".to_vec()),
            ..Default::default()
        },
    );
    node.handle_datagram(b, &r.encode(), t0);
    assert_eq!(
        node.poll_event(),
        Some(DhtEvent::Peers {
            lookup: lid,
            info_hash: ih,
            peers: vec![addr("10.0.0.3:3")]
        })
    );
    assert_eq!(
        node.poll_event(),
        Some(DhtEvent::LookupDone {
            lookup: lid,
            info_hash: ih,
            peers_found: 3,
            nodes_answered: 2
        })
    );
    // Both answered, so both are in the routing table.
    assert_eq!(node.routing_table().len(), 2);
    // A duplicate answer (same tid again) is ignored.
    node.handle_datagram(b, &r.encode(), t0);
    assert!(node.poll_event().is_none());
}

#[test]
fn bounded_lookups_and_replies() {
    let t0 = Instant::now();
    let cfg = Config {
        max_lookups: 2,
        replies_per_second: 50,
        ..Config::default()
    };
    let mut node = DhtNode::with_config(NodeId::random(), cfg, t0);
    node.get_peers(InfoHash([1; 20]), t0).unwrap();
    // No nodes at all: that lookup ended at once, so it does not count.
    assert_eq!(node.active_lookups(), 0);
    node.bootstrap(&[addr("127.0.0.1:7000")], t0);
    node.get_peers(InfoHash([1; 20]), t0).unwrap();
    node.get_peers(InfoHash([2; 20]), t0).unwrap();
    assert_eq!(
        node.get_peers(InfoHash([3; 20]), t0),
        Err(DhtError::TooManyLookups(2))
    );
    drain(&mut node);
    // A flood of pings at one instant: at most 50 answers.
    for i in 0..1000u32 {
        let tid = i.to_be_bytes();
        node.handle_datagram(
            addr("127.0.0.1:7001"),
            &query(
                &tid,
                Query::Ping {
                    id: NodeId([5; 20]),
                },
            ),
            t0,
        );
    }
    let answers = drain(&mut node)
        .into_iter()
        .filter(|(_, m)| matches!(m.body, Body::Response(_)))
        .count();
    assert_eq!(answers, 50);
    // A second later the budget is back.
    node.handle_datagram(
        addr("127.0.0.1:7001"),
        &query(
            b"zz",
            Query::Ping {
                id: NodeId([5; 20]),
            },
        ),
        t0 + Duration::from_secs(1),
    );
    assert_eq!(drain(&mut node).len(), 1);
}

/// Valid messages of every kind, to mutate.
fn corpus() -> Vec<Vec<u8>> {
    let id = NodeId([0x41; 20]);
    let ih = NodeId([0x42; 20]);
    vec![
        query(b"aa", Query::Ping { id }),
        query(b"ab", Query::FindNode { id, target: ih }),
        query(b"ac", Query::GetPeers { id, info_hash: ih }),
        query(
            b"ad",
            Query::AnnouncePeer {
                id,
                info_hash: ih,
                port: 1,
                implied_port: true,
                token: b"xxxxxxxx".to_vec(),
            },
        ),
        Message::response(
            b"ae".to_vec(),
            Response {
                id,
                nodes: vec![NodeInfo {
                    id: ih,
                    addr: "127.0.0.1:9".parse().unwrap(),
                }],
                values: vec![addr("1.2.3.4:5")],
                token: Some(b"tok".to_vec()),
            },
        )
        .encode(),
        Message::error(b"af".to_vec(), 201, "oops").encode(),
    ]
}

#[test]
fn random_and_mutated_datagrams_never_panic() {
    let t0 = Instant::now();
    let mut node = DhtNode::new(NodeId::random(), t0);
    node.bootstrap(&[addr("127.0.0.1:8000")], t0);
    drain(&mut node);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xd47);
    let corpus = corpus();
    let from = addr("127.0.0.1:8001");
    let (mut answered, mut dropped) = (0, 0);
    for round in 0..20_000u32 {
        let mut d = if round % 4 == 0 {
            let n = rng.gen_range(0..200);
            (0..n).map(|_| rng.gen()).collect::<Vec<u8>>()
        } else {
            corpus[rng.gen_range(0..corpus.len())].clone()
        };
        for _ in 0..rng.gen_range(0..4) {
            if d.is_empty() {
                break;
            }
            let i = rng.gen_range(0..d.len());
            match rng.gen_range(0..4) {
                0 => d[i] = rng.gen(),
                1 => {
                    d.remove(i);
                }
                2 => d.insert(i, b"0123456789:deil"[rng.gen_range(0..15)]),
                _ => d.truncate(i),
            }
        }
        let now = t0 + Duration::from_millis(round as u64 * 10);
        node.handle_datagram(from, &d, now);
        if round % 100 == 0 {
            node.handle_timeout(now);
        }
        let out = drain(&mut node);
        // Answers go back to the sender; queries (verification pings, a
        // re-bootstrap) go to the sender or the bootstrap node.
        let replies: Vec<_> = out
            .iter()
            .filter(|(_, m)| !matches!(m.body, Body::Query(_)))
            .collect();
        assert!(replies.len() <= 1, "one answer per datagram");
        for (to, m) in &out {
            if matches!(m.body, Body::Query(_)) {
                assert!(*to == from || *to == addr("127.0.0.1:8000"), "{to}");
            } else {
                assert_eq!(*to, from);
            }
        }
        if replies.is_empty() {
            dropped += 1;
        } else {
            answered += 1;
        }
        // Whatever the node thinks it learned stays bounded.
        assert!(node.pending_queries() <= node.config().max_pending);
        assert!(node.routing_table().len() <= 160 * 8);
    }
    assert!(
        answered > 1000,
        "valid or answerable queries were answered ({answered})"
    );
    assert!(dropped > 1000, "garbage was dropped ({dropped})");
    // Oversized input is dropped without a fuss.
    node.handle_datagram(from, &vec![b'd'; 70_000], t0);
    assert!(node.poll_transmit().is_none());
}

#[test]
fn a_peer_port_message_pings_the_node_and_an_answer_adds_it() {
    let t0 = Instant::now();
    let mut node = DhtNode::new(NodeId::random(), t0);
    let other = addr("127.0.0.1:7001");
    assert!(node.ping(other, t0));
    // Asked once: a second port message while the ping is out sends nothing.
    assert!(!node.ping(other, t0));
    let out = drain(&mut node);
    assert_eq!(out.len(), 1);
    let (to, m) = &out[0];
    assert_eq!(*to, other);
    assert!(matches!(m.body, Body::Query(Query::Ping { .. })), "{m:?}");
    assert_eq!(node.routing_table().len(), 0);
    let their = NodeId([0x42; 20]);
    let answer = Message::response(m.tid.clone(), Response { id: their, ..Default::default() });
    node.handle_datagram(other, &answer.encode(), t0);
    assert_eq!(node.routing_table().len(), 1);
    assert!(node.routing_table().get(&their).is_some());
    // Known now: no more pings for it; port 0 and IPv6 are never pinged.
    assert!(!node.ping(other, t0));
    assert!(!node.ping(addr("127.0.0.1:0"), t0));
    assert!(!node.ping(addr("[::1]:7002"), t0));
    assert!(drain(&mut node).is_empty());
}

#[test]
fn port_message_pings_stay_within_half_the_pending_budget() {
    let t0 = Instant::now();
    let cfg = Config { max_pending: 8, ..Config::default() };
    let mut node = DhtNode::with_config(NodeId::random(), cfg, t0);
    let sent = (0..20).filter(|i| node.ping(addr(&format!("127.0.0.1:{}", 7100 + i)), t0)).count();
    assert_eq!(sent, 4);
    assert_eq!(drain(&mut node).len(), 4);
}
