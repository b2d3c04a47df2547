//! Choking (BEP 3 practice). [`decide`] is the algorithm as a pure function: the `slots` interested peers with the best rate
//! are unchoked (rate: what they give us while downloading, what they take
//! while seeding), plus one optimistic unchoke that rotates among the rest so
//! new peers get a chance to prove themselves.
//!
//! The number of slots grows while upload bandwidth is to spare
//! ([`slots_for`], after libtorrent's rate-based choker): one more than the
//! number of peers whose upload rates, best first, stay above a threshold
//! that rises with each slot; never under `--upload-slots`
//! (`--fixed-upload-slots` holds it there). It is worked out every tick, and
//! a slot that comes free (a peer no longer interested, or gone) goes to a
//! choked interested peer at once, not at the next 10 s rechoke: one seeder
//! of many torrents with few leechers keeps every connection busy.

use super::lifecycle::Lifecycle;
use super::{Engine, PeerKey};
use rand::Rng;
use std::time::{Duration, Instant};
use torrent_core::peer::message::Message;

pub const RECHOKE_EVERY: Duration = Duration::from_secs(10);
pub const OPTIMISTIC_EVERY: Duration = Duration::from_secs(30);
/// The upload rate (bytes/s) the first peer must take for a slot beyond
/// it to open; each further slot asks [`SLOT_RATE_STEP`] more of its peer.
pub const SLOT_RATE_FIRST: f64 = 1024.0;
pub const SLOT_RATE_STEP: f64 = 2048.0;

/// Upload slots for these upload rates (any order): at least `base`, and
/// one more than the peers that climb the ladder (the best must take
/// [`SLOT_RATE_FIRST`], the next that plus [`SLOT_RATE_STEP`], ...).
pub fn slots_for(rates: &mut [f64], base: usize) -> usize {
    rates.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    let mut threshold = SLOT_RATE_FIRST;
    let mut climbed = 0;
    for &r in rates.iter() {
        if r < threshold {
            break;
        }
        climbed += 1;
        threshold += SLOT_RATE_STEP;
    }
    base.max(climbed + 1)
}

/// When the choker last ran and who holds the optimistic unchoke.
pub struct Choker {
    last_rechoke: Instant,
    last_optimistic: Instant,
    pub optimistic: Option<PeerKey>,
    /// Regular upload slots now (see [`slots_for`]).
    pub slots: usize,
}

impl Choker {
    pub fn new(now: Instant, slots: usize) -> Choker {
        Choker { last_rechoke: now, last_optimistic: now, optimistic: None, slots }
    }
    pub fn peer_gone(&mut self, key: PeerKey) {
        if self.optimistic == Some(key) {
            self.optimistic = None;
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub key: usize,
    pub interested: bool,
    pub rate: f64,
}

#[derive(Debug, Default)]
pub struct Decision {
    /// (peer, unchoke?) for every candidate.
    pub states: Vec<(usize, bool)>,
    pub optimistic: Option<usize>,
}

pub fn decide(cands: &[Candidate], slots: usize, optimistic: Option<usize>, rotate: bool, rng: &mut impl Rng) -> Decision {
    let mut interested: Vec<&Candidate> = cands.iter().filter(|c| c.interested).collect();
    interested.sort_by(|a, b| b.rate.partial_cmp(&a.rate).unwrap_or(std::cmp::Ordering::Equal));
    let regular: Vec<usize> = interested.iter().take(slots).map(|c| c.key).collect();
    let rest: Vec<usize> = interested.iter().skip(slots).map(|c| c.key).collect();
    let mut opt = optimistic.filter(|k| rest.contains(k));
    if (rotate || opt.is_none()) && !rest.is_empty() {
        opt = Some(rest[rng.gen_range(0..rest.len())]);
    }
    if rest.is_empty() {
        opt = None;
    }
    let states = cands
        .iter()
        .map(|c| (c.key, regular.contains(&c.key) || opt == Some(c.key)))
        .collect();
    Decision { states, optimistic: opt }
}


impl Engine {
    /// Tit-for-tat: every 10 s unchoke the interested peers that give us the
    /// most (or, when seeding, take the most), plus one optimistic unchoke
    /// rotated every 30 s.
    pub(crate) fn rechoke(&mut self, now: Instant) {
        self.choker.slots = if self.cfg.fixed_upload_slots {
            self.cfg.upload_slots
        } else {
            let mut rates: Vec<f64> =
                self.peers.iter_mut().flatten().filter(|p| p.active() && !p.st.am_choking).map(|p| p.up.rate(now)).collect();
            slots_for(&mut rates, self.cfg.upload_slots)
        };
        if now.duration_since(self.choker.last_rechoke) < RECHOKE_EVERY {
            self.fill_free_slots(now);
            return;
        }
        self.choker.last_rechoke = now;
        let rotate = now.duration_since(self.choker.last_optimistic) >= OPTIMISTIC_EVERY;
        if rotate {
            self.choker.last_optimistic = now;
        }
        let mut cands = Vec::new();
        for (key, p) in self.peers.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            if !p.active() {
                continue;
            }
            let seeding = p.torrent.and_then(|t| self.torrents[t].as_ref()).is_some_and(|t| matches!(t.life, Lifecycle::Seeding(_)));
            let rate = if seeding { p.up.rate(now) } else { p.down.rate(now) };
            cands.push(Candidate { key, interested: p.st.peer_interested, rate });
        }
        let decision = decide(&cands, self.choker.slots, self.choker.optimistic, rotate, &mut self.rng);
        self.choker.optimistic = decision.optimistic;
        for (key, unchoke) in decision.states {
            self.set_choke(key, !unchoke, now);
        }
    }

    /// A peer became interested: unchoke at once if a slot is free.
    pub(crate) fn maybe_unchoke_now(&mut self, key: PeerKey, now: Instant) {
        if self.unchoked_interested() < self.choker.slots + 1 {
            self.set_choke(key, false, now);
        }
    }

    fn unchoked_interested(&self) -> usize {
        self.peers.iter().flatten().filter(|p| p.active() && !p.st.am_choking && p.st.peer_interested).count()
    }

    /// Slots free (a peer lost interest or left, or more slots opened):
    /// unchoke choked interested peers into them now, the best rates first.
    pub(crate) fn fill_free_slots(&mut self, now: Instant) {
        let bound = self.choker.slots + 1;
        let unchoked = self.unchoked_interested();
        if unchoked >= bound {
            return;
        }
        let mut waiting: Vec<(PeerKey, f64)> = Vec::new();
        for (key, p) in self.peers.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            if p.active() && p.st.am_choking && p.st.peer_interested {
                let seeding = p.torrent.and_then(|t| self.torrents[t].as_ref()).is_some_and(|t| matches!(t.life, Lifecycle::Seeding(_)));
                waiting.push((key, if seeding { p.up.rate(now) } else { p.down.rate(now) }));
            }
        }
        waiting.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        for (key, _) in waiting.into_iter().take(bound - unchoked) {
            self.set_choke(key, false, now);
        }
    }

