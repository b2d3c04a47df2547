//! Hostile connections for slot and memory tests (issue 18): many
//! connections to one listener, each in one of the forms an attacker
//! uses to hold slots, descriptors or memory: connect and stay silent, send
//! one byte of a handshake, handshake and then idle with keep-alives, or
//! flood the early state (a long bitfield and a million `have`s) before the
//! victim knows the metadata. Optionally every connection the victim
//! closes is opened again, so the pressure stays.
//!
//! Written from the protocol (BEP 3/6/10), independent of the clients it
//! attacks. Connections are held by a few threads with non-blocking reads;
//! counts of what happened are readable while it runs.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What each connection does.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Connect and send nothing.
    Silent,
    /// Send the first byte of a handshake (19), then nothing.
    OneByte,
    /// A handshake for the info-hash (extension and fast bits), then a
    /// keep-alive every `keepalive`; nothing else, ever.
    Idle { info_hash: [u8; 20], keepalive: Duration },
    /// A handshake, an extension handshake without metadata, a bitfield of
    /// `bitfield_bytes` bytes (every other bit set), then `haves` `have`
    /// messages for pieces below `bitfield_bytes * 8`; then idle.
    EarlyFlood { info_hash: [u8; 20], bitfield_bytes: usize, haves: usize },
}

/// What happened so far.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections made (reconnections included).
    pub connected: AtomicUsize,
    /// Connects that failed (refused, timed out).
    pub connect_failed: AtomicUsize,
    /// Connections the victim closed (EOF, reset, write error).
    pub closed_by_peer: AtomicUsize,
    /// Connections open now.
    pub open: AtomicUsize,
    /// Connections whose whole opening (the handshake, the flood) was
    /// written before the victim closed them.
    pub completed: AtomicUsize,
}

pub struct HostileConns {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pub stats: Arc<Stats>,
}

fn handshake(info_hash: &[u8; 20], n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(68);
    v.push(19);
    v.extend_from_slice(b"BitTorrent protocol");
    // Extension protocol (BEP 10) and fast extension (BEP 6) bits.
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0x04]);
    v.extend_from_slice(info_hash);
    let id = format!("-HX0001-{n:012}");
    v.extend_from_slice(&id.as_bytes()[..20]);
    v
}

fn message(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(id);
    v.extend_from_slice(payload);
    v
}

/// Everything a connection sends first, in `mode`.
fn opening(mode: Mode, n: usize) -> Vec<u8> {
    match mode {
        Mode::Silent => Vec::new(),
        Mode::OneByte => vec![19],
        Mode::Idle { info_hash, .. } => handshake(&info_hash, n),
        Mode::EarlyFlood { info_hash, bitfield_bytes, haves } => {
            let mut v = handshake(&info_hash, n);
            v.extend(message(20, b"\x00d1:md11:ut_metadatai3ee1:v7:hostilee"));
            v.extend(message(5, &vec![0x55; bitfield_bytes]));
            let pieces = (bitfield_bytes * 8).max(1) as u64;
            let mut x: u64 = n as u64 * 2_654_435_761 + 1;
            v.reserve(haves * 9);
            for _ in 0..haves {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                v.extend(message(4, &(((x >> 33) % pieces) as u32).to_be_bytes()));
            }
            v
        }
    }
}

struct Conn {
    s: TcpStream,
    n: usize,
    last_send: Instant,
}

impl HostileConns {
    /// Open `count` connections to `target` in `mode`, spread over
    /// `threads` threads (floods write in blocking mode, one connection at
    /// a time per thread). `reconnect`: open a new connection for every
    /// one the victim closes (at most `count` per second in all).
    pub fn start(target: SocketAddr, mode: Mode, count: usize, threads: usize, reconnect: bool) -> HostileConns {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let threads = threads.clamp(1, count.max(1));
        let mut handles = Vec::new();
        for t in 0..threads {
            let share: Vec<usize> = (0..count).filter(|i| i % threads == t).collect();
            let (stop, stats) = (stop.clone(), stats.clone());
            let per_sec = (share.len()).max(1);
            handles.push(std::thread::spawn(move || drive(target, mode, share, reconnect, per_sec, &stop, &stats)));
        }
        HostileConns { stop, threads: handles, stats }
    }

