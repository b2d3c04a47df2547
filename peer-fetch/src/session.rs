//! One blocking connection to a peer, driving torrent-core's sans-IO peer
//! modules over a TCP or uTP stream (optionally MSE-encrypted) with
//! per-step timeouts.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use crate::stream::PeerStream;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::metainfo::Info;
use torrent_core::peer::extension::{
    ExtendedHandshake, MetadataAssembler, MetadataMessage, UT_METADATA,
};
use torrent_core::peer::{
    generate_peer_id, Decoder, Event, Handshake, Message, PeerState, Pipeline,
};
use torrent_core::mse::{Attempt, PeerHint, Policy};
use torrent_core::transport::{self, CipherStream, ConnKind, TransportKind};
use torrent_core::{InfoHash, Metainfo};

/// The id on which we receive ut_metadata messages.
pub const OUR_UT_METADATA_ID: u8 = 1;

/// What the peer's first piece-set message said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiecesInfo {
    HaveAll,
    HaveNone,
    Bitfield { set: usize, bytes: usize },
}

pub struct Session {
    pub addr: SocketAddr,
    stream: CipherStream<PeerStream>,
    /// Transport and encryption of the connection.
    pub kind: ConnKind,
    dec: Decoder,
    pub state: PeerState,
    pub theirs: Handshake,
    pub info_hash: InfoHash,
    timeout: Duration,
    out: Vec<u8>,
    /// The first bitfield / have all / have none, and later haves.
    pub pieces_info: Option<PiecesInfo>,
    pub haves: usize,
    /// Block payload bytes received.
    pub bytes_received: u64,
}

/// An encrypted attempt that failed before the peer's BitTorrent
/// handshake arrived (the peer may not speak MSE): worth a plaintext retry.
#[derive(Debug)]
pub struct HandshakeFailed(pub String);

impl std::fmt::Display for HandshakeFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandshakeFailed {}

/// A wait that ran out of time (distinguished from other failures).
#[derive(Debug)]
pub struct TimedOut(pub String);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimedOut {}

