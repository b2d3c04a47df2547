//! Streaming one file of a torrent (`torrent-get --stdout`): its bytes leave
//! strictly in order, and only once the pieces that hold them are verified.
//!
//! Policy, sans-IO like the rest of the engine:
//! - a *window* of pieces from the read position on is requested first (the
//!   first two of them one by one, in order; then the rest of the window),
//!   and the remaining wanted pieces rarest-first beyond it (unless
//!   `no_save`: then nothing beyond the window is fetched, since it could not
//!   be kept);
//! - each window piece gets a *deadline* when first requested
//!   ([`DEADLINE_FIRST`] plus [`DEADLINE_STEP`] per piece of distance from the
//!   read position); a block still outstanding past its piece's deadline is
//!   requested once more from the fastest other peer that has the piece and
//!   does not choke us (the first copy to arrive wins, the other peer gets a
//!   cancel);
//! - verified bytes at the read position are handed to the caller as
//!   [`Action::StreamData`]: read back through the disk thread (its jobs run
//!   in order, so the piece's writes are done), or with `no_save` straight
//!   from the piece buffers kept here, which are the only copy of the data:
//!   no write reaches the disk and uploads are refused;
//! - the caller reports how much it still has to write
//!   ([`Input::StreamBacklog`](super::Input::StreamBacklog)); nothing more is
//!   emitted above [`StreamSpec::buffer`] / 4, and the window does not move
//!   on, so memory stays bounded by the window plus that backlog.

use super::{Action, Engine, Lifecycle, PeerKey, Report, TorrentId};
use crate::disk::DiskJob;
use crate::hasher::HashJob;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use torrent_core::peer::connection::PeerState;
use torrent_core::peer::message::Message;
use torrent_core::picker::{Block, Picker};
use torrent_core::Info;

/// The disk reads of the stream carry this peer key (no peer has it).
pub const STREAM_READER: PeerKey = usize::MAX;
/// Deadline of the window piece at the read position, from its first request.
pub const DEADLINE_FIRST: Duration = Duration::from_millis(600);
/// Added per piece of distance from the read position.
pub const DEADLINE_STEP: Duration = Duration::from_millis(250);
/// A block is re-requested only if its request is at least this old.
pub const MIN_REREQUEST_AGE: Duration = Duration::from_millis(300);
/// Late blocks are looked for at most this often (on blocks and ticks).
pub const LATE_CHECK_EVERY: Duration = Duration::from_millis(100);
/// A peer slower than the fastest one by this factor gets no window piece
/// (only pieces beyond it; with no_save, nothing).
pub const SLOW_FACTOR: f64 = 4.0;
/// Window bounds, in pieces.
pub const MIN_WINDOW: u64 = 2;
pub const MAX_WINDOW: u64 = 64;
/// Default buffer (window plus backlog), bytes.
pub const DEFAULT_BUFFER: u64 = 16 * 1024 * 1024;

/// Which file to stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChoice {
    /// The torrent's only file (an error for multi-file torrents).
    Only,
    /// 0-based index in the file list.
    Index(usize),
    /// The file's path below the torrent's root ("dir/name") or its name,
    /// if only one file has it.
    Name(String),
}

#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub file: FileChoice,
    /// Keep nothing on disk: only the piece buffers of the window.
    pub no_save: bool,
    /// Bytes of window (pieces ahead of the read position) plus output
    /// backlog allowed.
    pub buffer: u64,
}

struct Req {
    peer: PeerKey,
    at: Instant,
    /// The second peer asked, and when.
    dup: Option<(PeerKey, Instant)>,
}

/// A piece being assembled in memory (no_save).
struct PieceBuf {
    data: Vec<u8>,
    got: Vec<bool>,
}

