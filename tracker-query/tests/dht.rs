//! `tracker-query dht` against a small DHT of torrent_core nodes on
//! 127.0.0.1 (run in a background thread).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use torrent_core::dht::{Config, DhtEvent, DhtNode, NodeId};
use torrent_core::InfoHash;

struct Swarm {
    boot: SocketAddr,
    announcer: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Swarm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn pump(nodes: &mut [(UdpSocket, DhtNode)], events: &mut Vec<(usize, DhtEvent)>) -> bool {
    let mut busy = false;
    let mut buf = [0u8; 65536];
    for (i, (s, n)) in nodes.iter_mut().enumerate() {
        while let Some((to, b)) = n.poll_transmit() {
            assert!(to.ip().is_loopback());
            let _ = s.send_to(&b, to);
            busy = true;
        }
        loop {
            match s.recv_from(&mut buf) {
                Ok((len, from)) => {
                    n.handle_datagram(from, &buf[..len], Instant::now());
                    busy = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        let now = Instant::now();
        if n.next_timeout().is_some_and(|t| t <= now) {
            n.handle_timeout(now);
        }
        while let Some(ev) = n.poll_event() {
            events.push((i, ev));
            busy = true;
        }
    }
    busy
}

/// Eight nodes; node 1 announces `ih` with implied port. Runs until dropped
/// (at most 60 s).
fn swarm(ih: InfoHash) -> Swarm {
    let cfg = Config {
        query_timeout: Duration::from_millis(500),
        ..Config::default()
    };
    let mut nodes: Vec<(UdpSocket, DhtNode)> = (0..8)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_nonblocking(true).unwrap();
            (
                s,
                DhtNode::with_config(NodeId::random(), cfg.clone(), Instant::now()),
            )
        })
        .collect();
    let boot = nodes[0].0.local_addr().unwrap();
    let announcer = nodes[1].0.local_addr().unwrap();
    let mut events = Vec::new();
    for (_, n) in nodes.iter_mut().skip(1) {
        n.bootstrap(&[boot], Instant::now());
    }
    let end = Instant::now() + Duration::from_secs(10);
    while events
        .iter()
        .filter(|(_, e)| matches!(e, DhtEvent::Bootstrapped { .. }))
        .count()
        < 7
    {
        assert!(Instant::now() < end, "swarm bootstrap timed out");
        if !pump(&mut nodes, &mut events) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    nodes[1].1.announce_peer(ih, None, Instant::now()).unwrap();
    while !events
        .iter()
        .any(|(_, e)| matches!(e, DhtEvent::Announced { acked, .. } if *acked > 0))
    {
        assert!(Instant::now() < end, "announce timed out");
        if !pump(&mut nodes, &mut events) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let handle = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(60);
        while !s2.load(Ordering::Relaxed) && Instant::now() < end {
            if !pump(&mut nodes, &mut events) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    Swarm {
        boot,
        announcer,
        stop,
        handle: Some(handle),
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracker-query"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tracker-query")
}

#[test]
fn finds_announced_peer() {
    let ih = InfoHash(rand_bytes());
    let sw = swarm(ih);
    let boot = sw.boot.to_string();
    let hex = ih.to_hex();
    // Earlier runs' nodes may linger in the swarm's tables: short query
    // timeouts keep the lookups quick.
    let o = run(&[
        "dht",
        &hex,
        "--bootstrap",
        &boot,
        "--timeout",
        "10",
        "--query-timeout",
        "1",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "stderr: {err}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{}\n", sw.announcer)
    );
    assert!(err.contains("lookup done"), "{err}");

    // JSON, with a magnet link as the source.
    let magnet = format!("magnet:?xt=urn:btih:{hex}");
    let o = run(&[
        "dht",
        &magnet,
        "--bootstrap",
        &boot,
        "--timeout",
        "10",
        "--query-timeout",
        "1",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["info_hash"], hex.as_str());
    assert_eq!(v["peers"], serde_json::json!([sw.announcer.to_string()]));
    assert_eq!(v["complete"], true);
    assert!(v["nodes_answered"].as_u64().unwrap() >= 7);

    // Nobody announced this one: exit 1, nothing on stdout.
    let other = InfoHash(rand_bytes()).to_hex();
    let o = run(&[
        "dht",
        &other,
        "--bootstrap",
        &boot,
        "--timeout",
        "10",
        "--query-timeout",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
}

#[test]
fn dead_bootstrap_and_bad_input() {
    // A port with nothing behind it: bounded by --query-timeout.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let t = Instant::now();
    let o = run(&[
        "dht",
        &"ab".repeat(20),
        "--bootstrap",
        &addr,
        "--timeout",
        "10",
        "--query-timeout",
        "0.5",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(t.elapsed() < Duration::from_secs(8));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no DHT node answered"));

    let o = run(&["dht", "not-a-hash", "--bootstrap", "127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["dht", &"ab".repeat(20), "--bootstrap", "127.0.0.1"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["dht", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Exit codes"));
}

fn rand_bytes() -> [u8; 20] {
    NodeId::random().0
}
