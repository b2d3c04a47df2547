//! `POST /v1/torrents/{hash}/files/{n}/stream` (and `/v1/torrents/{hash}/stream`
//! for a single-file torrent), `?offset=BYTES`: a file's verified bytes in
//! order, as they arrive, in a chunked response.
//!
//! Two halves around a channel. The API request thread ([`serve`]) asks
//! the loop for a reader ([`Op::Stream`]), then writes the head and every
//! chunk the channel brings; a failed write (the client went away) sets
//! [`Sink::closed`] and wakes the loop. The loop side ([`Sinks`], kept by
//! the controller) opens the engine's reader ([`crate::engine::readers`]),
//! passes its [`ReaderOut::Data`] to the channel, tells the engine what is
//! still unwritten (so a reader holds at most a few MiB) and closes the
//! channel at [`ReaderOut::End`] (the body then ends cleanly: the client
//! sees from the announced length whether the file is complete).

use super::{Call, Op, Reply};
use crate::engine::readers::{ReaderEnd, ReaderId, ReaderOut};
use crate::engine::{Engine, Input};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tiny_http::Request;
use torrent_core::InfoHash;

/// The header with the file's length (the whole file, not from the offset).
pub const LENGTH_HEADER: &str = "X-Torrent-Get-File-Length";
/// The header with the offset the body starts at.
pub const OFFSET_HEADER: &str = "X-Torrent-Get-Offset";

/// A stream request, as routed.
pub struct StreamOp {
    pub hash: InfoHash,
    /// The file's number (as `--select` takes); None: the only file.
    pub file: Option<usize>,
    pub offset: u64,
    /// Filled in by [`serve`].
    pub sink: Option<Sink>,
}

/// The loop's end of one response.
pub struct Sink {
    tx: Sender<Vec<u8>>,
    /// Bytes in the channel or being written.
    pending: Arc<AtomicU64>,
    /// The client went away.
    closed: Arc<AtomicBool>,
    /// The backlog the engine was last told of plus what it handed out since.
    engine_view: u64,
    /// "NAME file N" for the log.
    label: String,
}

/// The open streams, by reader.
pub struct Sinks {
    open: HashMap<ReaderId, Sink>,
    quiet: bool,
}

impl Sinks {
    pub fn new(quiet: bool) -> Sinks {
        Sinks { open: HashMap::new(), quiet }
    }

    fn note(&self, msg: String) {
        if !self.quiet {
            cli_support::note(msg);
        }
    }

    /// Open a reader for `op` and keep its sink: the reply for the request.
    pub fn open(&mut self, engine: &mut Engine, tid: crate::engine::TorrentId, mut op: StreamOp, now: Instant) -> Reply {
        let Some(mut sink) = op.sink.take() else { return super::controller::error(500, "no response to stream to") };
        let Some(info) = engine.torrent(tid).and_then(|t| t.life.meta()).map(|m| m.info.clone()) else {
            return super::controller::error(409, "the torrent's metadata is not known yet: try again when it is");
        };
        let choice = match op.file {
            None => crate::engine::stream::FileChoice::Only,
            Some(0) => return super::controller::error(404, "file numbers start at 1"),
            Some(n) => crate::engine::stream::FileChoice::Index(n - 1),
        };
        let index = match crate::engine::stream::resolve(&info, &choice) {
            Ok(i) => i,
            Err(_) if op.file.is_none() => {
                return super::controller::error(400, format!("the torrent has {} files: stream one with /files/N/stream", torrent_core::select::numbers(&info).iter().flatten().count()))
            }
            Err(e) => return super::controller::error(404, e.replace("--file", "file")),
        };
        if op.offset > info.files[index].length {
            return super::controller::error(416, format!("offset {} is beyond the end of {} ({} bytes)", op.offset, info.files[index].path_string(), info.files[index].length));
        }
        match engine.open_reader(tid, index, op.offset, now) {
            Ok(o) => {
                let number = torrent_core::select::numbers(&info)[index].unwrap_or(index + 1);
                sink.label = format!("{}: stream of file {number}", info.name);
                self.note(format!("{} opened at byte {} of {}", sink.label, op.offset, o.length));
                self.open.insert(o.reader, sink);
                Reply { status: 200, body: serde_json::json!({"file": number, "path": o.path, "length": o.length, "offset": op.offset}) }
            }
            Err(e) => super::controller::error(409, e),
        }
    }

