//! Which pieces a peer has: one bit per piece, high bit of byte 0 is piece 0.

use super::error::ProtocolError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitfield {
    bits: Vec<u8>,
    num_pieces: usize,
    count: usize,
}

impl Bitfield {
    /// All pieces missing.
    pub fn new(num_pieces: usize) -> Bitfield {
        Bitfield {
            bits: vec![0; num_pieces.div_ceil(8)],
            num_pieces,
            count: 0,
        }
    }

    /// All pieces present.
    pub fn full(num_pieces: usize) -> Bitfield {
        let mut b = Bitfield::new(num_pieces);
        for i in 0..num_pieces {
            b.set(i, true);
        }
        b
    }

    /// From the payload of a bitfield message: the length must be exactly
    /// ceil(num_pieces / 8) and the spare bits at the end must be clear.
    pub fn from_bytes(bytes: &[u8], num_pieces: usize) -> Result<Bitfield, ProtocolError> {
        let expected = num_pieces.div_ceil(8);
        if bytes.len() != expected {
            return Err(ProtocolError::BitfieldLength {
                len: bytes.len(),
                expected,
                num_pieces,
            });
        }
        let spare = expected * 8 - num_pieces;
        if spare > 0 && bytes[expected - 1] & ((1u8 << spare) - 1) != 0 {
            return Err(ProtocolError::BitfieldSpareBits { num_pieces });
        }
        let count = bytes.iter().map(|b| b.count_ones() as usize).sum();
        Ok(Bitfield {
            bits: bytes.to_vec(),
            num_pieces,
            count,
        })
    }

    pub fn from_bools(v: &[bool]) -> Bitfield {
        let mut b = Bitfield::new(v.len());
        for (i, &on) in v.iter().enumerate() {
            b.set(i, on);
        }
        b
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.bits.clone()
    }

    pub fn num_pieces(&self) -> usize {
        self.num_pieces
    }

    /// False for indices out of range.
    pub fn get(&self, i: usize) -> bool {
        i < self.num_pieces && self.bits[i / 8] & (0x80 >> (i % 8)) != 0
    }

    /// Set or clear bit `i`; out-of-range indices are ignored (returns false).
    pub fn set(&mut self, i: usize, on: bool) -> bool {
        if i >= self.num_pieces {
            return false;
        }
        let mask = 0x80u8 >> (i % 8);
        let was = self.bits[i / 8] & mask != 0;
        if on && !was {
            self.bits[i / 8] |= mask;
            self.count += 1;
        } else if !on && was {
            self.bits[i / 8] &= !mask;
            self.count -= 1;
        }
        true
    }

    /// Number of pieces present.
    pub fn count(&self) -> usize {
        self.count
    }

    pub fn is_complete(&self) -> bool {
        self.count == self.num_pieces
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Indices of the pieces present.
    pub fn iter_set(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.num_pieces).filter(move |&i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count_bytes() {
        let mut b = Bitfield::new(10);
        assert_eq!(b.as_bytes(), &[0, 0]);
        b.set(0, true);
        b.set(9, true);
        b.set(9, true);
        assert!(!b.set(10, true));
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert_eq!(b.count(), 2);
        assert!(b.get(0) && b.get(9) && !b.get(1) && !b.get(10));
        b.set(0, false);
        assert_eq!(b.count(), 1);
        assert_eq!(b.iter_set().collect::<Vec<_>>(), vec![9]);
        let f = Bitfield::full(10);
        assert!(f.is_complete());
        assert_eq!(f.as_bytes(), &[0xff, 0xc0]);
        assert_eq!(Bitfield::from_bytes(&[0xff, 0xc0], 10).unwrap(), f);
        assert_eq!(
            Bitfield::from_bools(&[true, false, true]).as_bytes(),
            &[0xa0]
        );
        assert!(Bitfield::new(0).is_complete());
    }

    #[test]
    fn from_bytes_checks() {
        assert_eq!(
            Bitfield::from_bytes(&[0xff], 10).unwrap_err(),
            ProtocolError::BitfieldLength {
                len: 1,
                expected: 2,
                num_pieces: 10
            }
        );
        assert_eq!(
            Bitfield::from_bytes(&[0xff, 0xe0], 10).unwrap_err(),
            ProtocolError::BitfieldSpareBits { num_pieces: 10 }
        );
        assert!(Bitfield::from_bytes(&[0xff], 8).unwrap().is_complete());
        assert_eq!(Bitfield::from_bytes(&[0x01], 8).unwrap().count(), 1);
    }
}
