//! A shaping TCP proxy on loopback: every connection to it is forwarded to
//! one target, with a one-way delay added in each direction and each
//! direction paced to a rate, like a seeder on the far side of a slow link.
//! Used by the latency benchmarks (`bench/shaped.py` through the
//! `fixture-swarm` binary) and by tests that need a far or slow peer.
//!
//! The model is a link: a chunk read from one side is serialised at the
//! rate (the reader waits until the chunk has "left", so a sender that is
//! faster than the rate is held back by TCP flow control, with small socket
//! buffers so little data queues before the link), then arrives `delay`
//! later on the other side. Bytes passed from the target to clients are
//! counted, with the time of the last pass, for share-of-capacity and
//! over-download figures.
//!
//! Four threads per connection (a reader and a writer per direction) and
//! one that accepts. Everything stops when the [`Shaper`] is dropped.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the link between the proxy's clients and its target is like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Added to every byte, each way (the round trip grows by twice this).
    pub delay: Duration,
    /// Bytes per second each way, per connection; 0 for no cap.
    pub rate: u64,
}

/// Kernel buffer on each proxied socket: small, so a fast sender queues
/// little before the link (about 125 ms at 1 MiB/s) and cancelled requests
/// can still be dropped by the sender.
const SOCKET_BUFFER: usize = 64 * 1024;
/// Credit a pacer may keep after oversleeping (a short burst), so the mean
/// rate is the cap even when sleeps overshoot.
const BURST: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Counters {
    /// Bytes written to clients (from the target).
    passed: AtomicU64,
    /// When bytes last passed, in microseconds since the Unix epoch.
    last_us: AtomicU64,
}

struct Shared {
    target: SocketAddr,
    shape: Shape,
    stop: AtomicBool,
    counters: Counters,
    /// Every open connection's two sockets, to end them on drop.
    conns: Mutex<Vec<Pair>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

pub struct Shaper {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

impl Shaper {
    /// Listen on 127.0.0.1 (a free port) and forward to `target`.
    pub fn start(target: SocketAddr, shape: Shape) -> io::Result<Shaper> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            shape,
            stop: AtomicBool::new(false),
            counters: Counters::default(),
            conns: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        let listener = std::thread::Builder::new()
            .name("shaper-listen".into())
            .spawn(move || accept_loop(listener, sh))?;
        Ok(Shaper {
            addr,
            shared,
            listener: Some(listener),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn shape(&self) -> Shape {
        self.shared.shape
    }

    /// Bytes passed from the target to clients so far.
    pub fn passed(&self) -> u64 {
        self.shared.counters.passed.load(Ordering::SeqCst)
    }

    /// When bytes last passed to a client, as seconds since the Unix epoch
    /// (0.0 if none have).
    pub fn last_passed_unix(&self) -> f64 {
        self.shared.counters.last_us.load(Ordering::SeqCst) as f64 / 1e6
    }
}

impl Drop for Shaper {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.listener.take() {
            let _ = h.join();
        }
        for pair in self.shared.conns.lock().unwrap().drain(..) {
            kill(&pair);
        }
        let threads: Vec<_> = self.shared.threads.lock().unwrap().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Set a socket's kernel buffer (`SO_RCVBUF` or `SO_SNDBUF`) to `n` bytes
/// (the kernel doubles it); a failure leaves the system's.
pub(crate) fn set_socket_buffer(s: &TcpStream, option: libc::c_int, n: usize) {
    let v = n.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the
    // size passed.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
    while !sh.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        let _ = client.set_nonblocking(false);
        let Ok(upstream) = TcpStream::connect_timeout(&sh.target, Duration::from_secs(5)) else {
            continue; // dropping the client closes it: the target is down
        };
        for s in [&client, &upstream] {
            let _ = s.set_nodelay(true);
            set_socket_buffer(s, libc::SO_RCVBUF, SOCKET_BUFFER);
            set_socket_buffer(s, libc::SO_SNDBUF, SOCKET_BUFFER);
        }
        let (Ok(c1), Ok(u1), Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone(), client.try_clone(), upstream.try_clone())
        else {
            continue;
        };
        let pair = Arc::new((c1, u1));
        let mut conns = sh.conns.lock().unwrap();
        // Forget connections that ended: their threads held the other
        // references to the pair.
        conns.retain(|p| Arc::strong_count(p) > 1);
        conns.push(pair.clone());
        let mut handles = Vec::new();
        handles.extend(pump(&sh, client, u2, false, pair.clone()));
        handles.extend(pump(&sh, upstream, c2, true, pair));
        let mut threads = sh.threads.lock().unwrap();
        threads.retain(|h| !h.is_finished());
        threads.extend(handles);
    }
}

/// Both sockets of a connection, to end it from any of its threads.
type Pair = Arc<(TcpStream, TcpStream)>;

fn kill(pair: &Pair) {
    let _ = pair.0.shutdown(Shutdown::Both);
    let _ = pair.1.shutdown(Shutdown::Both);
}

/// Copy `from` to `to` through the link: a reader that paces and a writer
/// that delays. `count`: bytes written are counted as passed to a client.
/// An end of stream is passed on as a half-close; an error ends both ways.
fn pump(sh: &Arc<Shared>, mut from: TcpStream, mut to: TcpStream, count: bool, pair: Pair) -> Vec<JoinHandle<()>> {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let shape = sh.shape;
    let chunk = if shape.rate == 0 {
        64 * 1024
    } else {
        // About 10 ms of the rate: smooth pacing, not too many wake-ups.
        (shape.rate / 100).clamp(1024, 64 * 1024) as usize
    };
    let sh_r = sh.clone();
    let pair_w = pair.clone();
    let reader = std::thread::Builder::new().name("shaper-rx".into()).spawn(move || {
        let mut free_at = Instant::now();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = match from.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    kill(&pair);
                    0
                }
            };
            if n == 0 || sh_r.stop.load(Ordering::SeqCst) {
                let _ = tx.send((Instant::now() + shape.delay, Vec::new()));
                return;
            }
            let now = Instant::now();
            let mut left = now;
            if shape.rate > 0 {
                // The chunk has left when the link has serialised it.
                free_at = free_at.max(now.checked_sub(BURST).unwrap_or(now))
                    + Duration::from_secs_f64(n as f64 / shape.rate as f64);
                if free_at > now {
                    std::thread::sleep(free_at - now);
                }
                left = free_at;
            }
            if tx.send((left + shape.delay, buf[..n].to_vec())).is_err() {
                return;
            }
        }
    });
    let sh_w = sh.clone();
    let writer = std::thread::Builder::new().name("shaper-tx".into()).spawn(move || {
        while let Ok((due, data)) = rx.recv() {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if data.is_empty() {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            if to.write_all(&data).is_err() {
                // The receiver is gone: end both directions.
                kill(&pair_w);
                return;
            }
            if count {
                let c = &sh_w.counters;
                c.passed.fetch_add(data.len() as u64, Ordering::SeqCst);
                let us = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
                c.last_us.store(us, Ordering::SeqCst);
            }
        }
    });
    reader.into_iter().chain(writer).collect()
}