    pub(crate) fn set_choke(&mut self, key: PeerKey, choke: bool, now: Instant) {
        let Some(Some(p)) = self.peers.get_mut(key) else { return };
        if p.st.am_choking == choke {
            return;
        }
        if choke {
            // Queued requests are void: rejected with the fast extension.
            let queued = if p.st.fast { p.st.take_peer_requests() } else { Vec::new() };
            p.send(&Message::Choke, now);
            for b in queued {
                p.send(&Message::RejectRequest { index: b.index, begin: b.begin, length: b.length }, now);
            }
        } else {
            p.send(&Message::Unchoke, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn c(key: usize, interested: bool, rate: f64) -> Candidate {
        Candidate { key, interested, rate }
    }

    #[test]
    fn best_rates_plus_one_optimistic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let cands = [c(0, true, 10.0), c(1, true, 50.0), c(2, false, 99.0), c(3, true, 30.0), c(4, true, 1.0), c(5, true, 2.0)];
        let d = decide(&cands, 2, None, true, &mut rng);
        let on: Vec<usize> = d.states.iter().filter(|s| s.1).map(|s| s.0).collect();
        assert!(on.contains(&1) && on.contains(&3));
        assert!(!on.contains(&2), "not interested stays choked");
        assert_eq!(on.len(), 3);
        let opt = d.optimistic.unwrap();
        assert!([0, 4, 5].contains(&opt));
        // Without rotation the optimistic peer stays.
        let d2 = decide(&cands, 2, Some(opt), false, &mut rng);
        assert_eq!(d2.optimistic, Some(opt));
    }

    #[test]
    fn slots_grow_while_every_unchoked_peer_takes_a_good_rate() {
        // Nobody uploading yet: the configured slots.
        assert_eq!(slots_for(&mut [], 4), 4);
        assert_eq!(slots_for(&mut [0.0, 0.0], 4), 4);
        // Five peers at 1 MB/s each: a sixth slot opens.
        assert_eq!(slots_for(&mut [1e6; 5], 4), 6);
        // The ladder: 1 KiB/s, 3 KiB/s, 5 KiB/s, ... (best first, any order given).
        assert_eq!(slots_for(&mut [5200.0, 6000.0, 5500.0], 1), 4);
        assert_eq!(slots_for(&mut [5200.0, 6000.0, 5000.0], 1), 3);
        // A limited link split over many peers stops the growth.
        assert_eq!(slots_for(&mut [100.0 * 1024.0 / 50.0; 50], 4), 4);
    }

    #[test]
    fn few_peers_all_unchoked() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let d = decide(&[c(7, true, 0.0)], 4, None, true, &mut rng);
        assert_eq!(d.states, vec![(7, true)]);
        assert_eq!(d.optimistic, None);
    }
}
