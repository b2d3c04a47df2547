//! Readers of a file while it downloads (the daemon's `POST
//! /v1/torrents/{hash}/files/{n}/stream`): each reader wants one file's
//! bytes in order from an offset, and only verified ones.
//!
//! Sans-IO like the rest of the engine. A reader is a position; the picker
//! asks first for a *window* of pieces from each reader's position on (the
//! first two in order, then the rest of the window, like `--stdout`'s
//! [`super::stream::pick`]), then for everything else rarest-first. Once the
//! piece at a reader's position is verified the engine reads it back
//! through the disk thread (its jobs run in order, so the piece's writes are
//! done) in chunks of at most [`READ_CHUNK`] and hands the bytes out as
//! [`ReaderOut::Data`]; the owner reports what it still holds
//! ([`Input::ReaderBacklog`](super::Input::ReaderBacklog)) and nothing more
//! is read while [`MAX_BACKLOG`] bytes wait, so a reader costs at most
//! `MAX_BACKLOG + READ_CHUNK` (7 MiB). [`ReaderOut::End`] says the reader is
//! over: the file was read to its end, or the torrent was paused, removed
//! or failed. A reader whose client went away is closed by the owner
//! ([`Input::ReaderClosed`](super::Input::ReaderClosed)); its window goes
//! with it.

use super::{Action, Engine, Lifecycle, PeerKey, TorrentId};
use crate::disk::DiskJob;
use std::collections::BTreeMap;
use std::time::Instant;
use torrent_core::picker::{Block, Picker};

/// The disk reads of readers carry this peer key (their `conn` is the
/// reader's id).
pub const READER_KEY: PeerKey = usize::MAX - 2;
/// Largest disk read for a reader, bytes.
pub const READ_CHUNK: u64 = 1 << 20;
/// No read while this many bytes handed out are not yet written.
pub const MAX_BACKLOG: u64 = 6 << 20;
/// Bytes of pieces after a reader's position asked for first.
pub const WINDOW_BYTES: u64 = 8 << 20;

pub type ReaderId = u64;

/// Why a reader ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEnd {
    /// Every byte up to the end of the file was handed out.
    Complete,
    Paused,
    Removed,
    Failed(String),
}

/// What the engine says to a reader's owner.
#[derive(Debug)]
pub enum ReaderOut {
    /// The file's next bytes, in order; `at` is the torrent offset of the first.
    Data { reader: ReaderId, at: u64, data: Vec<u8> },
    /// No more data will come.
    End { reader: ReaderId, why: ReaderEnd },
}

/// A reader just opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub reader: ReaderId,
    /// The file's length and path in the torrent.
    pub length: u64,
    pub path: String,
}

pub struct Reader {
    pub torrent: TorrentId,
    /// The file's bytes as torrent offsets `[start, end)`.
    pub start: u64,
    pub end: u64,
    /// Next byte (torrent offset) to read.
    pub pos: u64,
    /// Bytes handed out and not yet written, as the owner reported (plus
    /// what was handed out since).
    pub backlog: u64,
    reading: bool,
}

/// The readers of every torrent.
#[derive(Default)]
pub struct Readers {
    next: ReaderId,
    pub(crate) list: BTreeMap<ReaderId, Reader>,
}

