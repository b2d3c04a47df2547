//! Per-torrent state owned by the engine: its [`Lifecycle`], known peer
//! addresses (the table is in [`super::candidates`]) and bans, tracker schedule and
//! transfer totals.

use super::lifecycle::Lifecycle;
use crate::rate::RateMeter;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Instant;
use torrent_core::InfoHash;

pub use super::candidates::{Candidate, Source, MAX_CANDIDATES, MAX_CONNECT_FAILURES};

pub struct Torrent {
    pub id: usize,
    pub info_hash: InfoHash,
    pub name: String,
    /// The name on disk (`Info::name_disk`; before a magnet's metadata
    /// arrives, `name`'s bytes).
    pub name_disk: Vec<u8>,
    pub life: Lifecycle,
    pub dir: PathBuf,
    /// File indices to download (None: all).
    pub select: Option<Vec<usize>>,
    pub trackers: Vec<Vec<String>>,
    pub next_announce: Instant,
    pub announcing: bool,
    pub announced_started: bool,
    pub announced_completed: bool,
    pub candidates: HashMap<SocketAddr, Candidate>,
    /// Keyed by peer address (IP and port): several peers can share an IP
    /// (NAT, loopback), and one liar must not get them all banned.
    pub banned: HashMap<SocketAddr, ()>,
    /// Who sent the blocks of failed pieces (parole).
    pub blame: super::blame::Blame,
    pub peers: Vec<super::PeerKey>,
    pub down: RateMeter,
    pub up: RateMeter,
    /// Payload bytes received and sent (not counting protocol overhead).
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes received that were not needed (duplicates, unrequested).
    pub wasted: u64,
    pub hash_failures: u32,
    /// Since when it seeds (completion, or seeding again after a limit
    /// was raised; None: not seeding), and how long it seeded before that
    /// (this run): its seeding time, for the time limit.
    pub seeding_since: Option<Instant>,
    pub seeded: std::time::Duration,
    /// Its own seeding limits (each may follow the configuration's).
    pub seed_limits: super::SeedLimits,
    /// Bytes uploaded by earlier runs (the daemon's session): they count
    /// towards the seed ratio.
    pub uploaded_before: u64,
    pub started_at: Instant,
    /// The DHT lookup in progress, and when to start the next.
    pub dht_lookup: bool,
    pub next_dht: Instant,
    /// DHT lookups in a row that found nobody (sets the retry back-off).
    pub dht_empty: u32,
    /// Announces in a row that failed (the first is said, and the recovery;
    /// sets the retry back-off).
    pub tracker_failures: u32,
    /// Explicit peers (`--peer`) whose failure was reported (once each).
    pub peer_failures_reported: std::collections::HashSet<SocketAddr>,
    /// BEP 19 mirrors.
    pub webseeds: super::webseed::WebSeeds,
    /// What each tracker (by URL) last did, for the control API's status;
    /// and the last announce error (every tracker failed).
    pub tracker_states: HashMap<String, super::trackers::TrackerState>,
    pub tracker_error: Option<String>,
    /// Verified pieces when resume data was last saved periodically.
    pub resume_saved: Option<usize>,
    /// When resume data was last saved periodically.
    pub resume_saved_at: Instant,
}

/// Addresses a peer list may contain that can never be a peer: port 0,
/// unspecified, broadcast and multicast addresses.
pub fn is_connectable(addr: &SocketAddr) -> bool {
    let bad_ip = match addr.ip().to_canonical() {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    };
    addr.port() != 0 && !bad_ip
}