pub fn is_timeout(e: &anyhow::Error) -> bool {
    e.downcast_ref::<TimedOut>().is_some()
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

impl Session {
    /// Connect, with encryption as `policy` says: the first attempt, then
    /// (prefer) a plaintext retry on a new connection if the encrypted one
    /// fails before the peer's BitTorrent handshake arrives.
    pub fn connect(
        addr: SocketAddr,
        info_hash: InfoHash,
        info: Option<&Info>,
        metadata_size: Option<usize>,
        timeout: Duration,
        policy: Policy,
        utp: bool,
    ) -> Result<Session> {
        let mut attempt = policy.first_attempt(PeerHint::Unknown);
        loop {
            match Session::connect_once(
                addr, info_hash, info, metadata_size, timeout, policy, utp, attempt,
            )
            {
                Ok(s) => return Ok(s),
                Err(e) => match policy.fallback(attempt) {
                    Some(next) if e.downcast_ref::<HandshakeFailed>().is_some() => {
                        eprintln!(
                            "peer-fetch: {addr}: encrypted handshake failed ({e:#}); retrying in plaintext"
                        );
                        attempt = next;
                    }
                    _ => return Err(e),
                },
            }
        }
    }

    /// One connection: optional MSE handshake, then exchange BitTorrent
    /// handshakes (ours advertises the extension protocol and the fast
    /// extension) and send our extended handshake.
    fn connect_once(
        addr: SocketAddr,
        info_hash: InfoHash,
        info: Option<&Info>,
        metadata_size: Option<usize>,
        timeout: Duration,
        policy: Policy,
        utp: bool,
        attempt: Attempt,
    ) -> Result<Session> {
        let mut tcp = PeerStream::connect(addr, timeout, utp).with_context(|| {
            format!("connecting to {addr}{}", if utp { " over uTP" } else { "" })
        })?;
        let transport_kind = if utp { TransportKind::Utp } else { TransportKind::Tcp };
        let ours = Handshake::new(info_hash, generate_peer_id());
        let deadline = Instant::now() + timeout;
        let (stream, handshake_sent) = match attempt {
            Attempt::Plain => (CipherStream::plain(tcp, transport_kind), false),
            Attempt::Mse => {
                tcp.set_read_timeout(Some(timeout.min(Duration::from_millis(500))))?;
                // Our BitTorrent handshake rides in the MSE initial payload.
                let st = transport::connect(
                    tcp,
                    transport_kind,
                    info_hash,
                    policy.provide(),
                    &ours.encode(),
                    Some(deadline),
                )
                .map_err(|e| anyhow!(HandshakeFailed(format!("{e}"))))?;
                if !policy.allows(st.kind().method) {
                    bail!(
                        "peer selected {}, which --encrypt {policy} does not allow",
                        st.kind().method
                    );
                }
                (st, true)
            }
        };
        let kind = stream.kind();
        let mut s = Session {
            addr,
            stream,
            kind,
            dec: Decoder::new(),
            state: PeerState::new(false, false),
            theirs: ours,
            info_hash,
            timeout,
            out: Vec::new(),
            pieces_info: None,
            haves: 0,
            bytes_received: 0,
        };
        if !handshake_sent {
            s.stream
                .write_all(&ours.encode())
                .context("sending the handshake")?;
        }
        let theirs = loop {
            match s.dec.next_handshake() {
                Ok(Some(h)) => break h,
                Ok(None) => {}
                Err(e) if handshake_sent => bail!(HandshakeFailed(format!("{e}"))),
                Err(e) => bail!("{e}"),
            }
            match s.fill(deadline, "the peer's handshake") {
                Ok(()) => {}
                Err(e) if handshake_sent => bail!(HandshakeFailed(format!("{e:#}"))),
                Err(e) => return Err(e),
            }
        };
        theirs
            .check_info_hash(&info_hash)
            .map_err(|e| anyhow!("{e}"))?;
        s.theirs = theirs;
        let fast = theirs.supports_fast();
        let extended = theirs.supports_extended();
        s.state = PeerState::new(fast, extended);
        if let Some(info) = info {
            s.set_info(info)?;
        }
        if extended {
            let mut eh = ExtendedHandshake::ours(OUR_UT_METADATA_ID, metadata_size, None);
            eh.e = policy.extension_e();
            s.send(Message::Extended {
                id: 0,
                payload: eh.encode(),
            })?;
        }
        Ok(s)
    }

    /// The torrent's shape is known (from the start or after a metadata fetch).
    pub fn set_info(&mut self, info: &Info) -> Result<()> {
        self.state
            .set_geometry(info.piece_count(), info.piece_length, info.total_length)
            .map_err(|e| anyhow!("{e}"))
    }

    /// Read more bytes before `deadline`.
    fn fill(&mut self, deadline: Instant, what: &str) -> Result<()> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(TimedOut(format!(
                    "timed out after {} s waiting for {what}",
                    secs(self.timeout)
                ))
                .into());
            }
            self.stream
                .get_mut()
                .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))?;
            let buf = self.dec.spare(64 * 1024);
            if buf.is_empty() {
                bail!("receive buffer full (internal error)");
            }
            match self.stream.read(buf) {
                Ok(0) => {
                    let n = self.dec.buffered();
                    if n > 0 {
                        bail!("peer closed the connection in the middle of a message ({n} bytes of it received) while we waited for {what}");
                    }
                    bail!("peer closed the connection while we waited for {what}");
                }
                Ok(n) => {
                    self.dec.advance(n);
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    return Err(
                        anyhow!(e).context(format!("reading from the peer (waiting for {what})"))
                    )
                }
            }
        }
    }

    pub fn send(&mut self, m: Message) -> Result<()> {
        self.send_all(std::iter::once(m))
    }

    /// Send messages in one write.
    pub fn send_all(&mut self, ms: impl IntoIterator<Item = Message>) -> Result<()> {
        self.out.clear();
        for m in ms {
            self.state.on_send(&m);
            m.encode_into(&mut self.out);
        }
        if self.out.is_empty() {
            return Ok(());
        }
        self.stream
            .write_all(&self.out)
            .context("sending to the peer")
    }

    /// The next event from the peer, before `deadline`.
    pub fn recv(&mut self, deadline: Instant, what: &str) -> Result<Event> {
        loop {
            match self.dec.next_message() {
                Ok(Some(m)) => {
                    match &m {
                        Message::HaveAll if self.pieces_info.is_none() => {
                            self.pieces_info = Some(PiecesInfo::HaveAll)
                        }
                        Message::HaveNone if self.pieces_info.is_none() => {
                            self.pieces_info = Some(PiecesInfo::HaveNone)
                        }
                        Message::Bitfield(b) if self.pieces_info.is_none() => {
                            self.pieces_info = Some(PiecesInfo::Bitfield {
                                set: b.iter().map(|x| x.count_ones() as usize).sum(),
                                bytes: b.len(),
                            })
                        }
                        Message::Have(_) => self.haves += 1,
                        _ => {}
                    }
                    let ev = self
                        .state
                        .on_receive(m)
                        .map_err(|e| anyhow!("protocol violation by the peer: {e}"))?;
                    if let Event::Block { data, .. } = &ev {
                        self.bytes_received += data.len() as u64;
                    }
                    return Ok(ev);
                }
                Ok(None) => self.fill(deadline, what)?,
                Err(e) => bail!("protocol error from the peer: {e}"),
            }
        }
    }

    /// Read messages until the peer's extended handshake (if it set the
    /// extension bit) and its piece set have arrived, or `deadline`.
    pub fn collect_intro(&mut self, deadline: Instant) -> Result<()> {
        loop {
            let ext_done = !self.state.extended || self.state.ext.is_some();
            if ext_done && self.pieces_info.is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Ok(());
            }
            match self.recv(deadline, "the peer's introduction") {
                Ok(_) => {}
                // Quiet peers (no pieces, no fast extension) may send nothing.
                Err(e) if is_timeout(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Fetch the info dictionary with ut_metadata (BEP 9) and check it
    /// against the info-hash.
    pub fn fetch_metadata(&mut self, trackers: Vec<Vec<String>>) -> Result<Metainfo> {
        if !self.state.extended {
            bail!(
                "peer does not support the extension protocol (BEP 10), so it cannot send metadata"
            );
        }
        let mut deadline = Instant::now() + self.timeout;
        while self.state.ext.is_none() {
            self.recv(deadline, "the peer's extended handshake")?;
        }
        let ext = self.state.ext.clone().expect("checked");
        let their_id = ext
            .extension_id(UT_METADATA)
            .ok_or_else(|| anyhow!("peer does not offer ut_metadata (BEP 9)"))?;
        let size = ext
            .metadata_size
            .ok_or_else(|| anyhow!("peer offers ut_metadata but sent no metadata_size"))?;
        let mut asm = MetadataAssembler::new(self.info_hash, size).map_err(|e| anyhow!("{e}"))?;
        let mut outstanding = 0;
        loop {
            let mut reqs = Vec::new();
            while outstanding < 8 {
                let Some(piece) = asm.next_request() else {
                    break;
                };
                reqs.push(Message::Extended {
                    id: their_id,
                    payload: MetadataMessage::Request { piece }.encode(),
                });
                outstanding += 1;
            }
            self.send_all(reqs)?;
            if let Event::Extended {
                id: OUR_UT_METADATA_ID,
                payload,
            } = self.recv(deadline, "metadata pieces")?
            {
                match MetadataMessage::parse(&payload).map_err(|e| anyhow!("{e}"))? {
                    MetadataMessage::Data {
                        piece,
                        total_size,
                        data,
                    } => {
                        outstanding -= 1;
                        deadline = Instant::now() + self.timeout;
                        if asm
                            .add_piece(piece, total_size, &data)
                            .map_err(|e| anyhow!("{e}"))?
                        {
                            return asm
                                .finish(trackers)
                                .map_err(|e| anyhow!("bad metadata from the peer: {e}"));
                        }
                    }
                    MetadataMessage::Reject { piece } => {
                        bail!("peer rejected our request for metadata piece {piece}")
                    }
                    MetadataMessage::Request { piece } => {
                        // We have nothing to offer yet.
                        self.send(Message::Extended {
                            id: their_id,
                            payload: MetadataMessage::Reject { piece }.encode(),
                        })?;
                    }
                }
            }
        }
    }

    /// Download `pieces` (in this order) with up to `depth` block requests
    /// in flight. Each piece is SHA-1 checked; verified pieces are handed to
    /// `sink` in the order given. A piece that fails its check is an error
    /// and never reaches `sink`.
    pub fn fetch_pieces(
        &mut self,
        info: &Info,
        pieces: &[u32],
        depth: usize,
        sink: &mut dyn FnMut(u32, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        if pieces.is_empty() {
            return Ok(());
        }
        // Learn which pieces the peer has.
        let deadline = Instant::now() + self.timeout;
        while self.state.peer_pieces().is_none() {
            match self.recv(deadline, "the peer's bitfield") {
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    bail!(
                        "peer did not say which pieces it has within {} s",
                        secs(self.timeout)
                    )
                }
                Err(e) => return Err(e),
            }
        }
        let have = self.state.peer_pieces().expect("checked");
        let missing: Vec<u32> = pieces
            .iter()
            .copied()
            .filter(|&i| !have.get(i as usize))
            .collect();
        if !missing.is_empty() {
            bail!(
                "peer does not have piece{} {} (it has {}/{})",
                if missing.len() == 1 { "" } else { "s" },
                summarize(&missing),
                have.count(),
                have.num_pieces()
            );
        }
        self.send(Message::Interested)?;
        let mut pipeline = Pipeline::new(
            pieces
                .iter()
                .map(|&i| (i, info.piece_len(i as usize) as u32)),
            depth,
        );
        // Verified pieces waiting for earlier ones, to emit in order.
        let mut ready: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        let position: std::collections::HashMap<u32, usize> =
            pieces.iter().enumerate().map(|(p, &i)| (i, p)).collect();
        let mut next_out = 0usize;
        let mut deadline = Instant::now() + self.timeout;
        let mut rejects_unchoked = 0u32;
        while !pipeline.is_done() {
            let state = &self.state;
            let reqs = pipeline.next_requests(|i| state.can_request(i));
            self.send_all(reqs.into_iter().map(|b| Message::Request {
                index: b.index,
                begin: b.begin,
                length: b.length,
            }))?;
            let what = if self.state.peer_choking && pipeline.outstanding() == 0 {
                "the peer to unchoke us"
            } else {
                "blocks"
            };
            let ev = match self.recv(deadline, what) {
                Err(e) if is_timeout(&e) && self.state.peer_choking => {
                    bail!("peer kept us choked for {} s", secs(self.timeout))
                }
                other => other?,
            };
            match ev {
                Event::Block { index, begin, data } => {
                    deadline = Instant::now() + self.timeout;
                    let Some(done) = pipeline
                        .on_block(index, begin, &data)
                        .map_err(|e| anyhow!("protocol violation by the peer: {e}"))?
                    else {
                        continue;
                    };
                    let i = done.index();
                    if !done.verify(&info.pieces[i as usize]) {
                        bail!("piece {i} from the peer failed its SHA-1 check (bad data; not written)");
                    }
                    ready.insert(position[&i], done.into_data());
                    while let Some(data) = ready.remove(&next_out) {
                        sink(pieces[next_out], data)?;
                        next_out += 1;
                    }
                }
                // BEP 3: without the fast extension a choke voids every
                // outstanding request.
                Event::Choked { .. } if !self.state.fast => pipeline.requeue_all(),
                Event::Rejected(b) => {
                    pipeline.on_reject(b);
                    if !self.state.peer_choking {
                        rejects_unchoked += 1;
                        if rejects_unchoked > 64 {
                            bail!(
                                "peer keeps rejecting our requests (last: piece {} offset {})",
                                b.index,
                                b.begin
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// "3", "1, 4, 7" or "1, 4, 7 and 12 more".
pub fn summarize(v: &[u32]) -> String {
    let head: Vec<String> = v.iter().take(8).map(|i| i.to_string()).collect();
    if v.len() > 8 {
        format!("{} and {} more", head.join(", "), v.len() - 8)
    } else {
        head.join(", ")
    }
}
