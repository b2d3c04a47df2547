//! The two sides of the MSE handshake as byte-in, byte-out state machines.

use super::dh::{KeyPair, KEY_LEN};
use super::{
    CipherPair, CryptoSet, Method, MseError, Negotiated, Policy, Rc4, BT_PREFIX, MAX_IA,
    MAX_PAD, VC,
};
use crate::infohash::InfoHash;
use rand::Rng;
use sha1::{Digest, Sha1};
use std::collections::HashMap;

pub(crate) fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn random_pad(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::thread_rng().fill(&mut v[..]);
    v
}

fn random_pad_len() -> usize {
    rand::thread_rng().gen_range(0..=MAX_PAD)
}

/// Keys for both directions: (A to B, B to A).
fn stream_keys(s: &[u8; KEY_LEN], skey: &InfoHash) -> (Rc4, Rc4) {
    (
        Rc4::mse(&hash(&[b"keyA", s, &skey.0])),
        Rc4::mse(&hash(&[b"keyB", s, &skey.0])),
    )
}

fn find(hay: &[u8], needle: &[u8], max_start: usize) -> Option<usize> {
    if hay.len() < needle.len() {
        return None;
    }
    let last = (hay.len() - needle.len()).min(max_start);
    (0..=last).find(|&p| &hay[p..p + needle.len()] == needle)
}

enum IState {
    /// Waiting for Yb.
    Key,
    /// Scanning PadB for ENCRYPT(VC).
    ScanVc { enc_vc: [u8; 8] },
    /// crypto_select and len(PadD).
    Select,
    /// Skipping PadD.
    PadD { method: Method, left: usize },
    Done,
    Failed(MseError),
}

/// The dialing side (A). Its first message is ready at once
/// (`poll_transmit`); feed it what the peer sends.
pub struct Initiator {
    info_hash: InfoHash,
    provide: CryptoSet,
    keys: KeyPair,
    ia: Vec<u8>,
    pad_c: usize,
    enc: Option<Rc4>,
    dec: Option<Rc4>,
    tx: Vec<u8>,
    rx: Vec<u8>,
    state: IState,
    outcome: Option<Negotiated>,
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("info_hash", &self.info_hash)
            .field("provide", &self.provide)
            .finish_non_exhaustive()
    }
}

impl Initiator {
    /// Dial for `info_hash`, offering `provide`, with `initial_payload`
    /// (typically our BitTorrent handshake; at most 65535 bytes) sent
    /// encrypted in the third message. PadA is random, 0..=512 bytes;
    /// PadC is empty.
    pub fn new(
        info_hash: InfoHash,
        provide: CryptoSet,
        initial_payload: &[u8],
    ) -> Result<Initiator, MseError> {
        Initiator::with_padding(info_hash, provide, initial_payload, random_pad_len(), 0)
    }

    /// Like [`Initiator::new`] with given padding lengths. Lengths over 512
    /// break the specification (peers refuse them); tests use them.
    pub fn with_padding(
        info_hash: InfoHash,
        provide: CryptoSet,
        initial_payload: &[u8],
        pad_a: usize,
        pad_c: usize,
    ) -> Result<Initiator, MseError> {
        let keys = KeyPair::generate();
        Initiator::build(info_hash, provide, initial_payload, pad_a, pad_c, keys)
    }

    /// Like [`Initiator::with_padding`] with the private key `private`
    /// (big-endian): deterministic keys for tests and fuzzing only.
    #[doc(hidden)]
    pub fn with_fixed_key(
        info_hash: InfoHash,
        provide: CryptoSet,
        initial_payload: &[u8],
        pad_a: usize,
        pad_c: usize,
        private: &[u8],
    ) -> Result<Initiator, MseError> {
        let keys = KeyPair::from_private(private);
        Initiator::build(info_hash, provide, initial_payload, pad_a, pad_c, keys)
    }

