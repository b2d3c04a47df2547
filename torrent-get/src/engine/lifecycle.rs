//! A torrent's lifecycle, as one enum whose variants carry what exists in
//! that state (no tag plus options): metadata being fetched (magnet), data
//! being checked, then downloading or seeding with metadata and picker,
//! paused (the state it will resume to inside), done, failed. And the
//! transitions: metadata known, check finished, complete, pause/resume/
//! remove, file selection, failure (seeding limits: [`super::seeding`]).

use super::{Action, CloseReason, Engine, Report, TorrentId};
use crate::disk::DiskJob;
use serde_json::json;
use std::time::Instant;
use torrent_core::peer::message::Message;
use torrent_core::picker::Picker;
use torrent_core::Metainfo;

/// How often resume data is written while downloading (if it changed), by
/// default ([`super::Config::resume_every`]).
pub const RESUME_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Metadata and the picker: what a torrent has once its data is checked.
pub struct Loaded {
    pub meta: Metainfo,
    pub picker: Picker,
}

pub enum Lifecycle {
    /// Magnet link: fetching the info dictionary from peers (BEP 9).
    FetchingMetadata { fetch: Box<super::metadata_fetch::MetadataFetch> },
    /// The disk thread checks data already on disk.
    Checking { meta: Box<Metainfo> },
    Downloading(Box<Loaded>),
    /// Complete; serving others.
    Seeding(Box<Loaded>),
    /// Stopped by a command; resumes to the state inside.
    Paused(Box<Lifecycle>),
    /// Complete and finished (not seeding).
    Done(Box<Loaded>),
    /// `input`: the torrent itself is unusable (metadata that matches the
    /// info-hash but does not load), an input error rather than a failure
    /// while running.
    Failed { reason: String, loaded: Option<Box<Loaded>>, input: bool },
}

impl Lifecycle {
    pub fn name(&self) -> &'static str {
        match self {
            Lifecycle::FetchingMetadata { .. } => "fetching metadata",
            Lifecycle::Checking { .. } => "checking",
            Lifecycle::Downloading(_) => "downloading",
            Lifecycle::Seeding(_) => "seeding",
            Lifecycle::Paused(_) => "paused",
            Lifecycle::Done(_) => "done",
            Lifecycle::Failed { .. } => "failed",
        }
    }

    /// The control API's name of the state (one of [`crate::control::STATES`]):
    /// the same words as [`Lifecycle::name`] but one for fetching metadata.
    pub fn api_name(&self) -> &'static str {
        match self {
            Lifecycle::FetchingMetadata { .. } => "metadata",
            other => other.name(),
        }
    }

    pub fn loaded(&self) -> Option<&Loaded> {
        match self {
            Lifecycle::Downloading(l) | Lifecycle::Seeding(l) | Lifecycle::Done(l) => Some(l),
            Lifecycle::Failed { loaded, .. } => loaded.as_deref(),
            Lifecycle::Paused(inner) => inner.loaded(),
            _ => None,
        }
    }

    pub fn loaded_mut(&mut self) -> Option<&mut Loaded> {
        match self {
            Lifecycle::Downloading(l) | Lifecycle::Seeding(l) | Lifecycle::Done(l) => Some(l),
            Lifecycle::Failed { loaded, .. } => loaded.as_deref_mut(),
            Lifecycle::Paused(inner) => inner.loaded_mut(),
            _ => None,
        }
    }

    pub fn picker(&self) -> Option<&Picker> {
        self.loaded().map(|l| &l.picker)
    }

    pub fn meta(&self) -> Option<&Metainfo> {
        match self {
            Lifecycle::Checking { meta } => Some(meta),
            Lifecycle::Paused(inner) => inner.meta(),
            _ => self.loaded().map(|l| &l.meta),
        }
    }

    /// Downloading: the picker, to schedule requests.
    pub fn downloading(&mut self) -> Option<&mut Loaded> {
        match self {
            Lifecycle::Downloading(l) => Some(l),
            _ => None,
        }
    }

    /// Peers may be connected (not paused, done or failed).
    pub fn running(&self) -> bool {
        matches!(self, Lifecycle::FetchingMetadata { .. } | Lifecycle::Checking { .. } | Lifecycle::Downloading(_) | Lifecycle::Seeding(_))
    }

    /// Peers are dialled and trackers asked.
    pub fn wants_peers(&self) -> bool {
        matches!(self, Lifecycle::FetchingMetadata { .. } | Lifecycle::Downloading(_) | Lifecycle::Seeding(_))
    }

    pub fn finished(&self) -> bool {
        matches!(self, Lifecycle::Done(_) | Lifecycle::Failed { .. })
    }

    /// The state to change when events arrive (inside a pause).
    pub fn settled_mut(&mut self) -> &mut Lifecycle {
        match self {
            Lifecycle::Paused(inner) => inner.settled_mut(),
            s => s,
        }
    }

    pub(crate) fn take(&mut self) -> Lifecycle {
        std::mem::replace(self, Lifecycle::Failed { reason: String::new(), loaded: None, input: false })
    }
}

