//! The connection-level handshakes the loop runs below the engine: a
//! transport coming up (TCP connect, uTP), the uTP endpoint's events and
//! timers, and the MSE/PE handshake (read, finish, time out).

use super::*;

impl EventLoop {
    /// A dialled connection's transport is up: start the encryption
    /// handshake, or tell the engine.
    pub(super) fn transport_up(&mut self, key: PeerKey, local: Option<SocketAddr>, now: Instant) {
        let Some(Some(c)) = self.conns.get_mut(key) else { return };
        c.connecting = false;
        if c.attempt.method != Method::Plain {
            let started = self.engine.torrent_info_hash(c.torrent.unwrap_or(usize::MAX)).map(|ih| Handshake::dial(self.encryption, ih, now));
            match started {
                Some(Ok(mut hs)) => {
                    if let Some(b) = hs.poll_transmit() {
                        c.queue(b);
                    }
                    c.mse = Some(Box::new(hs));
                    // The transport won (or lost) a head-start race now.
                    self.engine.handle(Input::TransportUp { peer: key }, now);
                    self.run_actions(now);
                }
                Some(Err(e)) => self.lost(key, CloseReason::Encryption(e.to_string()), now),
                None => self.lost(key, CloseReason::TorrentRemoved, now),
            }
        } else {
            self.engine.handle(Input::Connected { peer: key, local }, now);
            self.run_actions(now);
        }
    }

    /// The UDP socket is readable or writable: datagrams into the endpoint,
    /// its events to the connections.
    pub(super) fn utp_ready(&mut self, now: Instant) {
        let Some(u) = self.utp.as_mut() else { return };
        u.readable(now, self.dht.as_mut().map(|d| &mut d.node));
        self.utp_events(now);
        self.pump_utp(now);
    }

    pub(super) fn utp_events(&mut self, now: Instant) {
        let Some(u) = self.utp.as_mut() else { return };
        let local = u.local_addr();
        for (h, ev) in u.events() {
            let key = self.utp.as_ref().and_then(|u| u.keys.get(&h).copied());
            match (ev, key) {
                (UtpEvent::Incoming(addr), None) if self.accepted(Stream::Utp(h), addr, now).is_none() => {
                    if let Some(u) = self.utp.as_mut() {
                        u.ep.abort(h, now);
                    }
                }
                (UtpEvent::Connected, Some(key)) => {
                    self.transport_up(key, local, now);
                    self.flush_conn(key, now);
                }
                (UtpEvent::Readable | UtpEvent::PeerFinished, Some(key)) => self.read_conn(key, now),
                (UtpEvent::Writable, Some(key)) => self.flush_conn(key, now),
                (UtpEvent::Closed(r), Some(key)) => {
                    let connecting = matches!(self.conns.get(key), Some(Some(c)) if c.connecting);
                    let what = if connecting { "uTP connect failed" } else { "uTP connection closed" };
                    self.lost(key, CloseReason::Io(format!("{what}: {r:?}")), now);
                    if let Some(u) = self.utp.as_mut() {
                        u.ep.release(h);
                    }
                }
                (UtpEvent::Closed(_), None) => {
                    if let Some(u) = self.utp.as_mut() {
                        u.ep.release(h);
                    }
                }
                _ => {}
            }
            self.run_actions(now);
        }
    }

    /// uTP timers and datagrams out (after anything that may have queued
    /// bytes on a uTP connection).
    pub(super) fn pump_utp(&mut self, now: Instant) {
        let Some(u) = self.utp.as_mut() else { return };
        u.pump(now);
        self.utp_events(now);
        if let Some(u) = self.utp.as_mut() {
            u.pump(now);
        }
    }

    /// Read what the encryption handshake needs. True when it finished (the
    /// engine now knows the connection: read on as usual), false when the
    /// socket has nothing more for now or the connection is gone.
    pub(super) fn read_handshake(&mut self, key: PeerKey, now: Instant) -> bool {
        let mut buf = [0u8; 2048];
        loop {
            let Some(Some(c)) = self.conns.get_mut(key) else { return false };
            let Some(hs) = c.mse.as_mut() else { return true };
            let n = match c.stream.read(&mut self.utp, &mut buf) {
                Ok(0) => {
                    self.lost(key, CloseReason::PeerClosed, now);
                    return false;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.lost(key, CloseReason::Io(format!("read failed: {e}")), now);
                    return false;
                }
            };
            if let Err(e) = hs.feed(&buf[..n]) {
                self.lost(key, CloseReason::Encryption(e.to_string()), now);
                return false;
            }
            let out = hs.poll_transmit();
            let done = hs.poll_outcome();
            if let Some(b) = out {
                c.queue(b);
            }
            let Some(done) = done else { continue };
            let (kind, cipher, payload) = crypt::finish(done, c.stream.transport());
            if !self.encryption.allows(kind.method) {
                let reason = CloseReason::Encryption(format!("{} is not allowed (--encrypt {})", kind.method, self.encryption));
                self.lost(key, reason, now);
                return false;
            }
            c.mse = None;
            c.cipher = cipher.map(Box::new);
            let dialled = c.torrent.is_some();
            let local = match &c.stream {
                Stream::Tcp(s) => s.local_addr().ok(),
                Stream::Utp(_) => self.utp.as_ref().and_then(|u| u.local_addr()),
            };
            self.engine.handle(Input::Negotiated { peer: key, kind }, now);
            if dialled {
                self.engine.handle(Input::Connected { peer: key, local }, now);
            }
            self.run_actions(now);
            if !payload.is_empty() {
                self.engine.feed(key, &payload, now);
                self.run_actions(now);
            }
            self.flush_conn(key, now);
            return true;
        }
    }

    /// Drop encryption handshakes that take too long (a peer that stops in
    /// the middle, or pads forever at a trickle).
    pub(super) fn sweep_handshakes(&mut self, now: Instant) {
        let late: Vec<PeerKey> = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.as_ref().and_then(|c| c.mse.as_ref()).is_some_and(|h| h.timed_out(now)))
            .map(|(k, _)| k)
            .collect();
        for key in late {
            self.lost(key, CloseReason::Io("timed out".into()), now);
        }
        self.run_actions(now);
    }
}
