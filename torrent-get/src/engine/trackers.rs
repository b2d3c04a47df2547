//! Where peers come from and how often we ask: tracker announces (started,
//! regular, completed, stopped; the tracker's interval within bounds; a
//! failed one retried after 5, 10, 20, 40 s, then every minute), DHT
//! lookups every 5 minutes (1 minute after one found nobody), and dialling
//! candidates (half-open and per-torrent limits, back-off in `torrent`).

use super::peer::Phase;
use super::torrent::Torrent;
use super::{Action, Engine, Report, TorrentId};
use crate::announce::AnnounceResult;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use torrent_core::dht::node::DhtEvent;
use torrent_core::tracker::{AnnounceRequest, Event};

pub const DHT_EVERY: Duration = Duration::from_secs(300);
pub const DHT_RETRY: Duration = Duration::from_secs(60);

/// When to look again after `empty` lookups in a row found nobody: 5 s,
/// 10 s, 20 s, 40 s, then every [`DHT_RETRY`]. The first lookups of a run
/// often start before the routing table is filled (the bootstrap answers
/// come later), so a quick second look finds the peers a first one missed.
pub fn dht_retry(empty: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << empty.min(5))).min(DHT_RETRY)
}
pub const ANNOUNCE_RETRY: Duration = Duration::from_secs(60);

/// When to announce again after `failures` failed announces in a row: 5 s,
/// 10 s, 20 s, 40 s, then every [`ANNOUNCE_RETRY`] (a tracker that was
/// briefly down is soon used again; a dead one is not hammered).
pub fn announce_retry(failures: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << failures.saturating_sub(1).min(5))).min(ANNOUNCE_RETRY)
}
/// Most dial attempts outstanding at once ([`Engine::half_open`]).
pub(crate) const MAX_HALF_OPEN: usize = 16;
/// A bounded wait for `stopped` announces at exit.
const STOPPED_TIMEOUT: Duration = Duration::from_secs(2);

/// One tracker's last answer or error (BEP 12: the trackers of a torrent
/// are asked in order until one answers, so some may never be asked).
#[derive(Debug, Clone, Default)]
pub struct TrackerState {
    /// Its last announce worked.
    pub ok: bool,
    /// Its announces that failed in a row, and the last error.
    pub failures: u32,
    pub error: Option<String>,
    /// From its last answer.
    pub peers: Option<u32>,
    pub seeders: Option<u32>,
    pub leechers: Option<u32>,
}

impl TrackerState {
    /// The control API's name: "ok", "error" (its last announce failed),
    /// "backing off" (failed more than once in a row: asked again at
    /// growing intervals, [`announce_retry`]) or "not contacted".
    pub fn state(s: Option<&TrackerState>) -> &'static str {
        match s {
            None => "not contacted",
            Some(s) if s.ok => "ok",
            Some(s) if s.failures > 1 => "backing off",
            Some(s) if s.failures == 1 => "error",
            Some(_) => "not contacted",
        }
    }

    fn failed(&mut self, error: String) {
        self.ok = false;
        self.failures += 1;
        self.error = Some(error);
    }
}

/// What a tracker error says without the URL (the status names it).
fn error_text(e: &torrent_core::tracker::TrackerError) -> String {
    e.kind.to_string()
}

fn announce_request(t: &Torrent, peer_id: &[u8; 20], port: u16, event: Event) -> AnnounceRequest {
    let mut req = AnnounceRequest::new(t.info_hash, *peer_id, port.max(1));
    req.uploaded = t.uploaded;
    req.downloaded = t.downloaded;
    req.left = t.left();
    req.event = event;
    req
}

