//! Message Stream Encryption / Protocol Encryption (MSE/PE), sans-IO.
//!
//! The handshake, as the specification has it (A initiates, B responds;
//! `HASH` is SHA-1, `S` the Diffie-Hellman secret, `SKEY` the info-hash):
//!
//! ```text
//! 1 A->B: Ya, PadA
//! 2 B->A: Yb, PadB
//! 3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//!         ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//! 4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
//! 5 A->B: ENCRYPT2(payload)
//! ```
//!
//! `ENCRYPT` is RC4 keyed with `HASH('keyA', S, SKEY)` (A to B) or
//! `HASH('keyB', S, SKEY)` (B to A), first 1024 bytes discarded; `ENCRYPT2`
//! is the selected method: RC4 continuing the same keystream, or plaintext.
//! Paddings are at most 512 bytes, so each side finds the other's sync
//! marker (`HASH('req1', S)`, the encrypted VC) by scanning a bounded window.
//!
//! - [`Initiator`] and [`Responder`] take bytes with `feed`, give bytes to
//!   send with `poll_transmit` and, once done, a [`Negotiated`] with
//!   `poll_outcome`: the method, the two RC4 states, and the peer's payload
//!   received so far, already decrypted.
//! - [`Policy`] (off / prefer / require) decides what to try first when
//!   dialing, what to fall back to, and what a listener accepts.
//! - [`Rc4`] and [`dh`] are the primitives.

pub mod dh;
mod handshake;
pub mod rc4;

use crate::infohash::InfoHash;
pub use handshake::{Initiator, Responder};
pub use rc4::Rc4;

/// Verification constant: 8 zero bytes.
pub const VC: [u8; 8] = [0; 8];
/// Longest padding the specification allows (PadA..PadD).
pub const MAX_PAD: usize = 512;
/// The first 20 bytes of a plaintext BitTorrent handshake.
pub const BT_PREFIX: &[u8; 20] = b"\x13BitTorrent protocol";
/// Longest `IA` (initial payload) the length field can carry.
pub const MAX_IA: usize = u16::MAX as usize;

/// The `crypto_provide` / `crypto_select` bit field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CryptoSet {
    pub plaintext: bool,
    pub rc4: bool,
}

impl CryptoSet {
    pub const PLAINTEXT: CryptoSet = CryptoSet {
        plaintext: true,
        rc4: false,
    };
    pub const RC4: CryptoSet = CryptoSet {
        plaintext: false,
        rc4: true,
    };
    pub const BOTH: CryptoSet = CryptoSet {
        plaintext: true,
        rc4: true,
    };

    /// Wire form: 0x01 plaintext, 0x02 RC4.
    pub fn to_bits(self) -> u32 {
        (self.plaintext as u32) | (self.rc4 as u32) << 1
    }

    /// From the wire; bits we do not know are ignored.
    pub fn from_bits(b: u32) -> CryptoSet {
        CryptoSet {
            plaintext: b & 1 != 0,
            rc4: b & 2 != 0,
        }
    }

    pub fn is_empty(self) -> bool {
        !self.plaintext && !self.rc4
    }
}

impl std::fmt::Display for CryptoSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.plaintext, self.rc4) {
            (true, true) => f.write_str("plaintext+rc4"),
            (true, false) => f.write_str("plaintext"),
            (false, true) => f.write_str("rc4"),
            (false, false) => f.write_str("nothing"),
        }
    }
}

/// How a connection's byte stream ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// No MSE at all: a plaintext BitTorrent handshake.
    Plain,
    /// MSE handshake (obfuscated header), then `crypto_select` plaintext.
    MsePlaintext,
    /// MSE handshake, then RC4 both ways.
    Rc4,
}

