//! Transfer rate over a sliding window, for progress, choking and snubbing.

use std::time::{Duration, Instant};

const SLOTS: usize = 5;
const SLOT: Duration = Duration::from_secs(1);

/// Bytes per second averaged over the last few seconds.
#[derive(Debug, Clone)]
pub struct RateMeter {
    slots: [u64; SLOTS],
    current: usize,
    slot_start: Instant,
    started: Instant,
    pub total: u64,
}

impl RateMeter {
    pub fn new(now: Instant) -> RateMeter {
        RateMeter {
            slots: [0; SLOTS],
            current: 0,
            slot_start: now,
            started: now,
            total: 0,
        }
    }

    fn advance(&mut self, now: Instant) {
        let mut steps = 0;
        while now.duration_since(self.slot_start) >= SLOT && steps <= SLOTS {
            self.current = (self.current + 1) % SLOTS;
            self.slots[self.current] = 0;
            self.slot_start += SLOT;
            steps += 1;
        }
        if now.duration_since(self.slot_start) >= SLOT {
            self.slot_start = now;
        }
    }

    pub fn add(&mut self, now: Instant, bytes: u64) {
        self.advance(now);
        self.slots[self.current] += bytes;
        self.total += bytes;
    }

    pub fn rate(&mut self, now: Instant) -> f64 {
        self.advance(now);
        let window = now
            .duration_since(self.started)
            .min(SLOT * (SLOTS as u32 - 1) + now.duration_since(self.slot_start))
            .as_secs_f64()
            .max(0.5);
        self.slots.iter().sum::<u64>() as f64 / window
    }
}

/// A token bucket for `--max-download-rate` / `--max-upload-rate`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` bytes per second; 0 means unlimited.
    pub fn new(rate: u64, now: Instant) -> TokenBucket {
        TokenBucket { rate, tokens: rate as f64, last: now }
    }
    pub fn unlimited(&self) -> bool {
        self.rate == 0
    }
    fn refill(&mut self, now: Instant) {
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        // Allow bursts of at most one second's worth.
        self.tokens = (self.tokens + dt * self.rate as f64).min(self.rate as f64);
    }
    /// May `bytes` be spent now? Spends them if so.
    pub fn take(&mut self, now: Instant, bytes: u64) -> bool {
        if self.unlimited() {
            return true;
        }
        self.refill(now);
        if self.tokens >= bytes as f64 || self.tokens >= self.rate as f64 {
            self.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_averages_and_decays() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        for s in 0..4 {
            m.add(t0 + Duration::from_secs(s), 1000);
        }
        let r = m.rate(t0 + Duration::from_millis(4000));
        assert!((900.0..=1100.0).contains(&r), "{r}");
        assert_eq!(m.total, 4000);
        assert_eq!(m.rate(t0 + Duration::from_secs(20)), 0.0);
    }

    #[test]
    fn bucket_limits() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, t0);
        assert!(b.take(t0, 600));
        assert!(!b.take(t0, 600));
        assert!(b.take(t0 + Duration::from_millis(500), 600));
        assert!(TokenBucket::new(0, t0).take(t0, u64::MAX));
    }
}
