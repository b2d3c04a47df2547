//! Initiator against responder in memory.

use super::*;
use crate::peer::Handshake;

const IH: InfoHash = InfoHash([0x42; 20]);

fn bt_handshake() -> Vec<u8> {
    Handshake::new(IH, *b"-TK0100-abcdefghijkl").encode().to_vec()
}

/// Shuttle bytes between the two until neither has anything to say;
/// `split(k)` cuts each message into pieces fed separately.
fn drive(
    a: &mut Initiator,
    b: &mut Responder,
    split: &dyn Fn(&[u8]) -> Vec<Vec<u8>>,
) -> (Result<(), MseError>, Result<(), MseError>) {
    let (mut ra, mut rb) = (Ok(()), Ok(()));
    for _ in 0..10 {
        let mut moved = false;
        if let Some(m) = a.poll_transmit() {
            moved = true;
            for part in split(&m) {
                if rb.is_ok() {
                    rb = b.feed(&part);
                }
            }
        }
        if let Some(m) = b.poll_transmit() {
            moved = true;
            for part in split(&m) {
                if ra.is_ok() {
                    ra = a.feed(&part);
                }
            }
        }
        if !moved {
            break;
        }
    }
    (ra, rb)
}

fn whole(m: &[u8]) -> Vec<Vec<u8>> {
    vec![m.to_vec()]
}

/// Both outcomes work together: what one side encrypts the other decrypts.
fn check_pair(oa: &mut Negotiated, ob: &mut Negotiated, method: Method) {
    assert_eq!(oa.method, method);
    assert_eq!(ob.method, method);
    assert_eq!(oa.info_hash, Some(IH));
    assert_eq!(ob.info_hash, Some(IH));
    assert_eq!(oa.cipher.is_some(), method == Method::Rc4);
    assert_eq!(ob.cipher.is_some(), method == Method::Rc4);
    let msg = b"the rest of the BitTorrent stream".to_vec();
    for dir in 0..2 {
        let (from, to) = if dir == 0 {
            (&mut *oa, &mut *ob)
        } else {
            (&mut *ob, &mut *oa)
        };
        for _ in 0..3 {
            let mut wire = msg.clone();
            if let Some(c) = &mut from.cipher {
                c.encrypt.apply(&mut wire);
                assert_ne!(wire, msg, "encrypted on the wire");
            }
            if let Some(c) = &mut to.cipher {
                c.decrypt.apply(&mut wire);
            }
            assert_eq!(wire, msg);
        }
    }
}

fn pair(
    provide: CryptoSet,
    policy: Policy,
    pads: (usize, usize, usize, usize),
) -> (Initiator, Responder) {
    let a = Initiator::with_padding(IH, provide, &bt_handshake(), pads.0, pads.2).unwrap();
    let others = [InfoHash([1; 20]), IH, InfoHash([2; 20])];
    let b = Responder::with_padding(policy, others, pads.1, pads.3);
    (a, b)
}

#[test]
fn rc4_and_plaintext_methods() {
    for (provide, policy, method) in [
        (CryptoSet::RC4, Policy::Prefer, Method::Rc4),
        (CryptoSet::BOTH, Policy::Prefer, Method::Rc4),
        (CryptoSet::RC4, Policy::Require, Method::Rc4),
        (CryptoSet::BOTH, Policy::Require, Method::Rc4),
        (CryptoSet::PLAINTEXT, Policy::Prefer, Method::MsePlaintext),
    ] {
        let (mut a, mut b) = pair(provide, policy, (100, 200, 10, 20));
        let (ra, rb) = drive(&mut a, &mut b, &whole);
        assert_eq!((ra, rb), (Ok(()), Ok(())));
        let mut oa = a.poll_outcome().expect("initiator done");
        let mut ob = b.poll_outcome().expect("responder done");
        assert!(a.poll_outcome().is_none() && b.poll_outcome().is_none());
        assert!(oa.payload.is_empty());
        assert_eq!(ob.payload, bt_handshake(), "IA arrives decrypted");
        check_pair(&mut oa, &mut ob, method);
    }
}

#[test]
fn random_paddings_work() {
    for _ in 0..20 {
        let mut a = Initiator::new(IH, CryptoSet::BOTH, b"").unwrap();
        let mut b = Responder::new(Policy::Prefer, [IH]);
        assert_eq!(drive(&mut a, &mut b, &whole), (Ok(()), Ok(())));
        let mut oa = a.poll_outcome().unwrap();
        let mut ob = b.poll_outcome().unwrap();
        assert!(ob.payload.is_empty());
        check_pair(&mut oa, &mut ob, Method::Rc4);
    }
}

#[test]
fn no_common_method() {
    let (mut a, mut b) = pair(CryptoSet::PLAINTEXT, Policy::Require, (0, 0, 0, 0));
    let (ra, rb) = drive(&mut a, &mut b, &whole);
    assert!(matches!(rb, Err(MseError::NoCommonMethod { .. })), "{rb:?}");
    assert_eq!(ra, Ok(()), "the initiator just waits (its caller times out)");
    assert!(a.poll_outcome().is_none() && b.poll_outcome().is_none());
    // The error sticks.
    assert!(matches!(b.feed(b"x"), Err(MseError::NoCommonMethod { .. })));
}