    pub fn open(&self) -> usize {
        self.stats.open.load(Ordering::Relaxed)
    }

    pub fn connected(&self) -> usize {
        self.stats.connected.load(Ordering::Relaxed)
    }

    pub fn closed_by_peer(&self) -> usize {
        self.stats.closed_by_peer.load(Ordering::Relaxed)
    }

    /// Close everything and wait for the threads.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for HostileConns {
    fn drop(&mut self) {
        self.halt();
    }
}

fn connect(target: SocketAddr, mode: Mode, n: usize, stats: &Stats) -> Option<Conn> {
    let Ok(mut s) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
        stats.connect_failed.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    stats.connected.fetch_add(1, Ordering::Relaxed);
    let bytes = opening(mode, n);
    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
    if !bytes.is_empty() && s.write_all(&bytes).is_err() {
        stats.closed_by_peer.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    stats.completed.fetch_add(1, Ordering::Relaxed);
    if s.set_nonblocking(true).is_err() {
        return None;
    }
    stats.open.fetch_add(1, Ordering::Relaxed);
    Some(Conn { s, n, last_send: Instant::now() })
}

fn drive(target: SocketAddr, mode: Mode, share: Vec<usize>, reconnect: bool, per_sec: usize, stop: &AtomicBool, stats: &Stats) {
    let mut conns: Vec<Conn> = Vec::new();
    for n in share {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(c) = connect(target, mode, n, stats) {
            conns.push(c);
        }
    }
    let mut again: Vec<usize> = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut second = Instant::now();
    let mut made = 0;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        conns.retain_mut(|c| {
            let alive = loop {
                match c.s.read(&mut buf) {
                    Ok(0) => break false,
                    Ok(_) => continue, // the victim's handshake, bitfield...: discarded
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break false,
                }
            };
            let alive = alive
                && match mode {
                    Mode::Idle { keepalive, .. } if now.duration_since(c.last_send) >= keepalive => {
                        c.last_send = now;
                        !matches!(c.s.write(&[0, 0, 0, 0]), Err(e) if e.kind() != ErrorKind::WouldBlock)
                    }
                    _ => true,
                };
            if !alive {
                stats.closed_by_peer.fetch_add(1, Ordering::Relaxed);
                stats.open.fetch_sub(1, Ordering::Relaxed);
                again.push(c.n);
            }
            alive
        });
        if now.duration_since(second) >= Duration::from_secs(1) {
            second = now;
            made = 0;
        }
        if reconnect {
            while made < per_sec && !stop.load(Ordering::Relaxed) {
                let Some(n) = again.pop() else { break };
                made += 1;
                if let Some(c) = connect(target, mode, n, stats) {
                    conns.push(c);
                }
            }
        } else {
            again.clear();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stats.open.fetch_sub(conns.len(), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openings_are_what_each_mode_says() {
        assert!(opening(Mode::Silent, 0).is_empty());
        assert_eq!(opening(Mode::OneByte, 0), [19]);
        let idle = opening(Mode::Idle { info_hash: [7; 20], keepalive: Duration::from_secs(180) }, 3);
        assert_eq!(idle.len(), 68);
        assert_eq!(&idle[28..48], &[7; 20]);
        let flood = opening(Mode::EarlyFlood { info_hash: [7; 20], bitfield_bytes: 1000, haves: 10 }, 3);
        // handshake, extension handshake, bitfield (4+1+1000), 10 haves of 9 bytes
        let ext = 4 + 1 + 1 + b"d1:md11:ut_metadatai3ee1:v7:hostilee".len();
        assert_eq!(flood.len(), 68 + ext + 1005 + 90);
        for h in flood[flood.len() - 90..].chunks(9) {
            assert_eq!(&h[..5], &[0, 0, 0, 5, 4]);
            assert!(u32::from_be_bytes([h[5], h[6], h[7], h[8]]) < 8000);
        }
    }
}
