//! uTP (BEP 29) under the event loop: one mio UDP socket on the listen
//! port driving torrent-core's sans-IO [`Endpoint`]. The loop maps each
//! [`ConnHandle`] to a connection key and treats a uTP connection as a
//! byte stream like a TCP one.
//!
//! The DHT node shares the socket when it can speak IPv4 on it (issue 14:
//! one UDP port for everything, as other clients do): each datagram is
//! told apart by its content ([`torrent_core::demux::classify`]) and goes
//! to the endpoint or the node; the node's datagrams go out through
//! [`UtpDriver::send_datagram`]. UDP tracker replies never come here (the
//! announce threads use sockets of their own) and are dropped with the
//! rest of what is neither.

use mio::net::UdpSocket;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;
use torrent_core::demux::{classify, Kind};
use torrent_core::dht::node::DhtNode;
use torrent_core::utp::{ConnHandle, Endpoint, EndpointConfig, Event};

pub struct UtpDriver {
    pub socket: UdpSocket,
    pub ep: Endpoint,
    /// Connection handle -> the loop's key.
    pub keys: HashMap<ConnHandle, usize>,
    /// A datagram the socket would not take yet.
    stalled: Option<(Vec<u8>, SocketAddr)>,
    buf: Vec<u8>,
    /// Datagrams by where they went: uTP, the DHT, dropped (neither, or
    /// for a DHT that is not here).
    pub counts: Counts,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub utp: u64,
    pub dht: u64,
    pub dropped: u64,
}

impl UtpDriver {
    /// Bind `addr` (the TCP listener's address, or an ephemeral one when
    /// not listening: then incoming connections are refused).
    pub fn bind(addr: SocketAddr, accept: bool, now: Instant) -> io::Result<UtpDriver> {
        let socket = UdpSocket::bind(addr)?;
        sockopt::enable(&socket, addr.is_ipv6());
        sockopt::grow_buffers(&socket);
        let cfg = EndpointConfig { accept, ..EndpointConfig::default() };
        Ok(UtpDriver { socket, ep: Endpoint::new(cfg, now), keys: HashMap::new(), stalled: None, buf: vec![0; 65536], counts: Counts::default() })
    }

    /// Whether IPv4 peers can be reached through this socket: bound to an
    /// IPv4 address, or to the IPv6 wildcard of a dual-stack socket. Then
    /// the DHT (IPv4, BEP 5) can share it.
    pub fn speaks_ipv4(&self) -> bool {
        match self.socket.local_addr() {
            Ok(SocketAddr::V4(_)) => true,
            Ok(SocketAddr::V6(a)) => a.ip().is_unspecified() && !sockopt::v6_only(&self.socket),
            Err(_) => false,
        }
    }

