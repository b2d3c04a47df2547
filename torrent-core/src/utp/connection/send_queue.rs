//! The sending half of a stream: the bytes the application queued, the
//! packets sent and not yet acknowledged (in sequence order) with the
//! bytes of them that count toward the window, which of them are marked
//! for resending, and what the peer's acknowledgements do to them:
//! cumulative ACKs pop them (and give RTT samples), selective ACKs mark
//! them received, 3 duplicate ACKs or 3 selectively acknowledged
//! successors resend the first early, a timeout resends them all.

use std::collections::VecDeque;
use std::time::Instant;

use super::super::packet::{sack_has, seq_less, PacketType};
use super::rtt::Rtt;

/// Most packets in flight at once.
const MAX_INFLIGHT_PACKETS: usize = 16_384;

pub(super) struct OutPacket {
    pub(super) seq: u16,
    pub(super) ty: PacketType,
    pub(super) payload: Vec<u8>,
    last_sent: Instant,
    transmissions: u32,
    need_resend: bool,
    sacked: bool,
}

impl OutPacket {
    /// Counts toward the bytes in flight.
    fn counted(&self) -> bool {
        !self.need_resend && !self.sacked
    }
}

/// What a cumulative ACK took off the queue.
#[derive(Debug, Default)]
pub(super) struct Acked {
    /// Payload bytes newly acknowledged (not selectively before).
    pub(super) bytes: usize,
    /// At least one packet was acknowledged.
    pub(super) progressed: bool,
    /// Our FIN was among them.
    pub(super) fin: bool,
}

pub(super) struct SendQueue {
    /// Sequence number the next SYN/DATA/FIN gets.
    seq_nr: u16,
    /// Sent and not yet cumulatively acknowledged, in sequence order.
    inflight: VecDeque<OutPacket>,
    /// Payload bytes of `inflight` that count toward the window.
    bytes_in_flight: usize,
    /// Packets of `inflight` marked for resending.
    n_resend: usize,
    send_buf: VecDeque<u8>,
    last_ack_recv: u16,
    dup_acks: u32,
    fast_resent: Option<u16>,
}

impl SendQueue {
    /// Nothing sent yet; the first packet gets sequence number `seq`.
    pub(super) fn new(seq: u16) -> SendQueue {
        SendQueue {
            seq_nr: seq,
            inflight: VecDeque::new(),
            bytes_in_flight: 0,
            n_resend: 0,
            send_buf: VecDeque::new(),
            last_ack_recv: seq.wrapping_sub(1),
            dup_acks: 0,
            fast_resent: None,
        }
    }

    /// The sequence number the next SYN/DATA/FIN gets (a STATE carries it).
    pub(super) fn next_seq(&self) -> u16 {
        self.seq_nr
    }

    /// The last sequence number given out: an ACK past it acknowledges
    /// something never sent.
    pub(super) fn last_seq(&self) -> u16 {
        self.seq_nr.wrapping_sub(1)
    }

    /// Bytes queued by the application and not yet packetised.
    pub(super) fn buffered(&self) -> usize {
        self.send_buf.len()
    }

    pub(super) fn queue(&mut self, data: &[u8]) {
        self.send_buf.extend(data);
    }

    /// Bytes queued or in flight, not yet acknowledged.
    pub(super) fn unacked_bytes(&self) -> usize {
        self.send_buf.len() + self.inflight.iter().map(|p| p.payload.len()).sum::<usize>()
    }

    /// Everything queued was sent and acknowledged.
    pub(super) fn is_empty(&self) -> bool {
        self.send_buf.is_empty() && self.inflight.is_empty()
    }

    /// Something sent waits for its acknowledgement.
    pub(super) fn has_inflight(&self) -> bool {
        !self.inflight.is_empty()
    }

    /// Room for one more packet in flight.
    pub(super) fn has_room(&self) -> bool {
        self.inflight.len() < MAX_INFLIGHT_PACKETS
    }

    /// The oldest unacknowledged packet's sequence number.
    pub(super) fn front_seq(&self) -> Option<u16> {
        self.inflight.front().map(|p| p.seq)
    }

    /// The oldest unacknowledged packet's payload length.
    pub(super) fn front_len(&self) -> Option<usize> {
        self.inflight.front().map(|p| p.payload.len())
    }

