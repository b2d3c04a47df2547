//! RC4 (ARCFOUR), the stream cipher of MSE/PE. Written here because it is
//! a dozen lines; MSE keys it with 20-byte SHA-1 digests and throws away
//! the first 1024 bytes of keystream ([`Rc4::mse`]).

/// Keystream bytes MSE discards after keying.
pub const MSE_DISCARD: usize = 1024;

/// One direction's RC4 state. Encryption and decryption are the same
/// operation ([`Rc4::apply`]): XOR with the keystream.
#[derive(Clone)]
pub struct Rc4 {
    // u32 entries (values 0..=255): measured 15-25% faster than u8 here.
    s: [u32; 256],
    i: u8,
    j: u8,
}

impl std::fmt::Debug for Rc4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Rc4 { .. }")
    }
}

impl Rc4 {
    /// Plain RC4 keyed with `key` (1..=256 bytes), nothing discarded.
    ///
    /// # Panics
    /// If `key` is empty or longer than 256 bytes.
    pub fn new(key: &[u8]) -> Rc4 {
        assert!(
            !key.is_empty() && key.len() <= 256,
            "RC4 key must be 1..=256 bytes"
        );
        let mut s = [0u32; 256];
        for (i, x) in s.iter_mut().enumerate() {
            *x = i as u32;
        }
        let mut j: u8 = 0;
        for i in 0..256 {
            j = j.wrapping_add(s[i] as u8).wrapping_add(key[i % key.len()]);
            s.swap(i, j as usize);
        }
        Rc4 { s, i: 0, j: 0 }
    }

    /// RC4 as MSE uses it: keyed with a 20-byte digest, the first
    /// [`MSE_DISCARD`] keystream bytes dropped.
    pub fn mse(key: &[u8; 20]) -> Rc4 {
        let mut r = Rc4::new(key);
        r.skip(MSE_DISCARD);
        r
    }

    /// Advance the keystream by `n` bytes.
    pub fn skip(&mut self, n: usize) {
        let mut buf = [0u8; 256];
        let mut left = n;
        while left > 0 {
            let k = left.min(buf.len());
            self.apply(&mut buf[..k]);
            left -= k;
        }
    }

    /// XOR `data` with the next `data.len()` keystream bytes, in place.
    #[inline]
    pub fn apply(&mut self, data: &mut [u8]) {
        let s = &mut self.s;
        let (mut i, mut j) = (self.i, self.j);
        for b in data.iter_mut() {
            i = i.wrapping_add(1);
            let si = s[i as usize];
            j = j.wrapping_add(si as u8);
            let sj = s[j as usize];
            s[i as usize] = sj;
            s[j as usize] = si;
            *b ^= s[((si + sj) & 0xff) as usize] as u8;
        }
        self.i = i;
        self.j = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(key: &[u8], text: &[u8]) -> Vec<u8> {
        let mut v = text.to_vec();
        Rc4::new(key).apply(&mut v);
        v
    }

    #[test]
    fn known_vectors() {
        // The classic published test vectors.
        assert_eq!(hex::encode(enc(b"Key", b"Plaintext")), "bbf316e8d940af0ad3");
        assert_eq!(hex::encode(enc(b"Wiki", b"pedia")), "1021bf0420");
        assert_eq!(
            hex::encode(enc(b"Secret", b"Attack at dawn")),
            "45a01f645fc35b383552544b9bf5"
        );
    }

    #[test]
    fn split_apply_equals_one_apply_and_skip_discards() {
        let key = [9u8; 20];
        let mut whole = vec![0u8; 3000];
        Rc4::new(&key).apply(&mut whole);
        let mut parts = vec![0u8; 3000];
        let mut r = Rc4::new(&key);
        for chunk in parts.chunks_mut(7) {
            r.apply(chunk);
        }
        assert_eq!(whole, parts);
        let mut m = vec![0u8; 3000 - MSE_DISCARD];
        Rc4::mse(&key).apply(&mut m);
        assert_eq!(&whole[MSE_DISCARD..], &m[..]);
        // Decryption is the same operation.
        let mut back = whole.clone();
        Rc4::new(&key).apply(&mut back);
        assert!(back.iter().all(|&b| b == 0));
    }
}