    /// Take every waiting datagram: uTP into the endpoint (its events come
    /// out of [`UtpDriver::events`]), KRPC into `dht` when it shares the
    /// socket.
    pub fn readable(&mut self, now: Instant, mut dht: Option<&mut DhtNode>) {
        loop {
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let from = SocketAddr::new(from.ip().to_canonical(), from.port());
                    let d = &self.buf[..n];
                    match (classify(d), dht.as_deref_mut()) {
                        (Kind::Utp, _) => {
                            self.counts.utp += 1;
                            let _ = self.ep.handle_datagram(now, from, d);
                        }
                        (Kind::Dht, Some(node)) if from.is_ipv4() => {
                            self.counts.dht += 1;
                            node.handle_datagram(from, d, now);
                        }
                        _ => self.counts.dropped += 1,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A pending ICMP error (IP_RECVERR): its details are read
                // off the error queue below.
                Err(_) => continue,
            }
        }
        // "Port unreachable" for a peer we are dialling: nothing listens
        // for uTP there, so the connect fails now (and the engine falls
        // back to TCP) instead of after every SYN timed out.
        for addr in sockopt::drain(&self.socket) {
            let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
            self.ep.handle_unreachable(addr);
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

    /// A datagram of the DHT node sharing the socket. One the socket will
    /// not take now is dropped (UDP is lossy and the node retries); uTP's
    /// own waiting datagram goes first.
    pub fn send_datagram(&mut self, d: &[u8], to: SocketAddr) {
        if self.stalled.is_none() {
            let _ = self.send_to(d, to);
        }
    }

    fn send_to(&self, d: &[u8], to: SocketAddr) -> io::Result<usize> {
        let sent = self.socket.send_to(d, to);
        if sent.as_ref().is_err_and(sockopt::is_reported_error) {
            // With IP_RECVERR a pending ICMP error (about an earlier
            // datagram, maybe to another peer) fails the next send once:
            // this datagram was not sent, so send it again.
            return self.socket.send_to(d, to);
        }
        sent
    }

    /// False if the socket is full (the datagram is kept for later).
    fn send(&mut self, d: Vec<u8>, to: SocketAddr) -> bool {
        match self.send_to(&d, to) {
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

/// Options of the uTP socket: ICMP errors for an unconnected UDP socket
/// (Linux `IP_RECVERR`: the kernel queues each with the destination it was
/// about, read with `recvmsg(MSG_ERRQUEUE)`), buffer sizes, `IPV6_V6ONLY`.
mod sockopt {
    use mio::net::UdpSocket;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    /// An error a send or receive returns for an ICMP message that came
    /// back for an earlier datagram.
    pub fn is_reported_error(e: &std::io::Error) -> bool {
        matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH))
    }

    /// Ask for the error queue. Best effort: without it, connects to
    /// closed ports time out as before.
    /// An IPv6 socket (dual-stack) also needs `IP_RECVERR` for the ICMPv4
    /// errors about IPv4 peers it talks to.
    pub fn enable(socket: &UdpSocket, v6: bool) {
        let one: libc::c_int = 1;
        let mut opts = vec![(libc::SOL_IP, libc::IP_RECVERR)];
        if v6 {
            opts.push((libc::SOL_IPV6, libc::IPV6_RECVERR));
        }
        for (level, opt) in opts {
            // SAFETY: a valid descriptor and an int option of the right size.
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    level,
                    opt,
                    &one as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }

    /// Socket buffers of [`SOCKET_BUFFER`] each way (the kernel caps them at
    /// `net.core.rmem_max`/`wmem_max`). With the default (about 208 KiB) a
    /// burst of a fast uTP sender overflows the receive buffer between two
    /// turns of the loop: the datagrams are dropped, the sender halves its
    /// window and resends after a timeout (bench/README.md, uTP figures).
    pub fn grow_buffers(socket: &UdpSocket) {
        let size: libc::c_int = SOCKET_BUFFER;
        for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
            // SAFETY: a valid descriptor and an int option of the right size.
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    &size as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }

    /// Bytes asked for each of the uTP socket's buffers.
    pub const SOCKET_BUFFER: libc::c_int = 4 << 20;

    /// Whether an IPv6 socket is IPv6-only (`IPV6_V6ONLY`, from the
    /// `net.ipv6.bindv6only` default).
    pub fn v6_only(socket: &UdpSocket) -> bool {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid descriptor, an int buffer and its length.
        let r = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                &mut v as *mut libc::c_int as *mut libc::c_void,
                &mut len,
            )
        };
        r != 0 || v != 0
    }

    /// The destinations of every queued ICMP "unreachable" error (port,
    /// host or network). Bounded: at most 64 per call.
    pub fn drain(socket: &UdpSocket) -> Vec<SocketAddr> {
        let fd = socket.as_raw_fd();
        let mut out = Vec::new();
        for _ in 0..64 {
            // SAFETY: every pointer in `msg` points at a live local buffer
            // of the length given; the kernel writes at most those lengths;
            // control messages are walked with the CMSG_* macros and read
            // unaligned.
            unsafe {
                let mut name: libc::sockaddr_storage = std::mem::zeroed();
                let mut data = [0u8; 64];
                let mut iov = libc::iovec { iov_base: data.as_mut_ptr() as *mut libc::c_void, iov_len: data.len() };
                let mut control = [0u64; 64];
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_name = &mut name as *mut libc::sockaddr_storage as *mut libc::c_void;
                msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
                msg.msg_controllen = std::mem::size_of_val(&control) as _;
                if libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) < 0 {
                    break;
                }
                let mut unreachable = false;
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    let h = std::ptr::read_unaligned(c);
                    let ours = (h.cmsg_level == libc::SOL_IP && h.cmsg_type == libc::IP_RECVERR)
                        || (h.cmsg_level == libc::SOL_IPV6 && h.cmsg_type == libc::IPV6_RECVERR);
                    if ours {
                        let ee = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::sock_extended_err);
                        let icmp = ee.ee_origin == libc::SO_EE_ORIGIN_ICMP || ee.ee_origin == libc::SO_EE_ORIGIN_ICMP6;
                        let errno = ee.ee_errno as libc::c_int;
                        unreachable |= icmp && matches!(errno, libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH);
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
                if unreachable {
                    if let Some(a) = to_addr(&name) {
                        out.push(a);
                    }
                }
            }
        }
        out
    }

    fn to_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
        // SAFETY: the family says which sockaddr the storage holds.
        unsafe {
            match s.ss_family as libc::c_int {
                libc::AF_INET => {
                    let a = &*(s as *const libc::sockaddr_storage as *const libc::sockaddr_in);
                    let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                    Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
                }
                libc::AF_INET6 => {
                    let a = &*(s as *const libc::sockaddr_storage as *const libc::sockaddr_in6);
                    let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                    Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), 0, a.sin6_scope_id)))
                }
                _ => None,
            }
        }
    }
}
