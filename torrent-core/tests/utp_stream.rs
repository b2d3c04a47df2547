//! The blocking `UtpStream` over real loopback UDP sockets.

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

use torrent_core::utp::{State, UtpStream};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[1]).collect()
}

fn transfer(len: usize) -> (Duration, Vec<u8>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut s = UtpStream::accept(sock, Some(Duration::from_secs(10))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = Vec::with_capacity(len);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        // Answer with a short trailer, then close.
        s.write_all(b"done").unwrap();
        got
    });
    let data = pattern(len);
    let t0 = Instant::now();
    let mut c = UtpStream::connect(addr, Duration::from_secs(10)).unwrap();
    assert_eq!(c.state(), Some(State::Connected));
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    for chunk in data.chunks(256 * 1024) {
        c.write_all(chunk).unwrap();
    }
    c.shutdown_write().unwrap();
    let mut tail = Vec::new();
    c.read_to_end(&mut tail).unwrap();
    let elapsed = t0.elapsed();
    if let Some(c) = c.connection() {
        eprintln!("sender: {:?} cwnd {} rtt {:?}", c.stats(), c.cwnd(), c.rtt());
    }
    assert_eq!(tail, b"done");
    let got = server.join().unwrap();
    assert!(got == data, "received {} of {} bytes, or they differ", got.len(), data.len());
    (elapsed, got)
}

#[test]
fn small_exchange() {
    transfer(1);
    transfer(10_000);
}

/// Loopback throughput of the blocking stream (printed on stderr; run with
/// `cargo test --release -p torrent-core --test utp_stream -- --nocapture`).
#[test]
fn loopback_throughput() {
    let len = 64 << 20;
    let (t, _) = transfer(len);
    let mib_s = len as f64 / (1 << 20) as f64 / t.as_secs_f64();
    eprintln!("uTP loopback: {} MiB in {:.3} s = {mib_s:.1} MiB/s", len >> 20, t.as_secs_f64());
    assert!(mib_s > 5.0, "{mib_s:.1} MiB/s");
}

#[test]
fn connect_refused_is_an_error() {
    // A socket that answers nothing: connect gives up within its timeout.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t0 = Instant::now();
    let e = UtpStream::connect(silent.local_addr().unwrap(), Duration::from_millis(1500)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert!(t0.elapsed() < Duration::from_secs(3));
}
