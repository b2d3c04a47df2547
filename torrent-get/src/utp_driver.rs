//! uTP (BEP 29) under the event loop: one mio UDP socket on the listen
//! port driving torrent-core's sans-IO [`Endpoint`]. The loop maps each
//! [`ConnHandle`] to a connection key and treats a uTP connection as a
//! byte stream like a TCP one.

use mio::net::UdpSocket;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;
use torrent_core::utp::{ConnHandle, Endpoint, EndpointConfig, Event};

pub struct UtpDriver {
    pub socket: UdpSocket,
    pub ep: Endpoint,
    /// Connection handle -> the loop's key.
    pub keys: HashMap<ConnHandle, usize>,
    /// A datagram the socket would not take yet.
    stalled: Option<(Vec<u8>, SocketAddr)>,
    buf: Vec<u8>,
}

impl UtpDriver {
    /// Bind `addr` (the TCP listener's address, or an ephemeral one when
    /// not listening: then incoming connections are refused).
    pub fn bind(addr: SocketAddr, accept: bool, now: Instant) -> io::Result<UtpDriver> {
        let socket = UdpSocket::bind(addr)?;
        let cfg = EndpointConfig { accept, ..EndpointConfig::default() };
        Ok(UtpDriver { socket, ep: Endpoint::new(cfg, now), keys: HashMap::new(), stalled: None, buf: vec![0; 65536] })
    }

    /// Take every waiting datagram into the endpoint; its events come out
    /// of [`UtpDriver::events`].
    pub fn readable(&mut self, now: Instant) {
        loop {
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let from = SocketAddr::new(from.ip().to_canonical(), from.port());
                    // Not uTP: nothing else shares this socket today.
                    let _ = self.ep.handle_datagram(now, from, &self.buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors and the like: the retransmission timers deal
                // with lost peers.
                Err(_) => continue,
            }
        }
    }

    /// Timers, then every datagram due, until the socket is full.
    pub fn pump(&mut self, now: Instant) {
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
        if let Some((d, to)) = self.stalled.take() {
            if !self.send(d, to) {
                return;
            }
        }
        let mut out = Vec::with_capacity(1500);
        while let Some(to) = self.ep.poll_transmit(now, &mut out) {
            if !self.send(std::mem::take(&mut out), to) {
                return;
            }
        }
    }

    /// False if the socket is full (the datagram is kept for later).
    fn send(&mut self, d: Vec<u8>, to: SocketAddr) -> bool {
        match self.socket.send_to(&d, to) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stalled = Some((d, to));
                false
            }
            // Unreachable and the like: as if lost.
            Err(_) => true,
        }
    }

    pub fn events(&mut self) -> Vec<(ConnHandle, Event)> {
        std::iter::from_fn(|| self.ep.poll_event()).collect()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ep.poll_timeout()
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }
}
