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
                let delta = if s > srtt { s - srtt } else { srtt - s };
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
