//! One uTP connection as a sans-IO state machine.
//!
//! Inputs: decoded packets ([`Connection::handle_packet`]), application
//! writes and reads, and the clock ([`Connection::handle_timeout`]).
//! Outputs: datagrams ([`Connection::poll_transmit`], one per call, the
//! caller sends them to the peer's address), events
//! ([`Connection::poll_event`]) and the next deadline
//! ([`Connection::poll_timeout`]). Time is always passed in, never read.
//!
//! Facts from BEP 29 and the reference implementations (libutp, libtorrent)
//! this follows:
//! - the initiator picks a receive id `R`, sends its SYN with connection id
//!   `R` and every later packet with `R + 1`; the acceptor receives on
//!   `R + 1` and sends with `R`;
//! - SYN, DATA and FIN consume a sequence number, STATE does not (it carries
//!   the next one); the SYN-ACK is a STATE whose `seq_nr` is the acceptor's
//!   first data sequence number, so the initiator sets `ack_nr = seq_nr - 1`;
//! - `timestamp_difference` echoes "our receive time minus your send time"
//!   of the last packet; the peer's echo is our one-way delay (plus a clock
//!   offset that the base delay, the minimum over about two minutes, cancels);
//! - LEDBAT: target queueing delay 100 ms, window grows or shrinks by at
//!   most 3000 bytes per RTT scaled by how far the delay is off target;
//! - RTO = max(srtt + 4 rttvar, 500 ms) (libtorrent's `utp_min_timeout`),
//!   doubled on every timeout, the window falls to one packet;
//! - a packet is resent early after 3 duplicate ACKs, or when a selective
//!   ACK shows 3 packets past it arrived;
//! - keep-alive: an ACK when nothing was sent for 29 s.
//!
//! This module owns the public types, the connection's fields, its
//! construction (connect, accept) and the application's side (write, read,
//! close, abort). The rest, by concept:
//! - `inbound`: a packet from the peer (handshake, ACK processing, data);
//! - `transmit`: what to send next and its encoding;
//! - `timers`: retransmission timeout, keep-alive, idle limit;
//! - `send_queue`: queued bytes, packets in flight, their acknowledgement
//!   and resending;
//! - `recv_buffer`: in-order delivery, the reorder buffer, the peer's FIN,
//!   the advertised window and the selective ACK;
//! - `congestion`: LEDBAT (window, slow start, base delay, loss recovery);
//! - `rtt`: the round-trip time estimate and the RTO.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use super::packet::{Packet, PacketType};

mod congestion;
mod inbound;
mod recv_buffer;
mod rtt;
mod send_queue;
mod timers;
mod transmit;

use congestion::Ledbat;
use recv_buffer::RecvBuffer;
use rtt::Rtt;
use send_queue::SendQueue;

/// Tunables; [`Config::default`] matches common client settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Largest payload per DATA packet. With the header and a full selective
    /// ACK a datagram stays under 1472 bytes (no IPv4 fragmentation on an
    /// Ethernet path).
    pub max_payload: usize,
    /// Receive buffer (bytes buffered for the application plus out-of-order
    /// packets); what is free of it is the advertised window.
    pub recv_buffer: usize,
    /// Bytes the application may queue for sending.
    pub send_buffer: usize,
    /// Upper bound of the congestion window (bytes).
    pub max_window: usize,
    /// LEDBAT target queueing delay.
    pub target_delay: Duration,
    pub min_rto: Duration,
    pub initial_rto: Duration,
    pub max_rto: Duration,
    /// Timeouts in a row before a connected stream gives up.
    pub max_retransmits: u32,
    /// SYN retransmissions before a connect fails.
    pub syn_retransmits: u32,
    /// Send an ACK when nothing was sent for this long.
    pub keepalive: Duration,
    /// Give up when nothing arrived for this long.
    pub idle_timeout: Duration,
    /// Most out-of-order packets held, and how far ahead of `ack_nr` a
    /// packet may be to be held.
    pub max_reorder: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_payload: 1400,
            recv_buffer: 1 << 20,
            send_buffer: 1 << 20,
            max_window: 1 << 20,
            target_delay: Duration::from_millis(100),
            min_rto: Duration::from_millis(500),
            initial_rto: Duration::from_millis(1000),
            max_rto: Duration::from_secs(60),
            max_retransmits: 5,
            syn_retransmits: 3,
            keepalive: Duration::from_secs(29),
            idle_timeout: Duration::from_secs(120),
            max_reorder: 1024,
        }
    }
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Our SYN is out, no answer yet.
    SynSent,
    /// Data may flow (each direction may have been closed with a FIN).
    Connected,
    /// Finished: no more packets are sent or accepted.
    Closed(CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Both FINs were sent and acknowledged.
    Finished,
    /// The peer sent a RESET (or refused our SYN with one).
    Reset,
    /// Retransmissions or the idle timer ran out.
    TimedOut,
    /// The application aborted it.
    Aborted,
    /// An ICMP "port unreachable" (or similar) answered our SYN: nothing
    /// listens for uTP there.
    Unreachable,
}