    fn build(
        info_hash: InfoHash,
        provide: CryptoSet,
        initial_payload: &[u8],
        pad_a: usize,
        pad_c: usize,
        keys: KeyPair,
    ) -> Result<Initiator, MseError> {
        if initial_payload.len() > MAX_IA {
            return Err(MseError::PayloadTooLong(initial_payload.len()));
        }
        if provide.is_empty() {
            return Err(MseError::NothingProvided);
        }
        let mut tx = keys.public().to_vec();
        tx.extend_from_slice(&random_pad(pad_a));
        Ok(Initiator {
            info_hash,
            provide,
            keys,
            ia: initial_payload.to_vec(),
            pad_c: pad_c.min(u16::MAX as usize),
            enc: None,
            dec: None,
            tx,
            rx: Vec::new(),
            state: IState::Key,
            outcome: None,
        })
    }

    /// Bytes to send to the peer, if any are due.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.tx.is_empty()).then(|| std::mem::take(&mut self.tx))
    }

    /// The result, once the handshake is complete (given once).
    pub fn poll_outcome(&mut self) -> Option<Negotiated> {
        self.outcome.take()
    }

    /// True once the outcome is ready or taken.
    pub fn is_done(&self) -> bool {
        matches!(self.state, IState::Done)
    }

    /// Received bytes held while waiting for more (bounded by the
    /// specification's limits: under 700 bytes).
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }

    /// Bytes from the peer. An error is final (later calls repeat it).
    /// Bytes fed after the outcome is ready but before it is taken are
    /// appended to its payload.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), MseError> {
        if let IState::Failed(e) = &self.state {
            return Err(e.clone());
        }
        if let IState::Done = self.state {
            return match &mut self.outcome {
                Some(o) => {
                    append_payload(o, data);
                    Ok(())
                }
                None => Err(MseError::AlreadyDone),
            };
        }
        self.rx.extend_from_slice(data);
        match self.advance() {
            Ok(()) => Ok(()),
            Err(e) => {
                self.state = IState::Failed(e.clone());
                self.rx = Vec::new();
                Err(e)
            }
        }
    }

    fn advance(&mut self) -> Result<(), MseError> {
        loop {
            match &mut self.state {
                IState::Key => {
                    if self.rx.len() < KEY_LEN {
                        return Ok(());
                    }
                    let yb: [u8; KEY_LEN] = self.rx[..KEY_LEN].try_into().expect("96");
                    self.rx.drain(..KEY_LEN);
                    let s = self
                        .keys
                        .shared_secret(&yb)
                        .ok_or(MseError::BadPublicKey)?;
                    let (mut enc, dec) = stream_keys(&s, &self.info_hash);
                    let mut enc_vc = VC;
                    dec.clone().apply(&mut enc_vc);
                    self.dec = Some(dec);
                    // Third message.
                    self.tx.extend_from_slice(&hash(&[b"req1", &s]));
                    let req2 = super::req2_hash(&self.info_hash);
                    let req3 = hash(&[b"req3", &s]);
                    self.tx.extend(req2.iter().zip(req3).map(|(a, b)| a ^ b));
                    let start = self.tx.len();
                    self.tx.extend_from_slice(&VC);
                    self.tx
                        .extend_from_slice(&self.provide.to_bits().to_be_bytes());
                    self.tx.extend_from_slice(&(self.pad_c as u16).to_be_bytes());
                    self.tx.extend_from_slice(&random_pad(self.pad_c));
                    self.tx.extend_from_slice(&(self.ia.len() as u16).to_be_bytes());
                    self.tx.extend_from_slice(&self.ia);
                    enc.apply(&mut self.tx[start..]);
                    self.enc = Some(enc);
                    self.ia = Vec::new();
                    self.state = IState::ScanVc { enc_vc };
                }
                IState::ScanVc { enc_vc } => {
                    match find(&self.rx, enc_vc, MAX_PAD) {
                        Some(p) => {
                            self.rx.drain(..p + 8);
                            self.dec.as_mut().expect("keyed").skip(8);
                            self.state = IState::Select;
                        }
                        None if self.rx.len() >= MAX_PAD + 8 => {
                            return Err(MseError::SyncNotFound {
                                what: "encrypted verification constant",
                                limit: KEY_LEN + MAX_PAD + 8,
                            })
                        }
                        None => return Ok(()),
                    }
                }
                IState::Select => {
                    if self.rx.len() < 6 {
                        return Ok(());
                    }
                    let mut h: [u8; 6] = self.rx[..6].try_into().expect("6");
                    self.rx.drain(..6);
                    self.dec.as_mut().expect("keyed").apply(&mut h);
                    let bits = u32::from_be_bytes(h[..4].try_into().expect("4"));
                    let sel = CryptoSet::from_bits(bits);
                    let method = match bits {
                        1 if self.provide.plaintext => Method::MsePlaintext,
                        2 if self.provide.rc4 => Method::Rc4,
                        _ => return Err(MseError::BadSelect(bits)),
                    };
                    debug_assert!(!sel.is_empty());
                    let pad = u16::from_be_bytes([h[4], h[5]]) as usize;
                    if pad > MAX_PAD {
                        return Err(MseError::PadTooLong(pad));
                    }
                    self.state = IState::PadD { method, left: pad };
                }
                IState::PadD { method, left } => {
                    let n = (*left).min(self.rx.len());
                    let dec = self.dec.as_mut().expect("keyed");
                    dec.apply(&mut self.rx[..n]);
                    self.rx.drain(..n);
                    *left -= n;
                    if *left > 0 {
                        return Ok(());
                    }
                    let method = *method;
                    let mut payload = std::mem::take(&mut self.rx);
                    let cipher = if method == Method::Rc4 {
                        let mut dec = self.dec.take().expect("keyed");
                        dec.apply(&mut payload);
                        Some(CipherPair {
                            encrypt: self.enc.take().expect("keyed"),
                            decrypt: dec,
                        })
                    } else {
                        None
                    };
                    self.outcome = Some(Negotiated {
                        method,
                        info_hash: Some(self.info_hash),
                        cipher,
                        payload,
                    });
                    self.state = IState::Done;
                    return Ok(());
                }
                IState::Done | IState::Failed(_) => return Ok(()),
            }
        }
    }
}

