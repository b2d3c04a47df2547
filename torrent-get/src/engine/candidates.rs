//! A torrent's connection candidates: addresses from trackers, the DHT,
//! `--peer` and magnet links, and PEX (BEP 11), with reconnection back-off.
//! The table is bounded ([`MAX_CANDIDATES`]) and a peer cannot fill it by
//! PEX (issue 18): PEX entries are capped in all ([`MAX_PEX`]) and per
//! sender ([`MAX_PEX_PER_SENDER`]); when the table is full, a tracker, DHT
//! or `--peer` address displaces a PEX one, and addresses that never
//! answered (most failures first) are the first to go. Among addresses
//! ready to dial, those from trackers, the DHT and `--peer` go first.

use super::torrent::{is_connectable, Torrent};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Give up on an address after this many failed connections in a row.
pub const MAX_CONNECT_FAILURES: u32 = 8;
/// Most peer addresses remembered per torrent.
pub const MAX_CANDIDATES: usize = 2000;
/// Most of them learnt by PEX.
pub const MAX_PEX: usize = MAX_CANDIDATES / 4;
/// Most learnt from one PEX sender.
pub const MAX_PEX_PER_SENDER: usize = 100;

/// Where an address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--peer` or the magnet link's `x.pe`.
    Explicit,
    Tracker,
    Dht,
    /// From this peer's `ut_pex` messages.
    Pex(SocketAddr),
}

impl Source {
    fn is_pex(&self) -> bool {
        matches!(self, Source::Pex(_))
    }
}

/// What others said of an address (PEX `added.f`, BEP 11), used to pick
/// the first attempt ([`super::encryption::dial_kind`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    /// Some(true): flagged as speaking uTP (0x04); Some(false): flags
    /// given without it; None: nobody said.
    pub utp: Option<bool>,
    /// Flagged as preferring encryption (0x01).
    pub encryption: bool,
}

#[derive(Debug, Clone)]
pub struct Candidate {
    pub failures: u32,
    pub next_try: Instant,
    pub connected: bool,
    pub source: Source,
    /// A connection to it ever completed its handshake.
    pub answered: bool,
    pub hints: Hints,
    /// The transport of the last connection to it that came up (the next
    /// dial's first attempt, [`super::eyeballs`]).
    pub transport: Option<torrent_core::transport::TransportKind>,
    /// Some(true): a uTP connection to it came up; Some(false): the last
    /// uTP connect failed; None: not known.
    pub utp_ok: Option<bool>,
}

impl Candidate {
    /// Larger: sooner evicted. Never one being connected.
    fn eviction_rank(&self) -> Option<(bool, bool, u32)> {
        (!self.connected).then_some((self.source.is_pex(), !self.answered, self.failures))
    }

    /// Dead: tried and never answered.
    fn dead(&self) -> bool {
        !self.connected && !self.answered && self.failures > 0
    }
}

impl Torrent {
    pub fn add_candidate(&mut self, addr: SocketAddr, source: Source, now: Instant) {
        if self.banned.contains_key(&addr) || !is_connectable(&addr) {
            return;
        }
        if let Some(c) = self.candidates.get_mut(&addr) {
            // Heard again from a better source: it counts as that.
            if c.source.is_pex() && !source.is_pex() {
                c.source = source;
            }
            return;
        }
        if let Source::Pex(from) = source {
            let pex = self.candidates.values().filter(|c| c.source.is_pex()).count();
            let mine = self.candidates.values().filter(|c| c.source == Source::Pex(from)).count();
            if (pex >= MAX_PEX || mine >= MAX_PEX_PER_SENDER) && !self.evict(|c| c.source.is_pex() && c.dead()) {
                return;
            }
        }
        if self.candidates.len() >= MAX_CANDIDATES {
            let made_room = if source.is_pex() {
                self.evict(|c| c.dead())
            } else {
                self.evict(|c| c.source.is_pex() || c.dead())
            };
            if !made_room {
                return;
            }
        }
        self.candidates.insert(addr, Candidate { failures: 0, next_try: now, connected: false, source, answered: false, hints: Hints::default(), transport: None, utp_ok: None });
    }