/// Things the application may want to react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnEvent {
    /// The SYN was answered (outgoing connections only).
    Connected,
    /// New bytes can be read.
    Readable,
    /// Send buffer space opened after a short write.
    Writable,
    /// The peer's FIN arrived and every byte before it was read off the
    /// wire: reads return end of stream once the buffer is drained.
    PeerFinished,
    Closed(CloseReason),
}

/// Counters, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets_sent: u64,
    pub packets_received: u64,
    pub retransmits: u64,
    pub fast_retransmits: u64,
    pub timeouts: u64,
    pub duplicates_received: u64,
    pub bytes_acked: u64,
}

pub struct Connection {
    cfg: Config,
    epoch: Instant,
    state: State,
    recv_id: u16,
    send_id: u16,
    initiator: bool,

    // Sending.
    send: SendQueue,
    fin_requested: bool,
    fin_sent: bool,
    fin_acked: bool,
    write_blocked: bool,
    peer_wnd: usize,
    ledbat: Ledbat,
    rtt: Rtt,
    rto_deadline: Option<Instant>,
    timeouts: u32,

    // Receiving.
    recv: RecvBuffer,
    /// Our receive time minus the peer's send time, last packet (µs).
    reply_micro: u32,
    ack_pending: bool,
    /// The acceptor's view of the SYN (for re-acking duplicates).
    syn_seq: Option<u16>,
    /// Something other than a SYN arrived (the acceptor's handshake is done).
    got_non_syn: bool,
    last_advertised: usize,

    last_recv: Instant,
    last_send: Instant,
    events: VecDeque<ConnEvent>,
    stats: Stats,
}

/// Microseconds since `epoch`, truncated to 32 bits like the wire field.
fn micros(epoch: Instant, now: Instant) -> u32 {
    now.saturating_duration_since(epoch).as_micros() as u32
}

impl Connection {
    fn blank(
        cfg: Config,
        epoch: Instant,
        now: Instant,
        recv_id: u16,
        send_id: u16,
        seq: u16,
    ) -> Connection {
        let cfg = Config {
            max_payload: cfg.max_payload.clamp(1, 65_000),
            max_reorder: cfg.max_reorder.clamp(1, 16_384),
            ..cfg
        };
        Connection {
            cfg,
            epoch,
            state: State::SynSent,
            recv_id,
            send_id,
            initiator: true,
            send: SendQueue::new(seq),
            fin_requested: false,
            fin_sent: false,
            fin_acked: false,
            write_blocked: false,
            peer_wnd: cfg.max_payload,
            ledbat: Ledbat::new(&cfg),
            rtt: Rtt::new(&cfg),
            rto_deadline: None,
            timeouts: 0,
            recv: RecvBuffer::new(&cfg),
            reply_micro: 0,
            ack_pending: false,
            syn_seq: None,
            got_non_syn: true,
            last_advertised: cfg.recv_buffer,
            last_recv: now,
            last_send: now,
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// An outgoing connection receiving on `recv_id` (sending on
    /// `recv_id + 1`), first sequence number `seq`. The SYN goes out with the
    /// next [`poll_transmit`](Self::poll_transmit).
    pub fn connect(
        cfg: Config,
        epoch: Instant,
        now: Instant,
        recv_id: u16,
        seq: u16,
    ) -> Connection {
        let mut c = Connection::blank(cfg, epoch, now, recv_id, recv_id.wrapping_add(1), seq);
        c.send.push(PacketType::Syn, Vec::new(), now);
        c
    }

    /// An incoming connection answering `syn` (a SYN packet), our first
    /// sequence number `seq`. The SYN-ACK goes out with the next
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn accept(
        cfg: Config,
        epoch: Instant,
        now: Instant,
        syn: &Packet<'_>,
        seq: u16,
    ) -> Connection {
        let mut c = Connection::blank(
            cfg,
            epoch,
            now,
            syn.conn_id.wrapping_add(1),
            syn.conn_id,
            seq,
        );
        c.initiator = false;
        c.state = State::Connected;
        c.recv.start_after(syn.seq_nr);
        c.syn_seq = Some(syn.seq_nr);
        c.got_non_syn = false;
        c.peer_wnd = syn.wnd_size as usize;
        c.reply_micro = micros(epoch, now).wrapping_sub(syn.timestamp_us);
        c.ack_pending = true;
        c.stats.packets_received = 1;
        c
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn recv_id(&self) -> u16 {
        self.recv_id
    }
    pub fn send_id(&self) -> u16 {
        self.send_id
    }
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }
    pub fn stats(&self) -> Stats {
        self.stats
    }
    /// Smoothed round-trip time, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }
    /// Congestion window (bytes).
    pub fn cwnd(&self) -> usize {
        self.ledbat.cwnd()
    }
    /// The last measured queueing delay (µs above the base delay).
    pub fn queuing_delay(&self) -> Duration {
        self.ledbat.queuing_delay()
    }
    /// Bytes queued by the application and not yet acknowledged.
    pub fn unacked_bytes(&self) -> usize {
        self.send.unacked_bytes()
    }
    /// Everything written was acknowledged (and the FIN, if one was sent).
    pub fn all_acked(&self) -> bool {
        self.send.is_empty()
    }
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }
    /// Bytes ready for [`read`](Self::read).
    pub fn readable_len(&self) -> usize {
        self.recv.len()
    }
    /// Bytes [`write`](Self::write) would take now.
    pub fn writable_len(&self) -> usize {
        if self.fin_requested || self.is_closed() {
            0
        } else {
            self.cfg.send_buffer.saturating_sub(self.send.buffered())
        }
    }

    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        self.events.pop_front()
    }