pub struct Stream {
    pub torrent: TorrentId,
    pub spec: StreamSpec,
    /// The file's bytes as torrent offsets `[start, end)`, once known.
    pub range: Option<(u64, u64)>,
    pub file_index: Option<usize>,
    /// Next byte (torrent offset) to hand to the caller.
    pub pos: u64,
    /// Bytes handed to the caller and not yet written, as it reported.
    pub backlog: u64,
    /// A disk read for the stream is in flight.
    reading: bool,
    assembling: HashMap<u32, PieceBuf>,
    verified: HashMap<u32, Arc<Vec<u8>>>,
    requests: HashMap<(u32, u32), Req>,
    deadlines: HashMap<u32, Instant>,
    /// Blocks requested a second time because their piece was late.
    pub rerequests: u64,
    /// Bytes handed out in total.
    pub emitted: u64,
    /// Most bytes held in piece buffers at once (no_save).
    pub peak_buffered: u64,
    pub error: Option<String>,
    piece_length: u64,
    last_report: Option<Instant>,
    last_late_check: Option<Instant>,
    /// The fastest peer's download rate, bytes/s (updated every tick).
    pub fastest: f64,
}

/// Resolve the file choice against the metadata: its index.
pub fn resolve(info: &Info, choice: &FileChoice) -> Result<usize, String> {
    let files: Vec<(usize, &torrent_core::metainfo::FileEntry)> =
        info.files.iter().enumerate().filter(|(_, f)| !f.padding).collect();
    match choice {
        FileChoice::Only => {
            if files.len() == 1 {
                Ok(files[0].0)
            } else {
                Err(format!("--stdout: the torrent has {} files: choose one with --file N or --file NAME", files.len()))
            }
        }
        // `Index(i)` is file number i + 1 as torrent-info lists them
        // (torrent_core::select: padding files are never numbered).
        FileChoice::Index(i) => torrent_core::select::index_of_number(info, i + 1).ok_or_else(|| {
            format!("--file {}: the torrent has {} files", i + 1, files.len())
        }),
        FileChoice::Name(n) => {
            let full: Vec<usize> = files.iter().filter(|(_, f)| f.path.join("/") == *n).map(|(i, _)| *i).collect();
            if full.len() == 1 {
                return Ok(full[0]);
            }
            let base: Vec<usize> = files.iter().filter(|(_, f)| f.path.last().is_some_and(|l| l == n)).map(|(i, _)| *i).collect();
            match base.len() {
                1 => Ok(base[0]),
                0 => Err(format!("--file {n:?}: no such file in the torrent")),
                k => Err(format!("--file {n:?}: {k} files have that name: give the path or the number")),
            }
        }
    }
}

impl Stream {
    pub fn new(torrent: TorrentId, spec: StreamSpec) -> Stream {
        Stream {
            torrent,
            spec,
            range: None,
            file_index: None,
            pos: 0,
            backlog: 0,
            reading: false,
            assembling: HashMap::new(),
            verified: HashMap::new(),
            requests: HashMap::new(),
            deadlines: HashMap::new(),
            rerequests: 0,
            emitted: 0,
            peak_buffered: 0,
            error: None,
            piece_length: 1,
            last_report: None,
            last_late_check: None,
            fastest: 0.0,
        }
    }

    /// Window blocks whose request is being watched.
    pub fn requests_len(&self) -> usize {
        self.requests.len()
    }

    /// Every byte of the file was handed out.
    pub fn done(&self) -> bool {
        self.range.is_some_and(|(_, end)| self.pos >= end)
    }

    fn set_file(&mut self, info: &Info, index: usize) {
        let f = &info.files[index];
        self.file_index = Some(index);
        self.range = Some((f.offset, f.offset + f.length));
        self.pos = f.offset;
        self.piece_length = info.piece_length;
    }

    /// Pieces in the window: `[first, end)`.
    pub fn window(&self) -> Option<(u32, u32)> {
        let (_, end) = self.range?;
        if self.pos >= end {
            return None;
        }
        let plen = self.piece_length;
        let first = self.pos / plen;
        let last = (end - 1) / plen;
        let n = (self.spec.buffer / 2 / plen).clamp(MIN_WINDOW, MAX_WINDOW);
        Some((first as u32, (first + n).min(last + 1) as u32))
    }

    fn max_backlog(&self) -> u64 {
        (self.spec.buffer / 4).max(self.piece_length)
    }

    /// Bytes verified and contiguous from the read position (not yet handed
    /// out), for the progress line.
    pub fn ahead(&self, picker: &Picker) -> u64 {
        let Some((_, end)) = self.range else { return 0 };
        let mut at = self.pos;
        while at < end {
            let i = (at / self.piece_length) as u32;
            if !picker.has(i) {
                break;
            }
            at = ((i as u64 + 1) * self.piece_length).min(end);
        }
        at - self.pos
    }
}

