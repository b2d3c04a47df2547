//! Embedded seeder on loopback: serves a torrent's payload over the real
//! peer wire protocol (handshake with the extension and fast bits, BEP 10
//! extended handshake with ut_metadata, bitfield or have-all, unchoke on
//! interested, blocks on request, BEP 9 metadata pieces), with switches that
//! make it misbehave so clients' error handling can be tested.
//! Incoming connections may use MSE/PE ([`SeederOptions::encryption`]).
//!
//! One thread accepts, one thread per connection. Everything stops when the
//! [`Seeder`] is dropped: the listener is polled, and open connections are
//! shut down.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use torrent_core::peer::extension::{
    ExtendedHandshake, MetadataMessage, METADATA_PIECE_SIZE, UT_METADATA,
};
use torrent_core::peer::message::piece_header;
use torrent_core::peer::{
    generate_peer_id, Bitfield, BlockRef, Decoder, Event, Handshake, Message, PeerState,
};
use torrent_core::peer::connection::{Policy as ReadPolicy, DEFAULT_MAX_PEER_REQUESTS};
use torrent_core::mse::{Method, Policy, Responder};
use torrent_core::storage::Storage;
use torrent_core::transport::{self, CipherStream, TransportKind};
use torrent_core::Metainfo;

/// The message id on which the seeder receives ut_metadata messages.
/// Deliberately not 1, so clients that confuse their id with ours fail.
pub const SEEDER_UT_METADATA_ID: u8 = 3;

/// How the seeder behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    #[default]
    Honest,
    /// Serves blocks with flipped bytes (pieces fail their SHA-1 check).
    WrongData,
    /// Never unchokes (and grants no allowed-fast pieces).
    ChokeForever,
    /// Throttles block uploads to this many bytes per second.
    Slow(u64),
    /// On the first request, sends half a piece message and disconnects.
    DisconnectMidPiece,
    /// On the first request, announces a 64 MiB piece message.
    OversizedMessage,
    /// Claims every piece (have_all / full bitfield), unchokes, and never
    /// answers a request.
    LyingBitfield,
    /// Besides answering requests honestly, sends blocks nobody requested,
    /// filled with garbage (a pollution attack).
    UnrequestedPieces,
    /// After the handshake sends nothing but keep-alives, as fast as the
    /// peer takes them, and never unchokes.
    KeepAliveFlood,
    /// Sends its handshake one byte every half second (slow-loris).
    SlowLoris,
}

#[derive(Debug, Clone)]
pub struct SeederOptions {
    /// Pieces the seeder has (None: all). Requests for others are rejected
    /// (fast extension) or end the connection.
    pub have: Option<Vec<bool>>,
    pub behaviour: Behaviour,
    /// Set the fast-extension bit (BEP 6).
    pub fast: bool,
    /// Set the extension-protocol bit (BEP 10).
    pub extended: bool,
    /// Answer ut_metadata requests (else reject them).
    pub serve_metadata: bool,
    /// Peer id (None: a fresh one with our client prefix).
    pub peer_id: Option<[u8; 20]>,
    /// MSE/PE on incoming connections: off (plaintext only), prefer
    /// (plaintext or MSE, RC4 selected when offered), require (RC4 only).
    pub encryption: Policy,
    /// Requests a peer may have queued, advertised as `reqq` (more is a
    /// protocol error). None: advertise 250, accept up to 500.
    pub reqq: Option<usize>,
    /// Read the peer's messages with the tolerant policy torrent-get uses
    /// (real clients' quirks, such as aria2c's bitfield after its extended
    /// handshake, pass); else strict, every violation ends the connection.
    pub tolerant: bool,
    /// Kernel send buffer of each connection (None: the system's, which
    /// grows to megabytes on loopback). A small one keeps a slow link's
    /// queue short, so cancels reach requests not yet sent.
    pub send_buffer: Option<usize>,
}

impl Default for SeederOptions {
    fn default() -> Self {
        SeederOptions {
            have: None,
            behaviour: Behaviour::Honest,
            fast: true,
            extended: true,
            serve_metadata: true,
            peer_id: None,
            encryption: Policy::Off,
            reqq: None,
            tolerant: false,
            send_buffer: None,
        }
    }
}