    /// The network said our packets cannot reach the peer (an ICMP error
    /// for its address). Only a connect still waiting for its SYN's answer
    /// gives up on it: an established stream rides out transient errors
    /// with its retransmission timers. True if the connection closed.
    pub fn unreachable(&mut self) -> bool {
        if self.state == State::SynSent {
            self.close_with(CloseReason::Unreachable);
            return true;
        }
        false
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed(reason);
        self.rto_deadline = None;
        // A clean close still acknowledges the peer's FIN.
        if reason != CloseReason::Finished {
            self.ack_pending = false;
        }
        self.events.push_back(ConnEvent::Closed(reason));
    }

    /// Queue bytes to send; returns how many were taken (0 when the send
    /// buffer is full: `WouldBlock`). Errors once the stream is closed for
    /// writing.
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.state {
            State::Closed(CloseReason::Reset) => {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "uTP reset"))
            }
            State::Closed(CloseReason::TimedOut) => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "uTP timed out"))
            }
            State::Closed(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "uTP stream closed",
                ))
            }
            _ if self.fin_requested => {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "uTP stream shut down for writing",
                ))
            }
            _ => {}
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = data.len().min(self.writable_len());
        if n == 0 {
            self.write_blocked = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if n < data.len() {
            self.write_blocked = true;
        }
        self.send.queue(&data[..n]);
        Ok(n)
    }

    /// Take received bytes. `Ok(0)` is the end of the stream (the peer's FIN
    /// arrived and everything before it was read); nothing buffered yet is
    /// `WouldBlock`.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.recv.read(buf);
        if n == 0 {
            return match self.state {
                _ if self.recv.at_eof() => Ok(0),
                State::Closed(CloseReason::Reset) => {
                    Err(io::Error::new(io::ErrorKind::ConnectionReset, "uTP reset"))
                }
                State::Closed(CloseReason::TimedOut) => {
                    Err(io::Error::new(io::ErrorKind::TimedOut, "uTP timed out"))
                }
                State::Closed(_) => Ok(0),
                _ => Err(io::ErrorKind::WouldBlock.into()),
            };
        }
        // Tell a sender stalled on our window that it opened again.
        let wnd = self.recv.window();
        if !self.is_closed()
            && self.last_advertised < self.cfg.recv_buffer / 2
            && wnd >= self.cfg.recv_buffer / 2
        {
            self.ack_pending = true;
        }
        Ok(n)
    }

    /// Send a FIN once the queued bytes are out; reading goes on until the
    /// peer's FIN.
    pub fn close(&mut self) {
        if !self.is_closed() {
            self.fin_requested = true;
        }
    }

    /// Give up at once. The caller may send a RESET built with
    /// [`reset_packet`](Self::reset_packet).
    pub fn abort(&mut self) {
        self.close_with(CloseReason::Aborted);
    }

    /// A RESET for this connection (an aborting side sends it).
    pub fn reset_packet(&self, now: Instant) -> Vec<u8> {
        let mut p = Packet::new(
            PacketType::Reset,
            self.send_id,
            self.send.next_seq(),
            self.recv.ack_nr(),
        );
        p.timestamp_us = micros(self.epoch, now);
        p.encode()
    }
}
