//! Announce tokens: `SHA-1(secret || requester IPv4)`, truncated to 8 bytes.
//! The secret rotates every few minutes (BEP 5 suggests 5) and tokens made
//! with the current or the previous secret are accepted, so a token is valid
//! for 5 to 10 minutes and only from the address it was given to.

use sha1::{Digest, Sha1};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub const TOKEN_LEN: usize = 8;

#[derive(Debug, Clone)]
pub struct Tokens {
    current: [u8; 16],
    previous: [u8; 16],
    rotated_at: Instant,
    interval: Duration,
}

impl Tokens {
    pub fn new(interval: Duration, now: Instant) -> Tokens {
        Tokens {
            current: rand::random(),
            previous: rand::random(),
            rotated_at: now,
            interval,
        }
    }

    fn make(secret: &[u8; 16], ip: Ipv4Addr) -> [u8; TOKEN_LEN] {
        let mut h = Sha1::new();
        h.update(secret);
        h.update(ip.octets());
        let d = h.finalize();
        let mut t = [0u8; TOKEN_LEN];
        t.copy_from_slice(&d[..TOKEN_LEN]);
        t
    }

    pub fn token_for(&self, ip: Ipv4Addr) -> Vec<u8> {
        Self::make(&self.current, ip).to_vec()
    }

    pub fn verify(&self, ip: Ipv4Addr, token: &[u8]) -> bool {
        token == Self::make(&self.current, ip) || token == Self::make(&self.previous, ip)
    }

    /// Rotate now.
    pub fn rotate(&mut self, now: Instant) {
        self.previous = self.current;
        self.current = rand::random();
        self.rotated_at = now;
    }

    /// Rotate if the interval has passed.
    pub fn maybe_rotate(&mut self, now: Instant) {
        if now.saturating_duration_since(self.rotated_at) >= self.interval {
            self.rotate(now);
        }
    }

    pub fn next_rotation(&self) -> Instant {
        self.rotated_at + self.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_for_two_periods_and_one_ip() {
        let t0 = Instant::now();
        let mut t = Tokens::new(Duration::from_secs(300), t0);
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        let tok = t.token_for(a);
        assert_eq!(tok.len(), TOKEN_LEN);
        assert!(t.verify(a, &tok));
        assert!(!t.verify(b, &tok));
        assert!(!t.verify(a, &tok[..4]));
        t.maybe_rotate(t0 + Duration::from_secs(10));
        assert!(t.verify(a, &tok));
        t.maybe_rotate(t0 + Duration::from_secs(300));
        assert!(t.verify(a, &tok), "previous secret still accepted");
        t.maybe_rotate(t0 + Duration::from_secs(600));
        assert!(!t.verify(a, &tok), "two rotations later it expired");
    }
}
