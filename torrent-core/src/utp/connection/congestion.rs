//! LEDBAT congestion control (BEP 29): the congestion window, slow start,
//! the one-way delay measurements and their base (the minimum over the
//! last two to three minutes, one bucket a minute, which cancels the
//! clocks' offset),
//! and loss recovery (the window halves once per loss episode and falls to
//! one packet on a timeout). The target queueing delay is 100 ms by
//! default; the window grows or shrinks by at most 3000 bytes per RTT,
//! scaled by how far the delay is off target.

use std::collections::VecDeque;
use std::time::Duration;

use super::super::packet::seq_less;
use super::Config;

/// Minimum of the delay samples over the last few minutes, one bucket per
/// minute (the base delay of LEDBAT).
#[derive(Debug, Default)]
struct DelayHistory {
    buckets: VecDeque<(u64, u32)>,
}

impl DelayHistory {
    const BUCKETS: usize = 3;

    fn add(&mut self, minute: u64, sample: u32) {
        match self.buckets.back_mut() {
            Some((m, v)) if *m == minute => {
                if (sample.wrapping_sub(*v) as i32) < 0 {
                    *v = sample;
                }
            }
            _ => {
                self.buckets.push_back((minute, sample));
                while self.buckets.len() > Self::BUCKETS {
                    self.buckets.pop_front();
                }
            }
        }
    }

    fn base(&self) -> Option<u32> {
        let mut it = self.buckets.iter().map(|b| b.1);
        let first = it.next()?;
        Some(it.fold(
            first,
            |a, b| if (b.wrapping_sub(a) as i32) < 0 { b } else { a },
        ))
    }
}

#[derive(Debug)]
pub(super) struct Ledbat {
    cwnd: f64,
    ssthresh: f64,
    slow_start: bool,
    /// In loss recovery until this sequence number is acknowledged.
    recovery_until: Option<u16>,
    delays: DelayHistory,
    queuing_delay_us: u32,
    target_delay: Duration,
    max_payload: usize,
    max_window: usize,
}

impl Ledbat {
    pub(super) fn new(cfg: &Config) -> Ledbat {
        Ledbat {
            cwnd: (2 * cfg.max_payload) as f64,
            ssthresh: cfg.max_window as f64,
            slow_start: true,
            recovery_until: None,
            delays: DelayHistory::default(),
            queuing_delay_us: 0,
            target_delay: cfg.target_delay,
            max_payload: cfg.max_payload,
            max_window: cfg.max_window,
        }
    }

    /// The window never falls below two packets (but for a timeout's one).
    fn min_window(&self) -> f64 {
        (2 * self.max_payload) as f64
    }

    /// Congestion window (bytes).
    pub(super) fn cwnd(&self) -> usize {
        self.cwnd as usize
    }

    /// The last measured queueing delay (above the base delay).
    pub(super) fn queuing_delay(&self) -> Duration {
        Duration::from_micros(self.queuing_delay_us as u64)
    }

    /// The peer's echo of our one-way delay (`timestamp_difference`, µs),
    /// `elapsed` since the connection's epoch.
    pub(super) fn delay_sample(&mut self, elapsed: Duration, sample: u32) {
        let minute = elapsed.as_secs() / 60;
        self.delays.add(minute, sample);
        let base = self.delays.base().unwrap_or(sample);
        self.queuing_delay_us = sample.wrapping_sub(base).min(10_000_000);
    }

    /// The cumulative ACK moved to `ack`: a recovery episode it covers ends.
    pub(super) fn on_progress(&mut self, ack: u16) {
        if let Some(r) = self.recovery_until {
            if !seq_less(ack, r) {
                self.recovery_until = None;
            }
        }
    }

    /// A packet was lost (fast retransmit); `last_sent` is the highest
    /// sequence number sent. The window halves once per episode.
    pub(super) fn on_loss(&mut self, last_sent: u16) {
        if self.recovery_until.is_none() {
            self.cwnd = (self.cwnd / 2.0).max(self.min_window());
            self.ssthresh = self.cwnd;
            self.slow_start = false;
            self.recovery_until = Some(last_sent);
        }
    }

    /// The retransmission timer fired: one packet, slow start again.
    pub(super) fn on_timeout(&mut self, last_sent: u16) {
        self.ssthresh = (self.cwnd / 2.0).max(self.min_window());
        self.cwnd = self.max_payload as f64;
        self.slow_start = true;
        self.recovery_until = Some(last_sent);
    }

    /// LEDBAT window update for `acked` newly acknowledged bytes.
    pub(super) fn on_acked(&mut self, acked: usize) {
        let target = self.target_delay.as_micros().max(1) as f64;
        let delay = self.queuing_delay_us as f64;
        let min = self.min_window();
        if self.slow_start {
            if delay > target / 2.0 {
                self.slow_start = false;
                self.ssthresh = self.cwnd;
            } else {
                self.cwnd += acked as f64;
                if self.cwnd >= self.ssthresh {
                    self.slow_start = false;
                }
            }
        }
        if !self.slow_start {
            let off_target = ((target - delay) / target).clamp(-1.0, 1.0);
            let window_factor = (acked as f64 / self.cwnd.max(1.0)).min(1.0);
            self.cwnd += 3000.0 * off_target * window_factor;
        }
        self.cwnd = self
            .cwnd
            .clamp(min, self.max_window.max(min as usize) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_delay_is_the_minimum_of_the_last_three_minutes() {
        let mut h = DelayHistory::default();
        assert_eq!(h.base(), None);
        h.add(0, 100);
        h.add(0, 50);
        h.add(0, 70);
        h.add(1, 80);
        h.add(2, 90);
        assert_eq!(h.base(), Some(50));
        h.add(3, 95); // minute 0 falls out
        assert_eq!(h.base(), Some(80));
    }

    #[test]
    fn base_delay_compares_across_the_32_bit_wrap() {
        let mut h = DelayHistory::default();
        h.add(0, u32::MAX - 5);
        h.add(1, 10); // 16 µs later than the first, not smaller
        assert_eq!(h.base(), Some(u32::MAX - 5));
    }

    #[test]
    fn slow_start_grows_by_the_acked_bytes_until_the_delay_rises() {
        let mut l = Ledbat::new(&Config::default());
        assert_eq!(l.cwnd(), 2800);
        l.delay_sample(Duration::ZERO, 1000);
        assert_eq!(l.queuing_delay(), Duration::ZERO);
        l.on_acked(14_000);
        assert_eq!(l.cwnd(), 16_800);
        // 200 ms over the base: twice the target, the window shrinks by
        // the most LEDBAT allows for a window's worth of ACKs.
        l.delay_sample(Duration::from_secs(1), 201_000);
        assert_eq!(l.queuing_delay(), Duration::from_millis(200));
        l.on_acked(16_800);
        assert_eq!(l.cwnd(), 13_800);
    }

    #[test]
    fn a_loss_halves_the_window_once_per_episode_and_a_timeout_drops_it_to_one_packet() {
        let mut l = Ledbat::new(&Config::default());
        l.on_acked(14_000);
        l.on_loss(10);
        assert_eq!(l.cwnd(), 8400);
        l.on_loss(10);
        l.on_progress(9);
        l.on_loss(12);
        assert_eq!(l.cwnd(), 8400, "still in the episode that ends at 10");
        l.on_progress(10);
        l.on_loss(20);
        assert_eq!(l.cwnd(), 4200);
        l.on_timeout(30);
        assert_eq!(l.cwnd(), 1400);
    }
}