impl Method {
    /// True when the payload stream is encrypted (RC4).
    pub fn is_encrypted(self) -> bool {
        self == Method::Rc4
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Plain => "plain",
            Method::MsePlaintext => "mse-plaintext",
            Method::Rc4 => "rc4",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two RC4 states of an encrypted connection, positioned right after
/// the handshake.
#[derive(Debug, Clone)]
pub struct CipherPair {
    /// For what we send.
    pub encrypt: Rc4,
    /// For what we receive.
    pub decrypt: Rc4,
}

/// The result of a finished handshake.
#[derive(Debug, Clone)]
pub struct Negotiated {
    pub method: Method,
    /// The torrent: the initiator's, or the one the responder matched the
    /// obfuscated info-hash to. None for a plaintext handshake seen by a
    /// responder (the BitTorrent handshake itself names it).
    pub info_hash: Option<InfoHash>,
    /// Some exactly when `method` is [`Method::Rc4`].
    pub cipher: Option<CipherPair>,
    /// Peer bytes received after the handshake (for a responder: `IA`
    /// first), already decrypted: the start of the BitTorrent stream.
    pub payload: Vec<u8>,
}

/// Why a handshake failed. After an error the handshake object is dead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MseError {
    #[error("the peer sent a plaintext BitTorrent handshake, and encryption is required")]
    PlaintextRefused,
    #[error("the peer's Diffie-Hellman public key is degenerate")]
    BadPublicKey,
    #[error("no {what} within {limit} bytes (padding over 512 bytes, or not MSE)")]
    SyncNotFound { what: &'static str, limit: usize },
    #[error("the obfuscated info-hash matches none of our torrents")]
    UnknownInfoHash,
    #[error("bad verification constant after decryption")]
    BadVc,
    #[error("padding length {0} is over 512")]
    PadTooLong(usize),
    #[error("no method in common: the peer offers {offered}, we accept {accepted}")]
    NoCommonMethod {
        offered: CryptoSet,
        accepted: CryptoSet,
    },
    #[error("the peer selected crypto {0:#x}, not exactly one of the methods we offered")]
    BadSelect(u32),
    #[error("initial payload of {0} bytes is over 65535")]
    PayloadTooLong(usize),
    #[error("crypto_provide offers nothing")]
    NothingProvided,
    #[error("bytes fed after the outcome was taken")]
    AlreadyDone,
}

/// What to do about encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Plaintext BitTorrent only, both ways.
    Off,
    /// Dial with MSE (offering RC4 and plaintext) and retry in plaintext
    /// if that fails; accept both plaintext handshakes and MSE; select RC4
    /// when offered. Like libtorrent's default (`pe_enabled`).
    #[default]
    Prefer,
    /// MSE with RC4 only, both ways; plaintext peers are refused.
    Require,
}

/// One way of dialing a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attempt {
    /// A plaintext BitTorrent handshake.
    Plain,
    /// An MSE handshake (see [`Policy::provide`]).
    Mse,
}

/// What we know about a peer when dialing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PeerHint {
    #[default]
    Unknown,
    /// Its extended handshake had `e: 1`, or PEX flagged it (0x01).
    PrefersEncryption,
    /// An MSE attempt to it failed before (and a plaintext one worked).
    MseFailed,
}

impl Policy {
    /// The first attempt when dialing a peer.
    pub fn first_attempt(self, hint: PeerHint) -> Attempt {
        match self {
            Policy::Off => Attempt::Plain,
            Policy::Require => Attempt::Mse,
            Policy::Prefer => match hint {
                PeerHint::MseFailed => Attempt::Plain,
                PeerHint::Unknown | PeerHint::PrefersEncryption => Attempt::Mse,
            },
        }
    }

    /// What to try on a new connection after `failed` failed (the peer
    /// closed or broke the handshake), if anything: under `Prefer`, plaintext
    /// after MSE; nothing after plaintext (the peer is not reachable).
    pub fn fallback(self, failed: Attempt) -> Option<Attempt> {
        match (self, failed) {
            (Policy::Prefer, Attempt::Mse) => Some(Attempt::Plain),
            _ => None,
        }
    }