fn append_payload(o: &mut Negotiated, data: &[u8]) {
    let start = o.payload.len();
    o.payload.extend_from_slice(data);
    if let Some(c) = &mut o.cipher {
        c.decrypt.apply(&mut o.payload[start..]);
    }
}

enum RState {
    /// Plaintext BitTorrent handshake or MSE?
    Detect,
    /// Waiting for Ya.
    Key,
    /// Scanning PadA for HASH('req1', S).
    ScanReq1 { s: Box<[u8; KEY_LEN]>, req1: [u8; 20] },
    /// HASH('req2', SKEY) xor HASH('req3', S).
    Req2 { s: Box<[u8; KEY_LEN]> },
    /// VC, crypto_provide, len(PadC).
    Header,
    PadC { method: Method, left: usize },
    LenIa { method: Method },
    Ia { method: Method, len: usize },
    Done,
    Failed(MseError),
}

/// The listening side (B): tells plaintext handshakes from MSE (as the
/// policy allows) and matches the obfuscated info-hash against a set of
/// torrents.
pub struct Responder {
    policy: Policy,
    torrents: HashMap<[u8; 20], InfoHash>,
    keys: KeyPair,
    pad_b: usize,
    pad_d: usize,
    skey: Option<InfoHash>,
    enc: Option<Rc4>,
    dec: Option<Rc4>,
    tx: Vec<u8>,
    rx: Vec<u8>,
    state: RState,
    outcome: Option<Negotiated>,
    fixed_key: bool,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("policy", &self.policy)
            .field("torrents", &self.torrents.len())
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// Answer a connection for any of `torrents`. With [`Policy::Off`] the
    /// outcome ([`Method::Plain`], empty payload) is ready at once: read the
    /// BitTorrent handshake directly. PadB is random, 0..=512 bytes; PadD
    /// is empty.
    pub fn new(policy: Policy, torrents: impl IntoIterator<Item = InfoHash>) -> Responder {
        Responder::with_padding(policy, torrents, random_pad_len(), 0)
    }