impl SeederOptions {
    pub fn behaviour(b: Behaviour) -> SeederOptions {
        SeederOptions {
            behaviour: b,
            ..Default::default()
        }
    }
}

/// Counters for test assertions.
#[derive(Debug, Default)]
pub struct Stats {
    /// Block payload bytes sent.
    pub bytes_uploaded: AtomicU64,
    pub blocks_uploaded: AtomicU64,
    pub connections: AtomicU64,
    pub metadata_pieces_sent: AtomicU64,
    /// Connections that ended with a protocol error from the peer.
    pub protocol_errors: AtomicU64,
    /// Connections by how their handshake ended: plaintext BitTorrent,
    /// MSE with plaintext selected, MSE with RC4.
    pub plain_connections: AtomicU64,
    pub mse_plaintext_connections: AtomicU64,
    pub rc4_connections: AtomicU64,
}

struct Shared {
    meta: Metainfo,
    data_dir: PathBuf,
    opts: SeederOptions,
    peer_id: [u8; 20],
    port: u16,
    stop: AtomicBool,
    stats: Stats,
    streams: Mutex<std::collections::HashMap<u64, TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    last_error: Mutex<Option<String>>,
}

pub struct Seeder {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

impl Seeder {
    /// Start seeding `meta` with its data under `data_dir` (the download
    /// directory: `data_dir/name`) on 127.0.0.1 with a free port.
    pub fn start(meta: &Metainfo, data_dir: &Path, opts: SeederOptions) -> io::Result<Seeder> {
        if let Some(h) = &opts.have {
            if h.len() != meta.info.piece_count() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "have has {} entries, torrent has {} pieces",
                        h.len(),
                        meta.info.piece_count()
                    ),
                ));
            }
        }
        // Fail early if the data is not there.
        Storage::new(data_dir, &meta.info)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            meta: meta.clone(),
            data_dir: data_dir.to_path_buf(),
            peer_id: opts.peer_id.unwrap_or_else(generate_peer_id),
            opts,
            port: addr.port(),
            stop: AtomicBool::new(false),
            stats: Stats::default(),
            streams: Mutex::new(std::collections::HashMap::new()),
            threads: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
        });
        let sh = shared.clone();
        let handle = std::thread::Builder::new()
            .name("seeder-listen".into())
            .spawn(move || accept_loop(listener, sh))?;
        Ok(Seeder {
            addr,
            shared,
            listener: Some(handle),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn peer_id(&self) -> [u8; 20] {
        self.shared.peer_id
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    pub fn bytes_uploaded(&self) -> u64 {
        self.shared.stats.bytes_uploaded.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> u64 {
        self.shared.stats.connections.load(Ordering::SeqCst)
    }

    pub fn metadata_pieces_sent(&self) -> u64 {
        self.shared
            .stats
            .metadata_pieces_sent
            .load(Ordering::SeqCst)
    }

    /// The last connection error (protocol violation or I/O), if any.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error.lock().unwrap().clone()
    }
}

impl Drop for Seeder {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for (_, s) in self.shared.streams.lock().unwrap().drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(h) = self.listener.take() {
            let _ = h.join();
        }
        let threads: Vec<_> = self.shared.threads.lock().unwrap().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
    while !sh.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let conn_id = sh.stats.connections.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nonblocking(false);
                if let Some(n) = sh.opts.send_buffer {
                    crate::shaper::set_socket_buffer(&stream, libc::SO_SNDBUF, n);
                }
                if let Ok(clone) = stream.try_clone() {
                    sh.streams.lock().unwrap().insert(conn_id, clone);
                }
                let sh2 = sh.clone();
                let t = std::thread::Builder::new()
                    .name("seeder-conn".into())
                    .spawn(move || {
                        let res = serve(stream, &sh2);
                        // Close the socket for good (the map holds a clone).
                        if let Some(s) = sh2.streams.lock().unwrap().remove(&conn_id) {
                            let _ = s.shutdown(Shutdown::Both);
                        }
                        if let Err(e) = res {
                            if e.kind() == io::ErrorKind::InvalidData {
                                sh2.stats.protocol_errors.fetch_add(1, Ordering::SeqCst);
                            }
                            *sh2.last_error.lock().unwrap() = Some(e.to_string());
                        }
                    });
                if let Ok(t) = t {
                    sh.threads.lock().unwrap().push(t);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn peer_state(opts: &SeederOptions, fast: bool, extended: bool) -> PeerState {
    let st = PeerState::new(fast, extended).with_max_peer_requests(opts.reqq.unwrap_or(DEFAULT_MAX_PEER_REQUESTS));
    if opts.tolerant {
        st.with_policy(ReadPolicy::Tolerant { max_unrequested: 2 << 20 })
    } else {
        st
    }
}

fn proto(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

struct Conn<'a> {
    stream: CipherStream<TcpStream>,
    dec: Decoder,
    state: PeerState,
    sh: &'a Shared,
    out: Vec<u8>,
}

impl Conn<'_> {
    fn stopped(&self) -> bool {
        self.sh.stop.load(Ordering::SeqCst)
    }

    fn send(&mut self, m: Message) -> io::Result<()> {
        self.state.on_send(&m);
        self.out.clear();
        m.encode_into(&mut self.out);
        self.stream.write_all(&self.out)
    }

    /// Read more bytes; Ok(false) on a read timeout (so the stop flag can be
    /// checked), error on EOF.
    fn fill(&mut self) -> io::Result<bool> {
        let buf = self.dec.spare(64 * 1024);
        if buf.is_empty() {
            return Err(proto("receive buffer full"));
        }
        match self.stream.read(buf) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed the connection",
            )),
            Ok(n) => {
                self.dec.advance(n);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

impl Conn<'_> {
    /// Read what has arrived without waiting (cancels between blocks).
    fn poll_input(&mut self) -> io::Result<()> {
        self.stream.get_ref().set_nonblocking(true)?;
        let r = self.fill();
        self.stream.get_ref().set_nonblocking(false)?;
        r.map(|_| ())
    }
}

fn serve(stream: TcpStream, sh: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    stream.set_nodelay(true)?;
    let info = &sh.meta.info;
    // Encryption handshake (or plaintext detection), at most 10 s.
    let responder = Responder::new(sh.opts.encryption, [sh.meta.info_hash]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = match transport::accept(stream, TransportKind::Tcp, responder, Some(deadline)) {
        Ok((st, _)) => st,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(()),
        Err(e) if transport::mse_error(&e).is_some() => return Err(proto(e)),
        Err(e) => return Err(e),
    };
    match stream.kind().method {
        Method::Plain => &sh.stats.plain_connections,
        Method::MsePlaintext => &sh.stats.mse_plaintext_connections,
        Method::Rc4 => &sh.stats.rc4_connections,
    }
    .fetch_add(1, Ordering::SeqCst);
    let mut c = Conn {
        stream,
        dec: Decoder::new(),
        state: peer_state(&sh.opts, false, false),
        sh,
        out: Vec::new(),
    };
    // Handshake: wait for the peer's (at most 10 s), check the info-hash.
    let deadline = Instant::now() + Duration::from_secs(10);
    let theirs = loop {
        if let Some(h) = c.dec.next_handshake().map_err(proto)? {
            break h;
        }
        if c.stopped() || Instant::now() > deadline {
            return Ok(());
        }
        c.fill()?;
    };
    theirs.check_info_hash(&sh.meta.info_hash).map_err(proto)?;
    let mut ours = Handshake::new(sh.meta.info_hash, sh.peer_id);
    ours.set_fast(sh.opts.fast);
    ours.set_extended(sh.opts.extended);
    if sh.opts.behaviour == Behaviour::SlowLoris {
        for b in ours.encode() {
            c.stream.write_all(&[b])?;
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until {
                if c.stopped() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        return Ok(());
    }
    c.stream.write_all(&ours.encode())?;
    let fast = ours.supports_fast() && theirs.supports_fast();
    let extended = ours.supports_extended() && theirs.supports_extended();
    c.state = peer_state(&sh.opts, fast, extended);
    c.state
        .set_geometry(info.piece_count(), info.piece_length, info.total_length)
        .map_err(proto)?;

    if extended {
        let mut eh = ExtendedHandshake::ours(
            SEEDER_UT_METADATA_ID,
            Some(sh.meta.info_bytes.len()),
            Some(sh.port),
        );
        eh.v = Some(b"test-fixtures seeder".to_vec().into());
        if let Some(n) = sh.opts.reqq {
            eh.reqq = Some(n as i64);
        }
        eh.e = sh.opts.encryption.extension_e();
        if let Ok(ip) = c.stream.get_ref().peer_addr().map(|a| a.ip()) {
            eh.yourip = Some(match ip {
                std::net::IpAddr::V4(v4) => v4.octets().to_vec().into(),
                std::net::IpAddr::V6(v6) => v6.octets().to_vec().into(),
            });
        }
        c.send(Message::Extended {
            id: 0,
            payload: eh.encode(),
        })?;
    }
    if sh.opts.behaviour == Behaviour::KeepAliveFlood {
        c.stream.get_ref().set_write_timeout(Some(Duration::from_millis(100)))?;
        while !c.stopped() {
            match c.stream.write_all(&[0u8; 4 * 256]) {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(e),
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        return Ok(());
    }
    let have = match &sh.opts.have {
        Some(v) if sh.opts.behaviour != Behaviour::LyingBitfield => Bitfield::from_bools(v),
        _ => Bitfield::full(info.piece_count()),
    };
    if fast && have.is_complete() {
        c.send(Message::HaveAll)?;
    } else if fast && have.is_empty() {
        c.send(Message::HaveNone)?;
    } else {
        c.send(Message::Bitfield(have.to_bytes()))?;
    }

    let mut storage = Storage::new(&sh.data_dir, info).map_err(proto)?;
    let mut block = Vec::new();
    let mut misbehaved = false;
    loop {
        let msg = match c.dec.next_message().map_err(proto)? {
            Some(m) => m,
            None => {
                if c.stopped() {
                    return Ok(());
                }
                // Requests are served one block at a time, in order, with
                // a look at the input between blocks: a cancel drops a
                // request still queued, as real clients do.
                if let Some(b) = c.state.pop_peer_request() {
                    if !serve_request(&mut c, &mut storage, b, &have, fast, &mut block, &mut misbehaved)? {
                        return Ok(());
                    }
                    c.poll_input()?;
                    continue;
                }
                c.fill()?;
                continue;
            }
        };
        match c.state.on_receive(msg).map_err(proto)? {
            Event::Interested
                if sh.opts.behaviour != Behaviour::ChokeForever && c.state.am_choking =>
            {
                c.send(Message::Unchoke)?;
                if sh.opts.behaviour == Behaviour::UnrequestedPieces {
                    send_garbage_blocks(&mut c, 64)?;
                }
            }
            Event::Request(_) if sh.opts.behaviour == Behaviour::LyingBitfield => {
                // Swallow every request: the peer waits in vain.
                while c.state.pop_peer_request().is_some() {}
            }
            Event::RequestWhileChoked(b) if fast => {
                c.send(Message::RejectRequest {
                    index: b.index,
                    begin: b.begin,
                    length: b.length,
                })?;
            }
            Event::Extended { id, payload } if id == SEEDER_UT_METADATA_ID => {
                let Some(their_id) = c
                    .state
                    .ext
                    .as_ref()
                    .and_then(|e| e.extension_id(UT_METADATA))
                else {
                    return Err(proto(
                        "ut_metadata message from a peer that did not enable ut_metadata",
                    ));
                };
                match MetadataMessage::parse(&payload).map_err(proto)? {
                    MetadataMessage::Request { piece } => {
                        let bytes = &sh.meta.info_bytes;
                        let start = piece as usize * METADATA_PIECE_SIZE;
                        let reply = if sh.opts.serve_metadata && start < bytes.len() {
                            let end = (start + METADATA_PIECE_SIZE).min(bytes.len());
                            sh.stats.metadata_pieces_sent.fetch_add(1, Ordering::SeqCst); // before sending
                            MetadataMessage::Data {
                                piece,
                                total_size: bytes.len() as u64,
                                data: bytes[start..end].to_vec(),
                            }
                        } else {
                            MetadataMessage::Reject { piece }
                        };
                        c.send(Message::Extended {
                            id: their_id,
                            payload: reply.encode(),
                        })?;
                    }
                    other => {
                        return Err(proto(format!("unexpected ut_metadata message {other:?}")))
                    }
                }
            }
            _ => {}
        }
    }
}

/// Answer one request (or misbehave on it). Ok(false): the connection is
/// over (the behaviour hung up).
fn serve_request(
    c: &mut Conn<'_>,
    storage: &mut Storage,
    b: BlockRef,
    have: &Bitfield,
    fast: bool,
    block: &mut Vec<u8>,
    misbehaved: &mut bool,
) -> io::Result<bool> {
    let sh = c.sh;
    if !have.get(b.index as usize) {
        if fast {
            c.send(Message::RejectRequest {
                index: b.index,
                begin: b.begin,
                length: b.length,
            })?;
            return Ok(true);
        }
        return Err(proto(format!(
            "peer requested piece {} which we do not have",
            b.index
        )));
    }
    if !*misbehaved {
        match sh.opts.behaviour {
            Behaviour::DisconnectMidPiece => {
                let len = b.length as usize;
                read_block(storage, sh.meta.info.piece_length, b, block)?;
                c.stream.write_all(&piece_header(b.index, b.begin, len))?;
                c.stream.write_all(&block[..len / 2])?;
                c.stream.flush()?;
                let _ = c.stream.get_ref().shutdown(Shutdown::Both);
                return Ok(false);
            }
            Behaviour::OversizedMessage => {
                *misbehaved = true;
                let mut m = (64u32 << 20).to_be_bytes().to_vec();
                m.push(7);
                m.extend_from_slice(&[0u8; 1024]);
                c.stream.write_all(&m)?;
                return Ok(true);
            }
            _ => {}
        }
    }
    send_block(c, storage, b, block)?;
    if sh.opts.behaviour == Behaviour::UnrequestedPieces {
        send_garbage_blocks(c, 2)?;
    }
    Ok(true)
}

/// Blocks at pseudo-random places, never requested, full of garbage.
fn send_garbage_blocks(c: &mut Conn<'_>, n: usize) -> io::Result<()> {
    let info = &c.sh.meta.info;
    let blocks_per_piece = info.piece_length.div_ceil(16384).max(1);
    let mut x = c.sh.port as u64 * 2_654_435_761 + 1;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let index = (x % info.piece_count() as u64) as u32;
        let begin = ((x >> 20) % blocks_per_piece) as u32 * 16384;
        let plen = info.piece_len(index as usize);
        if begin as u64 >= plen {
            continue;
        }
        let len = (plen - begin as u64).min(16384) as usize;
        let data = vec![0xA5u8; len];
        c.stream.write_all(&piece_header(index, begin, len))?;
        c.stream.write_all(&data)?;
    }
    Ok(())
}

fn read_block(
    storage: &mut Storage,
    piece_length: u64,
    b: BlockRef,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    buf.resize(b.length as usize, 0);
    storage.read(b.index as u64 * piece_length + b.begin as u64, buf)
}

fn send_block(
    c: &mut Conn<'_>,
    storage: &mut Storage,
    b: BlockRef,
    block: &mut Vec<u8>,
) -> io::Result<()> {
    let sh = c.sh;
    read_block(storage, sh.meta.info.piece_length, b, block)?;
    if sh.opts.behaviour == Behaviour::WrongData {
        for x in block.iter_mut().step_by(97) {
            *x ^= 0x5a;
        }
    }
    if let Behaviour::Slow(bps) = sh.opts.behaviour {
        // Sleep for the time this block takes at the rate, in small steps.
        let until = Instant::now() + Duration::from_secs_f64(b.length as f64 / bps.max(1) as f64);
        while Instant::now() < until {
            if c.stopped() {
                return Ok(());
            }
            std::thread::sleep(
                Duration::from_millis(10).min(until.saturating_duration_since(Instant::now())),
            );
        }
    }
    // Counted before sending, so a client that has the block sees the count.
    sh.stats
        .bytes_uploaded
        .fetch_add(block.len() as u64, Ordering::SeqCst);
    sh.stats.blocks_uploaded.fetch_add(1, Ordering::SeqCst);
    c.stream
        .write_all(&piece_header(b.index, b.begin, block.len()))?;
    c.stream.write_all(block)?;
    Ok(())
}
