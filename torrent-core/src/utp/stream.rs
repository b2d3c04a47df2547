//! A blocking uTP stream over a `std::net::UdpSocket`: one connection, one
//! socket, no threads. Each `read`/`write` call drives the sans-IO
//! [`Endpoint`] (sends what is due, waits for datagrams or the next timer)
//! until it can make progress, so data flows only while the caller is
//! inside a call (or in `Drop`, which lingers to deliver what was written).
//! Event loops with many connections use the [`Endpoint`] directly.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::endpoint::{ConnHandle, Endpoint, EndpointConfig, Event};
use super::State;

/// How long `Drop` waits for written bytes and the FIN to be acknowledged.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);
/// The endpoint settings of a stream: the receive window is kept below
/// what a default Linux socket buffer holds (`net.core.rmem_default`,
/// 208 KiB; the skb overhead roughly doubles each datagram), so a burst of a
/// full window is not dropped by our own socket (std cannot enlarge it).
pub fn stream_config() -> EndpointConfig {
    let mut c = EndpointConfig::default();
    c.conn.recv_buffer = RECV_WINDOW;
    c
}

pub const RECV_WINDOW: usize = 128 * 1024;

/// Datagrams read per wake-up before the endpoint answers.
const BATCH: usize = 64;

pub struct UtpStream {
    socket: UdpSocket,
    ep: Endpoint,
    h: ConnHandle,
    peer: SocketAddr,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    linger: Duration,
    rbuf: Vec<u8>,
    out: Vec<u8>,
    /// The socket's current read timeout (avoids a syscall per wait).
    sock_timeout: Option<Duration>,
}

impl std::fmt::Debug for UtpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UtpStream")
            .field("peer", &self.peer)
            .field("state", &self.ep.state(self.h))
            .finish()
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("uTP: timed out {what}"))
}

impl UtpStream {
    /// Connect to `addr` from a fresh socket on the unspecified address of
    /// the same family, port 0.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<UtpStream> {
        let local: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().unwrap()
        } else {
            "[::]:0".parse().unwrap()
        };
        UtpStream::connect_with(UdpSocket::bind(local)?, addr, timeout, stream_config())
    }

    /// Connect over a given socket (its other traffic is answered with
    /// RESETs or ignored).
    pub fn connect_with(
        socket: UdpSocket,
        addr: SocketAddr,
        timeout: Duration,
        mut cfg: EndpointConfig,
    ) -> io::Result<UtpStream> {
        cfg.accept = false;
        let now = Instant::now();
        let mut ep = Endpoint::new(cfg, now);
        let h = ep.connect(addr, now)?;
        let mut s = UtpStream::new(socket, ep, h, addr)?;
        let deadline = now + timeout;
        loop {
            match s.ep.state(s.h) {
                Some(State::Connected) => return Ok(s),
                Some(State::Closed(r)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("uTP connect to {addr} failed: {r:?}"),
                    ))
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(timed_out(&format!("connecting to {addr}")));
            }
            s.drive(Some(deadline))?;
        }
    }

    /// Wait on `socket` for the first incoming connection and return it
    /// (later SYNs on this socket are refused).
    pub fn accept(socket: UdpSocket, timeout: Option<Duration>) -> io::Result<UtpStream> {
        let now = Instant::now();
        let deadline = timeout.map(|t| now + t);
        let mut ep = Endpoint::new(stream_config(), now);
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            while let Some(to) = ep.poll_transmit(Instant::now(), &mut out) {
                socket.send_to(&out, to)?;
            }
            while let Some((h, ev)) = ep.poll_event() {
                if let Event::Incoming(peer) = ev {
                    ep.set_accept(false);
                    let mut s = UtpStream::new(socket, ep, h, peer)?;
                    s.flush_out()?;
                    return Ok(s);
                }
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(timed_out("waiting for a connection"));
            }
            let wait = [ep.poll_timeout(), deadline]
                .into_iter()
                .flatten()
                .min()
                .map(|t| {
                    t.saturating_duration_since(now)
                        .max(Duration::from_millis(1))
                });
            socket.set_read_timeout(wait)?;
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let _ = ep.handle_datagram(Instant::now(), from, &buf[..n]);
                }
                Err(e) if is_wait(&e) => {}
                Err(e) => return Err(e),
            }
            ep.handle_timeout(Instant::now());
        }
    }

    fn new(
        socket: UdpSocket,
        ep: Endpoint,
        h: ConnHandle,
        peer: SocketAddr,
    ) -> io::Result<UtpStream> {
        socket.set_nonblocking(false)?;
        Ok(UtpStream {
            socket,
            ep,
            h,
            peer,
            read_timeout: None,
            write_timeout: None,
            linger: DEFAULT_LINGER,
            rbuf: vec![0u8; 65536],
            out: Vec::with_capacity(2048),
            sock_timeout: Some(Duration::MAX),
        })
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
    /// `None` waits forever (like `TcpStream`); `Some(0)` is refused.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        if t == Some(Duration::ZERO) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "zero timeout"));
        }
        self.read_timeout = t;
        Ok(())
    }
    pub fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        if t == Some(Duration::ZERO) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "zero timeout"));
        }
        self.write_timeout = t;
        Ok(())
    }
    /// How long `Drop` waits for the peer to acknowledge what was written.
    pub fn set_linger(&mut self, t: Duration) {
        self.linger = t;
    }
    pub fn state(&self) -> Option<State> {
        self.ep.state(self.h)
    }
    /// The connection, for its counters, RTT and window.
    pub fn connection(&self) -> Option<&super::Connection> {
        self.ep.connection(self.h)
    }

    /// Drive the connection until everything written so far is
    /// acknowledged by the peer (bytes arriving meanwhile are buffered for
    /// `read`, within the receive window).
    pub fn wait_acked(&mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.flush_out()?;
            match self.ep.connection(self.h) {
                Some(c) if c.all_acked() => return Ok(()),
                Some(c) if !c.is_closed() => {}
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "uTP connection closed with unacknowledged data",
                    ))
                }
            }
            if Instant::now() >= deadline {
                return Err(timed_out("waiting for acknowledgements"));
            }
            self.drive(Some(deadline))?;
        }
    }

    /// Send a FIN after the queued bytes; reading continues.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.ep.close(self.h);
        self.flush_out()
    }

    /// Send what the endpoint has due.
    fn flush_out(&mut self) -> io::Result<()> {
        let now = Instant::now();
        while let Some(to) = self.ep.poll_transmit(now, &mut self.out) {
            trace("out", &self.out);
            match self.socket.send_to(&self.out, to) {
                Ok(_) => {}
                // A full socket buffer drops it: uTP resends.
                Err(e) if is_wait(&e) || e.kind() == io::ErrorKind::OutOfMemory => break,
                Err(e) => return Err(e),
            }
        }
        while self.ep.poll_event().is_some() {}
        Ok(())
    }

    /// One round: send what is due, wait for datagrams until the next timer
    /// or `deadline`, feed them, run the timers.
    fn drive(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        self.flush_out()?;
        let now = Instant::now();
        let wait = [self.ep.poll_timeout(), deadline]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.saturating_duration_since(now));
        if wait == Some(Duration::ZERO) {
            self.ep.handle_timeout(now);
            return self.flush_out();
        }
        // Round up to whole milliseconds so the socket option rarely changes.
        let wait = wait.map(|w| Duration::from_millis(w.as_millis() as u64 + 1));
        if self.sock_timeout != wait {
            self.socket.set_read_timeout(wait)?;
            self.sock_timeout = wait;
        }
        match self.socket.recv_from(&mut self.rbuf) {
            Ok((n, from)) => {
                let now = Instant::now();
                trace("in", &self.rbuf[..n]);
                let _ = self.ep.handle_datagram(now, from, &self.rbuf[..n]);
                // Take what else is queued before answering (one ACK per batch).
                self.socket.set_nonblocking(true)?;
                let mut r = Ok(());
                for _ in 1..BATCH {
                    match self.socket.recv_from(&mut self.rbuf) {
                        Ok((n, from)) => {
                            trace("in", &self.rbuf[..n]);
                            let _ = self.ep.handle_datagram(now, from, &self.rbuf[..n]);
                        }
                        Err(e) if is_wait(&e) => break,
                        Err(e) => {
                            r = Err(e);
                            break;
                        }
                    }
                }
                self.socket.set_nonblocking(false)?;
                if let Err(e) = r {
                    if !is_transient(&e) {
                        return Err(e);
                    }
                }
            }
            Err(e) if is_wait(&e) || is_transient(&e) => {}
            Err(e) => return Err(e),
        }
        self.ep.handle_timeout(Instant::now());
        self.flush_out()
    }
}

fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// ICMP errors reported on a UDP socket (port unreachable after a peer went
/// away): the uTP timers decide, not the socket.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
    )
}

impl UtpStream {
    /// Retry `op` (an endpoint read or write) while it would block, driving
    /// the socket meanwhile, for at most `timeout`; a window update or the
    /// data written is sent before returning.
    fn blocking<T>(
        &mut self,
        timeout: Option<Duration>,
        what: &str,
        mut op: impl FnMut(&mut Self) -> io::Result<T>,
    ) -> io::Result<T> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            match op(self) {
                Ok(v) => {
                    self.flush_out()?;
                    return Ok(v);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("uTP {what} timed out"),
                ));
            }
            self.drive(deadline)?;
        }
    }
}

impl Read for UtpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let timeout = self.read_timeout;
        self.blocking(timeout, "read", |s| s.ep.read(s.h, buf))
    }
}

impl Write for UtpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let timeout = self.write_timeout;
        self.blocking(timeout, "write", |s| s.ep.write(s.h, data))
    }

    /// Send what the window allows now (does not wait for ACKs).
    fn flush(&mut self) -> io::Result<()> {
        self.flush_out()
    }
}

impl Drop for UtpStream {
    /// FIN after the queued bytes, then wait up to the linger time for
    /// them and the FIN to be acknowledged.
    fn drop(&mut self) {
        if matches!(self.ep.state(self.h), Some(State::SynSent) | None) {
            return;
        }
        self.ep.close(self.h);
        let deadline = Instant::now() + self.linger;
        loop {
            if self.flush_out().is_err() {
                return;
            }
            match self.ep.connection(self.h) {
                Some(c) if !c.is_closed() && !c.all_acked() => {}
                _ => return,
            }
            if Instant::now() >= deadline || self.drive(Some(deadline)).is_err() {
                return;
            }
        }
    }
}

/// `UTP_TRACE=1` prints every packet on stderr (debugging interop).
fn trace(dir: &str, d: &[u8]) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("UTP_TRACE").is_some()) {
        match super::Packet::decode(d) {
            Ok(p) => eprintln!(
                "{dir} {:?} id={} seq={} ack={} wnd={} len={} sack={:?}",
                p.ty,
                p.conn_id,
                p.seq_nr,
                p.ack_nr,
                p.wnd_size,
                p.payload.len(),
                p.sack
            ),
            Err(e) => eprintln!("{dir} bad {e} {:02x?}", &d[..d.len().min(40)]),
        }
    }
}