/// Most blocks outstanding at a peer while streaming: what it sends in
/// [`QUEUE_TIME`] at its rate (at least [`MIN_STREAM_DEPTH`]).
pub fn stream_depth(rate: f64) -> usize {
    ((rate * QUEUE_TIME.as_secs_f64() / torrent_core::picker::BLOCK_SIZE as f64) as usize).max(MIN_STREAM_DEPTH)
}
pub const QUEUE_TIME: Duration = Duration::from_millis(300);
pub const MIN_STREAM_DEPTH: usize = 6;

/// Pick blocks for a peer: the head of the window in order, then pieces on
/// `parole` it may take, then the window, then (unless `window_only`)
/// anything, rarest first; never a `barred` piece (on parole, another
/// peer's). A `slow` peer skips the window (and, `window_only`, gets
/// nothing).
#[allow(clippy::too_many_arguments)]
pub fn pick(
    picker: &mut Picker,
    window: (u32, u32),
    window_only: bool,
    slow: bool,
    (barred, parole): (&[u32], &[u32]),
    key: PeerKey,
    st: &PeerState,
    want: usize,
    rng: &mut impl Rng,
) -> Vec<Block> {
    let (a, b) = window;
    let mut out = Vec::new();
    // Pieces on parole that another peer downloads alone are skipped.
    let st = &Unbarred { st, barred };
    if slow {
        if !window_only {
            return picker.pick(key, |j| (j < a as usize || j >= b as usize) && st.can_request(j as u32), want, rng);
        }
        // Nothing to fetch beyond the window: a slow peer would only hold
        // window pieces back (its blocks still outstanding are re-asked).
        return out;
    }
    for i in a..b.min(a + 2) {
        if out.len() >= want {
            return out;
        }
        let more = picker.pick(key, |j| j == i as usize && st.can_request(i), want - out.len(), rng);
        out.extend(more);
    }
    // Then pieces on parole (one peer each), so the liar is known soon.
    if !parole.is_empty() && out.len() < want {
        let inside = |j: usize| !window_only || (j >= a as usize && j < b as usize);
        let more = picker.pick(key, |j| parole.contains(&(j as u32)) && inside(j) && st.can_request(j as u32), want - out.len(), rng);
        out.extend(more);
    }
    // Then growing stretches of the window: nearer pieces first.
    for span in [4, 16, u32::MAX] {
        if out.len() >= want {
            return out;
        }
        let e = b.min(a.saturating_add(span));
        let more = picker.pick(key, |j| j >= a as usize && j < e as usize && st.can_request(j as u32), want - out.len(), rng);
        out.extend(more);
    }
    if !window_only && out.len() < want {
        let more = picker.pick(key, |j| st.can_request(j as u32), want - out.len(), rng);
        out.extend(more);
    }
    out
}

/// `PeerState::can_request`, minus the pieces barred to this peer.
struct Unbarred<'a> {
    st: &'a PeerState,
    barred: &'a [u32],
}

impl Unbarred<'_> {
    fn can_request(&self, piece: u32) -> bool {
        self.st.can_request(piece) && !self.barred.contains(&piece)
    }
}

impl Engine {
    /// Stream one file of torrent `tid` (see the module documentation). With
    /// metadata known the file is checked now; for a magnet, once fetched.
    pub fn stream_file(&mut self, tid: TorrentId, spec: StreamSpec) -> Result<(), String> {
        let mut s = Stream::new(tid, spec);
        let Some(t) = self.torrents.get_mut(tid).and_then(|t| t.as_mut()) else { return Err("no such torrent".into()) };
        if let Some(meta) = t.life.meta() {
            let i = resolve(&meta.info, &s.spec.file)?;
            s.set_file(&meta.info, i);
            t.select = Some(vec![i]);
        }
        self.stream = Some(s);
        Ok(())
    }

    /// The stream of `tid`, if it is streamed.
    pub fn stream(&self) -> Option<&Stream> {
        self.stream.as_ref()
    }

    /// No data is kept on disk for `tid`.
    pub(crate) fn stream_no_save(&self, tid: TorrentId) -> bool {
        self.stream.as_ref().is_some_and(|s| s.torrent == tid && s.spec.no_save)
    }

