//! MSE/PE (BEP 8-style message stream encryption) under a connection of
//! the event loop: the handshake in progress (torrent-core's sans-IO
//! [`Initiator`] / [`Responder`]) and, once done, the RC4 pair every byte
//! passes through. The engine never sees any of it: it learns the
//! connection's [`ConnKind`] and reads and writes plaintext.

use crate::engine::ConnKind;
use std::time::{Duration, Instant};
use torrent_core::mse::{CipherPair, Initiator, MseError, Negotiated, Policy, Responder};
use torrent_core::transport::TransportKind;
use torrent_core::InfoHash;

/// How long an encryption handshake may take, from the connect.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

pub enum Side {
    Dial(Initiator),
    Answer(Responder),
}

/// A handshake in progress.
pub struct Handshake {
    side: Side,
    pub since: Instant,
}

impl Handshake {
    /// Dial for `info_hash`, offering what `policy` provides; the
    /// BitTorrent handshake follows the MSE one (no initial payload).
    pub fn dial(policy: Policy, info_hash: InfoHash, now: Instant) -> Result<Handshake, MseError> {
        Ok(Handshake { side: Side::Dial(Initiator::new(info_hash, policy.provide(), &[])?), since: now })
    }

    /// Answer an incoming connection for any of `torrents` (plaintext
    /// BitTorrent handshakes too, if `policy` allows them).
    pub fn answer(policy: Policy, torrents: Vec<InfoHash>, now: Instant) -> Handshake {
        Handshake { side: Side::Answer(Responder::new(policy, torrents)), since: now }
    }

    pub fn feed(&mut self, data: &[u8]) -> Result<(), MseError> {
        match &mut self.side {
            Side::Dial(i) => i.feed(data),
            Side::Answer(r) => r.feed(data),
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match &mut self.side {
            Side::Dial(i) => i.poll_transmit(),
            Side::Answer(r) => r.poll_transmit(),
        }
    }

    pub fn poll_outcome(&mut self) -> Option<Negotiated> {
        match &mut self.side {
            Side::Dial(i) => i.poll_outcome(),
            Side::Answer(r) => r.poll_outcome(),
        }
    }

    pub fn timed_out(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) >= HANDSHAKE_TIMEOUT
    }
}

/// What a connection ended up with: its kind, the cipher (RC4) if any,
/// and the peer's first plaintext bytes.
pub fn finish(n: Negotiated, transport: TransportKind) -> (ConnKind, Option<CipherPair>, Vec<u8>) {
    (ConnKind::new(transport, n.method), n.cipher, n.payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use torrent_core::mse::Method;

    /// Our dialling side against our answering side, as the loop drives
    /// them: RC4 under prefer, the payload through the cipher pair.
    #[test]
    fn dial_and_answer_agree() {
        let now = Instant::now();
        let ih = InfoHash([7; 20]);
        let mut a = Handshake::dial(Policy::Prefer, ih, now).unwrap();
        let mut b = Handshake::answer(Policy::Require, vec![InfoHash([1; 20]), ih], now);
        let (mut oa, mut ob) = (None, None);
        for _ in 0..10 {
            if let Some(x) = a.poll_transmit() {
                b.feed(&x).unwrap();
            }
            if let Some(x) = b.poll_transmit() {
                a.feed(&x).unwrap();
            }
            oa = oa.or_else(|| a.poll_outcome());
            ob = ob.or_else(|| b.poll_outcome());
        }
        let (ka, ca, _) = finish(oa.expect("dialler done"), TransportKind::Tcp);
        let (kb, cb, _) = finish(ob.expect("answerer done"), TransportKind::Tcp);
        assert_eq!(ka.method, Method::Rc4);
        assert_eq!(kb.method, Method::Rc4);
        let (mut ca, mut cb) = (ca.unwrap(), cb.unwrap());
        let mut msg = b"\x13BitTorrent protocol".to_vec();
        ca.encrypt.apply(&mut msg);
        assert_ne!(&msg[..], b"\x13BitTorrent protocol");
        cb.decrypt.apply(&mut msg);
        assert_eq!(&msg[..], b"\x13BitTorrent protocol");
    }

    #[test]
    fn require_refuses_a_plaintext_handshake() {
        let mut b = Handshake::answer(Policy::Require, vec![InfoHash([7; 20])], Instant::now());
        let mut hs = b"\x13BitTorrent protocol".to_vec();
        hs.extend_from_slice(&[0; 48]);
        assert!(b.feed(&hs).is_err());
        let mut b = Handshake::answer(Policy::Prefer, vec![InfoHash([7; 20])], Instant::now());
        b.feed(&hs).unwrap();
        let o = b.poll_outcome().expect("plaintext accepted under prefer");
        assert_eq!(o.method, Method::Plain);
        assert_eq!(o.payload, hs);
    }
}
