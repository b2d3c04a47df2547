//! A small blocking driver over `std::net::UdpSocket`, for command-line
//! tools and tests. (The downloader drives [`DhtNode`] from its own event
//! loop instead.)

use super::node::{DhtEvent, DhtNode};
use crate::InfoHash;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Send what the node queued; send errors (unreachable hosts and the like)
/// are ignored, as UDP losses are.
pub fn flush(socket: &UdpSocket, node: &mut DhtNode) {
    while let Some((to, bytes)) = node.poll_transmit() {
        let _ = socket.send_to(&bytes, to);
    }
}

/// Run the node until `deadline`, or until `on_event` returns false.
/// The socket's read timeout is changed.
pub fn drive(
    socket: &UdpSocket,
    node: &mut DhtNode,
    deadline: Instant,
    mut on_event: impl FnMut(&mut DhtNode, DhtEvent) -> bool,
) -> io::Result<()> {
    let mut buf = vec![0u8; 65_536];
    loop {
        flush(socket, node);
        while let Some(ev) = node.poll_event() {
            if !on_event(node, ev) {
                flush(socket, node);
                return Ok(());
            }
        }
        flush(socket, node);
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        let wake = node.next_timeout().map_or(deadline, |t| t.min(deadline));
        let wait = wake
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => node.handle_datagram(from, &buf[..n], Instant::now()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            // ICMP port unreachable surfaces as ConnectionReset on some systems.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if node.next_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
        }
    }
}

/// Bootstrap through `nodes` and wait (until `deadline`) for it to finish;
/// returns the routing table size.
pub fn bootstrap(
    socket: &UdpSocket,
    node: &mut DhtNode,
    nodes: &[SocketAddr],
    deadline: Instant,
) -> io::Result<usize> {
    let id = node.bootstrap(nodes, Instant::now());
    drive(
        socket,
        node,
        deadline,
        |_, ev| !matches!(ev, DhtEvent::Bootstrapped { lookup, .. } if lookup == id),
    )?;
    Ok(node.routing_table().len())
}

/// Look up peers for `info_hash` until the lookup ends or `deadline`;
/// returns the distinct peers found, in the order found.
pub fn run_lookup(
    socket: &UdpSocket,
    node: &mut DhtNode,
    info_hash: InfoHash,
    deadline: Instant,
) -> io::Result<Vec<SocketAddr>> {
    let id = node
        .get_peers(info_hash, Instant::now())
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut peers = Vec::new();
    drive(socket, node, deadline, |_, ev| match ev {
        DhtEvent::Peers {
            lookup, peers: p, ..
        } if lookup == id => {
            peers.extend(p);
            true
        }
        DhtEvent::LookupDone { lookup, .. } => lookup != id,
        _ => true,
    })?;
    Ok(peers)
}
