//! The shaping proxy adds its delay each way and holds each direction to
//! its rate, and passes end of stream and byte counts on.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use test_fixtures::shaper::{Shape, Shaper};

/// A server that answers each connection's first byte with `n` bytes, then
/// closes.
fn blaster(n: usize) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                let mut b = [0u8; 1];
                if c.read_exact(&mut b).is_err() {
                    return;
                }
                let buf = vec![b[0]; 65536];
                let mut left = n;
                while left > 0 {
                    let k = left.min(buf.len());
                    if c.write_all(&buf[..k]).is_err() {
                        return;
                    }
                    left -= k;
                }
            });
        }
    });
    addr
}

/// Ask through the proxy; (time to the first byte, time to the end, bytes).
fn fetch(proxy: &Shaper) -> (Duration, Duration, usize) {
    let mut s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let t0 = Instant::now();
    s.write_all(b"a").unwrap();
    let mut buf = vec![0u8; 65536];
    let mut first = None;
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(buf[..n].iter().all(|&b| b == b'a'), "bytes changed on the way");
        first.get_or_insert_with(|| t0.elapsed());
        total += n;
    }
    (first.unwrap(), t0.elapsed(), total)
}

#[test]
fn the_delay_is_added_each_way() {
    let proxy = Shaper::start(blaster(1000), Shape { delay: Duration::from_millis(100), rate: 0 }).unwrap();
    let (first, _, total) = fetch(&proxy);
    assert_eq!(total, 1000);
    // Request 100 ms one way, the answer 100 ms back.
    assert!(first >= Duration::from_millis(200), "first byte after {first:?}");
    assert!(first < Duration::from_secs(5), "first byte after {first:?}");
    assert_eq!(proxy.passed(), 1000);
    assert!(proxy.last_passed_unix() > 1e9);
}

#[test]
fn each_direction_is_held_to_its_rate() {
    let n = 3 << 20;
    let rate = 4 << 20;
    let proxy = Shaper::start(blaster(n), Shape { delay: Duration::from_millis(20), rate }).unwrap();
    let (first, all, total) = fetch(&proxy);
    assert_eq!(total, n);
    let secs = (all - first).as_secs_f64();
    let measured = n as f64 / secs;
    eprintln!("3 MiB at a cap of 4 MiB/s: {secs:.3} s, {:.2} MiB/s", measured / (1 << 20) as f64);
    // Never faster than the cap (less the short burst allowed)...
    assert!(measured < rate as f64 * 1.1, "{measured} B/s over a cap of {rate}");
    // ...and not far below it: the proxy itself must not be the limit.
    assert!(measured > rate as f64 * 0.8, "{measured} B/s under a cap of {rate}");
    assert_eq!(proxy.passed(), n as u64);
}

#[test]
fn a_closed_target_ends_the_client_connection() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (c, _) = l.accept().unwrap();
        drop(c);
    });
    let proxy = Shaper::start(addr, Shape { delay: Duration::from_millis(10), rate: 1 << 20 }).unwrap();
    let mut s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 16];
    assert_eq!(s.read(&mut b).unwrap(), 0, "end of stream passed on");
}