    /// A PEX message's `added.f` byte for `addr` (a candidate already).
    pub fn pex_flags(&mut self, addr: SocketAddr, f: u8) {
        use torrent_core::peer::pex::flags;
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.hints.utp = Some(f & flags::SUPPORTS_UTP != 0);
            c.hints.encryption |= f & flags::PREFERS_ENCRYPTION != 0;
        }
    }

    pub fn hints(&self, addr: &SocketAddr) -> Hints {
        self.candidates.get(addr).map(|c| c.hints).unwrap_or_default()
    }

    /// Remove the worst candidate that `may_go`; false if none may.
    fn evict(&mut self, may_go: impl Fn(&Candidate) -> bool) -> bool {
        let worst = self
            .candidates
            .iter()
            .filter(|(_, c)| may_go(c))
            .filter_map(|(a, c)| c.eviction_rank().map(|r| (r, *a)))
            .max();
        match worst {
            Some((_, a)) => {
                self.candidates.remove(&a);
                true
            }
            None => false,
        }
    }

    /// A connection to `addr` completed its handshake.
    pub fn candidate_answered(&mut self, addr: SocketAddr) {
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.answered = true;
        }
    }

    /// A connection to `addr` failed or ended: try again later, with
    /// exponential back-off (1 s, 2 s, 4 s, ... up to 5 minutes).
    pub fn connection_failed(&mut self, addr: SocketAddr, now: Instant, had_data: bool) {
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.connected = false;
            if had_data {
                c.failures = 0;
            } else {
                c.failures += 1;
            }
            // 1 s, 2 s, 4 s, ... (a peer that just started may refuse us once).
            let backoff = Duration::from_secs(1u64 << c.failures.saturating_sub(1).min(8)).min(Duration::from_secs(300));
            c.next_try = now + backoff;
            if c.failures >= MAX_CONNECT_FAILURES {
                self.candidates.remove(&addr);
            }
        }
    }

    /// Addresses to connect to now: fewest failures first, then those not
    /// from PEX, then the longest waiting.
    pub fn ready_candidates(&self, now: Instant, max: usize) -> Vec<SocketAddr> {
        let mut v: Vec<(&SocketAddr, &Candidate)> = self
            .candidates
            .iter()
            .filter(|(a, c)| !c.connected && c.next_try <= now && !self.banned.contains_key(a))
            .collect();
        v.sort_by_key(|(a, c)| (c.failures, c.source.is_pex(), c.next_try, **a));
        v.into_iter().take(max).map(|(a, _)| *a).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use torrent_core::InfoHash;

    fn addr(i: usize) -> SocketAddr {
        format!("127.{}.{}.{}:6881", 1 + i / 65536, (i / 256) % 256, i % 256).parse().unwrap()
    }

    #[test]
    fn pex_cannot_fill_the_table_and_trackers_displace_it() {
        let now = Instant::now();
        let mut t = Torrent::new(0, InfoHash([0; 20]), "t".into(), PathBuf::from("."), now);
        let liar: SocketAddr = "127.0.0.2:1".parse().unwrap();
        for i in 0..2400 {
            t.add_candidate(addr(i), Source::Pex(liar), now);
        }
        assert_eq!(t.candidates.len(), MAX_PEX_PER_SENDER, "one sender's share");
        for s in 0..10 {
            let from: SocketAddr = format!("127.0.0.3:{}", s + 1).parse().unwrap();
            for i in 0..200 {
                t.add_candidate(addr(10_000 + s * 1000 + i), Source::Pex(from), now);
            }
        }
        assert_eq!(t.candidates.len(), MAX_PEX, "all PEX together");
        for i in 0..MAX_CANDIDATES {
            t.add_candidate(addr(50_000 + i), Source::Tracker, now);
        }
        assert_eq!(t.candidates.len(), MAX_CANDIDATES);
        let pex = t.candidates.values().filter(|c| c.source.is_pex()).count();
        assert_eq!(pex, 0, "tracker addresses displaced every PEX one");
        // A full table of live tracker addresses does not take PEX ones.
        t.add_candidate(addr(99_999), Source::Pex(liar), now);
        assert!(!t.candidates.contains_key(&addr(99_999)));
        // ... unless one is dead (tried, never answered): it goes first.
        let dead = addr(50_007);
        t.connection_failed(dead, now, false);
        t.candidate_answered(addr(50_008));
        t.add_candidate(addr(99_999), Source::Pex(liar), now);
        assert!(t.candidates.contains_key(&addr(99_999)));
        assert!(!t.candidates.contains_key(&dead));
    }

    #[test]
    fn tracker_addresses_are_dialled_before_pex_ones() {
        let now = Instant::now();
        let mut t = Torrent::new(0, InfoHash([0; 20]), "t".into(), PathBuf::from("."), now);
        let liar: SocketAddr = "127.0.0.2:1".parse().unwrap();
        for i in 0..50 {
            t.add_candidate(addr(i), Source::Pex(liar), now);
        }
        let later = now + Duration::from_secs(5);
        t.add_candidate(addr(1000), Source::Tracker, later);
        assert_eq!(t.ready_candidates(later, 1), vec![addr(1000)]);
    }
}