impl Readers {
    /// Windows `[first, end)` of the readers of `tid`, nearest piece first.
    pub fn windows(&self, tid: TorrentId, piece_length: u64) -> Vec<(u32, u32)> {
        let n = (WINDOW_BYTES / piece_length.max(1)).clamp(2, 64);
        let mut w: Vec<(u32, u32)> = self
            .list
            .values()
            .filter(|r| r.torrent == tid && r.pos < r.end)
            .map(|r| {
                let first = r.pos / piece_length;
                let last = (r.end - 1) / piece_length;
                (first as u32, (first + n).min(last + 1) as u32)
            })
            .collect();
        w.sort();
        w
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Blocks for a peer with readers' `windows`: the first two pieces of each
/// window in order, then the rest of the windows; `ok` says which pieces
/// the peer may be asked for.
pub fn pick_windows(picker: &mut Picker, windows: &[(u32, u32)], key: PeerKey, ok: &dyn Fn(usize) -> bool, want: usize, rng: &mut impl rand::Rng) -> Vec<Block> {
    let mut out = Vec::new();
    for &(a, b) in windows {
        for i in a..b.min(a + 2) {
            if out.len() >= want {
                return out;
            }
            let more = picker.pick(key, |j| j == i as usize && ok(j), want - out.len(), rng);
            out.extend(more);
        }
    }
    if out.len() < want {
        let inside = |j: usize| windows.iter().any(|&(a, b)| j >= a as usize && j < b as usize);
        let more = picker.pick(key, |j| inside(j) && ok(j), want - out.len(), rng);
        out.extend(more);
    }
    out
}

impl Engine {
    /// A reader of file `index` (0-based in the file list) of `tid` from
    /// byte `offset` of the file. The file becomes wanted if it was not.
    pub fn open_reader(&mut self, tid: TorrentId, index: usize, offset: u64, now: Instant) -> Result<Opened, String> {
        let Some(t) = self.torrents.get(tid).and_then(|t| t.as_ref()) else { return Err("no such torrent".into()) };
        match &t.life {
            Lifecycle::Paused(_) => return Err(format!("{} is paused: resume it first", t.name)),
            Lifecycle::Failed { reason, .. } => return Err(format!("{} failed: {reason}", t.name)),
            _ => {}
        }
        let Some(meta) = t.life.meta() else { return Err(format!("{}: the metadata is not known yet", t.name)) };
        let f = meta.info.files.get(index).filter(|f| !f.padding).ok_or_else(|| format!("{}: no file {}", t.name, index + 1))?;
        if offset > f.length {
            return Err(format!("offset {offset} is beyond the end of {} ({} bytes)", f.path_string(), f.length));
        }
        let (start, end, path) = (f.offset, f.offset + f.length, f.path_string());
        let unselected = t.select.as_ref().is_some_and(|s| !s.contains(&index));
        if unselected {
            let mut sel = t.select.clone().unwrap_or_default();
            sel.push(index);
            sel.sort_unstable();
            self.select_files(tid, Some(sel), now);
        }
        let id = self.readers.next;
        self.readers.next += 1;
        self.readers.list.insert(id, Reader { torrent: tid, start, end, pos: start + offset, backlog: 0, reading: false });
        self.readers_moved(tid, now);
        Ok(Opened { reader: id, length: end - start, path })
    }

    /// The owner still holds `bytes` of the reader's data.
    pub(crate) fn reader_backlog(&mut self, id: ReaderId, bytes: u64, now: Instant) {
        let Some(r) = self.readers.list.get_mut(&id) else { return };
        r.backlog = bytes;
        let tid = r.torrent;
        self.readers_pump(tid, now);
    }

    /// The reader's client went away: forget it and its window.
    pub(crate) fn reader_closed(&mut self, id: ReaderId) {
        self.readers.list.remove(&id);
    }

    /// End every reader of `tid` (pause, remove, failure).
    pub(crate) fn readers_end(&mut self, tid: TorrentId, why: ReaderEnd) {
        let ids: Vec<ReaderId> = self.readers.list.iter().filter(|(_, r)| r.torrent == tid).map(|(i, _)| *i).collect();
        for reader in ids {
            self.readers.list.remove(&reader);
            self.actions.push_back(Action::Reader(ReaderOut::End { reader, why: why.clone() }));
        }
    }

    /// Read what is verified at the readers' positions, within their
    /// backlogs; a reader at the end of its file ends.
    pub(crate) fn readers_pump(&mut self, tid: TorrentId, _now: Instant) {
        let Some(picker) = self.torrents.get(tid).and_then(|t| t.as_ref()).and_then(|t| t.life.picker()) else { return };
        let Some(plen) = self.torrents[tid].as_ref().and_then(|t| t.life.meta()).map(|m| m.info.piece_length) else { return };
        let mut ended = Vec::new();
        for (&id, r) in self.readers.list.iter_mut().filter(|(_, r)| r.torrent == tid) {
            if r.pos >= r.end {
                if !r.reading {
                    ended.push(id);
                }
                continue;
            }
            if r.reading || r.backlog >= MAX_BACKLOG {
                continue;
            }
            let piece = (r.pos / plen) as u32;
            if !picker.has(piece) {
                continue;
            }
            let pstart = piece as u64 * plen;
            let to = (pstart + picker.piece_len(piece) as u64).min(r.end).min(r.pos + READ_CHUNK);
            r.reading = true;
            let job = DiskJob::Read { torrent: tid, peer: READER_KEY, conn: id, piece, begin: (r.pos - pstart) as u32, len: (to - r.pos) as u32 };
            self.actions.push_back(Action::Disk(job));
        }
        for reader in ended {
            self.readers.list.remove(&reader);
            self.actions.push_back(Action::Reader(ReaderOut::End { reader, why: ReaderEnd::Complete }));
        }
    }

    /// A disk read of a reader is back: hand it out, read on.
    pub(crate) fn reader_read_done(&mut self, tid: TorrentId, id: ReaderId, piece: u32, begin: u32, data: Vec<u8>, now: Instant) {
        let Some(plen) = self.torrents.get(tid).and_then(|t| t.as_ref()).and_then(|t| t.life.meta()).map(|m| m.info.piece_length) else { return };
        let Some(r) = self.readers.list.get_mut(&id).filter(|r| r.torrent == tid) else { return };
        r.reading = false;
        if piece as u64 * plen + begin as u64 != r.pos {
            return; // not the read it waits for (cannot happen: one at a time)
        }
        let (at, before) = (r.pos, r.pos / plen);
        r.pos += data.len() as u64;
        r.backlog += data.len() as u64;
        let moved = r.pos / plen != before;
        self.actions.push_back(Action::Reader(ReaderOut::Data { reader: id, at, data }));
        if moved {
            self.readers_moved(tid, now);
        } else {
            self.readers_pump(tid, now);
        }
    }

    /// A reader opened or moved on to a new piece: read, and let the peers
    /// ask for its window at once.
    fn readers_moved(&mut self, tid: TorrentId, now: Instant) {
        self.readers_pump(tid, now);
        let keys = self.torrents.get(tid).and_then(|t| t.as_ref()).map(|t| t.peers.clone()).unwrap_or_default();
        for k in keys {
            self.update_interest(k, now);
            self.fill_requests(k, now);
        }
    }

    /// The readers' windows for a torrent's picks (none while `--stdout`
    /// streams it: its own window rules).
    pub(crate) fn reader_windows(&self, tid: TorrentId) -> Vec<(u32, u32)> {
        if self.readers.is_empty() {
            return Vec::new();
        }
        let Some(plen) = self.torrents.get(tid).and_then(|t| t.as_ref()).and_then(|t| t.life.meta()).map(|m| m.info.piece_length) else { return Vec::new() };
        self.readers.windows(tid, plen)
    }

    /// Readers open now (all torrents).
    pub fn reader_count(&self) -> usize {
        self.readers.len()
    }
}
