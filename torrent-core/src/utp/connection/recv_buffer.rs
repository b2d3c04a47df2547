//! The receiving half of a stream: `ack_nr` (the last sequence number
//! received in order), the bytes waiting for the application, the bounded
//! reorder buffer of packets that arrived early, where the peer's FIN
//! stands and whether every byte before it arrived (end of stream), the
//! window we advertise, and the selective ACK of what waits out of order.

use std::collections::{HashMap, VecDeque};

use super::super::packet::{seq_less, Packet, PacketType, MAX_SACK_LEN};
use super::Config;

#[derive(Debug)]
pub(super) struct RecvBuffer {
    /// Last sequence number received in order.
    ack_nr: u16,
    reorder: HashMap<u16, Vec<u8>>,
    reorder_bytes: usize,
    readable: VecDeque<u8>,
    readable_signalled: bool,
    peer_fin: Option<u16>,
    eof: bool,
    recv_buffer: usize,
    max_payload: usize,
    max_reorder: usize,
}

/// What one packet changed, for the connection's events and counters.
#[derive(Debug, Default)]
pub(super) struct Received {
    /// Bytes became readable after the application had drained the buffer.
    pub(super) readable: bool,
    /// The peer's FIN and every byte before it arrived.
    pub(super) finished: bool,
    /// The packet was already here.
    pub(super) duplicate: bool,
}

impl RecvBuffer {
    pub(super) fn new(cfg: &Config) -> RecvBuffer {
        RecvBuffer {
            ack_nr: 0,
            reorder: HashMap::new(),
            reorder_bytes: 0,
            readable: VecDeque::new(),
            readable_signalled: false,
            peer_fin: None,
            eof: false,
            recv_buffer: cfg.recv_buffer,
            max_payload: cfg.max_payload,
            max_reorder: cfg.max_reorder,
        }
    }

    /// Last sequence number received in order.
    pub(super) fn ack_nr(&self) -> u16 {
        self.ack_nr
    }

    /// The handshake says where the peer's stream starts: `seq` is taken as
    /// received, the next data packet is `seq + 1`.
    pub(super) fn start_after(&mut self, seq: u16) {
        self.ack_nr = seq;
    }

    /// Bytes ready for the application.
    pub(super) fn len(&self) -> usize {
        self.readable.len()
    }

    /// The peer's FIN arrived with everything before it.
    pub(super) fn at_eof(&self) -> bool {
        self.eof
    }

    /// What is free of the receive buffer (the window we advertise).
    pub(super) fn window(&self) -> usize {
        self.recv_buffer
            .saturating_sub(self.readable.len() + self.reorder_bytes)
    }

    /// Take a DATA or FIN packet.
    pub(super) fn receive(&mut self, p: &Packet<'_>) -> Received {
        let mut r = Received::default();
        if let Some(fin) = self.peer_fin {
            if seq_less(fin, p.seq_nr) {
                return r; // past the end of the stream
            }
        }
        let next = self.ack_nr.wrapping_add(1);
        if p.ty == PacketType::Fin && self.peer_fin.is_none() {
            // Only a FIN inside the receive window marks the end.
            let ahead = p.seq_nr.wrapping_sub(next) as usize;
            if !seq_less(self.ack_nr, p.seq_nr) || ahead >= self.max_reorder {
                return r;
            }
            self.peer_fin = Some(p.seq_nr);
        }
        let slack = self.recv_buffer + self.max_payload;
        if p.seq_nr == next {
            if p.ty == PacketType::Data {
                if self.readable.len() + self.reorder_bytes + p.payload.len() > slack {
                    return r; // over our window: the sender resends later
                }
                r.readable |= self.deliver(p.payload);
            }
            self.ack_nr = next;
            loop {
                let n = self.ack_nr.wrapping_add(1);
                if let Some(buf) = self.reorder.remove(&n) {
                    self.reorder_bytes -= buf.len();
                    r.readable |= self.deliver(&buf);
                    self.ack_nr = n;
                } else if self.peer_fin == Some(n) {
                    self.ack_nr = n;
                } else {
                    break;
                }
            }
            if !self.eof && self.peer_fin == Some(self.ack_nr) {
                self.eof = true;
                self.reorder.clear();
                self.reorder_bytes = 0;
                r.finished = true;
            }
        } else if seq_less(self.ack_nr, p.seq_nr) {
            let dist = p.seq_nr.wrapping_sub(next) as usize;
            if p.ty != PacketType::Data
                || dist >= self.max_reorder
                || self.reorder.len() >= self.max_reorder
                || self.reorder.contains_key(&p.seq_nr)
                || self.readable.len() + self.reorder_bytes + p.payload.len() > slack
            {
                r.duplicate = self.reorder.contains_key(&p.seq_nr);
                return r;
            }
            self.reorder_bytes += p.payload.len();
            self.reorder.insert(p.seq_nr, p.payload.to_vec());
        } else {
            r.duplicate = true;
        }
        r
    }

