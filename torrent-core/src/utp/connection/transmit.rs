//! What to send next and its encoding: a packet marked for resending
//! first, then new data or the FIN within the send window (the smaller of
//! the congestion window and the peer's), else a pending ACK (STATE). Every
//! packet but the SYN carries our ACK number and, when packets wait out
//! of order, a selective ACK; every packet advertises our window and
//! echoes the peer's delay.

use std::time::Instant;

use super::super::packet::{Packet, PacketType, HEADER_LEN, MAX_SACK_LEN};
use super::{micros, Connection, State};

impl Connection {
    fn send_window(&self) -> usize {
        self.ledbat
            .cwnd()
            .min(self.peer_wnd)
            .min(self.cfg.max_window)
    }

    /// Write the next datagram for the peer into `out` (cleared first);
    /// false when there is nothing to send now.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.is_closed() {
            if self.ack_pending {
                self.emit_state(now, out);
                return true;
            }
            return false;
        }
        let window = self.send_window();
        if let Some(i) = self.send.next_resend() {
            if self.send.fits(self.send.packet(i).payload.len(), window) {
                self.emit(i, now, out);
                return true;
            }
        } else if self.state == State::Connected && self.got_non_syn {
            // (An acceptor sends data only after the initiator's first
            // packet: until then a lost SYN-ACK could be repeated with a
            // later sequence number, and reordered data could be taken for
            // the first.)
            let queued = self.send.buffered();
            if queued > 0 && self.send.has_room() {
                let len = queued.min(self.cfg.max_payload);
                if self.send.fits(len, window) {
                    let i = self.send.push_data(len, now);
                    self.emit(i, now, out);
                    return true;
                }
            } else if queued == 0 && self.fin_requested && !self.fin_sent && self.send.has_room() {
                self.fin_sent = true;
                let i = self.send.push(PacketType::Fin, Vec::new(), now);
                self.emit(i, now, out);
                return true;
            }
        }
        if self.ack_pending && self.state == State::Connected {
            self.emit_state(now, out);
            return true;
        }
        false
    }

    fn header(&mut self, ty: PacketType, seq: u16, now: Instant) -> Packet<'static> {
        let wnd = self.recv.window();
        self.last_advertised = wnd;
        Packet {
            ty,
            conn_id: if ty == PacketType::Syn {
                self.recv_id
            } else {
                self.send_id
            },
            timestamp_us: micros(self.epoch, now),
            timestamp_diff_us: self.reply_micro,
            wnd_size: wnd.min(u32::MAX as usize) as u32,
            seq_nr: seq,
            ack_nr: if ty == PacketType::Syn {
                0
            } else {
                self.recv.ack_nr()
            },
            sack: None,
            payload: &[],
        }
    }

    fn finish_send(&mut self, now: Instant) {
        self.ack_pending = false;
        self.last_send = now;
        self.stats.packets_sent += 1;
    }

    /// (Re)send `inflight[i]`.
    fn emit(&mut self, i: usize, now: Instant, out: &mut Vec<u8>) {
        let (ty, seq) = (self.send.packet(i).ty, self.send.packet(i).seq);
        let hdr = self.header(ty, seq, now);
        let mut mask = [0u8; MAX_SACK_LEN];
        let mlen = if ty == PacketType::Syn {
            0
        } else {
            self.recv.sack_mask(&mut mask)
        };
        let p = Packet {
            sack: (mlen > 0).then_some(&mask[..mlen]),
            payload: &self.send.packet(i).payload,
            ..hdr
        };
        debug_assert!(p.encoded_len() <= HEADER_LEN + 2 + MAX_SACK_LEN + self.cfg.max_payload);
        p.encode_into(out);
        if self.send.sent(i, now) {
            self.stats.retransmits += 1;
        }
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rtt.rto());
        }
        self.finish_send(now);
    }

    fn emit_state(&mut self, now: Instant, out: &mut Vec<u8>) {
        let hdr = self.header(PacketType::State, self.send.next_seq(), now);
        let mut mask = [0u8; MAX_SACK_LEN];
        let mlen = self.recv.sack_mask(&mut mask);
        let p = Packet {
            sack: (mlen > 0).then_some(&mask[..mlen]),
            ..hdr
        };
        p.encode_into(out);
        self.finish_send(now);
    }
}