    /// Metadata arrived (magnet): choose the file. False: the torrent failed.
    pub(crate) fn stream_metadata(&mut self, tid: TorrentId, info: &Info) -> bool {
        let Some(s) = self.stream.as_mut().filter(|s| s.torrent == tid && s.range.is_none()) else { return true };
        match resolve(info, &s.spec.file) {
            Ok(i) => {
                s.set_file(info, i);
                if let Some(t) = self.torrents[tid].as_mut() {
                    t.select = Some(vec![i]);
                }
                true
            }
            Err(e) => {
                s.error = Some(e.clone());
                self.fail_torrent(tid, e);
                false
            }
        }
    }

    /// Blocks just requested from `key`: window pieces get their deadline.
    pub(crate) fn stream_requested(&mut self, tid: TorrentId, key: PeerKey, blocks: &[Block], now: Instant) {
        let Some(s) = self.stream.as_mut().filter(|s| s.torrent == tid) else { return };
        let Some((a, b)) = s.window() else { return };
        for bl in blocks {
            if bl.index < a || bl.index >= b {
                continue;
            }
            let distance = bl.index - a;
            s.deadlines.entry(bl.index).or_insert(now + DEADLINE_FIRST + DEADLINE_STEP * distance);
            s.requests.entry((bl.index, bl.begin)).or_insert(Req { peer: key, at: now, dup: None });
        }
    }

    /// An accepted block. With `no_save` the engine keeps it (true: the
    /// caller must not write it); a complete piece goes to the hash thread
    /// whole, so its verdict never needs the disk.
    pub(crate) fn stream_block(&mut self, tid: TorrentId, block: Block, data: &[u8], piece_len: u32, complete: Option<[u8; 20]>) -> bool {
        let Some(s) = self.stream.as_mut().filter(|s| s.torrent == tid) else { return false };
        s.requests.remove(&(block.index, block.begin));
        if !s.spec.no_save {
            return false;
        }
        let buf = s.assembling.entry(block.index).or_insert_with(|| PieceBuf {
            data: vec![0; piece_len as usize],
            got: vec![false; (piece_len as usize).div_ceil(torrent_core::picker::BLOCK_SIZE as usize)],
        });
        let at = block.begin as usize;
        buf.data[at..at + data.len()].copy_from_slice(data);
        buf.got[at / torrent_core::picker::BLOCK_SIZE as usize] = true;
        let held: u64 = s.assembling.values().map(|b| b.data.len() as u64).sum::<u64>() + s.verified.values().map(|d| d.len() as u64).sum::<u64>();
        s.peak_buffered = s.peak_buffered.max(held);
        if let Some(expected) = complete {
            let buf = s.assembling.remove(&block.index).expect("just inserted");
            debug_assert!(buf.got.iter().all(|g| *g));
            let data = Arc::new(buf.data);
            s.verified.insert(block.index, data.clone());
            // The hasher shares the buffer, no copy: its charge is released
            // once hashed though the stream still holds the bytes (the
            // stream's own bound covers them from then on).
            self.hand_over(tid, block.index, 0, data, None);
            self.actions.push_back(Action::Hash(HashJob::Finish { torrent: tid, piece: block.index, piece_len: piece_len as u64, expected }));
        }
        true
    }

    /// The bytes of a piece that just failed, if the stream holds them
    /// (no_save): the blame needs them.
    pub(crate) fn stream_failed_data(&self, tid: TorrentId, piece: u32) -> Option<Arc<Vec<u8>>> {
        self.stream.as_ref().filter(|s| s.torrent == tid)?.verified.get(&piece).cloned()
    }

    /// A piece was judged: drop what a failed one left, hand out what can go.
    pub(crate) fn stream_verdict(&mut self, tid: TorrentId, piece: u32, ok: bool, now: Instant) {
        let Some(s) = self.stream.as_mut().filter(|s| s.torrent == tid) else { return };
        s.deadlines.remove(&piece);
        if !ok {
            s.verified.remove(&piece);
            s.assembling.remove(&piece);
            s.requests.retain(|(i, _), _| *i != piece);
        }
        self.stream_pump(now);
    }

