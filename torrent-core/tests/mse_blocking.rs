//! MSE over real loopback TCP with the blocking adapter.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use torrent_core::mse::{CryptoSet, Method, MseError, Policy, Responder};
use torrent_core::peer::Handshake;
use torrent_core::transport::{self, mse_error, TransportKind};
use torrent_core::InfoHash;

const IH: InfoHash = InfoHash([0x5a; 20]);

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

type Seen = std::io::Result<(Method, Option<InfoHash>, Vec<u8>)>;

/// A listener thread that accepts one connection with `policy`, reads
/// the 68-byte handshake, echoes `n` bytes back after sending its own
/// data, and returns what it saw.
fn server(
    policy: Policy,
    n: usize,
) -> (std::net::SocketAddr, std::thread::JoinHandle<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept()?;
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let r = Responder::new(policy, [InfoHash([1; 20]), IH]);
        let (mut st, ih) = transport::accept(s, TransportKind::Tcp, r, Some(deadline))?;
        st.get_ref().set_read_timeout(None)?;
        let mut hs = [0u8; 68];
        st.read_exact(&mut hs)?;
        let h = Handshake::parse(&hs).unwrap();
        assert_eq!(h.info_hash, IH);
        st.write_all(&data(n, 7))?;
        let mut back = vec![0u8; n];
        st.read_exact(&mut back)?;
        Ok((st.kind().method, ih, back))
    });
    (addr, t)
}

#[test]
fn rc4_round_trip_over_tcp() {
    let n = 3 << 20;
    for (policy, provide, method) in [
        (Policy::Prefer, CryptoSet::BOTH, Method::Rc4),
        (Policy::Require, CryptoSet::RC4, Method::Rc4),
        (Policy::Prefer, CryptoSet::PLAINTEXT, Method::MsePlaintext),
    ] {
        let (addr, t) = server(policy, n);
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let hs = Handshake::new(IH, [b'x'; 20]).encode();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut st =
            transport::connect(s, TransportKind::Tcp, IH, provide, &hs, Some(deadline)).unwrap();
        assert_eq!(st.kind().method, method);
        st.get_ref().set_read_timeout(None).unwrap();
        let mut got = vec![0u8; n];
        st.read_exact(&mut got).unwrap();
        assert!(got == data(n, 7), "data from the responder");
        st.write_all(&data(n, 9)).unwrap();
        let (m, ih, back) = t.join().unwrap().unwrap();
        assert_eq!((m, ih), (method, Some(IH)));
        assert!(back == data(n, 9), "data from the initiator");
    }
}

#[test]
fn plaintext_peers_by_policy() {
    // Prefer (and Off) accept a plaintext handshake.
    for policy in [Policy::Prefer, Policy::Off] {
        let (addr, t) = server(policy, 1000);
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&Handshake::new(IH, [b'y'; 20]).encode()).unwrap();
        let mut got = vec![0u8; 1000];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, data(1000, 7));
        s.write_all(&data(1000, 1)).unwrap();
        let (m, ih, back) = t.join().unwrap().unwrap();
        assert_eq!((m, ih), (Method::Plain, None));
        assert_eq!(back, data(1000, 1));
    }
    // Require refuses it.
    let (addr, t) = server(Policy::Require, 10);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&Handshake::new(IH, [b'y'; 20]).encode()).unwrap();
    let e = t.join().unwrap().unwrap_err();
    assert_eq!(mse_error(&e), Some(&MseError::PlaintextRefused), "{e}");
}

#[test]
fn wrong_info_hash_and_silent_peers() {
    let (addr, t) = server(Policy::Prefer, 10);
    let s = TcpStream::connect(addr).unwrap();
    let deadline = Some(Instant::now() + Duration::from_secs(10));
    let other = InfoHash([0xee; 20]);
    let r = std::thread::spawn(move || {
        transport::connect(s, TransportKind::Tcp, other, CryptoSet::BOTH, b"", deadline)
    });
    let e = t.join().unwrap().unwrap_err();
    assert_eq!(mse_error(&e), Some(&MseError::UnknownInfoHash));
    // The listener hung up: the dialer sees the connection end.
    let e = r.join().unwrap().unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "{e}"
    );
    // A listener that says nothing: the deadline holds.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let t0 = Instant::now();
    let e = transport::connect(
        s,
        TransportKind::Tcp,
        IH,
        CryptoSet::RC4,
        b"",
        Some(Instant::now() + Duration::from_millis(300)),
    )
    .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert!(t0.elapsed() < Duration::from_secs(3));
    drop(l);
}

#[test]
fn hostile_dialers_are_bounded() {
    // Sends a public key and then nothing: the listener's deadline holds.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut ya = [0u8; 96];
    ya[95] = 5;
    c.write_all(&ya).unwrap();
    let t0 = Instant::now();
    let r = Responder::new(Policy::Prefer, [IH]);
    let e = transport::accept(
        s,
        TransportKind::Tcp,
        r,
        Some(Instant::now() + Duration::from_millis(300)),
    )
    .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    assert!(t0.elapsed() < Duration::from_secs(3));
    // The listener answered with its own key (and padding) before that.
    let mut yb = [0u8; 96];
    c.read_exact(&mut yb).unwrap();

    // Endless padding: refused after the 512-byte window, not read forever.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let writer = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        let junk = vec![0x77u8; 64 * 1024];
        let mut sent = 0usize;
        for _ in 0..2048 {
            match c.write_all(&junk) {
                Ok(()) => sent += junk.len(),
                Err(_) => break,
            }
        }
        sent
    });
    let (s, _) = l.accept().unwrap();
    let r = Responder::new(Policy::Require, [IH]);
    let e = transport::accept(s, TransportKind::Tcp, r, None).unwrap_err();
    assert!(
        matches!(mse_error(&e), Some(MseError::SyncNotFound { .. })),
        "{e}"
    );
    // The writer is cut off well before its 128 MiB (what it got rid of is
    // at most what the loopback socket buffers hold: tcp_rmem max + tcp_wmem max).
    let sent = writer.join().unwrap();
    assert!(sent < 48 << 20, "{sent} bytes accepted");
}
