//! A hostile peer over the extension protocol (BEP 10) on loopback: it
//! handshakes for one info-hash, claims to have everything, never unchokes,
//! and attacks with ut_metadata (BEP 9) or ut_pex (BEP 11) as its
//! [`ExtMode`] says. For the tests of issue 18: whatever it does, an honest
//! peer's metadata and data must still arrive.
//!
//! Plaintext or MSE/PE connections. One thread accepts, one per
//! connection; everything stops on drop.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use torrent_core::mse::{Policy, Responder};
use torrent_core::transport::{self, CipherStream, TransportKind};
use torrent_core::peer::extension::{ExtendedHandshake, MetadataMessage, METADATA_PIECE_SIZE, UT_METADATA};
use torrent_core::peer::pex::{PexMessage, UT_PEX};
use torrent_core::peer::{Decoder, Handshake, Message};
use torrent_core::InfoHash;

/// The ids the hostile peer receives ut_metadata / ut_pex on.
pub const HOSTILE_UT_METADATA: u8 = 3;
pub const HOSTILE_UT_PEX: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtMode {
    /// Announces this `metadata_size` and never answers a request
    /// (keep-alives every 10 s, so it is not idle).
    SilentSize(usize),
    /// Announces the size of `info` and answers requests with its bytes
    /// flipped (the set fails its SHA-1).
    Garbage(Vec<u8>),
    /// Answers every request with a 10-byte piece.
    Short(usize),
    /// Serves these bytes honestly (an info dictionary that matches the
    /// info-hash but may be invalid).
    Serve(Vec<u8>),
    /// Sends `messages` ut_pex messages of `per` (at most 255) dead
    /// loopback addresses (127.2.x.y port 1, where nothing listens), one
    /// every 100 ms.
    PexFlood { messages: usize, per: usize },
}

struct Shared {
    info_hash: InfoHash,
    mode: ExtMode,
    stop: AtomicBool,
    streams: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    requests: AtomicU64,
    pex_sent: AtomicU64,
}

pub struct HostileExtPeer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

impl HostileExtPeer {
    pub fn start(info_hash: InfoHash, mode: ExtMode) -> io::Result<HostileExtPeer> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        l.set_nonblocking(true)?;
        let addr = l.local_addr()?;
        let shared = Arc::new(Shared {
            info_hash,
            mode,
            stop: AtomicBool::new(false),
            streams: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            pex_sent: AtomicU64::new(0),
        });
        let sh = shared.clone();
        let listener = std::thread::spawn(move || {
            while !sh.stop.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        if let Ok(c) = s.try_clone() {
                            sh.streams.lock().unwrap().push(c);
                        }
                        let sh2 = sh.clone();
                        let t = std::thread::spawn(move || {
                            let _ = serve(s, &sh2);
                        });
                        sh.threads.lock().unwrap().push(t);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(HostileExtPeer { addr, shared, listener: Some(listener) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// ut_metadata requests received.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// ut_pex messages sent.
    pub fn pex_sent(&self) -> u64 {
        self.shared.pex_sent.load(Ordering::SeqCst)
    }
}

impl Drop for HostileExtPeer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for s in self.shared.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(h) = self.listener.take() {
            let _ = h.join();
        }
        for t in self.shared.threads.lock().unwrap().drain(..) {
            let _ = t.join();
        }
    }
}

type Stream = CipherStream<TcpStream>;

fn send(s: &mut Stream, m: Message) -> io::Result<()> {
    let mut b = Vec::new();
    m.encode_into(&mut b);
    s.write_all(&b)
}

fn serve(s: TcpStream, sh: &Shared) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    // Plaintext or MSE/PE, as the client dials.
    let responder = Responder::new(Policy::Prefer, [sh.info_hash]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut s, _) = transport::accept(s, TransportKind::Tcp, responder, Some(deadline))?;
    let mut dec = Decoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut read_more = |s: &mut Stream, dec: &mut Decoder| -> io::Result<()> {
        match s.read(&mut buf) {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => dec.feed(&buf[..n]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(()),
            Err(e) => Err(e),
        }
    };
    let bad = |e: torrent_core::peer::ProtocolError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    loop {
        if sh.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if dec.next_handshake().map_err(bad)?.is_some() {
            break;
        }
        read_more(&mut s, &mut dec)?;
    }
    let mut hs = Handshake::new(sh.info_hash, *b"-HX0001-hostilepeer0");
    hs.set_extended(true);
    hs.set_fast(true);
    s.write_all(&hs.encode())?;
    let size = match &sh.mode {
        ExtMode::SilentSize(n) | ExtMode::Short(n) => Some(*n),
        ExtMode::Garbage(b) | ExtMode::Serve(b) => Some(b.len()),
        ExtMode::PexFlood { .. } => None,
    };
    let mut ext = ExtendedHandshake::ours(HOSTILE_UT_METADATA, size, None);
    ext.m.insert(UT_PEX.to_string(), HOSTILE_UT_PEX as i64);
    send(&mut s, Message::Extended { id: 0, payload: ext.encode() })?;
    send(&mut s, Message::HaveNone)?;
    let mut their_metadata = None;
    let mut their_pex = None;
    let mut flooded = 0;
    let mut ticks = 0u64;
    loop {
        if sh.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        while let Some(m) = dec.next_message().map_err(bad)? {
            match m {
                Message::Extended { id: 0, payload } => {
                    if let Ok(h) = ExtendedHandshake::parse(&payload) {
                        their_metadata = h.extension_id(UT_METADATA);
                        their_pex = h.extension_id(UT_PEX);
                    }
                }
                Message::Extended { id: HOSTILE_UT_METADATA, payload } => {
                    let (Ok(MetadataMessage::Request { piece }), Some(id)) = (MetadataMessage::parse(&payload), their_metadata) else {
                        continue;
                    };
                    sh.requests.fetch_add(1, Ordering::SeqCst);
                    let start = piece as usize * METADATA_PIECE_SIZE;
                    let reply = match &sh.mode {
                        ExtMode::SilentSize(_) | ExtMode::PexFlood { .. } => None,
                        ExtMode::Short(n) => Some(MetadataMessage::Data { piece, total_size: *n as u64, data: vec![1; 10] }),
                        ExtMode::Garbage(b) | ExtMode::Serve(b) if start < b.len() => {
                            let mut data = b[start..(start + METADATA_PIECE_SIZE).min(b.len())].to_vec();
                            if matches!(sh.mode, ExtMode::Garbage(_)) {
                                data.iter_mut().for_each(|x| *x ^= 0x5A);
                            }
                            Some(MetadataMessage::Data { piece, total_size: b.len() as u64, data })
                        }
                        _ => Some(MetadataMessage::Reject { piece }),
                    };
                    if let Some(r) = reply {
                        send(&mut s, Message::Extended { id, payload: r.encode() })?;
                    }
                }
                _ => {}
            }
        }
        if let (ExtMode::PexFlood { messages, per }, Some(id)) = (&sh.mode, their_pex) {
            if flooded < *messages {
                let added = (0..(*per).min(255)).map(|i| (SocketAddr::from(([127, 2, flooded as u8, 1 + i as u8], 1)), 0)).collect();
                send(&mut s, Message::Extended { id, payload: PexMessage { added, dropped: vec![], ..Default::default() }.encode() })?;
                sh.pex_sent.fetch_add(1, Ordering::SeqCst);
                flooded += 1;
            }
        }
        ticks += 1;
        if ticks % 100 == 0 {
            send(&mut s, Message::KeepAlive)?;
        }
        read_more(&mut s, &mut dec)?;
    }
}
