//! uTP endpoints talking over a simulated network (loss, duplication,
//! reordering, delay) with a simulated clock: data arrives intact and in
//! order, closes and failures are reported.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use torrent_core::utp::{
    CloseReason, ConnHandle, Endpoint, EndpointConfig, Event, Packet, PacketType, State,
};

#[derive(Clone, Copy)]
struct Net {
    loss: f64,
    dup: f64,
    delay: Duration,
    jitter: Duration,
    /// Bytes per second of the link from side 0 to side 1 (0: unlimited):
    /// datagrams queue behind each other, as at a bottleneck router.
    bandwidth: u64,
}

const CLEAN: Net = Net {
    loss: 0.0,
    dup: 0.0,
    delay: Duration::from_millis(20),
    jitter: Duration::ZERO,
    bandwidth: 0,
};

struct Side {
    ep: Endpoint,
    addr: SocketAddr,
    h: Option<ConnHandle>,
    to_send: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
    eof: bool,
    closed: Option<CloseReason>,
    close_when_sent: bool,
    close_called: bool,
}

struct Sim {
    now: Instant,
    start: Instant,
    sides: [Side; 2],
    /// (deliver at, tiebreak, to side, from addr, bytes)
    wire: BinaryHeap<Reverse<(Instant, u64, usize, SocketAddr, Vec<u8>)>>,
    n: u64,
    rng: StdRng,
    net: Net,
    /// Drop every datagram to side 1 after this (the peer vanishes).
    blackhole_after: Option<Duration>,
    delivered: u64,
    /// When the bottleneck link is free again.
    link_free: Instant,
    /// Largest queueing delay seen at the bottleneck after the first 10 s.
    max_queue: Duration,
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut r = StdRng::seed_from_u64(seed);
    (0..len).map(|_| r.gen()).collect()
}

impl Sim {
    fn new(net: Net, seed: u64, cfg: EndpointConfig) -> Sim {
        let now = Instant::now();
        let side = |port: u16, s: u64| Side {
            ep: Endpoint::with_seed(cfg, now, s),
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            h: None,
            to_send: Vec::new(),
            sent: 0,
            got: Vec::new(),
            eof: false,
            closed: None,
            close_when_sent: true,
            close_called: false,
        };
        Sim {
            now,
            start: now,
            sides: [side(1000, seed), side(2000, seed ^ 0xdead)],
            wire: BinaryHeap::new(),
            n: 0,
            rng: StdRng::seed_from_u64(seed.wrapping_mul(31)),
            net,
            blackhole_after: None,
            delivered: 0,
            link_free: now,
            max_queue: Duration::ZERO,
        }
    }

