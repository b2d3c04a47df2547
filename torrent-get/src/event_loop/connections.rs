//! The loop's side of a connection: slots for connections, dialling and
//! accepting, readiness (connect confirmed, flush, read in bursts) and
//! dropping. What is read goes to the engine; no policy here.

use super::conn::{Conn, Stream};
use super::*;

impl EventLoop {
    pub(super) fn alloc(&mut self, mut conn: Conn) -> Option<PeerKey> {
        let key = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if let Stream::Utp(h) = conn.stream {
            if let Some(u) = self.utp.as_mut() {
                u.keys.insert(h, key);
            }
        }
        if let Some(s) = conn.stream.source() {
            if self.poll.registry().register(s, Token(key + FIRST_PEER), Interest::READABLE | Interest::WRITABLE).is_err() {
                self.free.push(key);
                return None;
            }
        }
        self.conns[key] = Some(conn);
        Some(key)
    }

    pub(super) fn drop_conn(&mut self, key: PeerKey) {
        let Some(mut c) = self.conns.get_mut(key).and_then(|c| c.take()) else { return };
        let _ = c.flush(&mut self.utp);
        if let Some(s) = c.stream.source() {
            let _ = self.poll.registry().deregister(s);
        }
        if let (Stream::Utp(h), Some(u)) = (&c.stream, self.utp.as_mut()) {
            // FIN after what is queued; the endpoint forgets it once done.
            u.keys.remove(h);
            u.ep.release(*h);
        }
        self.free.push(key);
    }

    /// The connection failed under us: tell the engine, drop it. During an
    /// encryption handshake the reason says "encryption" (for a dialled
    /// connection the engine may retry in plaintext).
    pub(super) fn lost(&mut self, key: PeerKey, reason: CloseReason, now: Instant) {
        let handshaking = matches!(self.conns.get(key), Some(Some(c)) if c.mse.is_some());
        self.drop_conn(key);
        let reason = match reason {
            CloseReason::Io(e) if handshaking => CloseReason::Encryption(e),
            CloseReason::PeerClosed if handshaking => CloseReason::Encryption("peer closed the connection".into()),
            r => r,
        };
        self.engine.handle(Input::Closed { peer: key, reason }, now);
    }

    pub(super) fn dial(&mut self, torrent: usize, addr: SocketAddr, kind: ConnKind, now: Instant) {
        let stream = match kind.transport {
            TransportKind::Tcp => TcpStream::connect(addr).map(Stream::Tcp),
            TransportKind::Utp => match self.utp.as_mut() {
                Some(u) => u.ep.connect(addr, now).map(Stream::Utp),
                None => Err(io::Error::new(io::ErrorKind::Unsupported, "uTP is off")),
            },
        };
        let key = stream.ok().and_then(|s| self.alloc(Conn::new(s, true, Some(torrent), kind)));
        match key {
            Some(peer) => self.engine.handle(Input::Dialing { peer, torrent, addr, kind }, now),
            None => self.engine.handle(Input::DialFailed { torrent, addr }, now),
        }
    }

    pub(super) fn accept(&mut self, now: Instant) {
        loop {
            let Some(l) = self.listener.as_ref() else { return };
            match l.accept() {
                Ok((stream, addr)) => {
                    // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
                    let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
                    let _ = stream.set_nodelay(true);
                    self.accepted(Stream::Tcp(stream), addr, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // This one connection is gone; the next may be waiting.
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => continue,
                Err(e) => return self.accept_failed(e, now),
            }
        }
    }

    /// A new incoming connection: answer its encryption handshake first
    /// (unless encryption is off), then tell the engine.
    pub(super) fn accepted(&mut self, stream: Stream, addr: SocketAddr, now: Instant) -> Option<PeerKey> {
        let kind = stream.kind();
        let mut conn = Conn::new(stream, false, None, kind);
        if self.encryption != Policy::Off {
            // Tells plaintext handshakes from MSE by itself.
            conn.mse = Some(Box::new(Handshake::answer(self.encryption, self.engine.info_hashes(), now)));
        }
        let peer = self.alloc(conn)?;
        // The engine counts it from now on (slots: limits, the handshake
        // timeout); after an encryption handshake it hears `Negotiated`.
        self.engine.handle(Input::Accepted { peer, addr, kind }, now);
        self.run_actions(now);
        Some(peer)
    }


    pub(super) fn conn_ready(&mut self, key: PeerKey, writable: bool, readable: bool, now: Instant) {
        let Some(Some(c)) = self.conns.get_mut(key) else { return };
        if c.connecting {
            if !writable && !readable {
                return;
            }
            let Stream::Tcp(s) = &mut c.stream else { return };
            match s.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return self.lost(key, CloseReason::Io(format!("connect failed: {e}")), now),
            }
            match s.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => return self.lost(key, CloseReason::Io(format!("connect failed: {e}")), now),
            }
            let _ = s.set_nodelay(true);
            let local = s.local_addr().ok();
            self.transport_up(key, local, now);
        }
        if readable {
            self.read_conn(key, now);
        }
        self.flush_conn(key, now);
    }

    pub(super) fn flush_conn(&mut self, key: PeerKey, now: Instant) {
        let Some(Some(c)) = self.conns.get_mut(key) else { return };
        if c.connecting {
            return;
        }
        match c.flush(&mut self.utp) {
            Err(e) => self.lost(key, CloseReason::Io(format!("write failed: {e}")), now),
            Ok(wrote) => {
                let pending = c.pending;
                if c.read_paused && pending < MAX_OUT_BUFFER / 2 {
                    // Room again: read what arrived meanwhile (edge-triggered
                    // readiness will not tell us again).
                    c.read_paused = false;
                    self.unread.push(key);
                }
                if wrote {
                    self.engine.handle(Input::Sent { peer: key, pending }, now);
                }
            }
        }
    }

    pub(super) fn read_conn(&mut self, key: PeerKey, now: Instant) {
        self.reading = Some(key);
        self.read_burst(key, now);
        self.reading = None;
        self.flush_conn(key, now);
    }

    pub(super) fn read_burst(&mut self, key: PeerKey, now: Instant) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(Some(c)) = self.conns.get_mut(key) else { return };
            if c.connecting {
                return;
            }
            if c.mse.is_some() {
                if !self.read_handshake(key, now) {
                    return;
                }
                continue;
            }
            if c.pending > MAX_OUT_BUFFER {
                // The peer does not read what we send: stop reading its
                // requests until the buffer drains (see flush_conn).
                c.read_paused = true;
                return;
            }
            let Some(buf) = self.engine.recv_buffer(key, 256 * 1024) else { return };
            if buf.is_empty() {
                return;
            }
            match c.stream.read(&mut self.utp, buf) {
                Ok(0) => return self.lost(key, CloseReason::PeerClosed, now),
                Ok(n) => {
                    if let Some(cp) = c.cipher.as_mut() {
                        cp.decrypt.apply(&mut buf[..n]);
                    }
                    // The threads' releases as of now: requests stop while
                    // the budget is spent and go on as soon as it drains.
                    self.engine.handle(Input::Released(self.releases.get()), now);
                    self.engine.handle(Input::Received { peer: key, n }, now);
                    self.run_actions(now);
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.unread.push(key);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.lost(key, CloseReason::Io(format!("read failed: {e}")), now),
            }
        }
    }
}
