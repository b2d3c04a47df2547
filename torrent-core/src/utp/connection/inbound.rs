//! A packet from the peer: RESETs and repeated SYNs, the SYN-ACK that
//! completes our connect, the window and delay it reports, what its ACK
//! number and selective ACK acknowledge (with the RTT samples, the
//! early resends and the congestion window's growth that follow), and the
//! data or FIN it carries, handed to the receive buffer.

use std::time::Instant;

use super::super::packet::{seq_less, Packet, PacketType};
use super::{micros, CloseReason, ConnEvent, Connection, State};

impl Connection {
    /// Feed one packet addressed to this connection (the endpoint matched
    /// the connection id and address).
    pub fn handle_packet(&mut self, p: &Packet<'_>, now: Instant) {
        if self.is_closed() {
            // Our ACK of its FIN was lost: the peer says FIN again.
            if self.state == State::Closed(CloseReason::Finished) && p.ty == PacketType::Fin {
                self.ack_pending = true;
            }
            return;
        }
        self.stats.packets_received += 1;
        if p.ty == PacketType::Reset {
            // Only a RESET that does not acknowledge the unsent is believed.
            if !seq_less(self.send.last_seq(), p.ack_nr) {
                self.close_with(CloseReason::Reset);
            }
            return;
        }
        if p.ty == PacketType::Syn {
            if Some(p.seq_nr) == self.syn_seq && !self.got_non_syn {
                // Our SYN-ACK was lost: say it again.
                self.last_recv = now;
                self.ack_pending = true;
            }
            return;
        }
        // Acknowledges something never sent: forged or confused, drop.
        if seq_less(self.send.last_seq(), p.ack_nr) {
            return;
        }
        if self.state == State::SynSent {
            if Some(p.ack_nr) != self.send.front_seq() {
                return;
            }
            self.state = State::Connected;
            self.recv.start_after(p.seq_nr.wrapping_sub(1));
            self.events.push_back(ConnEvent::Connected);
        }
        self.got_non_syn = true;
        self.last_recv = now;
        self.reply_micro = micros(self.epoch, now).wrapping_sub(p.timestamp_us);
        self.peer_wnd = p.wnd_size as usize;
        if p.timestamp_diff_us != 0 {
            self.ledbat.delay_sample(
                now.saturating_duration_since(self.epoch),
                p.timestamp_diff_us,
            );
        }
        self.process_ack(p, now);
        if matches!(p.ty, PacketType::Data | PacketType::Fin) {
            self.ack_pending = true;
            let r = self.recv.receive(p);
            if r.readable {
                self.events.push_back(ConnEvent::Readable);
            }
            if r.finished {
                self.events.push_back(ConnEvent::PeerFinished);
            }
            if r.duplicate {
                self.stats.duplicates_received += 1;
            }
        }
        if self.fin_sent && self.fin_acked && self.recv.at_eof() {
            self.close_with(CloseReason::Finished);
        }
    }

    fn process_ack(&mut self, p: &Packet<'_>, now: Instant) {
        let ack = p.ack_nr;
        let a = self.send.ack(ack, now, &mut self.rtt);
        if a.fin {
            self.fin_acked = true;
        }
        let mut acked = a.bytes;
        if let Some(mask) = p.sack {
            let (bytes, past) = self.send.sack(ack, mask);
            acked += bytes;
            if past >= 3 {
                self.fast_retransmit();
            }
        }
        if a.progressed {
            self.timeouts = 0;
            self.ledbat.on_progress(ack);
            self.rtt.reset();
            self.rto_deadline = if self.send.has_inflight() {
                Some(now + self.rtt.rto())
            } else {
                None
            };
            if self.write_blocked && self.writable_len() > 0 {
                self.write_blocked = false;
                self.events.push_back(ConnEvent::Writable);
            }
        }
        let maybe_dup = !a.progressed && p.ty == PacketType::State;
        if self.send.note_ack(ack, maybe_dup) {
            self.fast_retransmit();
        }
        if acked > 0 {
            self.stats.bytes_acked += acked as u64;
            self.ledbat.on_acked(acked);
        }
    }

    fn fast_retransmit(&mut self) {
        if self.send.fast_resend() {
            self.stats.fast_retransmits += 1;
            self.ledbat.on_loss(self.send.last_seq());
        }
    }
}