    fn app(&mut self, i: usize) {
        let now = self.now;
        let s = &mut self.sides[i];
        while let Some((h, ev)) = s.ep.poll_event() {
            match ev {
                Event::Incoming(_) => {
                    assert!(s.h.is_none(), "one connection expected");
                    s.h = Some(h);
                }
                Event::Closed(r) => s.closed = Some(r),
                _ => {}
            }
        }
        let Some(h) = s.h else { return };
        while s.sent < s.to_send.len() {
            match s.ep.write(h, &s.to_send[s.sent..]) {
                Ok(n) => s.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        if s.sent == s.to_send.len() && s.close_when_sent && !s.close_called {
            s.close_called = true;
            s.ep.close(h);
        }
        let mut buf = [0u8; 8192];
        loop {
            match s.ep.read(h, &mut buf) {
                Ok(0) => {
                    s.eof = true;
                    break;
                }
                Ok(n) => s.got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        let _ = now;
        while let Some((_, ev)) = s.ep.poll_event() {
            if let Event::Closed(r) = ev {
                s.closed = Some(r);
            }
        }
    }

    fn flush(&mut self, i: usize) {
        let mut out = Vec::new();
        let from = self.sides[i].addr;
        while let Some(to) = self.sides[i].ep.poll_transmit(self.now, &mut out) {
            assert!(out.len() <= 1500, "datagram of {} bytes", out.len());
            let j = if to == self.sides[0].addr { 0 } else { 1 };
            assert_ne!(i, j);
            self.send(j, from, out.clone());
        }
    }

    fn send(&mut self, to: usize, from: SocketAddr, d: Vec<u8>) {
        if let Some(t) = self.blackhole_after {
            if to == 1 && self.now - self.start >= t {
                return;
            }
        }
        if self.rng.gen_bool(self.net.loss) {
            return;
        }
        let copies = if self.rng.gen_bool(self.net.dup) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let j = self.net.jitter.as_micros() as u64;
            let extra = if j > 0 { self.rng.gen_range(0..j) } else { 0 };
            let mut at = self.now + self.net.delay + Duration::from_micros(extra);
            if self.net.bandwidth > 0 && to == 1 {
                let start = self.link_free.max(self.now);
                let queue = start - self.now;
                if self.now - self.start > Duration::from_secs(10) {
                    self.max_queue = self.max_queue.max(queue);
                }
                self.link_free =
                    start + Duration::from_micros(d.len() as u64 * 1_000_000 / self.net.bandwidth);
                at = self.link_free + self.net.delay;
            }
            self.n += 1;
            self.wire.push(Reverse((at, self.n, to, from, d.clone())));
        }
    }

    /// Run until both sides are closed (or the simulated limit).
    fn run(&mut self, limit: Duration) {
        let mut steps = 0u64;
        loop {
            steps += 1;
            assert!(steps < 50_000_000);
            for i in 0..2 {
                self.app(i);
                self.flush(i);
                self.app(i);
            }
            if self.sides.iter().all(|s| s.closed.is_some()) {
                return;
            }
            let mut next = self.wire.peek().map(|Reverse(w)| w.0);
            for s in &self.sides {
                if let Some(t) = s.ep.poll_timeout() {
                    next = Some(next.map_or(t, |n: Instant| n.min(t)));
                }
            }
            let Some(next) = next else { return };
            if next - self.start > limit {
                return;
            }
            self.now = self.now.max(next);
            while let Some(Reverse(w)) = self.wire.peek() {
                if w.0 > self.now {
                    break;
                }
                let Reverse((_, _, to, from, d)) = self.wire.pop().unwrap();
                self.delivered += 1;
                self.sides[to]
                    .ep
                    .handle_datagram(self.now, from, &d)
                    .unwrap();
            }
            for s in &mut self.sides {
                s.ep.handle_timeout(self.now);
            }
        }
    }

    fn connect(&mut self, seq: u16) {
        let to = self.sides[1].addr;
        let h = self.sides[0]
            .ep
            .connect_with_seq(to, self.now, seq)
            .unwrap();
        self.sides[0].h = Some(h);
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }
}

fn transfer(net: Net, seed: u64, a_len: usize, b_len: usize, seq: u16) -> Sim {
    let mut sim = Sim::new(net, seed, EndpointConfig::default());
    sim.sides[0].to_send = data(a_len, seed + 1);
    sim.sides[1].to_send = data(b_len, seed + 2);
    sim.connect(seq);
    sim.run(Duration::from_secs(3600));
    for (i, s) in sim.sides.iter().enumerate() {
        let other = &sim.sides[1 - i];
        assert_eq!(s.got.len(), other.to_send.len(), "side {i} received");
        assert!(s.got == other.to_send, "side {i}: bytes differ");
        assert!(s.eof, "side {i} saw the end of the stream");
        assert_eq!(s.closed, Some(CloseReason::Finished), "side {i}");
    }
    sim
}

#[test]
fn clean_transfer_both_ways() {
    let sim = transfer(CLEAN, 1, 4 << 20, 1 << 20, 1);
    // 4 MiB over a 40 ms RTT: with the window open to 1 MiB that is a
    // handful of round trips, not one packet per RTT.
    assert!(
        sim.elapsed() < Duration::from_secs(5),
        "took {:?}",
        sim.elapsed()
    );
}

#[test]
fn lossy_duplicating_reordering_network() {
    let net = Net {
        loss: 0.08,
        dup: 0.05,
        delay: Duration::from_millis(15),
        jitter: Duration::from_millis(30),
        bandwidth: 0,
    };
    for seed in [2, 3] {
        let sim = transfer(net, seed, 2 << 20, 300_000, 1);
        let st = sim.sides[0].ep.connection(sim.sides[0].h.unwrap());
        // Released? Not yet: the handle is still there until release.
        let st = st.expect("connection kept until released").stats();
        assert!(st.retransmits > 0 && st.fast_retransmits > 0, "{st:?}");
    }
}

#[test]
fn heavy_loss_still_completes() {
    let net = Net {
        loss: 0.25,
        dup: 0.1,
        delay: Duration::from_millis(5),
        jitter: Duration::from_millis(10),
        bandwidth: 0,
    };
    transfer(net, 9, 300_000, 100_000, 1);
}

#[test]
fn sequence_numbers_wrap() {
    // The initiator starts just below 65535: about 1500 packets cross zero.
    let sim = transfer(
        Net {
            loss: 0.05,
            ..CLEAN
        },
        4,
        2 << 20,
        2 << 20,
        65_000,
    );
    let c = sim.sides[0].ep.connection(sim.sides[0].h.unwrap()).unwrap();
    assert!(c.stats().packets_sent > 1500);
}

#[test]
fn empty_streams_close() {
    transfer(CLEAN, 5, 0, 0, 1);
}

#[test]
fn half_close_peer_keeps_sending() {
    // A sends nothing and closes at once; B sends 1 MiB afterwards.
    let sim = transfer(CLEAN, 6, 0, 1 << 20, 1);
    assert_eq!(sim.sides[0].got.len(), 1 << 20);
}

#[test]
fn slow_reader_zero_window() {
    // B reads nothing for 20 s (window closes), then everything.
    let mut cfg = EndpointConfig::default();
    cfg.conn.recv_buffer = 64 * 1024;
    let mut sim = Sim::new(CLEAN, 7, cfg);
    sim.sides[0].to_send = data(1 << 20, 70);
    sim.connect(1);
    // Run with B not reading: take its handle away for a while.
    let limit = Duration::from_secs(20);
    let mut hidden = None;
    loop {
        sim.app(0);
        sim.flush(0);
        if sim.sides[1].h.is_some() {
            hidden = sim.sides[1].h.take();
        }
        while let Some((h, ev)) = sim.sides[1].ep.poll_event() {
            if let Event::Incoming(_) = ev {
                hidden = Some(h);
            }
        }
        sim.flush(1);
        let mut next = sim.wire.peek().map(|Reverse(w)| w.0);
        for s in &sim.sides {
            if let Some(t) = s.ep.poll_timeout() {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        }
        let next = next.unwrap();
        if next - sim.start > limit {
            break;
        }
        sim.now = next;
        while let Some(Reverse(w)) = sim.wire.peek() {
            if w.0 > sim.now {
                break;
            }
            let Reverse((_, _, to, from, d)) = sim.wire.pop().unwrap();
            sim.sides[to].ep.handle_datagram(sim.now, from, &d).unwrap();
        }
        for s in &mut sim.sides {
            s.ep.handle_timeout(sim.now);
        }
    }
    let h = hidden.expect("incoming connection");
    assert_eq!(sim.sides[1].ep.state(h), Some(State::Connected));
    let a = sim.sides[0].h.unwrap();
    assert_eq!(
        sim.sides[0].ep.state(a),
        Some(State::Connected),
        "a stalled reader is not a dead peer"
    );
    sim.sides[1].h = Some(h);
    sim.run(Duration::from_secs(600));
    assert!(sim.sides[1].got == sim.sides[0].to_send);
    assert_eq!(sim.sides[0].closed, Some(CloseReason::Finished));
}

#[test]
fn connect_to_nothing_times_out() {
    let mut sim = Sim::new(CLEAN, 8, EndpointConfig::default());
    sim.blackhole_after = Some(Duration::ZERO);
    sim.sides[1].closed = Some(CloseReason::Aborted); // no peer at all
    sim.connect(1);
    sim.run(Duration::from_secs(600));
    assert_eq!(sim.sides[0].closed, Some(CloseReason::TimedOut));
    // 1 + 2 + 4 + 8 s of SYN retries, then the last backoff.
    let t = sim.elapsed();
    assert!(
        t >= Duration::from_secs(15) && t <= Duration::from_secs(40),
        "{t:?}"
    );
}

#[test]
fn vanished_peer_times_out_mid_transfer() {
    let mut sim = Sim::new(CLEAN, 10, EndpointConfig::default());
    sim.sides[0].to_send = data(50 << 20, 1);
    sim.blackhole_after = Some(Duration::from_secs(1));
    sim.connect(1);
    sim.run(Duration::from_secs(600));
    assert_eq!(sim.sides[0].closed, Some(CloseReason::TimedOut));
    assert!(sim.elapsed() < Duration::from_secs(300));
}

#[test]
fn refused_syn_is_reset() {
    let cfg = EndpointConfig {
        accept: false,
        ..EndpointConfig::default()
    };
    let mut sim = Sim::new(CLEAN, 11, cfg);
    sim.sides[1].closed = Some(CloseReason::Aborted);
    sim.connect(1);
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.sides[0].closed, Some(CloseReason::Reset));
    assert!(sim.elapsed() < Duration::from_secs(1));
}

#[test]
fn abort_resets_the_peer() {
    let mut sim = Sim::new(CLEAN, 12, EndpointConfig::default());
    sim.sides[0].to_send = data(10 << 20, 1);
    sim.sides[0].close_when_sent = false;
    sim.connect(1);
    sim.run(Duration::from_millis(500));
    let b = sim.sides[1].h.expect("accepted");
    assert!(!sim.sides[1].got.is_empty());
    let now = sim.now;
    sim.sides[1].ep.abort(b, now);
    sim.sides[1].closed = Some(CloseReason::Aborted);
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.sides[0].closed, Some(CloseReason::Reset));
    assert_eq!(sim.sides[1].ep.connection_count(), 0);
}

#[test]
fn unknown_connection_gets_reset_and_garbage_is_not_utp() {
    let now = Instant::now();
    let mut ep = Endpoint::with_seed(EndpointConfig::default(), now, 1);
    let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut p = Packet::new(PacketType::Data, 4242, 17, 3);
    p.payload = b"stray";
    ep.handle_datagram(now, from, &p.encode()).unwrap();
    // A RESET is never answered.
    let r = Packet::new(PacketType::Reset, 4242, 1, 1);
    ep.handle_datagram(now, from, &r.encode()).unwrap();
    assert!(ep.handle_datagram(now, from, b"d1:ad2:id20:").is_err());
    let mut out = Vec::new();
    assert_eq!(ep.poll_transmit(now, &mut out), Some(from));
    let reply = Packet::decode(&out).unwrap();
    assert_eq!(reply.ty, PacketType::Reset);
    assert_eq!(reply.conn_id, 4242);
    assert_eq!(reply.ack_nr, 17);
    assert_eq!(ep.poll_transmit(now, &mut out), None);
    assert_eq!(ep.connection_count(), 0);
}

#[test]
fn syn_flood_is_bounded() {
    let now = Instant::now();
    let cfg = EndpointConfig {
        max_connections: 50,
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::with_seed(cfg, now, 1);
    let mut out = Vec::new();
    let mut resets = 0;
    for i in 0..5000u32 {
        let from: SocketAddr = format!("127.0.0.{}:{}", 1 + i % 200, 1000 + i / 200)
            .parse()
            .unwrap();
        let syn = Packet::new(PacketType::Syn, i as u16, 1, 0);
        ep.handle_datagram(now, from, &syn.encode()).unwrap();
        while let Some(_) = ep.poll_transmit(now, &mut out) {
            if Packet::decode(&out).unwrap().ty == PacketType::Reset {
                resets += 1;
            }
        }
    }
    assert_eq!(ep.connection_count(), 50);
    assert_eq!(resets, 4950);
    // Half-open connections whose peer never follows up expire.
    let later = now + Duration::from_secs(11);
    ep.handle_timeout(later);
    let mut closed = 0;
    while let Some((h, ev)) = ep.poll_event() {
        if let Event::Closed(CloseReason::TimedOut) = ev {
            closed += 1;
            ep.release(h);
        }
    }
    assert_eq!(closed, 50);
    assert_eq!(ep.connection_count(), 0);
}

#[test]
fn hostile_packets_on_a_live_connection() {
    // Out-of-window sequence numbers, acks of unsent data and duplicates do
    // not corrupt the stream.
    let mut sim = Sim::new(CLEAN, 13, EndpointConfig::default());
    sim.sides[0].to_send = data(200_000, 5);
    sim.sides[0].close_when_sent = false;
    sim.connect(1);
    sim.run(Duration::from_millis(300));
    let b = sim.sides[1].h.unwrap();
    let c = sim.sides[1].ep.connection(b).unwrap();
    let (recv_id, send_id) = (c.recv_id(), c.send_id());
    let from = sim.sides[0].addr;
    let now = sim.now;
    for seq in [0u16, 1, 30_000, 40_000, 65_535] {
        let mut p = Packet::new(PacketType::Data, recv_id, seq, 0);
        p.payload = b"evil";
        sim.sides[1]
            .ep
            .handle_datagram(now, from, &p.encode())
            .unwrap();
        let mut f = Packet::new(PacketType::Fin, recv_id, seq, 40_000);
        f.payload = b"";
        sim.sides[1]
            .ep
            .handle_datagram(now, from, &f.encode())
            .unwrap();
    }
    // A RESET acknowledging packets B never sent is not believed.
    let r = Packet::new(PacketType::Reset, send_id, 0, 30_000);
    sim.sides[1]
        .ep
        .handle_datagram(now, from, &r.encode())
        .unwrap();
    assert_eq!(sim.sides[1].ep.state(b), Some(State::Connected));
    sim.sides[0].close_when_sent = true;
    sim.run(Duration::from_secs(60));
    assert!(sim.sides[1].got == sim.sides[0].to_send);
    assert_eq!(sim.sides[1].closed, Some(CloseReason::Finished));
}

#[test]
fn ledbat_keeps_the_bottleneck_queue_near_the_target() {
    // 1 MB/s bottleneck, 20 ms each way: a 1 MiB window would queue for a
    // second; LEDBAT (target 100 ms) holds the queue around the target.
    let net = Net {
        bandwidth: 1_000_000,
        ..CLEAN
    };
    let mut sim = Sim::new(net, 14, EndpointConfig::default());
    sim.sides[0].to_send = data(25 << 20, 3);
    sim.connect(1);
    sim.run(Duration::from_secs(3600));
    assert!(sim.sides[1].got == sim.sides[0].to_send);
    let secs = sim.elapsed().as_secs_f64();
    let rate = (25 << 20) as f64 / secs;
    // The link is kept busy...
    assert!(rate > 0.85e6, "{rate:.0} B/s over {secs:.1} s");
    // ...without filling the queue: at most a little above the target.
    assert!(
        sim.max_queue < Duration::from_millis(200),
        "queue reached {:?}",
        sim.max_queue
    );
    let c = sim.sides[0].ep.connection(sim.sides[0].h.unwrap()).unwrap();
    assert!(c.cwnd() < 400_000, "cwnd {}", c.cwnd());
}

/// An ICMP error for the peer's address (the owner read it off the
/// socket's error queue) fails a connect at once, not after 15 s of SYN
/// retries; an established connection ignores it.
#[test]
fn unreachable_fails_a_connect_at_once_and_spares_an_established_stream() {
    let mut sim = Sim::new(CLEAN, 12, EndpointConfig::default());
    sim.blackhole_after = Some(Duration::ZERO);
    sim.sides[1].closed = Some(CloseReason::Aborted);
    sim.connect(1);
    sim.run(Duration::from_millis(100));
    let to = sim.sides[1].addr;
    let h = sim.sides[0].h.unwrap();
    assert_eq!(sim.sides[0].ep.state(h), Some(State::SynSent));
    assert_eq!(sim.sides[0].ep.handle_unreachable(to), 1);
    let events: Vec<_> = std::iter::from_fn(|| sim.sides[0].ep.poll_event()).collect();
    assert!(events.contains(&(h, Event::Closed(CloseReason::Unreachable))), "{events:?}");

    let mut sim = Sim::new(CLEAN, 13, EndpointConfig::default());
    sim.sides[0].to_send = data(1 << 20, 2);
    sim.connect(1);
    sim.run(Duration::from_millis(300));
    let to = sim.sides[1].addr;
    assert_eq!(sim.sides[0].ep.handle_unreachable(to), 0);
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.sides[1].got, data(1 << 20, 2));
}