#[test]
fn wrong_info_hash() {
    let mut a = Initiator::new(InfoHash([9; 20]), CryptoSet::BOTH, &bt_handshake()).unwrap();
    let mut b = Responder::new(Policy::Prefer, [IH, InfoHash([1; 20])]);
    let (ra, rb) = drive(&mut a, &mut b, &whole);
    assert_eq!(rb, Err(MseError::UnknownInfoHash));
    assert_eq!(ra, Ok(()));
    assert!(b.poll_outcome().is_none());
    // No torrents at all.
    let mut a = Initiator::new(IH, CryptoSet::BOTH, b"").unwrap();
    let mut b = Responder::new(Policy::Prefer, []);
    assert_eq!(drive(&mut a, &mut b, &whole).1, Err(MseError::UnknownInfoHash));
}

#[test]
fn garbage_is_refused_within_bounds() {
    // Deterministic pseudo-random garbage.
    let mut x = 0x1234_5678_9abc_def1u64;
    let garbage: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    // Responder: 96 bytes of key, then at most 512 + 20 bytes of scanning.
    let mut b = Responder::new(Policy::Prefer, [IH]);
    let mut fed = 0;
    let err = loop {
        match b.feed(&garbage[fed..fed + 1]) {
            Ok(()) => fed += 1,
            Err(e) => break e,
        }
        assert!(fed < 2000, "responder kept scanning");
    };
    assert!(matches!(err, MseError::SyncNotFound { .. }), "{err:?}");
    assert_eq!(fed + 1, 96 + 512 + 20);
    assert!(b.poll_transmit().is_none(), "nothing more to send after an error");
    // One big chunk fails the same way, and so does everything after.
    let mut b = Responder::new(Policy::Require, [IH]);
    assert!(matches!(b.feed(&garbage), Err(MseError::SyncNotFound { .. })));
    assert!(b.feed(b"more").is_err());
    // Initiator: after Yb, at most 512 + 8 bytes of PadB.
    let mut a = Initiator::new(IH, CryptoSet::BOTH, b"").unwrap();
    assert!(a.poll_transmit().is_some());
    assert!(matches!(a.feed(&garbage), Err(MseError::SyncNotFound { .. })));
    // A degenerate public key.
    let mut a = Initiator::new(IH, CryptoSet::BOTH, b"").unwrap();
    assert_eq!(a.feed(&[0u8; 96]), Err(MseError::BadPublicKey));
    let mut b = Responder::new(Policy::Prefer, [IH]);
    let mut one = [0u8; 96];
    one[95] = 1;
    assert_eq!(b.feed(&one), Err(MseError::BadPublicKey));
}

#[test]
fn padding_bounds() {
    let ok = |pads| {
        let (mut a, mut b) = pair(CryptoSet::BOTH, Policy::Prefer, pads);
        let r = drive(&mut a, &mut b, &whole);
        if r == (Ok(()), Ok(())) {
            assert!(a.poll_outcome().is_some() && b.poll_outcome().is_some());
        }
        r
    };
    assert_eq!(ok((512, 512, 512, 512)), (Ok(()), Ok(())));
    assert_eq!(ok((0, 0, 0, 0)), (Ok(()), Ok(())));
    // PadA too long: the responder never finds req1 in its window.
    assert!(matches!(ok((513, 0, 0, 0)).1, Err(MseError::SyncNotFound { .. })));
    // PadB too long: the initiator never finds the encrypted VC.
    assert!(matches!(ok((0, 513, 0, 0)).0, Err(MseError::SyncNotFound { .. })));
    assert_eq!(ok((0, 0, 513, 0)).1, Err(MseError::PadTooLong(513)));
    assert_eq!(ok((0, 0, 0, 513)).0, Err(MseError::PadTooLong(513)));
}

#[test]
fn split_reads_at_every_byte_boundary() {
    // Every message is cut at k (for every k up to the longest message),
    // then also fed one byte at a time.
    let longest = 96 + 40 + 14 + 5 + 2 + 68;
    for k in 0..=longest + 1 {
        let (mut a, mut b) = pair(CryptoSet::BOTH, Policy::Prefer, (33, 40, 5, 7));
        let split = move |m: &[u8]| {
            let k = k.min(m.len());
            vec![m[..k].to_vec(), m[k..].to_vec()]
        };
        assert_eq!(drive(&mut a, &mut b, &split), (Ok(()), Ok(())), "k={k}");
        let mut oa = a.poll_outcome().unwrap();
        let mut ob = b.poll_outcome().unwrap();
        assert_eq!(ob.payload, bt_handshake(), "k={k}");
        check_pair(&mut oa, &mut ob, Method::Rc4);
    }
    for provide in [CryptoSet::RC4, CryptoSet::PLAINTEXT] {
        let (mut a, mut b) = pair(provide, Policy::Prefer, (511, 3, 1, 512));
        let bytes = |m: &[u8]| m.iter().map(|&x| vec![x]).collect();
        assert_eq!(drive(&mut a, &mut b, &bytes), (Ok(()), Ok(())));
        let mut oa = a.poll_outcome().unwrap();
        let mut ob = b.poll_outcome().unwrap();
        assert_eq!(ob.payload, bt_handshake());
        let m = if provide.rc4 { Method::Rc4 } else { Method::MsePlaintext };
        check_pair(&mut oa, &mut ob, m);
    }
}

