//! A DHT of 20 of our own nodes on 127.0.0.1, each with its own UDP socket,
//! driven from this one thread: bootstrap, announce, find, and persistence.

use std::collections::HashSet;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use torrent_core::dht::persist::SavedState;
use torrent_core::dht::{Config, DhtEvent, DhtNode, NodeId, K};
use torrent_core::InfoHash;

struct Net {
    nodes: Vec<(UdpSocket, DhtNode)>,
    /// Events per node, in order.
    events: Vec<Vec<DhtEvent>>,
}

fn config() -> Config {
    Config {
        query_timeout: Duration::from_millis(500),
        maintenance_interval: Duration::from_millis(200),
        ..Config::default()
    }
}

impl Net {
    fn new(n: usize) -> Net {
        let now = Instant::now();
        let nodes = (0..n)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_nonblocking(true).unwrap();
                (s, DhtNode::with_config(NodeId::random(), config(), now))
            })
            .collect();
        Net {
            nodes,
            events: vec![Vec::new(); n],
        }
    }

    fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].0.local_addr().unwrap()
    }

    /// One pass: send, receive, time out, collect events. True if anything
    /// moved.
    fn pump(&mut self) -> bool {
        let mut busy = false;
        let mut buf = [0u8; 65536];
        for (i, (sock, node)) in self.nodes.iter_mut().enumerate() {
            while let Some((to, bytes)) = node.poll_transmit() {
                assert!(to.ip().is_loopback(), "node {i} sent to {to}");
                let _ = sock.send_to(&bytes, to);
                busy = true;
            }
            loop {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        node.handle_datagram(from, &buf[..n], Instant::now());
                        busy = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if node.next_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now);
            }
            while let Some(ev) = node.poll_event() {
                self.events[i].push(ev);
                busy = true;
            }
        }
        busy
    }

    /// Pump until `done` or the time limit (which fails the test).
    fn run_until(&mut self, limit: Duration, what: &str, mut done: impl FnMut(&Net) -> bool) {
        let end = Instant::now() + limit;
        while !done(self) {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            if !self.pump() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

#[test]
fn twenty_nodes_announce_and_find() {
    let n = 20;
    let mut net = Net::new(n);
    let boot = net.addr(0);
    // Everyone but node 0 bootstraps through node 0, a few at a time so
    // later nodes can learn about earlier ones.
    let now = Instant::now();
    for i in 1..n {
        let (_, node) = &mut net.nodes[i];
        node.bootstrap(&[boot], now);
    }
    net.run_until(Duration::from_secs(20), "bootstraps", |net| {
        (1..n).all(|i| {
            net.events[i]
                .iter()
                .any(|e| matches!(e, DhtEvent::Bootstrapped { .. }))
        })
    });
    // A second round fills the tables now that node 0 knows everybody.
    for i in 1..n {
        let (_, node) = &mut net.nodes[i];
        node.bootstrap(&[boot], Instant::now());
    }
    net.run_until(Duration::from_secs(20), "second bootstraps", |net| {
        (1..n).all(|i| {
            net.events[i]
                .iter()
                .filter(|e| matches!(e, DhtEvent::Bootstrapped { .. }))
                .count()
                == 2
        })
    });
    for i in 0..n {
        let size = net.nodes[i].1.routing_table().len();
        assert!(size >= K, "node {i} knows only {size} nodes");
    }

    // Node 3 announces port 7000 for an info-hash.
    let ih = InfoHash(rand::random());
    let lid = net.nodes[3]
        .1
        .announce_peer(ih, Some(7000), Instant::now())
        .unwrap();
    net.run_until(Duration::from_secs(20), "announce", |net| {
        net.events[3]
            .iter()
            .any(|e| matches!(e, DhtEvent::Announced { lookup, .. } if *lookup == lid))
    });
    let (sent, acked) = net.events[3]
        .iter()
        .find_map(|e| match e {
            DhtEvent::Announced {
                sent,
                acked,
                info_hash,
                ..
            } => {
                assert_eq!(*info_hash, ih);
                Some((*sent, *acked))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(sent, K, "announced to the k closest");
    assert_eq!(acked, sent);

    // The peer is stored on the nodes closest to the info-hash.
    let target = NodeId::from(ih);
    let mut by_distance: Vec<usize> = (0..n).collect();
    by_distance.sort_by_key(|&i| net.nodes[i].1.id().distance(&target));
    let me: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let storing: HashSet<usize> = (0..n)
        .filter(|&i| {
            net.nodes[i]
                .1
                .stored_peers(ih, Instant::now())
                .contains(&me)
        })
        .collect();
    assert_eq!(storing.len(), K);
    let closest: HashSet<usize> = by_distance
        .iter()
        .copied()
        .filter(|&i| i != 3)
        .take(K)
        .collect();
    assert_eq!(
        storing, closest,
        "stored exactly on the k closest other nodes"
    );

    // Node 17 finds it.
    let lid = net.nodes[17].1.get_peers(ih, Instant::now()).unwrap();
    net.run_until(Duration::from_secs(20), "get_peers", |net| {
        net.events[17]
            .iter()
            .any(|e| matches!(e, DhtEvent::LookupDone { lookup, .. } if *lookup == lid))
    });
    let found: Vec<SocketAddr> = net.events[17]
        .iter()
        .filter_map(|e| match e {
            DhtEvent::Peers { lookup, peers, .. } if *lookup == lid => Some(peers.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(found, vec![me]);
    let done = net.events[17]
        .iter()
        .find_map(|e| match e {
            DhtEvent::LookupDone {
                lookup,
                peers_found,
                nodes_answered,
                ..
            } if *lookup == lid => Some((*peers_found, *nodes_answered)),
            _ => None,
        })
        .unwrap();
    assert_eq!(done.0, 1);
    assert!(done.1 >= K);

    // An info-hash nobody announced: the lookup ends with no peers.
    let other = InfoHash(rand::random());
    let lid = net.nodes[9].1.get_peers(other, Instant::now()).unwrap();
    net.run_until(Duration::from_secs(20), "empty get_peers", |net| {
        net.events[9]
            .iter()
            .any(|e| matches!(e, DhtEvent::LookupDone { lookup, .. } if *lookup == lid))
    });
    assert!(!net.events[9]
        .iter()
        .any(|e| matches!(e, DhtEvent::Peers { lookup, .. } if *lookup == lid)));

    // Saved state restores the id and the nodes; a node resumed from it
    // bootstraps without being told any address.
    let saved = net.nodes[5].1.saved_state();
    let bytes = saved.to_bytes();
    let back = SavedState::from_bytes(&bytes).unwrap();
    assert_eq!(back, saved);
    assert!(back.nodes.len() >= K);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_nonblocking(true).unwrap();
    let resumed = DhtNode::from_saved(&back, config(), Instant::now());
    assert_eq!(resumed.id(), saved.id);
    // Retire node 5's old socket so the resumed node takes its place.
    net.nodes[5] = (sock, resumed);
    net.events[5].clear();
    net.run_until(Duration::from_secs(20), "resumed bootstrap", |net| {
        net.events[5]
            .iter()
            .any(|e| matches!(e, DhtEvent::Bootstrapped { table_size, .. } if *table_size >= K))
    });
}

#[test]
fn blocking_driver_finds_announced_peer() {
    // Five nodes in a background thread, one blocking client here.
    let stop = Instant::now() + Duration::from_secs(15);
    let mut net = Net::new(5);
    let boot = net.addr(0);
    for i in 1..5 {
        net.nodes[i].1.bootstrap(&[boot], Instant::now());
    }
    net.run_until(Duration::from_secs(10), "bootstraps", |net| {
        (1..5).all(|i| {
            net.events[i]
                .iter()
                .any(|e| matches!(e, DhtEvent::Bootstrapped { .. }))
        })
    });
    let ih = InfoHash([7u8; 20]);
    let lid = net.nodes[2]
        .1
        .announce_peer(ih, None, Instant::now())
        .unwrap();
    net.run_until(Duration::from_secs(10), "announce", |net| {
        net.events[2]
            .iter()
            .any(|e| matches!(e, DhtEvent::Announced { lookup, acked, .. } if *lookup == lid && *acked > 0))
    });
    // implied_port: the announcing node's own UDP port was stored.
    let implied = net.addr(2);
    let quit = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let q2 = quit.clone();
    let bg = std::thread::spawn(move || {
        while Instant::now() < stop && !q2.load(std::sync::atomic::Ordering::Relaxed) {
            if !net.pump() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut node = DhtNode::with_config(NodeId::random(), config(), Instant::now());
    let size = torrent_core::dht::blocking::bootstrap(
        &sock,
        &mut node,
        &[boot],
        Instant::now() + Duration::from_secs(5),
    )
    .unwrap();
    assert!(size >= 4, "table has {size}");
    let peers = torrent_core::dht::blocking::run_lookup(
        &sock,
        &mut node,
        ih,
        Instant::now() + Duration::from_secs(5),
    )
    .unwrap();
    quit.store(true, std::sync::atomic::Ordering::Relaxed);
    bg.join().unwrap();
    assert_eq!(peers, vec![implied]);
}
