//! Our peer id: Azureus style (BEP 20), `-TK0001-` followed by 12 random
//! alphanumerics (printable, so logs and other clients show it as text).

/// Client prefix of every peer id we generate.
pub const PREFIX: &[u8; 8] = b"-TK0001-";

/// A fresh random peer id.
pub fn generate() -> [u8; 20] {
    use rand::Rng;
    const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(PREFIX);
    let mut rng = rand::thread_rng();
    for b in &mut id[8..] {
        *b = ALNUM[rng.gen_range(0..ALNUM.len())];
    }
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_and_randomness() {
        let a = super::generate();
        let b = super::generate();
        assert_eq!(&a[..8], b"-TK0001-");
        assert_ne!(a, b);
        assert!(a.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-'));
    }
}
