//! Our peer id: Azureus style, `-TK0001-` followed by 12 random bytes.

/// Client prefix of every peer id we generate.
pub const PREFIX: &[u8; 8] = b"-TK0001-";

/// A fresh random peer id.
pub fn generate() -> [u8; 20] {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(PREFIX);
    let tail: [u8; 12] = rand::random();
    id[8..].copy_from_slice(&tail);
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
    }
}
