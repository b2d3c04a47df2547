//! The connection's clock: the retransmission timer (what a timeout
//! does: count it, give up after too many, resend everything, back off),
//! the keep-alive (an ACK when nothing was sent for a while) and the idle
//! limit (nothing heard for too long closes the connection).

use std::time::{Duration, Instant};

use super::{CloseReason, Connection, State};

impl Connection {
    /// When [`handle_timeout`](Self::handle_timeout) wants to be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let mut t = self.last_recv + self.idle_limit();
        if let Some(r) = self.rto_deadline {
            t = t.min(r);
        }
        // (A due keep-alive is already pending: poll_transmit sends it.)
        if self.state == State::Connected && !self.ack_pending {
            t = t.min(self.last_send + self.cfg.keepalive);
        }
        Some(t)
    }

    fn idle_limit(&self) -> Duration {
        if self.got_non_syn {
            self.cfg.idle_timeout
        } else {
            // An acceptor whose peer never followed up its SYN.
            self.cfg.initial_rto * 10
        }
    }

    /// Run the timers: retransmission, keep-alive, idle limit.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if now >= self.last_recv + self.idle_limit() {
            self.close_with(CloseReason::TimedOut);
            return;
        }
        if let Some(deadline) = self.rto_deadline {
            if now >= deadline {
                self.on_rto(now);
                if self.is_closed() {
                    return;
                }
            }
        }
        if self.state == State::Connected && now >= self.last_send + self.cfg.keepalive {
            self.ack_pending = true;
        }
    }

    fn on_rto(&mut self, now: Instant) {
        let Some(front_len) = self.send.front_len() else {
            self.rto_deadline = None;
            return;
        };
        self.stats.timeouts += 1;
        // A peer with a closed window is not a dead peer: probes that it
        // drops do not count against the connection.
        if self.peer_wnd >= front_len.max(1) || self.state == State::SynSent {
            self.timeouts += 1;
        }
        let limit = if self.state == State::SynSent {
            self.cfg.syn_retransmits
        } else {
            self.cfg.max_retransmits
        };
        if self.timeouts > limit {
            self.close_with(CloseReason::TimedOut);
            return;
        }
        self.send.timed_out();
        self.ledbat.on_timeout(self.send.last_seq());
        self.rtt.back_off();
        self.rto_deadline = Some(now + self.rtt.rto());
    }
}