impl Engine {
    /// Metadata is known (from a .torrent saved earlier or fetched by BEP 9).
    pub(crate) fn metadata_ready(&mut self, tid: TorrentId, meta: Metainfo, fetched: bool) {
        if !self.stream_metadata(tid, &meta.info) {
            return;
        }
        let Some(t) = self.torrents[tid].as_mut() else { return };
        t.name = meta.info.name.clone();
        t.name_disk = meta.info.name_disk.clone();
        // A magnet's selection is by file number (0-based here), as
        // `torrent-info` numbers them: padding files have none.
        if let Some(sel) = t.select.take() {
            let count = torrent_core::select::numbered_count(&meta.info);
            match sel.iter().find(|&&n| n >= count) {
                Some(bad) => {
                    let msg = format!("--select {}: the torrent has {count} files", bad + 1);
                    self.fail_torrent(tid, msg);
                    return;
                }
                None => {
                    t.select = Some(sel.iter().filter_map(|&n| torrent_core::select::index_of_number(&meta.info, n + 1)).collect());
                }
            }
        }
        let info_hash = t.info_hash;
        let dir = t.dir.clone();
        self.report(Report::Json(json!({"event": "metadata", "info_hash": info_hash.to_hex(), "name": meta.info.name, "size": meta.info.total_length})));
        self.log(format!("{}: metadata received ({} bytes of data)", meta.info.name, meta.info.total_length));
        if fetched {
            // Kept so a resumed magnet download does not fetch it again.
            self.actions.push_back(Action::Disk(DiskJob::SaveMetadata { dir: dir.clone(), info_hash, bytes: meta.to_torrent_bytes() }));
        }
        self.actions.push_back(Action::Disk(DiskJob::Open {
            torrent: tid,
            dir,
            info: Box::new(meta.info.clone()),
            info_hash,
            recheck: self.cfg.recheck,
        }));
        let t = self.torrents[tid].as_mut().expect("checked");
        *t.life.settled_mut() = Lifecycle::Checking { meta: Box::new(meta) };
        // Peers connected meanwhile now learn the torrent's shape.
        for key in t.peers.clone() {
            self.peer_geometry(key, tid);
        }
    }

    /// The disk thread checked the data: download what is missing.
    /// Files in the download directory hold other data than the torrent's
    /// (no resume file of ours was there): said for the files the download
    /// will write (selected; not when only seeding or streaming without
    /// saving), once each.
    pub(crate) fn on_existing(&mut self, tid: TorrentId, files: Vec<crate::existing::Foreign>) {
        if self.cfg.seed_only || self.stream_no_save(tid) {
            return;
        }
        let Some(t) = self.torrents[tid].as_ref() else { return };
        let (name, hash) = (t.name.clone(), t.info_hash.to_hex());
        let chosen: Vec<crate::existing::Foreign> =
            files.into_iter().filter(|f| t.select.as_ref().map(|sel| sel.contains(&f.file)).unwrap_or(true)).collect();
        for f in chosen {
            self.log(format!("{name}: warning: {}", crate::existing::describe(&f)));
            self.report(Report::Json(json!({
                "event": "existing_data",
                "info_hash": hash,
                "file": torrent_core::path::show_path(&f.path),
                "other_pieces": f.other_pieces,
                "pieces": f.pieces,
                "longer_by": f.longer_by,
            })));
        }
    }

