//! Interop with libtorrent-rasterbar's DHT (python3-libtorrent) on loopback:
//! raw KRPC both ways, bootstrap through it, it bootstraps through us, and
//! announces go both ways. Fails (does not skip) if python3-libtorrent is
//! missing.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use torrent_core::dht::krpc::{self, Body, Message, Query};
use torrent_core::dht::{blocking, Config, DhtEvent, DhtNode, NodeId};
use torrent_core::InfoHash;

const SCRIPT: &str = r#"
import sys, time, select, tempfile
import libtorrent as lt
tmp = tempfile.mkdtemp()
s = lt.session({
    "listen_interfaces": "127.0.0.1:0",
    "outgoing_interfaces": "127.0.0.1",
    "enable_dht": True, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "enable_incoming_utp": False, "enable_outgoing_utp": False,
    "dht_bootstrap_nodes": "",
    "dht_restrict_routing_ips": False, "dht_restrict_search_ips": False,
    "dht_enforce_node_id": False, "dht_prefer_verified_node_ids": False,
    "dht_ignore_dark_internet": False, "dht_block_ratelimit": 10000,
    "alert_mask": lt.alert.category_t.dht_notification | lt.alert.category_t.status_notification,
})
deadline = time.time() + 60
port = 0
while port == 0 and time.time() < deadline:
    for a in s.pop_alerts():
        if isinstance(a, lt.listen_succeeded_alert):
            port = s.listen_port()
    time.sleep(0.05)
print("PORT %d" % port, flush=True)
while time.time() < deadline:
    r, _, _ = select.select([sys.stdin], [], [], 0.1)
    if r:
        line = sys.stdin.readline()
        if not line:
            break
        cmd = line.split()
        if cmd[0] == "ADD":
            s.add_dht_node(("127.0.0.1", int(cmd[1])))
        elif cmd[0] == "TORRENT":
            # session.dht_announce's flags type is not exposed to Python in
            # this binding, so announce the way a client does: add a magnet
            # link (no trackers), which libtorrent announces to the DHT.
            atp = lt.parse_magnet_uri("magnet:?xt=urn:btih:" + cmd[1])
            atp.save_path = tmp
            s.add_torrent(atp)
        elif cmd[0] == "STATS":
            s.post_dht_stats()
        elif cmd[0] == "QUIT":
            break
    for a in s.pop_alerts():
        if isinstance(a, lt.dht_stats_alert):
            n = sum(b["num_nodes"] for b in a.routing_table)
            print("NODES %d" % n, flush=True)
"#;

struct Lt {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    addr: SocketAddr,
}

impl Lt {
    fn start() -> Lt {
        let mut child = Command::new("/usr/bin/python3")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run /usr/bin/python3 (python3-libtorrent is required)");
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut lt = Lt {
            child,
            stdin,
            lines,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let port: u16 = lt.expect("PORT ", Duration::from_secs(20)).parse().unwrap();
        assert_ne!(port, 0, "libtorrent did not listen");
        lt.addr = SocketAddr::from(([127, 0, 0, 1], port));
        lt
    }

    fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn expect(&mut self, prefix: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l[prefix.len()..].to_string(),
                Ok(_) => {}
                Err(e) => panic!("libtorrent script: no {prefix:?} line ({e})"),
            }
        }
    }
}

impl Drop for Lt {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "QUIT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send one raw query and wait for the answer with the same tid.
fn exchange(sock: &UdpSocket, to: SocketAddr, tid: &[u8], q: Query) -> Message {
    sock.send_to(&Message::query(tid.to_vec(), q.clone()).encode(), to)
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 65536];
    while Instant::now() < end {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if from != to {
                continue;
            }
            let m = krpc::parse(&buf[..n]).expect("libtorrent's answer parses");
            if m.tid == tid {
                return m;
            }
        }
    }
    panic!("no answer from libtorrent to {q:?}");
}

/// Run the node for `d`, answering whatever arrives.
fn serve(sock: &UdpSocket, node: &mut DhtNode, d: Duration) {
    blocking::drive(sock, node, Instant::now() + d, |_, _| true).unwrap();
}

