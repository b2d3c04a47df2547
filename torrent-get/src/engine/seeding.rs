//! Seeding limits: a complete torrent seeds until its upload ratio or its
//! seeding time reaches the limit in force, then it is done (its peers
//! closed, `stopped` sent to its trackers). The limit in force is the
//! torrent's own ([`super::SeedLimits`], set by [`super::Command::SetSeedLimits`]):
//! a value, "unlimited", or the configuration's default.
//!
//! A change of a torrent's limits is judged at once: a seeding torrent
//! past the new limit is done; a torrent done because it reached its
//! limit whose new limit is not reached seeds again (back to
//! [`Lifecycle::Seeding`], `started` sent to its trackers at once, as
//! Transmission does when a torrent starts, and its peers dialled again).
//! The seeding time counts the time spent seeding in this run: not while
//! done or paused, so a torrent done after 1 s whose limit becomes 10 s
//! seeds 9 s more however long it sat done.

use super::lifecycle::Lifecycle;
use super::{AppliedSeedLimits, CloseReason, Engine, SeedLimits, TorrentId};
use std::time::Instant;

impl Engine {
    /// The seeding limits in force for a torrent: its own, else the
    /// configuration's.
    pub fn effective_seed_limits(&self, tid: TorrentId) -> AppliedSeedLimits {
        let own = self.torrent(tid).map(|t| t.seed_limits).unwrap_or_default();
        AppliedSeedLimits { ratio: own.ratio.or(self.cfg.seed_ratio), time: own.time.or(self.cfg.seed_time) }
    }

    /// Whether a complete torrent has reached a seeding limit in force.
    pub fn seed_limit_reached(&self, tid: TorrentId, now: Instant) -> bool {
        let limits = self.effective_seed_limits(tid);
        let Some(t) = self.torrent(tid) else { return false };
        let total = t.life.meta().map_or(0, |m| m.info.total_length).max(1);
        let ratio = (t.uploaded + t.uploaded_before) as f64 / total as f64;
        limits.ratio.is_some_and(|r| ratio >= r) || limits.time.is_some_and(|d| t.seeding_time(now) >= d)
    }

    /// Set a torrent's own seeding limits and apply them at once: a
    /// seeding torrent past them is done, a torrent done by its limit that
    /// the new ones no longer stop seeds again.
    pub(crate) fn set_seed_limits(&mut self, tid: TorrentId, limits: SeedLimits, now: Instant) {
        let Some(t) = self.torrents.get_mut(tid).and_then(|t| t.as_mut()) else { return };
        t.seed_limits = limits;
        let reached = self.seed_limit_reached(tid, now);
        match self.torrent(tid).map(|t| &t.life) {
            Some(Lifecycle::Seeding(_)) if reached => self.seeding_finished(tid, now),
            // Done with seeding on: done by a limit (without --seed a
            // complete torrent is done and stays so).
            Some(Lifecycle::Done(_)) if self.cfg.seed && !reached => self.seed_again(tid, now),
            _ => {}
        }
    }

    /// Bytes the torrent uploaded in earlier runs (for its seed ratio).
    pub fn set_uploaded_before(&mut self, tid: TorrentId, bytes: u64) {
        if let Some(t) = self.torrents.get_mut(tid).and_then(|t| t.as_mut()) {
            t.uploaded_before = bytes;
        }
    }

    /// Once a tick: seeding torrents that reached a limit are done.
    pub(crate) fn seed_limits(&mut self, now: Instant) {
        for tid in 0..self.torrents.len() {
            let seeding = self.torrents[tid].as_ref().is_some_and(|t| matches!(t.life, Lifecycle::Seeding(_)));
            if seeding && self.seed_limit_reached(tid, now) {
                self.seeding_finished(tid, now);
            }
        }
    }

    /// Seeding → done: peers closed, trackers told we stopped.
    fn seeding_finished(&mut self, tid: TorrentId, now: Instant) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let Lifecycle::Seeding(l) = t.life.take() else { return };
        t.life = Lifecycle::Done(l);
        t.seeding_clock_stop(now);
        let name = t.name.clone();
        self.log(format!("{name}: seeding limit reached"));
        self.close_torrent_peers(tid, CloseReason::SeedingFinished);
        self.announce_stopped(tid);
    }

    /// Done → seeding again: trackers told we started, peers dialled.
    fn seed_again(&mut self, tid: TorrentId, now: Instant) {
        let Some(t) = self.torrents[tid].as_mut() else { return };
        let Lifecycle::Done(l) = t.life.take() else { return };
        t.life = Lifecycle::Seeding(l);
        t.seeding_since = Some(now);
        t.next_dht = now;
        // Dial at once: forget the back-off of the peers we closed.
        for c in t.candidates.values_mut() {
            c.next_try = now;
        }
        let name = t.name.clone();
        self.log(format!("{name}: seeding again (the seeding limit is no longer reached)"));
        self.announce_started_now(tid);
        self.connect_more(now);
    }
}
