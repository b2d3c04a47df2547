//! A small DHT of our own nodes on 127.0.0.1, run by a background thread,
//! for trackerless tests: clients bootstrap from [`DhtNet::bootstrap_addr`]
//! and find the peers announced with [`DhtNet::announce`].

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use torrent_core::dht::{Config, DhtEvent, DhtNode, NodeId};
use torrent_core::InfoHash;

enum Cmd {
    /// Node 0 announces `port` on 127.0.0.1 for the info-hash; the reply
    /// says how many nodes acknowledged.
    Announce(InfoHash, u16, Sender<usize>),
}

pub struct DhtNet {
    addrs: Vec<SocketAddr>,
    cmds: Sender<Cmd>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn config() -> Config {
    Config {
        query_timeout: Duration::from_millis(500),
        maintenance_interval: Duration::from_millis(200),
        ..Config::default()
    }
}

impl DhtNet {
    /// Start `n` nodes (at least 2) and let them bootstrap from each other.
    pub fn start(n: usize) -> io::Result<DhtNet> {
        let now = Instant::now();
        let mut nodes = Vec::new();
        for _ in 0..n.max(2) {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.set_nonblocking(true)?;
            nodes.push((s, DhtNode::with_config(NodeId::random(), config(), now)));
        }
        let addrs: Vec<SocketAddr> = nodes.iter().map(|(s, _)| s.local_addr()).collect::<io::Result<_>>()?;
        for (i, (_, node)) in nodes.iter_mut().enumerate() {
            let others: Vec<SocketAddr> = addrs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| *a).collect();
            node.bootstrap(&others[..others.len().min(3)], now);
        }
        let (cmds, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::Builder::new().name("dht-net".into()).spawn(move || run(nodes, rx, st))?;
        // Let the bootstrap settle.
        std::thread::sleep(Duration::from_millis(300));
        Ok(DhtNet { addrs, cmds, stop, thread: Some(thread) })
    }

    pub fn bootstrap_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Announce 127.0.0.1:`port` for `info_hash` (as a seeder would) and
    /// wait until it is stored; returns how many nodes acknowledged.
    pub fn announce(&self, info_hash: InfoHash, port: u16) -> usize {
        let (tx, rx) = mpsc::channel();
        if self.cmds.send(Cmd::Announce(info_hash, port, tx)).is_err() {
            return 0;
        }
        rx.recv_timeout(Duration::from_secs(10)).unwrap_or(0)
    }
}

impl Drop for DhtNet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(mut nodes: Vec<(UdpSocket, DhtNode)>, cmds: Receiver<Cmd>, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 65536];
    let mut waiting: Vec<(torrent_core::dht::lookup::LookupId, Sender<usize>)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        while let Ok(cmd) = cmds.try_recv() {
            match cmd {
                Cmd::Announce(h, port, reply) => {
                    if let Ok(id) = nodes[0].1.announce_peer(h, Some(port), Instant::now()) {
                        waiting.push((id, reply));
                    }
                }
            }
        }
        let mut busy = false;
        for (i, (sock, node)) in nodes.iter_mut().enumerate() {
            while let Some((to, bytes)) = node.poll_transmit() {
                // Loopback only, whatever a peer told us.
                if to.ip().is_loopback() {
                    let _ = sock.send_to(&bytes, to);
                }
                busy = true;
            }
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                node.handle_datagram(from, &buf[..n], Instant::now());
                busy = true;
            }
            let now = Instant::now();
            if node.next_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now);
            }
            while let Some(ev) = node.poll_event() {
                if let (0, DhtEvent::Announced { lookup, acked, .. }) = (i, &ev) {
                    if let Some(pos) = waiting.iter().position(|(id, _)| id == lookup) {
                        let (_, reply) = waiting.remove(pos);
                        let _ = reply.send(*acked);
                    }
                }
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