    /// A packet of `len` bytes may go: nothing is in flight (one packet
    /// always may), or it fits in `window`.
    pub(super) fn fits(&self, len: usize, window: usize) -> bool {
        self.bytes_in_flight == 0 || self.bytes_in_flight + len <= window
    }

    pub(super) fn packet(&self, i: usize) -> &OutPacket {
        &self.inflight[i]
    }

    /// Queue a new SYN/DATA/FIN, marked for sending; its index.
    pub(super) fn push(&mut self, ty: PacketType, payload: Vec<u8>, now: Instant) -> usize {
        let seq = self.seq_nr;
        self.seq_nr = self.seq_nr.wrapping_add(1);
        self.inflight.push_back(OutPacket {
            seq,
            ty,
            payload,
            last_sent: now,
            transmissions: 0,
            need_resend: true,
            sacked: false,
        });
        self.n_resend += 1;
        self.inflight.len() - 1
    }

    /// A DATA packet of the next `len` queued bytes; its index.
    pub(super) fn push_data(&mut self, len: usize, now: Instant) -> usize {
        let payload: Vec<u8> = self.send_buf.drain(..len).collect();
        self.push(PacketType::Data, payload, now)
    }

    /// The first packet marked for (re)sending.
    pub(super) fn next_resend(&self) -> Option<usize> {
        if self.n_resend == 0 {
            return None;
        }
        let i = self
            .inflight
            .iter()
            .position(|p| p.need_resend)
            .expect("n_resend counts marked packets");
        Some(i)
    }

    /// `inflight[i]` (marked for sending) went out; true if it had gone
    /// out before.
    pub(super) fn sent(&mut self, i: usize, now: Instant) -> bool {
        let pk = &mut self.inflight[i];
        let again = pk.transmissions > 0;
        pk.transmissions += 1;
        pk.last_sent = now;
        pk.need_resend = false;
        self.n_resend -= 1;
        self.bytes_in_flight += pk.payload.len();
        again
    }

    /// The cumulative ACK `ack`: every packet up to it leaves the queue;
    /// those sent once are RTT samples.
    pub(super) fn ack(&mut self, ack: u16, now: Instant, rtt: &mut Rtt) -> Acked {
        let mut a = Acked::default();
        while let Some(front) = self.inflight.front() {
            if seq_less(ack, front.seq) {
                break;
            }
            let f = self.inflight.pop_front().unwrap();
            a.progressed = true;
            if f.counted() {
                self.bytes_in_flight -= f.payload.len();
            }
            if !f.sacked {
                a.bytes += f.payload.len();
            }
            if f.need_resend {
                self.n_resend -= 1;
            }
            if f.transmissions == 1 {
                rtt.sample(now.saturating_duration_since(f.last_sent));
            }
            if f.ty == PacketType::Fin {
                a.fin = true;
            }
        }
        if a.progressed {
            self.dup_acks = 0;
        }
        a
    }

    /// The selective ACK `mask` after `ack`: the packets it names no
    /// longer count toward the window nor need resending. Returns the
    /// payload bytes newly acknowledged and how many packets in flight it
    /// names (3 or more: the first is resent early).
    pub(super) fn sack(&mut self, ack: u16, mask: &[u8]) -> (usize, usize) {
        let mut acked = 0;
        let mut past = 0;
        for pk in self.inflight.iter_mut() {
            let dist = pk.seq.wrapping_sub(ack).wrapping_sub(2) as usize;
            if dist >= mask.len() * 8 {
                continue;
            }
            if sack_has(mask, ack, pk.seq) {
                past += 1;
                if !pk.sacked {
                    if pk.counted() {
                        self.bytes_in_flight -= pk.payload.len();
                    }
                    if pk.need_resend {
                        pk.need_resend = false;
                        self.n_resend -= 1;
                    }
                    pk.sacked = true;
                    acked += pk.payload.len();
                }
            }
        }
        (acked, past)
    }

    /// Note the peer's ACK number; `duplicate` when the packet could be a
    /// duplicate ACK (a STATE that acknowledged nothing new). True on the
    /// third duplicate in a row while something is in flight.
    pub(super) fn note_ack(&mut self, ack: u16, duplicate: bool) -> bool {
        let mut third = false;
        if duplicate && ack == self.last_ack_recv && !self.inflight.is_empty() {
            self.dup_acks += 1;
            third = self.dup_acks >= 3;
        }
        self.last_ack_recv = ack;
        third
    }