    /// From the engine: bytes to send, or the end (the channel closes).
    pub fn output(&mut self, out: ReaderOut) {
        match out {
            ReaderOut::Data { reader, data, .. } => {
                let Some(s) = self.open.get_mut(&reader) else { return };
                let n = data.len() as u64;
                s.engine_view += n;
                s.pending.fetch_add(n, Ordering::Relaxed);
                if s.tx.send(data).is_err() {
                    s.closed.store(true, Ordering::Relaxed);
                }
            }
            ReaderOut::End { reader, why } => {
                if let Some(s) = self.open.remove(&reader) {
                    let why = match why {
                        ReaderEnd::Complete => "the end of the file".to_string(),
                        ReaderEnd::Paused => "torrent paused".into(),
                        ReaderEnd::Removed => "torrent removed".into(),
                        ReaderEnd::Failed(e) => format!("torrent failed: {e}"),
                    };
                    self.note(format!("{} ended: {why}", s.label));
                }
            }
        }
    }

    /// Every turn: closed streams end their readers; changed backlogs go
    /// to the engine.
    pub fn turn(&mut self, engine: &mut Engine, now: Instant) {
        let mut closed = Vec::new();
        for (&id, s) in self.open.iter_mut() {
            if s.closed.load(Ordering::Relaxed) {
                closed.push(id);
                continue;
            }
            let pending = s.pending.load(Ordering::Relaxed);
            if pending != s.engine_view {
                s.engine_view = pending;
                engine.handle(Input::ReaderBacklog { reader: id, bytes: pending }, now);
            }
        }
        for id in closed {
            if let Some(s) = self.open.remove(&id) {
                self.note(format!("{} ended: the client went away", s.label));
            }
            engine.handle(Input::ReaderClosed(id), now);
        }
    }

    /// The daemon stops: every body ends.
    pub fn clear(&mut self) {
        self.open.clear();
    }
}

/// The request thread: a reader from the loop, then the body, chunk by
/// chunk, until the loop closes the channel or the client goes away.
pub fn serve(rq: Request, mut op: StreamOp, calls: &Sender<Call>, waker: &mio::Waker) {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let pending = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicBool::new(false));
    let offset = op.offset;
    op.sink = Some(Sink { tx, pending: pending.clone(), closed: closed.clone(), engine_view: 0, label: String::new() });
    let (rtx, rrx) = mpsc::channel();
    if calls.send(Call { op: Op::Stream(op), reply: Some(rtx) }).is_err() {
        return super::server::respond(rq, &super::controller::error(503, "the daemon is shutting down"));
    }
    let _ = waker.wake();
    let r = rrx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| super::controller::error(503, "the daemon did not answer in time"));
    if r.status != 200 {
        return super::server::respond(rq, &r);
    }
    let length = r.body["length"].as_u64().unwrap_or(0);
    let mut w = rq.into_writer();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nCache-Control: no-store\r\n{LENGTH_HEADER}: {length}\r\n{OFFSET_HEADER}: {offset}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let gone = |closed: &AtomicBool| {
        closed.store(true, Ordering::Relaxed);
        let _ = waker.wake();
    };
    if w.write_all(head.as_bytes()).and_then(|_| w.flush()).is_err() {
        return gone(&closed);
    }
    if write_body(&mut *w, &rx, &pending, waker).is_err() {
        return gone(&closed);
    }
    let _ = w.write_all(b"0\r\n\r\n").and_then(|_| w.flush());
}

fn write_body(w: &mut dyn Write, rx: &Receiver<Vec<u8>>, pending: &AtomicU64, waker: &mio::Waker) -> std::io::Result<()> {
    while let Ok(data) = rx.recv() {
        if data.is_empty() {
            continue; // an empty chunk would end the body
        }
        write!(w, "{:x}\r\n", data.len())?;
        w.write_all(&data)?;
        w.write_all(b"\r\n")?;
        w.flush()?;
        pending.fetch_sub(data.len() as u64, Ordering::Relaxed);
        // Written: the engine may read more.
        let _ = waker.wake();
    }
    Ok(())
}