    /// True if the application is to be told (first bytes since it
    /// drained the buffer).
    fn deliver(&mut self, data: &[u8]) -> bool {
        if data.is_empty() {
            return false;
        }
        self.readable.extend(data);
        !std::mem::replace(&mut self.readable_signalled, true)
    }

    /// Copy readable bytes into `buf` (0 when none are buffered).
    pub(super) fn read(&mut self, buf: &mut [u8]) -> usize {
        let (a, b) = self.readable.as_slices();
        let n1 = a.len().min(buf.len());
        buf[..n1].copy_from_slice(&a[..n1]);
        let n2 = b.len().min(buf.len() - n1);
        buf[n1..n1 + n2].copy_from_slice(&b[..n2]);
        let n = n1 + n2;
        self.readable.drain(..n);
        if self.readable.is_empty() {
            self.readable_signalled = false;
        }
        n
    }

    /// The selective ACK of what waits in the reorder buffer.
    pub(super) fn sack_mask(&self, mask: &mut [u8; MAX_SACK_LEN]) -> usize {
        if self.reorder.is_empty() {
            return 0;
        }
        let mut top = 0;
        for &seq in self.reorder.keys() {
            let i = seq.wrapping_sub(self.ack_nr).wrapping_sub(2) as usize;
            if i < MAX_SACK_LEN * 8 {
                mask[i / 8] |= 1 << (i % 8);
                top = top.max(i / 8 + 1);
            }
        }
        top.div_ceil(4) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(seq: u16, payload: &[u8]) -> Packet<'_> {
        Packet {
            payload,
            ..Packet::new(PacketType::Data, 1, seq, 0)
        }
    }

    fn read_all(r: &mut RecvBuffer) -> Vec<u8> {
        let mut buf = vec![0; r.len()];
        let n = r.read(&mut buf);
        buf.truncate(n);
        buf
    }

    #[test]
    fn packets_out_of_order_wait_and_are_selectively_acked() {
        let mut r = RecvBuffer::new(&Config::default());
        r.start_after(100);
        let mut mask = [0u8; MAX_SACK_LEN];
        assert_eq!(r.sack_mask(&mut mask), 0);
        assert!(!r.receive(&data(102, b"bb")).readable);
        assert!(!r.receive(&data(104, b"dd")).readable);
        assert_eq!(r.window(), Config::default().recv_buffer - 4);
        assert_eq!(r.sack_mask(&mut mask), 4, "padded to 4 bytes");
        assert_eq!(mask[0], 0b101, "bit i is ack_nr + 2 + i");
        assert!(r.receive(&data(102, b"bb")).duplicate);
        let got = r.receive(&data(101, b"aa"));
        assert!(got.readable && !got.finished && !got.duplicate);
        assert_eq!(r.ack_nr(), 102, "103 is still missing");
        assert_eq!(read_all(&mut r), b"aabb");
        assert!(r.receive(&data(101, b"aa")).duplicate);
        assert!(r.receive(&data(103, b"cc")).readable);
        assert_eq!(read_all(&mut r), b"ccdd");
        assert_eq!(r.ack_nr(), 104);
    }

    #[test]
    fn readable_is_signalled_once_until_the_buffer_is_drained() {
        let mut r = RecvBuffer::new(&Config::default());
        assert!(r.receive(&data(1, b"a")).readable);
        assert!(!r.receive(&data(2, b"b")).readable);
        assert_eq!(read_all(&mut r), b"ab");
        assert_eq!(r.read(&mut [0; 4]), 0);
        assert!(r.receive(&data(3, b"c")).readable);
    }

    #[test]
    fn the_fin_ends_the_stream_once_everything_before_it_arrived() {
        let mut r = RecvBuffer::new(&Config::default());
        let fin = Packet::new(PacketType::Fin, 1, 3, 0);
        assert!(!r.receive(&fin).finished);
        assert!(!r.receive(&data(2, b"b")).finished);
        assert!(!r.at_eof());
        let got = r.receive(&data(1, b"a"));
        assert!(got.readable && got.finished);
        assert!(r.at_eof());
        assert_eq!(r.ack_nr(), 3);
        assert!(!r.receive(&data(4, b"late")).readable, "past the FIN");
        assert_eq!(read_all(&mut r), b"ab");
    }

    #[test]
    fn a_packet_over_the_window_is_dropped() {
        let cfg = Config {
            recv_buffer: 10,
            max_payload: 4,
            ..Config::default()
        };
        let mut r = RecvBuffer::new(&cfg);
        assert!(r.receive(&data(1, b"0123456789")).readable);
        assert_eq!(r.window(), 0);
        r.receive(&data(2, b"abcde")); // 15 > 10 + 4
        assert_eq!((r.len(), r.ack_nr()), (10, 1));
        r.receive(&data(2, b"abcd"));
        assert_eq!((r.len(), r.ack_nr()), (14, 2));
    }
}