    /// Mark the oldest packet for an early resend (once per packet, not if
    /// selectively acknowledged or already marked); true if it was.
    pub(super) fn fast_resend(&mut self) -> bool {
        let Some(front) = self.inflight.front_mut() else {
            return false;
        };
        if front.sacked || front.need_resend || self.fast_resent == Some(front.seq) {
            return false;
        }
        self.fast_resent = Some(front.seq);
        front.need_resend = true;
        self.n_resend += 1;
        self.bytes_in_flight -= front.payload.len();
        true
    }

    /// The retransmission timer fired: everything in flight is resent.
    pub(super) fn timed_out(&mut self) {
        for p in self.inflight.iter_mut() {
            if p.counted() {
                p.need_resend = true;
                self.n_resend += 1;
            }
        }
        self.bytes_in_flight = 0;
        self.fast_resent = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::utp::Config;

    /// Four DATA packets of 100 bytes, 10..=13, sent at `t0`.
    fn four_sent(t0: Instant) -> SendQueue {
        let mut q = SendQueue::new(10);
        q.queue(&[7; 400]);
        for _ in 0..4 {
            let i = q.push_data(100, t0);
            assert!(!q.sent(i, t0));
        }
        q
    }

    #[test]
    fn a_cumulative_ack_pops_what_it_covers_and_samples_the_rtt() {
        let t0 = Instant::now();
        let mut q = four_sent(t0);
        assert_eq!((q.next_seq(), q.unacked_bytes()), (14, 400));
        assert!(!q.fits(1, 400) && q.fits(0, 400));
        let mut rtt = Rtt::new(&Config::default());
        let a = q.ack(11, t0 + Duration::from_millis(80), &mut rtt);
        assert!(a.progressed && !a.fin);
        assert_eq!(a.bytes, 200);
        assert_eq!(rtt.srtt(), Some(Duration::from_millis(80)));
        assert_eq!((q.front_seq(), q.unacked_bytes()), (Some(12), 200));
        assert!(q.fits(200, 400));
        assert!(!q.ack(11, t0, &mut rtt).progressed);
    }

    #[test]
    fn three_selectively_acked_successors_resend_the_first_once() {
        let t0 = Instant::now();
        let mut q = four_sent(t0);
        // ack_nr 9 (nothing in order): bit i is 11 + i.
        let (bytes, past) = q.sack(9, &[0b0111, 0, 0, 0]);
        assert_eq!((bytes, past), (300, 3));
        assert_eq!(q.next_resend(), None);
        assert!(q.fast_resend());
        assert_eq!(q.next_resend(), Some(0));
        assert!(!q.fast_resend(), "already marked");
        assert!(q.sent(0, t0), "a retransmission");
        assert!(!q.fast_resend(), "resent early once already");
        let mut rtt = Rtt::new(&Config::default());
        let a = q.ack(10, t0 + Duration::from_millis(80), &mut rtt);
        assert_eq!(a.bytes, 100);
        assert_eq!(rtt.srtt(), None, "a resent packet is no sample");
        let a = q.ack(13, t0 + Duration::from_millis(50), &mut rtt);
        assert!(a.progressed);
        assert_eq!(a.bytes, 0, "counted when selectively acked");
        assert_eq!(rtt.srtt(), Some(Duration::from_millis(50)));
        assert!(q.is_empty());
    }

    #[test]
    fn the_third_duplicate_ack_in_a_row_says_so() {
        let t0 = Instant::now();
        let mut q = four_sent(t0);
        assert!(!q.note_ack(9, true));
        assert!(!q.note_ack(9, true));
        assert!(!q.note_ack(9, false), "not a duplicate: not counted");
        assert!(q.note_ack(9, true));
    }

    #[test]
    fn a_timeout_marks_everything_in_flight_for_resending() {
        let t0 = Instant::now();
        let mut q = four_sent(t0);
        q.timed_out();
        assert!(q.fits(400, 0), "nothing counts as in flight");
        for i in 0..4 {
            assert_eq!(q.next_resend(), Some(i));
            assert!(q.sent(i, t0));
        }
        assert_eq!(q.next_resend(), None);
    }
}