impl Engine {
    fn announce(&mut self, tid: TorrentId, event: Event, timeout: Duration) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let request = announce_request(t, &self.peer_id, self.listen_port, event);
        t.announcing = true;
        let tiers = t.trackers.clone();
        self.actions.push_back(Action::Announce { torrent: tid, tiers, request, timeout });
    }

    pub(crate) fn announce_due(&mut self, now: Instant) {
        for tid in 0..self.torrents.len() {
            let Some(t) = self.torrents[tid].as_mut() else { continue };
            if t.announcing || t.trackers.is_empty() || now < t.next_announce || !t.life.running() {
                continue;
            }
            let event = if t.announced_started { Event::None } else { Event::Started };
            t.announced_started = true;
            self.announce(tid, event, self.cfg.tracker_timeout);
        }
    }

    pub(crate) fn announce_completed(&mut self, tid: TorrentId) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        if t.downloaded > 0 && t.announced_started && !t.announced_completed && !t.trackers.is_empty() {
            t.announced_completed = true;
            self.announce(tid, Event::Completed, self.cfg.tracker_timeout);
        }
    }

    /// `stopped` (at the end of the run, or when seeding ends at a limit),
    /// once: a torrent that starts again announces `started`.
    pub(crate) fn announce_stopped(&mut self, tid: TorrentId) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        if t.announced_started && !t.trackers.is_empty() {
            t.announced_started = false;
            // Best effort, bounded: do not wait for slow trackers.
            self.announce(tid, Event::Stopped, STOPPED_TIMEOUT);
        }
    }

    /// `started` now, not at the next planned announce (seeding again
    /// after a stop), even while another announce is under way.
    pub(crate) fn announce_started_now(&mut self, tid: TorrentId) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        if !t.trackers.is_empty() {
            t.announced_started = true;
            self.announce(tid, Event::Started, self.cfg.tracker_timeout);
        }
    }

    pub(crate) fn on_announced(&mut self, r: AnnounceResult, now: Instant) {
        let Some(Some(t)) = self.torrents.get_mut(r.torrent) else { return };
        t.announcing = false;
        match r.result {
            Ok(ans) => {
                if let Some(tiers) = r.tiers {
                    t.trackers = tiers;
                }
                let interval = Duration::from_secs(ans.response.interval.max(1) as u64)
                    .max(self.cfg.announce_interval_min)
                    .min(Duration::from_secs(3600));
                t.next_announce = now + interval;
                let n = ans.response.peers.len();
                for a in ans.response.peers {
                    if a.port() != 0 {
                        t.add_candidate(a, super::candidates::Source::Tracker, now);
                    }
                }
                let (name, hash) = (t.name.clone(), t.info_hash.to_hex());
                for e in &ans.failures {
                    t.tracker_states.entry(e.url.clone()).or_default().failed(error_text(e));
                }
                t.tracker_states.insert(
                    ans.url.clone(),
                    TrackerState {
                        ok: true,
                        failures: 0,
                        error: None,
                        peers: Some(n as u32),
                        seeders: ans.response.complete,
                        leechers: ans.response.incomplete,
                    },
                );
                t.tracker_error = None;
                if std::mem::take(&mut t.tracker_failures) > 0 {
                    self.log(format!("{name}: tracker {}: working again ({n} peers)", ans.url));
                }
                if let Some(w) = ans.response.warning {
                    self.log(format!("{name}: tracker {} warns: {w}", ans.url));
                }
                self.report(Report::Json(json!({"event": "announce", "info_hash": hash, "tracker": ans.url, "peers": n})));
            }
            Err(e) => {
                for f in &e.failures {
                    t.tracker_states.entry(f.url.clone()).or_default().failed(error_text(f));
                }
                t.tracker_failures += 1;
                let retry = announce_retry(t.tracker_failures);
                t.next_announce = now + retry;
                let (name, hash) = (t.name.clone(), t.info_hash.to_hex());
                // Said once (and when it recovers), every time with -v.
                t.tracker_error = Some(e.to_string());
                if t.tracker_failures == 1 || self.cfg.verbose {
                    self.log(format!(
                        "{name}: {e} (retrying in {} s, then at most every {} s)",
                        retry.as_secs(),
                        ANNOUNCE_RETRY.as_secs()
                    ));
                }
                self.report(Report::Json(json!({"event": "tracker_error", "info_hash": hash, "error": e.to_string()})));
            }
        }
    }

    pub(crate) fn on_dht(&mut self, ev: DhtEvent, now: Instant) {
        match ev {
            DhtEvent::Peers { info_hash, peers, .. } => {
                if let Some(t) = self.torrents.iter_mut().flatten().find(|t| t.info_hash == info_hash) {
                    if !t.is_private() {
                        for a in peers {
                            t.add_candidate(a, super::candidates::Source::Dht, now);
                        }
                    }
                }
            }
            DhtEvent::LookupDone { info_hash, peers_found, .. } => {
                if let Some(t) = self.torrents.iter_mut().flatten().find(|t| t.info_hash == info_hash && t.dht_lookup) {
                    t.dht_lookup = false;
                    if peers_found == 0 {
                        t.next_dht = now + dht_retry(t.dht_empty);
                        t.dht_empty += 1;
                    } else {
                        t.dht_empty = 0;
                        t.next_dht = now + DHT_EVERY;
                    }
                }
                self.report(Report::Json(json!({"event": "dht", "info_hash": info_hash.to_hex(), "peers": peers_found})));
            }
            DhtEvent::Announced { .. } | DhtEvent::Bootstrapped { .. } => {}
        }
    }

    /// Start due DHT lookups (announce_peer does get_peers first).
    pub(crate) fn dht_due(&mut self, now: Instant) {
        if !self.cfg.dht {
            return;
        }
        let port = (self.listen_port != 0).then_some(self.listen_port);
        for tid in 0..self.torrents.len() {
            let Some(t) = self.torrents[tid].as_mut() else { continue };
            if t.dht_lookup || t.is_private() || !t.life.wants_peers() {
                continue;
            }
            if now < t.next_dht {
                continue;
            }
            t.dht_lookup = true;
            let info_hash = t.info_hash;
            self.actions.push_back(Action::DhtLookup { torrent: tid, info_hash, port });
        }
    }

    /// Dial attempts outstanding: dials the loop has not answered yet
    /// (`dialling`) and dialled connections still connecting (closing ones
    /// too, until the loop has closed them). Each attempt of a happy-eyeballs
    /// race ([`super::eyeballs`]) is one.
    pub(crate) fn half_open(&self) -> usize {
        self.peers.iter().flatten().filter(|p| p.phase == Phase::Connecting).count() + self.dialling
    }

    /// How many more dials may start now: under [`MAX_HALF_OPEN`], and
    /// within the connection budget (descriptors, [`super::slots`]).
    pub(crate) fn dial_room(&self) -> usize {
        let open = self.connection_count() + self.dialling;
        MAX_HALF_OPEN.saturating_sub(self.half_open()).min(self.cfg.max_connections.saturating_sub(open))
    }

    /// Dial candidates: at most [`MAX_HALF_OPEN`] connects at once,
    /// `max_peers` per torrent.
    /// Racers waiting for a slot ([`super::eyeballs`]) go first.
    pub(crate) fn connect_more(&mut self, now: Instant) {
        self.eyeballs_due(now);
        let mut budget = self.dial_room();
        let mut dials = Vec::new();
        for tid in 0..self.torrents.len() {
            let Some(t) = self.torrents[tid].as_mut() else { continue };
            // Seeds dial too: some leechers (transmission) wait to be called.
            if !t.life.wants_peers() {
                continue;
            }
            let room = self.cfg.max_peers.saturating_sub(t.peers.len()).min(budget);
            if room == 0 {
                continue;
            }
            let connected: Vec<SocketAddr> = t.peers.iter().filter_map(|k| self.peers[*k].as_ref().map(|p| p.addr)).collect();
            let addrs: Vec<SocketAddr> =
                t.ready_candidates(now, room + connected.len()).into_iter().filter(|a| !connected.contains(a)).take(room).collect();
            for a in addrs {
                budget -= 1;
                if let Some(c) = t.candidates.get_mut(&a) {
                    c.connected = true;
                }
                let worked = t.candidates.get(&a).and_then(|c| c.transport);
                let kind = super::encryption::dial_kind(self.cfg.encryption, self.cfg.transports, &self.failed, a, t.hints(&a), worked);
                dials.push((tid, a, kind));
            }
        }
        for (tid, a, kind) in dials {
            self.dial_first(tid, a, kind, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dht_lookups_back_off_from_5_s_to_the_retry_interval() {
        let secs: Vec<u64> = (0..7).map(|n| dht_retry(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 60, 60, 60]);
    }

    #[test]
    fn failed_announces_back_off_from_5_s_to_the_retry_interval() {
        let secs: Vec<u64> = (1..8).map(|n| announce_retry(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 60, 60, 60]);
    }
}
