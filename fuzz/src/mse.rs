//! The MSE/PE responder (and initiator) fed arbitrary bytes. Keys are fixed
//! so a recorded handshake stays valid and the fuzzer can mutate its way
//! past the sync markers into the encrypted header, PadC and IA.

use torrent_core::infohash::InfoHash;
use torrent_core::mse::{CryptoSet, Initiator, Method, Policy, Responder};

pub const IH: InfoHash = InfoHash([0x11; 20]);
pub const OTHER: InfoHash = InfoHash([0x22; 20]);
/// The initiator's and responder's private keys in fuzz runs.
pub const KEY_A: [u8; 20] = [0xa5; 20];
pub const KEY_B: [u8; 20] = [0x5b; 20];

/// Most a responder may hold while scanning or reading IA.
const MAX_BUFFERED: usize = 96 + 512 + 20 + 14 + 512 + 2 + 65535;

/// First byte: policy (bits 0-1) and chunk size (bits 2-7, +1); the rest
/// is what a dialing peer sends to the responder, and, separately, what a
/// listening peer sends back to an initiator.
pub fn check_mse(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let policy = match ctl & 3 {
        0 => Policy::Off,
        1 | 3 => Policy::Prefer,
        _ => Policy::Require,
    };
    let chunk = (ctl >> 2) as usize + 1;
    let mut r = Responder::with_padding(policy, [OTHER, IH], 0, 0).with_fixed_key(&KEY_B);
    let mut failed = false;
    let mut fed = 0;
    for c in rest.chunks(chunk) {
        if r.is_done() {
            break;
        }
        if r.feed(c).is_err() {
            failed = true;
            assert!(r.feed(b"x").is_err(), "errors are final");
            assert!(r.poll_transmit().is_none(), "nothing to send after an error");
            break;
        }
        fed += c.len();
        assert!(r.buffered() <= MAX_BUFFERED, "responder holds {}", r.buffered());
    }
    if let Some(o) = r.poll_outcome() {
        assert!(!failed);
        assert!(policy.allows(o.method), "{policy} gave {}", o.method);
        match o.method {
            Method::Plain => {
                assert_ne!(policy, Policy::Require);
                assert!(o.cipher.is_none() && o.info_hash.is_none());
                assert_eq!(&o.payload[..], &rest[..o.payload.len()]);
                assert!(o.payload.len() <= fed);
            }
            m => {
                assert_eq!(o.info_hash, Some(IH), "only known torrents match");
                assert_eq!(o.cipher.is_some(), m == Method::Rc4);
                assert!(o.payload.len() <= fed);
            }
        }
    }
    // The same bytes as a listener's answer to our dial.
    let mut a =
        Initiator::with_fixed_key(IH, CryptoSet::BOTH, b"ia", 0, 0, &KEY_A).expect("valid");
    assert!(a.poll_transmit().is_some());
    for c in rest.chunks(chunk) {
        if a.feed(c).is_err() {
            assert!(a.feed(b"x").is_err(), "errors are final");
            break;
        }
        assert!(a.buffered() <= 96 + 512 + 8, "initiator holds {}", a.buffered());
        if a.is_done() {
            let o = a.poll_outcome().expect("done");
            assert_eq!(o.cipher.is_some(), o.method == Method::Rc4);
            assert_ne!(o.method, Method::Plain);
            break;
        }
    }
}

/// Seed inputs: the dialing side's bytes of real handshakes (fixed keys),
/// each with a control byte, plus a plaintext handshake.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (ctl, provide, pad_a, pad_c, ia) in [
        (1u8, CryptoSet::BOTH, 0, 0, &b""[..]),
        (1 | 4 << 2, CryptoSet::RC4, 7, 3, &b"\x13BitTorrent protocol"[..]),
        (2 | 63 << 2, CryptoSet::RC4, 512, 512, &b"hello"[..]),
        (3, CryptoSet::PLAINTEXT, 1, 0, &b"x"[..]),
    ] {
        let mut a = Initiator::with_fixed_key(IH, provide, ia, pad_a, pad_c, &KEY_A).unwrap();
        let mut b = Responder::with_padding(Policy::Prefer, [IH], 0, 0).with_fixed_key(&KEY_B);
        let mut wire = vec![ctl];
        let m1 = a.poll_transmit().unwrap();
        b.feed(&m1).unwrap();
        wire.extend_from_slice(&m1);
        a.feed(&b.poll_transmit().unwrap()).unwrap();
        let m3 = a.poll_transmit().unwrap();
        b.feed(&m3).unwrap();
        assert!(b.poll_outcome().is_some());
        wire.extend_from_slice(&m3);
        wire.extend_from_slice(b"trailing payload");
        out.push(wire);
    }
    let mut plain = vec![1u8];
    plain.extend_from_slice(b"\x13BitTorrent protocol\0\0\0\0\0\x10\0\x05");
    plain.extend_from_slice(&[0x11; 20]);
    plain.extend_from_slice(b"-TK0100-abcdefghijkl");
    out.push(plain);
    out
}