    /// `crypto_provide` when dialing with MSE.
    pub fn provide(self) -> CryptoSet {
        match self {
            Policy::Require => CryptoSet::RC4,
            Policy::Prefer | Policy::Off => CryptoSet::BOTH,
        }
    }

    /// What a responder selects from the initiator's `crypto_provide`.
    pub fn select(self, offered: CryptoSet) -> Result<Method, MseError> {
        let accepted = match self {
            Policy::Require => CryptoSet::RC4,
            Policy::Prefer | Policy::Off => CryptoSet::BOTH,
        };
        if offered.rc4 && accepted.rc4 {
            Ok(Method::Rc4)
        } else if offered.plaintext && accepted.plaintext {
            Ok(Method::MsePlaintext)
        } else {
            Err(MseError::NoCommonMethod { offered, accepted })
        }
    }

    /// Whether a finished connection with `m` is acceptable.
    pub fn allows(self, m: Method) -> bool {
        match self {
            Policy::Off => m == Method::Plain,
            Policy::Prefer => true,
            Policy::Require => m == Method::Rc4,
        }
    }

    /// The BEP 10 extended handshake's `e` value to send: 1 when we
    /// prefer or require encryption, none when it is off.
    pub fn extension_e(self) -> Option<i64> {
        match self {
            Policy::Off => None,
            Policy::Prefer | Policy::Require => Some(1),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Off => "off",
            Policy::Prefer => "prefer",
            Policy::Require => "require",
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Policy, String> {
        match s {
            "off" => Ok(Policy::Off),
            "prefer" => Ok(Policy::Prefer),
            "require" => Ok(Policy::Require),
            _ => Err(format!(
                "unknown encryption policy {s:?} (expected off, prefer or require)"
            )),
        }
    }
}

/// `HASH('req2', SKEY)`: how an info-hash appears (xor-ed with
/// `HASH('req3', S)`) in the initiator's third message.
pub fn req2_hash(info_hash: &InfoHash) -> [u8; 20] {
    handshake::hash(&[b"req2", &info_hash.0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rules() {
        use Attempt::*;
        assert_eq!(Policy::Off.first_attempt(PeerHint::PrefersEncryption), Plain);
        assert_eq!(Policy::Off.fallback(Plain), None);
        assert_eq!(Policy::Prefer.first_attempt(PeerHint::Unknown), Mse);
        assert_eq!(Policy::Prefer.first_attempt(PeerHint::MseFailed), Plain);
        assert_eq!(Policy::Prefer.fallback(Mse), Some(Plain));
        assert_eq!(Policy::Prefer.fallback(Plain), None);
        assert_eq!(Policy::Require.first_attempt(PeerHint::MseFailed), Mse);
        assert_eq!(Policy::Require.fallback(Mse), None);
        assert_eq!(Policy::Require.provide(), CryptoSet::RC4);
        assert_eq!(Policy::Prefer.provide(), CryptoSet::BOTH);
        assert_eq!(Policy::Prefer.select(CryptoSet::BOTH), Ok(Method::Rc4));
        assert_eq!(
            Policy::Prefer.select(CryptoSet::PLAINTEXT),
            Ok(Method::MsePlaintext)
        );
        assert!(matches!(
            Policy::Require.select(CryptoSet::PLAINTEXT),
            Err(MseError::NoCommonMethod { .. })
        ));
        assert!(Policy::Require.allows(Method::Rc4));
        assert!(!Policy::Require.allows(Method::MsePlaintext));
        assert!(!Policy::Off.allows(Method::Rc4));
        assert_eq!("require".parse::<Policy>(), Ok(Policy::Require));
        assert!("maybe".parse::<Policy>().is_err());
        assert_eq!(CryptoSet::from_bits(0xff), CryptoSet::BOTH);
        assert_eq!(CryptoSet::BOTH.to_bits(), 3);
        assert_eq!(Policy::Off.extension_e(), None);
        assert_eq!(Policy::Require.extension_e(), Some(1));
    }
}

#[cfg(test)]
mod handshake_tests;
