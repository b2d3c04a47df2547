//! How many requests we keep outstanding at one peer: its request pipeline.
//!
//! Deep enough to keep the peer's link busy, and no deeper: requests count
//! against the in-flight budget ([`super::download::MAX_IN_FLIGHT`]) that
//! all peers share, and a deep queue at a slow peer both starves the fast
//! ones of budget and makes the last pieces wait on it.
//!
//! The depth is the peer's bandwidth-delay product, measured:
//! - **Round trip:** one request at a time is timed (a probe); the shortest
//!   request-to-block time seen is the round trip without queueing (the
//!   first requests of a connection meet an empty queue).
//! - **Delivery rate:** bytes received per [`WINDOW`]; the estimate is the
//!   largest of the last [`WINDOWS`] windows, so it follows a rising rate at
//!   once (a burst of a ramping far link shows the link's rate) and a
//!   falling one within half a second.
//! - **Depth:** the rate for twice the round trip plus [`QUEUE_SLACK`],
//!   between [`MIN_PIPELINE`] and [`MAX_PIPELINE`]. Twice the round trip
//!   lets a link that was held back by the depth double its rate every
//!   round trip (slow start comes for free); the slack covers a peer that
//!   serves in bursts.
//!
//! Until the first round trip and the first window's rate are known, slow
//! start: one more request per block received. A peer none of whose blocks is in a verified piece yet
//! holds at most [`UNPROVEN_PIPELINE`] (or a piece's worth of blocks), so
//! a liar's first verdict comes before it holds many requests.

use std::time::{Duration, Instant};
use torrent_core::peer::BlockRef;
use torrent_core::picker::BLOCK_SIZE;

/// Fewest requests kept at a peer (and the depth it starts with).
pub const MIN_PIPELINE: usize = 16;
/// 16 MiB: the whole [`super::download::MAX_IN_FLIGHT`] budget, so one fast
/// far peer can be asked for its bandwidth-delay product with room to
/// spare (20 MiB/s at 400 ms round trip is 8 MiB).
pub const MAX_PIPELINE: usize = 1024;
/// Most requests at a peer none of whose blocks has passed a check yet.
pub const UNPROVEN_PIPELINE: usize = 32;
/// Queueing allowed at a peer beyond twice its round trip.
pub const QUEUE_SLACK: Duration = Duration::from_millis(100);
/// The time a delivery-rate sample covers.
pub const WINDOW: Duration = Duration::from_millis(100);
/// Rate samples the estimate takes the largest of.
pub const WINDOWS: usize = 5;

#[derive(Debug, Clone)]
pub struct Pipeline {
    depth: usize,
    /// The request being timed and when it was sent.
    probe: Option<(BlockRef, Instant)>,
    min_rtt: Option<Duration>,
    window_start: Instant,
    window_bytes: u64,
    /// Delivery-rate samples (bytes/s), newest at `next - 1`.
    samples: [f64; WINDOWS],
    next: usize,
    /// Windows closed so far (none: the rate is not known yet).
    windows: u64,
}

impl Pipeline {
    pub fn new(now: Instant) -> Pipeline {
        Pipeline {
            depth: MIN_PIPELINE,
            probe: None,
            min_rtt: None,
            window_start: now,
            window_bytes: 0,
            samples: [0.0; WINDOWS],
            next: 0,
            windows: 0,
        }
    }

    /// Requests to keep outstanding at the peer.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The round trip without queueing, once measured.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// The delivery-rate estimate, bytes/s.
    pub fn rate(&self) -> f64 {
        self.samples.iter().copied().fold(0.0, f64::max)
    }

    /// Requests were sent, `first` the first of them: timed if no other is.
    pub fn requests_sent(&mut self, first: Option<BlockRef>, now: Instant) {
        if self.probe.is_none() {
            self.probe = first.map(|b| (b, now));
        }
    }

    /// A requested block arrived. `cap`: the most requests allowed now
    /// (see [`Pipeline::unproven_cap`]).
    pub fn block_arrived(&mut self, b: BlockRef, now: Instant, cap: usize) {
        if let Some((probe, sent)) = self.probe {
            if probe == b {
                let sample = now.saturating_duration_since(sent);
                self.min_rtt = Some(self.min_rtt.map_or(sample, |m| m.min(sample)));
                self.probe = None;
            }
        }
        self.window_bytes += b.length as u64;
        self.close_window(now);
        if self.measured() {
            self.resize(cap);
        } else {
            // Slow start until the round trip and a rate are known.
            self.depth = (self.depth + 1).min(cap).max(MIN_PIPELINE);
        }
    }

    /// Once in a while (the engine's tick): forget a probe that will not
    /// come back (`requested` says whether it is still outstanding), and
    /// let the rate fall when nothing arrives.
    pub fn tick(&mut self, now: Instant, cap: usize, requested: impl Fn(&BlockRef) -> bool) {
        if let Some((b, _)) = self.probe {
            if !requested(&b) {
                self.probe = None;
            }
        }
        self.close_window(now);
        if self.measured() {
            self.resize(cap);
        }
    }

    /// The cap for a peer: [`MAX_PIPELINE`] once a piece it sent blocks of
    /// passed, else [`UNPROVEN_PIPELINE`] or a piece of blocks if more (a
    /// verdict needs a whole piece).
    pub fn unproven_cap(proven: bool, piece_length: u64) -> usize {
        if proven {
            MAX_PIPELINE
        } else {
            let blocks = piece_length.div_ceil(BLOCK_SIZE as u64) as usize;
            UNPROVEN_PIPELINE.max(blocks).min(MAX_PIPELINE)
        }
    }