#[test]
fn interop_with_libtorrent_dht() {
    let mut lt = Lt::start();

    // Our node bootstraps through libtorrent (find_node both ways of the
    // wire: our query, its answer).
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let our_addr = sock.local_addr().unwrap();
    let cfg = Config {
        query_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let mut node = DhtNode::with_config(NodeId::random(), cfg, Instant::now());
    let n = blocking::bootstrap(
        &sock,
        &mut node,
        &[lt.addr],
        Instant::now() + Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(n, 1, "libtorrent entered our routing table");

    // libtorrent bootstraps through us: it queries us, we answer, and we
    // enter its routing table.
    lt.send(&format!("ADD {}", our_addr.port()));
    let end = Instant::now() + Duration::from_secs(15);
    let mut lt_nodes = 0;
    while lt_nodes == 0 {
        assert!(Instant::now() < end, "libtorrent did not add our node");
        serve(&sock, &mut node, Duration::from_millis(300));
        lt.send("STATS");
        // Keep answering while waiting for the stats line.
        let stats_end = Instant::now() + Duration::from_secs(5);
        loop {
            serve(&sock, &mut node, Duration::from_millis(20));
            if let Ok(l) = lt.lines.try_recv() {
                if let Some(n) = l.strip_prefix("NODES ") {
                    lt_nodes = n.parse().unwrap();
                    break;
                }
            }
            assert!(Instant::now() < stats_end, "no stats from libtorrent");
        }
    }

    // libtorrent announces a torrent through the DHT (get_peers to us, then
    // announce_peer with our token): we are the only node it knows, so the
    // peer (its listen port) lands in our store.
    let ih2 = InfoHash(NodeId::random().0);
    lt.send(&format!("TORRENT {}", ih2.to_hex()));
    let end = Instant::now() + Duration::from_secs(30);
    while !node.stored_peers(ih2, Instant::now()).contains(&lt.addr) {
        assert!(
            Instant::now() < end,
            "libtorrent's announce never reached us"
        );
        serve(&sock, &mut node, Duration::from_millis(50));
    }

    // We announce to libtorrent with the token it gave us, and find
    // ourselves there with a get_peers lookup.
    let ih3 = InfoHash(NodeId::random().0);
    let lid = node.announce_peer(ih3, Some(7222), Instant::now()).unwrap();
    let mut result = None;
    blocking::drive(
        &sock,
        &mut node,
        Instant::now() + Duration::from_secs(10),
        |_, ev| {
            if let DhtEvent::Announced {
                lookup,
                sent,
                acked,
                ..
            } = ev
            {
                if lookup == lid {
                    result = Some((sent, acked));
                    return false;
                }
            }
            true
        },
    )
    .unwrap();
    assert_eq!(result, Some((1, 1)), "announce to libtorrent (sent, acked)");
    let peers = blocking::run_lookup(
        &sock,
        &mut node,
        ih3,
        Instant::now() + Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(peers, vec!["127.0.0.1:7222".parse::<SocketAddr>().unwrap()]);

    // Raw KRPC from a second socket, message by message.
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = NodeId::random();
    let m = exchange(&raw, lt.addr, b"p1", Query::Ping { id: me });
    let Body::Response(r) = m.body else {
        panic!("{m:?}")
    };
    let lt_id = r.id;
    assert_ne!(lt_id, me);
    assert!(
        node.routing_table().get(&lt_id).is_some(),
        "the id we know it by"
    );
    let m = exchange(
        &raw,
        lt.addr,
        b"f1",
        Query::FindNode {
            id: me,
            target: node.id(),
        },
    );
    let Body::Response(r) = m.body else {
        panic!("{m:?}")
    };
    assert_eq!(r.id, lt_id);
    assert!(
        r.nodes
            .iter()
            .any(|n| n.id == node.id() && std::net::SocketAddr::V4(n.addr) == our_addr),
        "libtorrent lists our node: {:?}",
        r.nodes
    );
    let ih = NodeId::random();
    let m = exchange(
        &raw,
        lt.addr,
        b"g1",
        Query::GetPeers {
            id: me,
            info_hash: ih,
        },
    );
    let Body::Response(r) = m.body else {
        panic!("{m:?}")
    };
    assert!(r.values.is_empty());
    let token = r.token.expect("libtorrent gave a token");
    let bad = Query::AnnouncePeer {
        id: me,
        info_hash: ih,
        port: 7111,
        implied_port: false,
        token: b"wrong".to_vec(),
    };
    let m = exchange(&raw, lt.addr, b"a0", bad);
    assert!(
        matches!(m.body, Body::Error(_)),
        "a bad token is refused: {m:?}"
    );
    let good = Query::AnnouncePeer {
        id: me,
        info_hash: ih,
        port: 7111,
        implied_port: false,
        token,
    };
    let m = exchange(&raw, lt.addr, b"a1", good);
    assert!(
        matches!(m.body, Body::Response(_)),
        "announce refused: {m:?}"
    );
    let m = exchange(
        &raw,
        lt.addr,
        b"g2",
        Query::GetPeers {
            id: me,
            info_hash: ih,
        },
    );
    let Body::Response(r) = m.body else {
        panic!("{m:?}")
    };
    assert_eq!(
        r.values,
        vec!["127.0.0.1:7111".parse::<SocketAddr>().unwrap()]
    );
}