    /// Hand out the verified bytes at the read position, within the backlog;
    /// if the window moved, peers get requests for its new pieces at once.
    pub(crate) fn stream_pump(&mut self, now: Instant) {
        let Some(before) = self.stream.as_ref().and_then(|s| s.window()) else { return };
        self.stream_emit();
        let Some(s) = self.stream.as_ref() else { return };
        if s.window() != Some(before) {
            let tid = s.torrent;
            let keys = self.torrents.get(tid).and_then(|t| t.as_ref()).map(|t| t.peers.clone()).unwrap_or_default();
            for k in keys {
                self.fill_requests(k, now);
            }
        }
    }

    fn stream_emit(&mut self) {
        loop {
            let Some(s) = self.stream.as_mut() else { return };
            let Some((_, end)) = s.range else { return };
            if s.pos >= end || s.reading || s.backlog >= s.max_backlog() {
                return;
            }
            let tid = s.torrent;
            let Some(picker) = self.torrents.get(tid).and_then(|t| t.as_ref()).and_then(|t| t.life.picker()) else { return };
            let plen = s.piece_length;
            let piece = (s.pos / plen) as u32;
            if !picker.has(piece) {
                return;
            }
            let pstart = piece as u64 * plen;
            let chunk_end = (pstart + picker.piece_len(piece) as u64).min(end);
            let (from, to) = ((s.pos - pstart) as usize, (chunk_end - pstart) as usize);
            if s.spec.no_save {
                let Some(data) = s.verified.remove(&piece) else {
                    s.error = Some(format!("piece {piece} is verified but not buffered"));
                    return;
                };
                let offset = s.pos;
                s.pos = chunk_end;
                s.emitted += (to - from) as u64;
                s.backlog += (to - from) as u64;
                self.actions.push_back(Action::StreamData { torrent: tid, offset, data, range: from..to });
            } else {
                s.reading = true;
                self.actions.push_back(Action::Disk(DiskJob::Read { torrent: tid, peer: STREAM_READER, conn: 0, piece, begin: from as u32, len: (to - from) as u32 }));
                return;
            }
        }
    }

    /// A disk read of the stream is back.
    pub(crate) fn stream_read_done(&mut self, tid: TorrentId, piece: u32, begin: u32, data: Vec<u8>, now: Instant) {
        let Some(s) = self.stream.as_mut().filter(|s| s.torrent == tid) else { return };
        s.reading = false;
        let offset = piece as u64 * s.piece_length + begin as u64;
        if offset != s.pos {
            return; // not the read we wait for (cannot happen: one at a time)
        }
        let n = data.len();
        s.pos += n as u64;
        s.emitted += n as u64;
        s.backlog += n as u64;
        self.actions.push_back(Action::StreamData { torrent: tid, offset, data: Arc::new(data), range: 0..n });
        self.stream_pump(now);
    }

    pub(crate) fn stream_backlog(&mut self, n: u64, now: Instant) {
        if let Some(s) = self.stream.as_mut() {
            s.backlog = n;
            self.stream_pump(now);
        }
    }

    /// Late blocks of window pieces go to a second, faster peer; the
    /// progress line; what was buffered for pieces behind us is dropped.
    pub(crate) fn stream_tick(&mut self, now: Instant) {
        let Some(s) = self.stream.as_ref() else { return };
        let keys = self.torrents.get(s.torrent).and_then(|t| t.as_ref()).map(|t| t.peers.clone()).unwrap_or_default();
        let mut fastest = 0.0f64;
        for k in keys {
            if let Some(Some(p)) = self.peers.get_mut(k) {
                fastest = fastest.max(p.down.rate(now));
            }
        }
        if let Some(s) = self.stream.as_mut() {
            s.fastest = fastest;
        }
        self.stream_late(now);
        self.stream_report(now);
    }

    /// The peer is much slower than the fastest: no urgent pieces for it.
    pub(crate) fn stream_slow_peer(&mut self, key: PeerKey, now: Instant) -> bool {
        let fastest = self.stream.as_ref().map_or(0.0, |s| s.fastest);
        let Some(Some(p)) = self.peers.get_mut(key) else { return false };
        fastest > 0.0 && p.down.rate(now) * SLOW_FACTOR < fastest
    }

