//! The DHT (BEP 5) in the event loop: torrent-core's sans-IO `DhtNode`
//! driven over one non-blocking UDP socket registered with the loop's
//! `mio::Poll`. The loop feeds it datagrams and timeouts and forwards the
//! peers it finds to the torrents; the node table is saved between runs.
//!
//! Why our own node and not a crate: the node must live inside the one event
//! loop (no second thread owning shared state: the `mainline` crate runs its
//! own thread and would need one more channel hop per event) and be testable
//! byte for byte on loopback; torrent-core's node is sans-IO, so the loop
//! drives it like the peer codec. It speaks IPv4, as BEP 5 does.
//!
//! The node shares the uTP socket on the listen port when that one can
//! reach IPv4 ([`crate::utp_driver`] tells the datagrams apart); only when
//! it cannot (uTP off, an IPv6-only listener) does it bind a socket of its
//! own.

use crate::utp_driver::UtpDriver;
use mio::net::UdpSocket;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;
use torrent_core::dht::node::{Config, DhtEvent, DhtNode};
use torrent_core::dht::persist::SavedState;
use torrent_core::dht::NodeId;

pub struct Dht {
    /// Its own socket; None: it shares the uTP socket.
    pub socket: Option<UdpSocket>,
    pub node: DhtNode,
    state_path: Option<PathBuf>,
    buf: Vec<u8>,
    /// Bootstrap addresses resolved off the loop (DNS is blocking).
    resolved: Receiver<Vec<SocketAddr>>,
}

impl Dht {
    /// Bind a UDP socket of its own at `bind` (the port, else an
    /// ephemeral one; None: the owner shares its socket and feeds the
    /// node) and load the saved node table. Host names in `bootstrap` are
    /// resolved on a helper thread that wakes the loop.
    pub fn start(
        bind: Option<SocketAddr>,
        state_path: Option<PathBuf>,
        bootstrap: Vec<String>,
        waker: Arc<mio::Waker>,
        now: Instant,
    ) -> io::Result<Dht> {
        let socket = match bind {
            Some(b) => Some(UdpSocket::bind(b).or_else(|_| UdpSocket::bind(SocketAddr::new(b.ip(), 0)))?),
            None => None,
        };
        let saved = state_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| SavedState::from_bytes(&b).ok());
        let node = match &saved {
            Some(s) => DhtNode::from_saved(s, Config::default(), now),
            None => DhtNode::new(NodeId::random(), now),
        };
        let (tx, resolved): (Sender<Vec<SocketAddr>>, _) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("dht-resolve".into()).spawn(move || {
            let mut addrs = Vec::new();
            for b in bootstrap {
                if let Ok(it) = b.to_socket_addrs() {
                    // The node speaks IPv4 (26-byte compact node infos).
                    addrs.extend(it.filter(|a| a.is_ipv4()));
                }
            }
            let _ = tx.send(addrs);
            let _ = waker.wake();
        })?;
        Ok(Dht { socket, node, state_path, buf: vec![0u8; 64 * 1024], resolved })
    }

    /// Read every waiting datagram of its own socket (edge-triggered:
    /// until WouldBlock).
    pub fn readable(&mut self, now: Instant) {
        let Some(socket) = &self.socket else { return };
        loop {
            match socket.recv_from(&mut self.buf) {
                Ok((n, from)) => self.node.handle_datagram(from, &self.buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors from earlier sends surface here; keep reading.
                Err(_) => continue,
            }
        }
    }

    /// Bootstrap once the resolver thread is done; handle due timeouts;
    /// send what the node queued on its own socket or the `shared` one (a
    /// datagram the socket refuses is dropped: UDP is lossy anyway and the
    /// node retries).
    pub fn pump(&mut self, now: Instant, mut shared: Option<&mut UtpDriver>) {
        if let Ok(addrs) = self.resolved.try_recv() {
            if !addrs.is_empty() {
                self.node.bootstrap(&addrs, now);
            }
        }
        if self.node.next_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        while let Some((to, bytes)) = self.node.poll_transmit() {
            match (&self.socket, shared.as_deref_mut()) {
                (Some(s), _) => {
                    let _ = s.send_to(&bytes, to);
                }
                (None, Some(u)) => u.send_datagram(&bytes, to),
                (None, None) => {}
            }
        }
    }

    /// The UDP port the node answers on (`shared`: the socket it shares).
    pub fn port(&self, shared: Option<&UtpDriver>) -> Option<u16> {
        match &self.socket {
            Some(s) => s.local_addr().ok().map(|a| a.port()),
            None => shared.and_then(|u| u.local_addr()).map(|a| a.port()),
        }
    }

    pub fn events(&mut self) -> Vec<DhtEvent> {
        std::iter::from_fn(|| self.node.poll_event()).collect()
    }

    pub fn save(&self) {
        if let Some(p) = &self.state_path {
            if let Some(dir) = p.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let tmp = p.with_extension("tmp");
            if std::fs::write(&tmp, self.node.saved_state().to_bytes()).is_ok() {
                let _ = std::fs::rename(&tmp, p);
            }
        }
    }
}

/// Where the node table is kept by default: `$XDG_CACHE_HOME/torrent-get/dht.dat`
/// or `~/.cache/torrent-get/dht.dat`.
pub fn default_state_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("torrent-get").join("dht.dat"))
}