    fn measured(&self) -> bool {
        self.min_rtt.is_some() && self.windows > 0
    }

    fn close_window(&mut self, now: Instant) {
        let len = now.saturating_duration_since(self.window_start);
        if len < WINDOW {
            return;
        }
        self.samples[self.next] = self.window_bytes as f64 / len.as_secs_f64();
        self.next = (self.next + 1) % WINDOWS;
        self.windows += 1;
        // A span of several windows (nothing arrived to close them): the
        // windows before are as empty, so a peer that stalls after a burst
        // loses its depth (and its share of the budget) at the next tick.
        let spans = (len.as_nanos() / WINDOW.as_nanos()).min(WINDOWS as u128) as usize;
        for _ in 1..spans {
            self.samples[self.next] = 0.0;
            self.next = (self.next + 1) % WINDOWS;
        }
        self.window_start = now;
        self.window_bytes = 0;
    }

    fn resize(&mut self, cap: usize) {
        let rtt = self.min_rtt.unwrap_or_default();
        let secs = 2.0 * rtt.as_secs_f64() + QUEUE_SLACK.as_secs_f64();
        let blocks = (self.rate() * secs / BLOCK_SIZE as f64).ceil() as usize + 8;
        self.depth = blocks.clamp(MIN_PIPELINE, cap.max(MIN_PIPELINE)).min(MAX_PIPELINE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: u32 = BLOCK_SIZE;

    /// A peer at `rate` bytes/s and `rtt`, kept at our depth for `secs`:
    /// blocks arrive a round trip after they are asked for, no faster than
    /// the rate. Returns the depth reached.
    fn run(rate: f64, rtt: Duration, secs: f64) -> Pipeline {
        let t0 = Instant::now();
        let mut p = Pipeline::new(t0);
        let mut asked: std::collections::VecDeque<(BlockRef, Instant)> = Default::default();
        let mut next_index = 0u32;
        let mut link_free = t0;
        let mut now = t0;
        let step = Duration::from_millis(1);
        while now < t0 + Duration::from_secs_f64(secs) {
            while asked.len() < p.depth() {
                let b = BlockRef { index: next_index, begin: 0, length: B };
                next_index += 1;
                // Served after the request's half round trip, behind the
                // blocks before it, at the rate; back half a round trip on.
                let start = link_free.max(now + rtt / 2);
                link_free = start + Duration::from_secs_f64(B as f64 / rate);
                asked.push_back((b, link_free + rtt / 2));
                p.requests_sent(Some(b), now);
            }
            while asked.front().is_some_and(|a| a.1 <= now) {
                let (b, _) = asked.pop_front().unwrap();
                p.block_arrived(b, now, MAX_PIPELINE);
            }
            now += step;
        }
        p
    }

    #[test]
    fn the_depth_is_about_twice_the_bandwidth_delay_product() {
        // 8 MiB/s at 150 ms: a BDP of 77 blocks.
        let p = run(8.0 * 1048576.0, Duration::from_millis(150), 3.0);
        let rtt = p.min_rtt().unwrap();
        assert!(rtt >= Duration::from_millis(150) && rtt < Duration::from_millis(160), "{rtt:?}");
        assert!((150..=260).contains(&p.depth()), "depth {}", p.depth());
        // 0.5 MiB/s 10 ms away: the minimum, not a second of its rate.
        let p = run(0.5 * 1048576.0, Duration::from_millis(10), 3.0);
        assert!(p.depth() <= 20, "depth {}", p.depth());
    }

    #[test]
    fn a_fast_far_link_is_filled_within_a_few_seconds() {
        // 20 MiB/s at 400 ms: 512 blocks in flight are needed.
        let p = run(20.0 * 1048576.0, Duration::from_millis(400), 4.0);
        assert!(p.depth() >= 800, "depth {} rate {} rtt {:?}", p.depth(), p.rate(), p.min_rtt());
        assert!(p.rate() > 18.0 * 1048576.0, "rate {}", p.rate());
    }

    #[test]
    fn the_rate_falls_at_the_first_tick_after_a_stall() {
        let t0 = Instant::now();
        let mut p = Pipeline::new(t0);
        // A burst at 8 MiB/s for a second, 50 ms away...
        p.requests_sent(Some(BlockRef { index: 0, begin: 0, length: B }), t0);
        let mut now = t0;
        for i in 0..512 {
            now = t0 + Duration::from_millis(50) + Duration::from_micros(1953 * i);
            p.block_arrived(BlockRef { index: i as u32, begin: 0, length: B }, now, MAX_PIPELINE);
        }
        assert!(p.depth() > 100, "depth {}", p.depth());
        // ...then nothing: the engine's next tick (a second later) finds
        // the windows empty.
        p.tick(now + Duration::from_secs(1), MAX_PIPELINE, |_| true);
        assert_eq!(p.depth(), MIN_PIPELINE);
    }

    #[test]
    fn an_unproven_peer_is_capped() {
        assert_eq!(Pipeline::unproven_cap(false, 256 * 1024), UNPROVEN_PIPELINE);
        assert_eq!(Pipeline::unproven_cap(false, 4 << 20), 256);
        assert_eq!(Pipeline::unproven_cap(true, 256 * 1024), MAX_PIPELINE);
        let t0 = Instant::now();
        let mut p = Pipeline::new(t0);
        for i in 0..100 {
            p.block_arrived(BlockRef { index: i, begin: 0, length: B }, t0, UNPROVEN_PIPELINE);
        }
        assert_eq!(p.depth(), UNPROVEN_PIPELINE);
    }
}