#[test]
fn payload_in_the_same_read_as_the_handshake() {
    // The responder's first payload bytes arrive with its fourth message,
    // and the initiator's right after IA: both come out decrypted.
    for provide in [CryptoSet::RC4, CryptoSet::PLAINTEXT] {
        let (mut a, mut b) = pair(provide, Policy::Prefer, (3, 4, 5, 6));
        let m1 = a.poll_transmit().unwrap();
        b.feed(&m1).unwrap();
        let m2 = b.poll_transmit().unwrap();
        a.feed(&m2).unwrap();
        let m3 = a.poll_transmit().unwrap();
        // Nothing from the initiator until it knows the method, so append
        // later bytes as the caller would after the outcome; here: the
        // responder gets m3 plus the start of the stream in one read.
        b.feed(&m3).unwrap();
        let mut ob = b.poll_outcome().unwrap();
        let mut m4 = b.poll_transmit().unwrap();
        let mut extra = b"hello from B".to_vec();
        if let Some(c) = &mut ob.cipher {
            c.encrypt.apply(&mut extra);
        }
        m4.extend_from_slice(&extra);
        a.feed(&m4[..m4.len() - 5]).unwrap();
        // Bytes after the outcome is ready, before it is taken.
        a.feed(&m4[m4.len() - 5..]).unwrap();
        let mut oa = a.poll_outcome().unwrap();
        assert_eq!(oa.payload, b"hello from B");
        assert_eq!(a.feed(b"late"), Err(MseError::AlreadyDone));
        let method = if provide.rc4 { Method::Rc4 } else { Method::MsePlaintext };
        check_pair(&mut oa, &mut ob, method);
    }
}

#[test]
fn plaintext_handshakes_by_policy() {
    let hs = bt_handshake();
    // Prefer: detected byte by byte; everything comes back as payload.
    let mut b = Responder::new(Policy::Prefer, [IH]);
    for (i, x) in hs.iter().enumerate() {
        b.feed(&[*x]).unwrap();
        assert_eq!(b.is_done(), i >= 19, "decided at byte {i}");
    }
    let o = b.poll_outcome().unwrap();
    assert_eq!(o.method, Method::Plain);
    assert_eq!(o.payload, hs);
    assert!(o.cipher.is_none() && o.info_hash.is_none());
    assert!(b.poll_transmit().is_none());
    // Require refuses it.
    let mut b = Responder::new(Policy::Require, [IH]);
    assert_eq!(b.feed(&hs), Err(MseError::PlaintextRefused));
    // Off: plain at once, before any byte.
    let mut b = Responder::new(Policy::Off, [IH]);
    let o = b.poll_outcome().unwrap();
    assert_eq!((o.method, o.payload.len()), (Method::Plain, 0));
    // A key that happens to start with the length byte 19 is still MSE.
    let mut b = Responder::new(Policy::Prefer, [IH]);
    b.feed(b"\x13BitTorrent protocoX").unwrap();
    assert!(!b.is_done());
}

#[test]
fn initiator_limits() {
    assert_eq!(
        Initiator::new(IH, CryptoSet::BOTH, &vec![0; 65536]).unwrap_err(),
        MseError::PayloadTooLong(65536)
    );
    assert_eq!(
        Initiator::new(IH, CryptoSet::default(), b"").unwrap_err(),
        MseError::NothingProvided
    );
    // A long IA works.
    let ia = vec![7u8; 65535];
    let mut a = Initiator::with_padding(IH, CryptoSet::RC4, &ia, 0, 0).unwrap();
    let mut b = Responder::new(Policy::Prefer, [IH]);
    assert_eq!(drive(&mut a, &mut b, &whole), (Ok(()), Ok(())));
    assert_eq!(b.poll_outcome().unwrap().payload, ia);
}

#[test]
fn select_must_be_one_offered_method() {
    // A responder that selects RC4 when only plaintext was offered: build
    // its fourth message by hand from the keys the real exchange derives.
    let mut a = Initiator::with_padding(IH, CryptoSet::PLAINTEXT, b"", 0, 0).unwrap();
    let m1 = a.poll_transmit().unwrap();
    let kb = dh::KeyPair::generate();
    let ya: [u8; 96] = m1[..96].try_into().unwrap();
    let s = kb.shared_secret(&ya).unwrap();
    let mut m2 = kb.public().to_vec();
    let mut enc = Rc4::mse(&handshake::hash(&[b"keyB", &s, &IH.0]));
    let mut tail = VC.to_vec();
    tail.extend_from_slice(&2u32.to_be_bytes());
    tail.extend_from_slice(&0u16.to_be_bytes());
    enc.apply(&mut tail);
    m2.extend_from_slice(&tail);
    assert_eq!(a.feed(&m2), Err(MseError::BadSelect(2)));
}