    /// Like [`Responder::new`] with given padding lengths (for tests; over
    /// 512 breaks the specification).
    pub fn with_padding(
        policy: Policy,
        torrents: impl IntoIterator<Item = InfoHash>,
        pad_b: usize,
        pad_d: usize,
    ) -> Responder {
        let torrents = torrents
            .into_iter()
            .map(|ih| (super::req2_hash(&ih), ih))
            .collect();
        let mut r = Responder {
            policy,
            torrents,
            // Key generation (a modpow) waits until MSE is detected.
            keys: KeyPair::from_private(&[1]),
            pad_b,
            pad_d: pad_d.min(u16::MAX as usize),
            skey: None,
            enc: None,
            dec: None,
            tx: Vec::new(),
            rx: Vec::new(),
            state: RState::Detect,
            outcome: None,
            fixed_key: false,
        };
        if policy == Policy::Off {
            r.finish_plain();
        }
        r
    }

    /// Bytes to send to the peer, if any are due.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.tx.is_empty()).then(|| std::mem::take(&mut self.tx))
    }

    /// The result, once the handshake is complete (given once).
    pub fn poll_outcome(&mut self) -> Option<Negotiated> {
        self.outcome.take()
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, RState::Done)
    }

    /// Received bytes held while waiting for more (bounded: at most
    /// 96 + 512 + 20 while scanning, then at most 65535 + 2 of `IA`).
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }

    /// Use the private key `private` (big-endian): deterministic keys for
    /// tests and fuzzing only.
    #[doc(hidden)]
    pub fn with_fixed_key(mut self, private: &[u8]) -> Responder {
        self.keys = KeyPair::from_private(private);
        self.fixed_key = true;
        self
    }

    /// Bytes from the peer. An error is final (later calls repeat it).
    /// Bytes fed after the outcome is ready but before it is taken are
    /// appended to its payload.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), MseError> {
        if let RState::Failed(e) = &self.state {
            return Err(e.clone());
        }
        if let RState::Done = self.state {
            return match &mut self.outcome {
                Some(o) => {
                    append_payload(o, data);
                    Ok(())
                }
                None => Err(MseError::AlreadyDone),
            };
        }
        self.rx.extend_from_slice(data);
        match self.advance() {
            Ok(()) => Ok(()),
            Err(e) => {
                self.state = RState::Failed(e.clone());
                self.rx = Vec::new();
                self.tx = Vec::new();
                Err(e)
            }
        }
    }

    fn finish_plain(&mut self) {
        self.outcome = Some(Negotiated {
            method: Method::Plain,
            info_hash: None,
            cipher: None,
            payload: std::mem::take(&mut self.rx),
        });
        self.state = RState::Done;
    }

    fn advance(&mut self) -> Result<(), MseError> {
        loop {
            match &mut self.state {
                RState::Detect => {
                    let n = self.rx.len().min(BT_PREFIX.len());
                    if self.rx[..n] == BT_PREFIX[..n] {
                        if n < BT_PREFIX.len() {
                            return Ok(());
                        }
                        if self.policy == Policy::Require {
                            return Err(MseError::PlaintextRefused);
                        }
                        self.finish_plain();
                        return Ok(());
                    }
                    if !self.fixed_key {
                        self.keys = KeyPair::generate();
                    }
                    self.state = RState::Key;
                }
                RState::Key => {
                    if self.rx.len() < KEY_LEN {
                        return Ok(());
                    }
                    let ya: [u8; KEY_LEN] = self.rx[..KEY_LEN].try_into().expect("96");
                    self.rx.drain(..KEY_LEN);
                    let s = self
                        .keys
                        .shared_secret(&ya)
                        .ok_or(MseError::BadPublicKey)?;
                    self.tx.extend_from_slice(self.keys.public());
                    self.tx.extend_from_slice(&random_pad(self.pad_b));
                    let req1 = hash(&[b"req1", &s]);
                    self.state = RState::ScanReq1 {
                        s: Box::new(s),
                        req1,
                    };
                }
                RState::ScanReq1 { s, req1 } => match find(&self.rx, req1, MAX_PAD) {
                    Some(p) => {
                        self.rx.drain(..p + 20);
                        let s = std::mem::replace(s, Box::new([0; KEY_LEN]));
                        self.state = RState::Req2 { s };
                    }
                    None if self.rx.len() >= MAX_PAD + 20 => {
                        return Err(MseError::SyncNotFound {
                            what: "HASH('req1', S)",
                            limit: KEY_LEN + MAX_PAD + 20,
                        })
                    }
                    None => return Ok(()),
                },
                RState::Req2 { s } => {
                    if self.rx.len() < 20 {
                        return Ok(());
                    }
                    let req3 = hash(&[b"req3", &s[..]]);
                    let mut req2 = [0u8; 20];
                    for (i, x) in req2.iter_mut().enumerate() {
                        *x = self.rx[i] ^ req3[i];
                    }
                    self.rx.drain(..20);
                    let skey = *self
                        .torrents
                        .get(&req2)
                        .ok_or(MseError::UnknownInfoHash)?;
                    let (dec, enc) = stream_keys(s, &skey);
                    self.skey = Some(skey);
                    self.enc = Some(enc);
                    self.dec = Some(dec);
                    self.state = RState::Header;
                }
                RState::Header => {
                    if self.rx.len() < 14 {
                        return Ok(());
                    }
                    let mut h: [u8; 14] = self.rx[..14].try_into().expect("14");
                    self.rx.drain(..14);
                    self.dec.as_mut().expect("keyed").apply(&mut h);
                    if h[..8] != VC {
                        return Err(MseError::BadVc);
                    }
                    let offered =
                        CryptoSet::from_bits(u32::from_be_bytes(h[8..12].try_into().expect("4")));
                    let method = self.policy.select(offered)?;
                    let pad = u16::from_be_bytes([h[12], h[13]]) as usize;
                    if pad > MAX_PAD {
                        return Err(MseError::PadTooLong(pad));
                    }
                    self.state = RState::PadC { method, left: pad };
                }
                RState::PadC { method, left } => {
                    let n = (*left).min(self.rx.len());
                    self.dec.as_mut().expect("keyed").apply(&mut self.rx[..n]);
                    self.rx.drain(..n);
                    *left -= n;
                    if *left > 0 {
                        return Ok(());
                    }
                    let method = *method;
                    self.state = RState::LenIa { method };
                }
                RState::LenIa { method } => {
                    if self.rx.len() < 2 {
                        return Ok(());
                    }
                    let mut l = [self.rx[0], self.rx[1]];
                    self.rx.drain(..2);
                    self.dec.as_mut().expect("keyed").apply(&mut l);
                    let method = *method;
                    self.state = RState::Ia {
                        method,
                        len: u16::from_be_bytes(l) as usize,
                    };
                }
                RState::Ia { method, len } => {
                    if self.rx.len() < *len {
                        return Ok(());
                    }
                    let (method, len) = (*method, *len);
                    let mut payload = std::mem::take(&mut self.rx);
                    let mut dec = self.dec.take().expect("keyed");
                    dec.apply(&mut payload[..len]);
                    let mut enc = self.enc.take().expect("keyed");
                    // Fourth message.
                    let start = self.tx.len();
                    self.tx.extend_from_slice(&VC);
                    let sel = match method {
                        Method::Rc4 => CryptoSet::RC4,
                        _ => CryptoSet::PLAINTEXT,
                    };
                    self.tx.extend_from_slice(&sel.to_bits().to_be_bytes());
                    self.tx.extend_from_slice(&(self.pad_d as u16).to_be_bytes());
                    self.tx.extend_from_slice(&random_pad(self.pad_d));
                    enc.apply(&mut self.tx[start..]);
                    let cipher = if method == Method::Rc4 {
                        dec.apply(&mut payload[len..]);
                        Some(CipherPair {
                            encrypt: enc,
                            decrypt: dec,
                        })
                    } else {
                        None
                    };
                    self.outcome = Some(Negotiated {
                        method,
                        info_hash: self.skey,
                        cipher,
                        payload,
                    });
                    self.state = RState::Done;
                    return Ok(());
                }
                RState::Done | RState::Failed(_) => return Ok(()),
            }
        }
    }
}