    pub(crate) fn on_opened(&mut self, tid: TorrentId, have: Vec<bool>, rechecked: bool, now: Instant) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let life = t.life.settled_mut();
        if !matches!(life, Lifecycle::Checking { .. }) {
            return; // a late report (removed, failed meanwhile): keep the state
        }
        let Lifecycle::Checking { meta } = life.take() else { unreachable!("matched above") };
        let mut picker = Picker::new(meta.info.piece_length, meta.info.total_length);
        if let Some(sel) = &t.select {
            picker.set_wanted(wanted_pieces(&meta, &picker, sel));
        }
        let mut n = 0;
        for (i, h) in have.iter().enumerate() {
            if *h {
                picker.mark_have(i as u32);
                n += 1;
            }
        }
        let loaded = Box::new(Loaded { meta: *meta, picker });
        *t.life.settled_mut() = if self.cfg.seed_only { Lifecycle::Seeding(loaded) } else { Lifecycle::Downloading(loaded) };
        if self.cfg.seed_only {
            t.seeding_since = Some(now);
        }
        let (name, hash, pieces) = (t.name.clone(), t.info_hash.to_hex(), have.len());
        let how = if rechecked { "checked" } else { "resume data" };
        self.log(format!("{name}: {n} of {pieces} pieces already verified ({how})"));
        self.report(Report::Json(json!({"event": "checked", "info_hash": hash, "have_pieces": n, "pieces": pieces, "rechecked": rechecked})));
        if self.cfg.seed_only {
            self.log(format!("{name}: seeding {n} verified pieces"));
        }
        // Peers connected before (magnet, or during the check): count what
        // they have, tell them what we have now.
        let keys = self.torrents[tid].as_ref().map(|t| t.peers.clone()).unwrap_or_default();
        if let Some(l) = self.torrents[tid].as_mut().and_then(|t| t.life.loaded_mut()) {
            for &key in &keys {
                if let Some(bf) = self.peers.get(key).and_then(|p| p.as_ref()).and_then(|p| p.st.peer_pieces()) {
                    l.picker.peer_has_pieces(|i| bf.get(i));
                }
            }
        }
        for key in keys {
            if n > 0 {
                let bits = self.torrents[tid].as_ref().and_then(|t| t.life.picker()).map(|p| p.have_slice().to_vec()).unwrap_or_default();
                if let Some(Some(p)) = self.peers.get_mut(key) {
                    if p.active() {
                        for (i, h) in bits.iter().enumerate() {
                            if *h {
                                p.send(&Message::Have(i as u32), now);
                            }
                        }
                    }
                }
            }
            self.update_interest(key, now);
            self.fill_requests(key, now);
        }
        self.webseed_start(tid, now);
        self.check_complete(tid, now);
        // Dial now rather than at the next tick.
        self.connect_more(now);
    }

    pub(crate) fn check_complete(&mut self, tid: TorrentId, now: Instant) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let Lifecycle::Downloading(l) = &t.life else { return };
        if !l.picker.is_complete() {
            return;
        }
        let have = l.picker.have_slice().to_vec();
        let empty: Vec<usize> = l
            .meta
            .info
            .files
            .iter()
            .enumerate()
            .filter(|(i, f)| f.length == 0 && !f.padding && f.symlink.is_none() && t.select.as_ref().is_none_or(|s| s.contains(i)))
            .map(|(i, _)| i)
            .collect();
        t.seeding_since = self.cfg.seed.then_some(now);
        let Lifecycle::Downloading(l) = t.life.take() else { unreachable!("matched above") };
        t.life = if self.cfg.seed { Lifecycle::Seeding(l) } else { Lifecycle::Done(l) };
        let done = matches!(t.life, Lifecycle::Done(_));
        let name = t.name.clone();
        self.actions.push_back(Action::Disk(DiskJob::SaveResume { torrent: tid, have, clean: true }));
        if !empty.is_empty() && !self.stream_no_save(tid) {
            self.actions.push_back(Action::Disk(DiskJob::CreateEmpty { torrent: tid, files: empty }));
        }
        self.log(format!("{name}: complete"));
        self.announce_completed(tid);
        let keys = self.torrents[tid].as_ref().map(|t| t.peers.clone()).unwrap_or_default();
        for k in keys {
            if let Some(Some(p)) = self.peers.get_mut(k) {
                if done {
                    p.close(CloseReason::TorrentDone);
                } else {
                    p.st.drop_requests();
                }
            }
            self.update_interest(k, now);
        }
    }

    pub(crate) fn fail_torrent(&mut self, tid: TorrentId, msg: String) {
        self.fail_torrent_as(tid, msg, false)
    }

    /// The torrent cannot be used at all (exit 2, like a bad .torrent file).
    pub(crate) fn fail_torrent_input(&mut self, tid: TorrentId, msg: String) {
        self.fail_torrent_as(tid, msg, true)
    }

    fn fail_torrent_as(&mut self, tid: TorrentId, msg: String, input: bool) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        if matches!(t.life, Lifecycle::Failed { .. }) {
            return;
        }
        let loaded = match t.life.take() {
            Lifecycle::Downloading(l) | Lifecycle::Seeding(l) | Lifecycle::Done(l) => Some(l),
            Lifecycle::Paused(mut inner) => match inner.take() {
                Lifecycle::Downloading(l) | Lifecycle::Seeding(l) | Lifecycle::Done(l) => Some(l),
                _ => None,
            },
            _ => None,
        };
        t.life = Lifecycle::Failed { reason: msg.clone(), loaded, input };
        let (name, hash) = (t.name.clone(), t.info_hash.to_hex());
        self.close_torrent_peers(tid, CloseReason::TorrentFailed);
        self.readers_end(tid, super::readers::ReaderEnd::Failed(msg.clone()));
        self.log(format!("{name}: error: {msg}"));
        self.report(Report::Json(json!({"event": "error", "info_hash": hash, "error": msg})));
    }

    pub(crate) fn close_torrent_peers(&mut self, tid: TorrentId, why: CloseReason) {
        let keys = self.torrents[tid].as_ref().map(|t| t.peers.clone()).unwrap_or_default();
        for k in keys {
            if let Some(Some(p)) = self.peers.get_mut(k) {
                p.close(why.clone());
            }
        }
    }

    /// While downloading, the verified pieces are recorded every
    /// [`super::Config::resume_every`] when there are new ones, so a crash costs that much
    /// downloading, not a re-check of everything.
    pub(crate) fn resume_due(&mut self, now: Instant) {
        for tid in 0..self.torrents.len() {
            if self.stream_no_save(tid) {
                continue;
            }
            let Some(t) = self.torrents[tid].as_mut() else { continue };
            let Lifecycle::Downloading(l) = &t.life else { continue };
            let n = l.picker.have_count();
            if t.resume_saved == Some(n) || now.duration_since(t.resume_saved_at) < self.cfg.resume_every {
                continue;
            }
            t.resume_saved = Some(n);
            t.resume_saved_at = now;
            let have = l.picker.have_slice().to_vec();
            self.actions.push_back(Action::Disk(DiskJob::SaveResume { torrent: tid, have, clean: false }));
        }
    }

    pub(crate) fn pause(&mut self, tid: TorrentId, now: Instant) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        if matches!(t.life, Lifecycle::Paused(_)) || t.life.finished() {
            return;
        }
        let inner = t.life.take();
        if matches!(inner, Lifecycle::Seeding(_)) {
            t.seeding_clock_stop(now);
        }
        t.life = Lifecycle::Paused(Box::new(inner));
        let (name, hash) = (t.name.clone(), t.info_hash.to_hex());
        let have = t.life.picker().map(|p| p.have_slice().to_vec());
        if let Some(have) = have {
            self.actions.push_back(Action::Disk(DiskJob::SaveResume { torrent: tid, have, clean: true }));
        }
        self.close_torrent_peers(tid, CloseReason::TorrentPaused);
        self.readers_end(tid, super::readers::ReaderEnd::Paused);
        self.webseed_cancel(tid, now, false);
        self.report(Report::Json(json!({"event": "paused", "info_hash": hash})));
        self.log(format!("{name}: paused"));
    }

    pub(crate) fn resume(&mut self, tid: TorrentId, now: Instant) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        if !matches!(t.life, Lifecycle::Paused(_)) {
            return;
        }
        let Lifecycle::Paused(inner) = t.life.take() else { unreachable!("matched above") };
        t.life = *inner;
        if matches!(t.life, Lifecycle::Seeding(_)) {
            t.seeding_since = Some(now);
        }
        // Reconnect at once: forget the back-off of the peers we dropped.
        for c in t.candidates.values_mut() {
            c.next_try = now;
        }
        let (name, hash) = (t.name.clone(), t.info_hash.to_hex());
        self.report(Report::Json(json!({"event": "resumed", "info_hash": hash})));
        self.log(format!("{name}: resumed"));
        self.check_complete(tid, now);
        self.connect_more(now);
        self.webseed_pump(tid, now);
    }

    /// Drop the torrent: its peers, its disk slot; the data stays on disk
    /// unless `delete_data` (then its files and state files go too, after
    /// the writes already queued).
    pub(crate) fn remove(&mut self, tid: TorrentId, delete_data: bool, now: Instant) {
        let Some(t) = self.torrents.get(tid).and_then(|t| t.as_ref()) else { return };
        let have = t.life.picker().map(|p| p.have_slice().to_vec());
        let (name, hash) = (t.name.clone(), t.info_hash.to_hex());
        if let Some(have) = have.filter(|_| !delete_data) {
            if !matches!(t.life, Lifecycle::Failed { .. }) {
                self.actions.push_back(Action::Disk(DiskJob::SaveResume { torrent: tid, have, clean: true }));
            }
        }
        let delete = delete_data.then(|| DiskJob::Delete {
            dir: t.dir.clone(),
            info: t.life.meta().map(|m| Box::new(m.info.clone())),
            info_hash: t.info_hash,
        });
        self.close_torrent_peers(tid, CloseReason::TorrentRemoved);
        self.readers_end(tid, super::readers::ReaderEnd::Removed);
        self.webseed_cancel(tid, now, true);
        self.actions.push_back(Action::WebSeedClose { torrent: tid });
        self.actions.push_back(Action::Disk(DiskJob::Close { torrent: tid }));
        if let Some(job) = delete {
            self.actions.push_back(Action::Disk(job));
        }
        self.reap_at(now);
        self.torrents[tid] = None;
        self.report(Report::Json(json!({"event": "removed", "info_hash": hash, "deleted_data": delete_data})));
        self.log(format!("{name}: removed"));
    }

    /// Change which files are downloaded (None: all).
    pub(crate) fn select_files(&mut self, tid: TorrentId, select: Option<Vec<usize>>, now: Instant) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        if let (Some(sel), Some(meta)) = (&select, t.life.meta()) {
            if let Some(bad) = sel.iter().find(|&&i| i >= meta.info.files.len()) {
                self.log(format!("select {}: torrent has fewer files", bad + 1));
                return;
            }
        }
        t.select = select.clone();
        let settled = t.life.settled_mut();
        if let Some(l) = settled.loaded_mut() {
            let wanted = match &select {
                Some(sel) => wanted_pieces(&l.meta, &l.picker, sel),
                None => vec![true; l.picker.num_pieces()],
            };
            l.picker.set_wanted(wanted);
            // Done with fewer files, now more are wanted: download again.
            if !l.picker.is_complete() && matches!(settled, Lifecycle::Done(_) | Lifecycle::Seeding(_)) {
                if let Lifecycle::Done(l) | Lifecycle::Seeding(l) = settled.take() {
                    *settled = Lifecycle::Downloading(l);
                }
            }
        }
        if !matches!(t.life, Lifecycle::Seeding(_)) {
            t.seeding_clock_stop(now);
        }
        let keys = t.peers.clone();
        for k in keys {
            self.update_interest(k, now);
            self.fill_requests(k, now);
        }
        self.check_complete(tid, now);
    }
}

/// Pieces that overlap the selected (non-empty) files.
pub fn wanted_pieces(meta: &Metainfo, picker: &Picker, sel: &[usize]) -> Vec<bool> {
    (0..picker.num_pieces())
        .map(|i| {
            let start = i as u64 * meta.info.piece_length;
            let end = start + picker.piece_len(i as u32) as u64;
            sel.iter().any(|&f| {
                let fe = &meta.info.files[f];
                fe.length > 0 && fe.offset < end && fe.offset + fe.length > start
            })
        })
        .collect()
}