    /// Blocks of late window pieces: ask a second peer (at most every
    /// [`LATE_CHECK_EVERY`]).
    pub(crate) fn stream_late(&mut self, now: Instant) {
        let Some(s) = self.stream.as_mut() else { return };
        if s.last_late_check.is_some_and(|t| now.duration_since(t) < LATE_CHECK_EVERY) {
            return;
        }
        s.last_late_check = Some(now);
        let tid = s.torrent;
        let Some(window) = s.window() else { return };
        let late: Vec<(u32, u32, PeerKey, Option<PeerKey>)> = s
            .requests
            .iter()
            .filter(|((i, _), r)| {
                // A second copy asked long ago and still missing: another.
                r.dup.map_or(true, |(_, at)| now.duration_since(at) >= DEADLINE_FIRST)
                    && *i >= window.0
                    && *i < window.1
                    && s.deadlines.get(i).is_some_and(|d| *d <= now)
                    && now.duration_since(r.at) >= MIN_REREQUEST_AGE
            })
            .map(|((i, b), r)| (*i, *b, r.peer, r.dup.map(|d| d.0)))
            .collect();
        let mut late = late;
        late.sort();
        for (index, begin, orig, dup) in late {
            let Some(t) = self.torrents.get(tid).and_then(|t| t.as_ref()) else { return };
            let Some(l) = t.life.loaded() else { return };
            if t.blame.on_parole(index) {
                // Downloaded from one peer only, late or not (blame).
                continue;
            }
            let length = l.picker.piece_len(index).saturating_sub(begin).min(torrent_core::picker::BLOCK_SIZE);
            let block = Block { index, begin, length };
            let still = self.peers.get(orig).and_then(|p| p.as_ref()).is_some_and(|p| p.live() && p.st.is_requested(&block));
            let s = self.stream.as_mut().expect("checked");
            if !still {
                s.requests.remove(&(index, begin));
                continue;
            }
            // The other peer that would serve it soonest.
            let keys = self.torrents[tid].as_ref().map(|t| t.peers.clone()).unwrap_or_default();
            let mut best: Option<(PeerKey, f64)> = None;
            for k in keys.into_iter().filter(|&k| k != orig && Some(k) != dup) {
                let Some(Some(p)) = self.peers.get_mut(k) else { continue };
                if p.active() && !p.snubbed && !p.st.peer_choking && p.st.can_request(index) && !p.st.is_requested(&block) {
                    // Soonest served: its queue over its rate.
                    let wait = (p.st.outstanding() + 1) as f64 / p.down.rate(now).max(1.0);
                    if best.map_or(true, |(_, b)| wait < b) {
                        best = Some((k, wait));
                    }
                }
            }
            let best = best.map(|(k, _)| k);
            let Some(k) = best else { continue };
            if let Some(r) = s.requests.get_mut(&(index, begin)) {
                r.dup = Some((k, now));
            }
            s.rerequests += 1;
            if let Some(Some(p)) = self.peers.get_mut(k) {
                p.send(&Message::Request { index, begin, length }, now);
            }
        }
    }

    /// Every two seconds on stderr: where the stream is, what is ready ahead.
    fn stream_report(&mut self, now: Instant) {
        if self.cfg.quiet {
            return;
        }
        let Some(s) = self.stream.as_mut() else { return };
        if s.last_report.is_some_and(|t| now.duration_since(t) < Duration::from_secs(2)) {
            return;
        }
        s.last_report = Some(now);
        let Some((start, end)) = s.range else { return };
        let Some(t) = self.torrents.get_mut(s.torrent).and_then(|t| t.as_mut()) else { return };
        let ahead = match &t.life {
            Lifecycle::FetchingMetadata { .. } | Lifecycle::Checking { .. } => 0,
            l => l.picker().map(|p| s.ahead(p)).unwrap_or(0),
        };
        let msg = format!(
            "{}: stream at {} of {} bytes, {} verified ahead, {} waiting for stdout, {:.1} MB/s down, {} peers",
            t.name,
            s.pos - start,
            end - start,
            ahead,
            s.backlog,
            t.down.rate(now) / 1e6,
            t.peers.len()
        );
        self.report(Report::Log(msg));
    }
}
