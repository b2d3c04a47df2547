//! Diffie-Hellman over the 768-bit prime of the MSE specification, with
//! generator 2 and 160-bit private keys (num-bigint does the arithmetic).

use num_bigint::BigUint;
use std::sync::OnceLock;

/// Length of a public key and of the shared secret on the wire.
pub const KEY_LEN: usize = 96;

/// The prime P of the MSE specification (big-endian).
pub const PRIME_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1\
29024E088A67CC74020BBEA63B139B22514A08798E3404DD\
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245\
E485B576625E7EC6F44C42E9A63A36210000000000090563";

fn prime() -> &'static BigUint {
    static P: OnceLock<BigUint> = OnceLock::new();
    P.get_or_init(|| BigUint::parse_bytes(PRIME_HEX.as_bytes(), 16).expect("valid hex"))
}

fn to_fixed(x: &BigUint) -> [u8; KEY_LEN] {
    let b = x.to_bytes_be();
    let mut out = [0u8; KEY_LEN];
    out[KEY_LEN - b.len()..].copy_from_slice(&b);
    out
}

/// A private key and its public value.
pub struct KeyPair {
    private: BigUint,
    public: [u8; KEY_LEN],
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPair { .. }")
    }
}

impl KeyPair {
    /// A fresh 160-bit private key from the thread's CSPRNG.
    pub fn generate() -> KeyPair {
        let mut x = [0u8; 20];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut x);
        KeyPair::from_private(&x)
    }

    /// A key pair from given private-key bytes (big-endian); for tests.
    pub fn from_private(x: &[u8]) -> KeyPair {
        let private = BigUint::from_bytes_be(x);
        let public = to_fixed(&BigUint::from(2u32).modpow(&private, prime()));
        KeyPair { private, public }
    }

    /// `G^X mod P`, 96 bytes big-endian.
    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    /// The shared secret `Y^X mod P` (96 bytes) from the peer's public key,
    /// or None if that key is degenerate (0, 1, P-1 or not below P), which
    /// would make the secret predictable.
    pub fn shared_secret(&self, their_public: &[u8; KEY_LEN]) -> Option<[u8; KEY_LEN]> {
        let p = prime();
        let y = BigUint::from_bytes_be(their_public);
        let one = BigUint::from(1u32);
        if y <= one || &y >= p || y == p - &one {
            return None;
        }
        Some(to_fixed(&y.modpow(&self.private, p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree() {
        let a = KeyPair::generate();
        let b = KeyPair::generate();
        assert_ne!(a.public(), b.public());
        let sa = a.shared_secret(b.public()).unwrap();
        let sb = b.shared_secret(a.public()).unwrap();
        assert_eq!(sa, sb);
    }

    #[test]
    fn known_values_and_degenerate_keys() {
        // 2^1 = 2; 2^8 = 256: small exponents are exact.
        let k = KeyPair::from_private(&[1]);
        assert_eq!(k.public()[95], 2);
        assert!(k.public()[..95].iter().all(|&b| b == 0));
        let k = KeyPair::from_private(&[8]);
        assert_eq!(&k.public()[94..], &[1, 0]);
        let p = BigUint::parse_bytes(PRIME_HEX.as_bytes(), 16).unwrap();
        assert_eq!(p.bits(), 768);
        let mut zero = [0u8; KEY_LEN];
        assert!(k.shared_secret(&zero).is_none());
        zero[95] = 1;
        assert!(k.shared_secret(&zero).is_none());
        assert!(k.shared_secret(&to_fixed(&(&p - 1u32))).is_none());
        assert!(k.shared_secret(&[0xff; KEY_LEN]).is_none());
        zero[95] = 2;
        // 2^8 mod P.
        assert_eq!(&k.shared_secret(&zero).unwrap()[94..], &[1, 0]);
    }
}