impl Torrent {
    /// How long it has seeded in this run (not while done or paused).
    pub fn seeding_time(&self, now: Instant) -> std::time::Duration {
        self.seeded + self.seeding_since.map_or(std::time::Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    /// It stops seeding (done, paused, downloading more): the time so far
    /// is kept for when it seeds again.
    pub fn seeding_clock_stop(&mut self, now: Instant) {
        if let Some(s) = self.seeding_since.take() {
            self.seeded += now.saturating_duration_since(s);
        }
    }

    pub fn new(id: usize, info_hash: InfoHash, name: String, dir: PathBuf, now: Instant) -> Torrent {
        Torrent {
            id,
            info_hash,
            name_disk: name.as_bytes().to_vec(),
            name,
            life: Lifecycle::FetchingMetadata { fetch: Box::new(super::metadata_fetch::MetadataFetch::new(info_hash)) },
            dir,
            select: None,
            trackers: Vec::new(),
            next_announce: now,
            announcing: false,
            announced_started: false,
            announced_completed: false,
            candidates: HashMap::new(),
            banned: HashMap::new(),
            blame: Default::default(),
            peers: Vec::new(),
            down: RateMeter::new(now),
            up: RateMeter::new(now),
            downloaded: 0,
            uploaded: 0,
            wasted: 0,
            hash_failures: 0,
            seeding_since: None,
            seeded: std::time::Duration::ZERO,
            seed_limits: Default::default(),
            uploaded_before: 0,
            started_at: now,
            dht_lookup: false,
            next_dht: now,
            dht_empty: 0,
            tracker_failures: 0,
            peer_failures_reported: Default::default(),
            webseeds: Default::default(),
            tracker_states: HashMap::new(),
            tracker_error: None,
            resume_saved: None,
            resume_saved_at: now,
        }
    }

    /// Ban an address (a proven liar: see [`super::blame`]); false if it
    /// already was.
    pub fn ban(&mut self, addr: SocketAddr) -> bool {
        if self.banned.insert(addr, ()).is_some() {
            return false;
        }
        self.candidates.remove(&addr);
        true
    }

    /// Private torrents (BEP 27) get peers from their trackers only.
    pub fn is_private(&self) -> bool {
        self.life.meta().is_some_and(|m| m.info.private)
    }

    fn have_wanted_bytes(&self) -> u64 {
        let Some(p) = self.life.picker() else { return 0 };
        (0..p.num_pieces() as u32)
            .filter(|&i| p.has(i) && p.is_wanted(i))
            .map(|i| p.piece_len(i) as u64)
            .sum()
    }

    pub fn left(&self) -> u64 {
        self.life.picker().map(|p| p.left_bytes()).unwrap_or(u64::MAX / 2)
    }

    pub fn snapshot(&mut self, now: Instant) -> crate::progress::Snapshot {
        let (have_bytes, have_pieces, pieces, total) = match self.life.picker() {
            Some(p) => {
                let have = self.have_wanted_bytes();
                (have, p.have_count(), p.num_pieces(), p.left_bytes() + have)
            }
            None => (0, 0, 0, 0),
        };
        let (mirrors, mirrors_known) = self.webseeds.counts();
        crate::progress::Snapshot {
            name: self.name.clone(),
            info_hash: self.info_hash.to_hex(),
            total,
            have_bytes,
            have_pieces,
            pieces,
            down_rate: self.down.rate(now),
            up_rate: self.up.rate(now),
            downloaded: self.downloaded,
            uploaded: self.uploaded,
            peers: self.peers.len(),
            connecting: 0,
            known: self.candidates.len(),
            mirrors,
            mirrors_known,
            webseeds: self.webseeds.statuses(),
            seeding: matches!(self.life, Lifecycle::Seeding(_)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_addresses_are_not_candidates() {
        for bad in ["0.0.0.0:6881", "255.255.255.255:1", "224.0.0.1:1", "127.0.0.1:0", "[::]:1", "[ff02::1]:1"] {
            assert!(!is_connectable(&bad.parse().unwrap()), "{bad}");
        }
        assert!(is_connectable(&"127.0.0.1:6881".parse().unwrap()));
        assert!(is_connectable(&"[::1]:6881".parse().unwrap()));
        let now = Instant::now();
        let mut t = Torrent::new(0, InfoHash([0; 20]), "t".into(), PathBuf::from("."), now);
        t.add_candidate("0.0.0.0:1".parse().unwrap(), Source::Tracker, now);
        assert!(t.candidates.is_empty());
        t.add_candidate("127.0.0.1:5".parse().unwrap(), Source::Tracker, now);
        assert_eq!(t.ready_candidates(now, 10).len(), 1);
        t.connection_failed("127.0.0.1:5".parse().unwrap(), now, false);
        assert!(t.ready_candidates(now, 10).is_empty(), "back-off after a failure");
        let a: SocketAddr = "127.0.0.1:5".parse().unwrap();
        assert!(t.ban(a));
        assert!(!t.ban(a), "banned once");
        assert!(t.candidates.is_empty());
        t.add_candidate(a, Source::Tracker, now);
        assert!(t.candidates.is_empty(), "banned addresses are not candidates again");
    }
}
