//! uTP: two `utp::Endpoint`s, one connection between them, and a fuzzed
//! script playing the network (deliver any queued datagram, drop, duplicate,
//! inject raw bytes or well-formed packets with the live connection ids,
//! flip bits), the applications (write, read, close, abort, connect again)
//! and the clock.
//!
//! Checks: every datagram an endpoint emits decodes and re-encodes to the
//! same bytes, is at most 1500 bytes and goes to the peer's address (or the
//! injecting stranger's, for a RESET); a step emits a bounded number of
//! datagrams; connection tables, receive buffers and the reorder buffer stay
//! within their limits; while nobody tampered with the wire the receiver
//! reads exactly a prefix of what the sender wrote; deadlines never lie in
//! the past after `handle_timeout`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use torrent_core::utp::{
    ConnHandle, Endpoint, EndpointConfig, Event, Packet, PacketType,
};

use crate::input::Input;

const MAX_CONNS: usize = 8;
const MAX_STEPS: usize = 400;

fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9) >> 7) as u8
}

struct Side {
    ep: Endpoint,
    addr: SocketAddr,
    h: Option<ConnHandle>,
    written: u64,
    read: u64,
}

pub fn check_utp(data: &[u8]) {
    let mut inp = Input::new(data);
    let t0 = Instant::now();
    let mut now = t0;
    let mut cfg = EndpointConfig {
        max_connections: MAX_CONNS,
        ..EndpointConfig::default()
    };
    // Small buffers reach the window and reorder limits quickly.
    cfg.conn.recv_buffer = 16 * 1024;
    cfg.conn.send_buffer = 16 * 1024;
    cfg.conn.max_reorder = 32;
    let recv_cap = cfg.conn.recv_buffer + cfg.conn.max_payload;
    let stranger: SocketAddr = "127.0.0.9:9".parse().unwrap();
    let mut sides = [
        Side {
            ep: Endpoint::with_seed(cfg, now, 1),
            addr: "127.0.0.1:1000".parse().unwrap(),
            h: None,
            written: 0,
            read: 0,
        },
        Side {
            ep: Endpoint::with_seed(cfg, now, 2),
            addr: "127.0.0.2:2000".parse().unwrap(),
            h: None,
            written: 0,
            read: 0,
        },
    ];
    let seq = inp.u16();
    let b_addr = sides[1].addr;
    sides[0].h = Some(sides[0].ep.connect_with_seq(b_addr, now, seq).unwrap());
    // (to side, bytes)
    let mut wire: VecDeque<(usize, Vec<u8>)> = VecDeque::new();
    let mut tampered = false;
    let mut out = Vec::new();
    let mut steps = 0;
    while !inp.is_empty() && steps < MAX_STEPS {
        steps += 1;
        // Transmit and collect events.
        for i in 0..2 {
            let mut n = 0;
            while let Some(to) = sides[i].ep.poll_transmit(now, &mut out) {
                n += 1;
                assert!(n <= 2000, "endless transmit");
                assert!(out.len() <= 1500, "datagram of {} bytes", out.len());
                let p = Packet::decode(&out).expect("own datagram decodes");
                assert_eq!(p.encode(), out, "own datagram is canonical");
                if to == stranger {
                    // RESETs, or the answers to a stranger's SYN.
                    continue;
                }
                assert_eq!(to, sides[1 - i].addr, "datagram to an unknown address");
                if wire.len() < 512 {
                    wire.push_back((1 - i, out.clone()));
                }
            }
            while let Some((h, ev)) = sides[i].ep.poll_event() {
                if let Event::Incoming(from) = ev {
                    assert!(from == sides[1 - i].addr || from == stranger);
                    if sides[i].h.is_none() && from == sides[1 - i].addr {
                        sides[i].h = Some(h);
                    }
                }
            }
            assert!(sides[i].ep.connection_count() <= MAX_CONNS);
            for h in sides[i].ep.handles().collect::<Vec<_>>() {
                let c = sides[i].ep.connection(h).unwrap();
                assert!(c.readable_len() <= recv_cap, "receive buffer over its limit");
            }
        }
        let op = inp.u8();
        let who = (op >> 4) as usize & 1;
        if std::env::var_os("UTP_FUZZ_DEBUG").is_some() {
            eprintln!("step {steps} op {} who {who} wire {} w {:?} r {:?}", op % 12, wire.len(), (sides[0].written, sides[1].written), (sides[0].read, sides[1].read));
        }
        match op % 12 {
            0 | 1 | 2 => {
                // Deliver one queued datagram (any of the first few: reordering).
                if !wire.is_empty() {
                    let k = inp.u8() as usize % wire.len().min(8);
                    let (to, d) = wire.remove(k).unwrap();
                    let from = sides[1 - to].addr;
                    let r = sides[to].ep.handle_datagram(now, from, &d);
                    assert!(r.is_ok() || tampered, "own datagram rejected");
                }
            }
            3 => {
                if !wire.is_empty() {
                    let k = inp.u8() as usize % wire.len();
                    wire.remove(k);
                }
            }
            4 => {
                if let Some(d) = wire.front().cloned() {
                    wire.push_back(d);
                }
            }
            5 => {
                // Raw bytes from the peer's address or a stranger.
                tampered = true;
                let d = inp.short_bytes();
                let from = if inp.bool() { stranger } else { sides[1 - who].addr };
                let _ = sides[who].ep.handle_datagram(now, from, d);
            }
            6 => {
                // A well-formed packet with this connection's ids.
                tampered = true;
                let ty = PacketType::from_u8(inp.u8() % 5).unwrap();
                let (rid, sid) = sides[who]
                    .h
                    .and_then(|h| sides[who].ep.connection(h))
                    .map(|c| (c.recv_id(), c.send_id()))
                    .unwrap_or((inp.u16(), 0));
                let conn_id = match inp.u8() % 4 {
                    0 => rid,
                    1 => sid,
                    2 => rid.wrapping_add(1),
                    _ => inp.u16(),
                };
                let mut sack = [0u8; 8];
                let sl = (inp.u8() % 3) as usize * 4;
                for b in sack.iter_mut().take(sl) {
                    *b = inp.u8();
                }
                let payload = inp.short_bytes();
                let p = Packet {
                    ty,
                    conn_id,
                    timestamp_us: inp.u32(),
                    timestamp_diff_us: inp.u32(),
                    wnd_size: inp.u32(),
                    seq_nr: inp.u16(),
                    ack_nr: inp.u16(),
                    sack: (sl > 0).then_some(&sack[..sl]),
                    payload,
                };
                let from = if inp.bool() { stranger } else { sides[1 - who].addr };
                sides[who].ep.handle_datagram(now, from, &p.encode()).unwrap();
            }
            7 => {
                // Flip a byte of a queued datagram.
                if !wire.is_empty() {
                    tampered = true;
                    let k = inp.u8() as usize % wire.len();
                    let d = &mut wire[k].1;
                    let i = inp.u16() as usize % d.len();
                    d[i] ^= inp.u8() | 1;
                }
            }
            8 => {
                let n = (inp.u16() % 20_000) as usize;
                let s = &mut sides[who];
                if let Some(h) = s.h {
                    let buf: Vec<u8> = (0..n as u64).map(|i| byte_at(s.written + i)).collect();
                    if let Ok(k) = s.ep.write(h, &buf) {
                        assert!(k <= n);
                        s.written += k as u64;
                    }
                }
            }
            9 => {
                let s = &mut sides[who];
                if let Some(h) = s.h {
                    let mut buf = vec![0u8; (inp.u16() % 20_000) as usize + 1];
                    if let Ok(k) = s.ep.read(h, &mut buf) {
                        if !tampered {
                            for (j, b) in buf[..k].iter().enumerate() {
                                assert_eq!(*b, byte_at(s.read + j as u64), "stream corrupted");
                            }
                        }
                        s.read += k as u64;
                    }
                }
            }
            10 => {
                let s = &mut sides[who];
                if let Some(h) = s.h {
                    match inp.u8() % 4 {
                        0 => s.ep.close(h),
                        1 => {
                            s.ep.abort(h, now);
                            s.h = None;
                        }
                        2 => {
                            s.ep.release(h);
                            s.h = None;
                        }
                        _ => {}
                    }
                } else if who == 0 {
                    let to = sides[1].addr;
                    let s = &mut sides[0];
                    if let Ok(h) = s.ep.connect(to, now) {
                        s.h = Some(h);
                        s.written = 0;
                        s.read = 0;
                        sides[1].h = None;
                        sides[1].written = 0;
                        sides[1].read = 0;
                    }
                }
            }
            _ => {
                now += Duration::from_millis(inp.u16() as u64 * 8);
                for s in &mut sides {
                    s.ep.handle_timeout(now);
                    if let Some(t) = s.ep.poll_timeout() {
                        assert!(t > now, "deadline not moved past now");
                    }
                }
            }
        }
        if !tampered {
            assert!(sides[1].read <= sides[0].written);
            assert!(sides[0].read <= sides[1].written);
        }
    }
    let _ = t0;
}
