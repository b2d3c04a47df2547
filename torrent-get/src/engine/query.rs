//! What a controller (the daemon's control API) asks the engine: a
//! torrent's status, its peers, trackers and files, and why it is not
//! finishing, in the control API's shapes ([`crate::control`]); and the
//! periodic resume saves. Reads only (the rate meters aside); the saves are
//! [`Action::Disk`] jobs like every other write.

use super::lifecycle::Lifecycle;
use super::peer::Phase;
use super::trackers::TrackerState;
use super::{Engine, TorrentId};
use crate::control::{FileStatus, PeerStatus, TorrentDetail, TorrentStatus, TrackerStatus};
use std::time::Instant;
use torrent_core::mse::Method;

/// Each tracker of the torrent, in the order they are asked (BEP 12).
fn tracker_statuses(t: &super::torrent::Torrent, now: Instant) -> Vec<TrackerStatus> {
    // One announce asks the tiers in turn: the next is the torrent's.
    let next = (t.life.running() && !t.trackers.is_empty())
        .then(|| if t.announcing { 0 } else { t.next_announce.saturating_duration_since(now).as_secs() });
    let mut out = Vec::new();
    for url in t.trackers.iter().flatten() {
        let s = t.tracker_states.get(url);
        let state = TrackerState::state(s);
        let status = match state {
            "ok" => "ok",
            "error" | "backing off" => "error",
            _ if !t.life.running() => "disabled",
            _ => "pending",
        };
        out.push(TrackerStatus {
            url: url.clone(),
            status: status.into(),
            error: s.and_then(|s| s.error.clone()),
            peers: s.and_then(|s| s.peers),
            state: state.into(),
            seeders: s.and_then(|s| s.seeders),
            leechers: s.and_then(|s| s.leechers),
            next_announce_secs: next,
        });
    }
    out
}

impl Engine {
    /// The torrents present (not removed), in the order added.
    pub fn torrent_ids(&self) -> Vec<TorrentId> {
        (0..self.torrents.len()).filter(|&i| self.torrents[i].is_some()).collect()
    }

    /// The torrent with this info-hash.
    pub fn find(&self, hash: &torrent_core::InfoHash) -> Option<TorrentId> {
        self.torrents.iter().position(|t| t.as_ref().is_some_and(|t| t.info_hash == *hash))
    }

    /// The verified pieces, when known (for a session's state).
    pub fn have_pieces(&self, tid: TorrentId) -> Option<Vec<bool>> {
        Some(self.torrent(tid)?.life.picker()?.have_slice().to_vec())
    }

    /// One torrent as the list shows it. `downloaded`/`uploaded` are this
    /// engine's (the daemon adds what earlier runs did).
    pub fn status(&mut self, tid: TorrentId, now: Instant) -> Option<TorrentStatus> {
        let diagnosis = self.diagnosis(tid);
        let connecting = self.connecting(tid);
        let limits = self.effective_seed_limits(tid);
        let t = self.torrents.get_mut(tid)?.as_mut()?;
        let own = t.seed_limits;
        let snap = t.snapshot(now);
        let state = t.life.api_name();
        let complete = t.life.picker().is_some_and(|p| p.is_complete());
        let progress = if snap.total > 0 {
            snap.have_bytes as f64 / snap.total as f64
        } else if complete {
            1.0
        } else {
            0.0
        };
        let eta_secs = (snap.down_rate > 1.0 && snap.total > snap.have_bytes)
            .then(|| ((snap.total - snap.have_bytes) as f64 / snap.down_rate) as u64);
        let size = t.life.meta().map(|m| m.info.total_length).unwrap_or(0);
        let error = match &t.life {
            Lifecycle::Failed { reason, .. } => Some(reason.clone()),
            _ => None,
        };
        let stalled = matches!(t.life, Lifecycle::Downloading(_) | Lifecycle::FetchingMetadata { .. })
            .then(|| diagnosis.first().cloned())
            .flatten();
        Some(TorrentStatus {
            info_hash: snap.info_hash,
            name: snap.name,
            state: state.to_string(),
            progress,
            total_bytes: snap.total,
            have_bytes: snap.have_bytes,
            downloaded: snap.downloaded,
            uploaded: snap.uploaded,
            download_rate: snap.down_rate.round() as u64,
            upload_rate: snap.up_rate.round() as u64,
            peers: (snap.peers - connecting.min(snap.peers)) as u32,
            connecting: connecting as u32,
            known: snap.known as u32,
            eta_secs,
            ratio: snap.uploaded as f64 / snap.downloaded.max(size).max(1) as f64,
            save_dir: t.dir.display().to_string(),
            error,
            stalled,
            session_downloaded: snap.downloaded,
            session_uploaded: snap.uploaded,
            seed_ratio: limits.ratio,
            seed_time: limits.time.map(|d| d.as_secs()),
            seed_ratio_mode: own.ratio.mode(),
            seed_time_mode: own.time.mode(),
        })
    }

