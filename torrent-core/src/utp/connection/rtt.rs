//! The round-trip time estimate and the retransmission timeout: smoothed
//! RTT and its variation from packets acknowledged after one transmission
//! (RFC 6298 weights, as libutp), RTO = srtt + 4·rttvar kept within
//! [`min_rto`, `max_rto`] (the minimum is libtorrent's `utp_min_timeout`),
//! doubled on every timeout until progress resets it. The timer's deadline
//! is the connection's; this owns only the numbers.
//!
//! [`min_rto`]: super::Config::min_rto
//! [`max_rto`]: super::Config::max_rto

use std::time::Duration;

use super::Config;

#[derive(Debug)]
pub(super) struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min_rto: Duration,
    initial_rto: Duration,
    max_rto: Duration,
}

impl Rtt {
    pub(super) fn new(cfg: &Config) -> Rtt {
        Rtt {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: cfg.initial_rto,
            min_rto: cfg.min_rto,
            initial_rto: cfg.initial_rto,
            max_rto: cfg.max_rto,
        }
    }

    /// Smoothed round-trip time, once measured.
    pub(super) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The retransmission timeout in force.
    pub(super) fn rto(&self) -> Duration {
        self.rto
    }

    /// One round trip measured (a packet acknowledged that was sent once).
    pub(super) fn sample(&mut self, s: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(s);
                self.rttvar = s / 2;
            }
            Some(srtt) => {
                let delta = s.abs_diff(srtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + s) / 8);
            }
        }
    }

    /// The acknowledgements progressed: the timeout is the computed one
    /// again (any back-off ends).
    pub(super) fn reset(&mut self) {
        self.rto = match self.srtt {
            Some(srtt) => (srtt + self.rttvar * 4).clamp(self.min_rto, self.max_rto),
            None => self.initial_rto,
        };
    }

    /// The timer fired: wait twice as long next time.
    pub(super) fn back_off(&mut self) {
        self.rto = (self.rto * 2).min(self.max_rto);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rto_follows_the_smoothed_samples_within_its_bounds() {
        let mut r = Rtt::new(&Config::default());
        assert_eq!((r.srtt(), r.rto()), (None, Duration::from_secs(1)));
        r.sample(Duration::from_millis(100));
        assert_eq!(r.srtt(), Some(Duration::from_millis(100)));
        r.reset();
        assert_eq!(
            r.rto(),
            Duration::from_millis(500),
            "100 + 4·50 ms, raised to the minimum"
        );
        r.sample(Duration::from_millis(1000));
        // rttvar (3·50 + 900) / 4 = 262.5 ms, srtt (7·100 + 1000) / 8 = 212.5 ms
        assert_eq!(r.srtt(), Some(Duration::from_micros(212_500)));
        r.reset();
        assert_eq!(r.rto(), Duration::from_micros(1_262_500));
    }

    #[test]
    fn back_off_doubles_up_to_the_maximum_and_reset_ends_it() {
        let mut r = Rtt::new(&Config::default());
        r.back_off();
        assert_eq!(r.rto(), Duration::from_secs(2));
        for _ in 0..10 {
            r.back_off();
        }
        assert_eq!(r.rto(), Duration::from_secs(60));
        r.reset();
        assert_eq!(
            r.rto(),
            Duration::from_secs(1),
            "no sample yet: the initial RTO"
        );
    }
}