    /// The status plus peers, trackers, files and the diagnosis.
    pub fn detail(&mut self, tid: TorrentId, now: Instant) -> Option<TorrentDetail> {
        let status = self.status(tid, now)?;
        let diagnosis = self.diagnosis(tid);
        let t = self.torrents.get(tid)?.as_ref()?;
        let npieces = t.life.picker().map(|p| p.num_pieces()).or_else(|| t.life.meta().map(|m| m.info.piece_count()));
        let mut peers_detail = Vec::new();
        for &k in &t.peers {
            let Some(Some(p)) = self.peers.get_mut(k) else { continue };
            if p.phase != Phase::Active {
                continue;
            }
            let have = p.st.peer_pieces().map(|b| b.count()).unwrap_or(0);
            let client = torrent_core::peer::client_id::client_name(&p.peer_id)
                .or_else(|| p.st.ext.as_ref().and_then(|e| e.client()))
                .unwrap_or_default();
            peers_detail.push(PeerStatus {
                addr: p.addr.to_string(),
                client,
                transport: p.kind.transport.as_str().to_string(),
                encrypted: p.kind.method == Method::Rc4,
                download_rate: p.down.rate(now).round() as u64,
                upload_rate: p.up.rate(now).round() as u64,
                am_choking: p.st.am_choking,
                am_interested: p.st.am_interested,
                peer_choking: p.st.peer_choking,
                peer_interested: p.st.peer_interested,
                progress: npieces.filter(|&n| n > 0).map_or(0.0, |n| have as f64 / n as f64),
            });
        }
        let trackers = tracker_statuses(t, now);
        let mut files = Vec::new();
        if let Some(meta) = t.life.meta() {
            let info = &meta.info;
            let numbers = torrent_core::select::numbers(info);
            let picker = t.life.picker();
            for (i, f) in info.files.iter().enumerate() {
                let Some(number) = numbers[i] else { continue };
                let selected = t.select.as_ref().map_or(true, |s| s.contains(&i));
                let have = match picker {
                    Some(p) if f.length > 0 => {
                        let first = f.offset / info.piece_length;
                        let last = (f.offset + f.length - 1) / info.piece_length;
                        (first..=last)
                            .filter(|&pi| p.has(pi as u32))
                            .map(|pi| {
                                let ps = pi * info.piece_length;
                                let pe = ps + p.piece_len(pi as u32) as u64;
                                pe.min(f.offset + f.length) - ps.max(f.offset)
                            })
                            .sum::<u64>()
                    }
                    _ => 0,
                };
                let progress = if f.length == 0 { if picker.is_some() { 1.0 } else { 0.0 } } else { have as f64 / f.length as f64 };
                files.push(FileStatus { index: number, path: f.path_string(), length: f.length, selected, progress });
            }
        }
        let webseeds = t.webseeds.statuses();
        Some(TorrentDetail { status, peers_detail, trackers, files, webseeds, diagnosis })
    }

    /// Connections of the torrent still connecting or handshaking.
    fn connecting(&self, tid: TorrentId) -> usize {
        let Some(Some(t)) = self.torrents.get(tid) else { return 0 };
        t.peers.iter().filter(|k| self.peers.get(**k).and_then(|p| p.as_ref()).is_some_and(|p| p.phase != Phase::Active)).count()
    }

    /// Why the torrent is not finishing, most important first; empty when
    /// nothing is wrong (or it is not downloading).
    pub fn diagnosis(&self, tid: TorrentId) -> Vec<String> {
        let Some(Some(t)) = self.torrents.get(tid) else { return Vec::new() };
        let mut out = Vec::new();
        let active: Vec<_> = t
            .peers
            .iter()
            .filter_map(|k| self.peers.get(*k).and_then(|p| p.as_ref()))
            .filter(|p| p.active())
            .collect();
        let mirrors = t.webseeds.sched.is_some();
        let tracker = t
            .tracker_error
            .as_ref()
            .filter(|_| t.tracker_failures > 0 && t.life.wants_peers())
            .map(|e| format!("tracker error: {e}"));
        // Without peers, a failing tracker is the likely cause: said first.
        let tracker_first = |out: &mut Vec<String>| {
            if let Some(l) = tracker.clone() {
                out.push(l);
            }
        };
        match &t.life {
            Lifecycle::Failed { reason, .. } => out.push(format!("failed: {reason}")),
            Lifecycle::Downloading(l) => {
                let p = &l.picker;
                let missing = (0..p.num_pieces() as u32).filter(|&i| p.is_wanted(i) && !p.has(i)).collect::<Vec<_>>();
                if !active.is_empty() && !mirrors {
                    let nobody = missing.iter().filter(|&&i| p.availability(i) == 0).count();
                    if nobody > 0 {
                        out.push(format!("{nobody} of the {} missing pieces: no connected peer has them", missing.len()));
                    }
                }
                if !active.is_empty() && active.iter().all(|p| p.st.peer_choking) {
                    out.push(format!("all {} connected peers choke us", active.len()));
                }
                if active.is_empty() && !mirrors {
                    tracker_first(&mut out);
                    out.push(self.no_peers(t));
                }
            }
            Lifecycle::FetchingMetadata { .. } if active.is_empty() => {
                tracker_first(&mut out);
                out.push(format!("fetching the metadata: {}", self.no_peers(t)));
            }
            _ => {}
        }
        if let Some(l) = tracker.filter(|l| !out.contains(l)) {
            out.push(l);
        }
        out
    }

    fn no_peers(&self, t: &super::torrent::Torrent) -> String {
        let connecting = t.peers.len();
        match (t.candidates.len(), connecting) {
            (0, _) if t.trackers.is_empty() && !self.cfg.dht => "no peers known (no trackers, no DHT)".to_string(),
            (0, _) => "no peers known yet".to_string(),
            (n, 0) => format!("no peer connected ({n} known, none reachable now)"),
            (n, c) => format!("no peer connected yet ({n} known, {c} connecting)"),
        }
    }
}
