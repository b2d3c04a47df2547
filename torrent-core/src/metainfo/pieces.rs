//! The v1 piece hashes as a view into the info bytes.
//!
//! The `pieces` string of the info dictionary is 20 bytes per piece (20 MiB
//! for a million pieces). The info bytes are kept anyway (BEP 9 serves them
//! byte for byte, [`super::Metainfo::info_bytes`]), so [`PieceHashes`] does
//! not copy the string: it holds the same shared buffer and where the string
//! lies in it. Clones share it too (the engine's, the disk thread's and
//! `Storage`'s copies of the info).

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// The SHA-1 of each piece, in order: `hashes[i]` is piece `i`'s. Derefs to
/// `[[u8; 20]]`, so `len`, `get`, indexing and `iter` are the slice's.
#[derive(Clone, Default)]
pub struct PieceHashes {
    /// The buffer the hashes lie in (the info bytes, or a buffer of their
    /// own for [`PieceHashes::from_hashes`]).
    bytes: Arc<Vec<u8>>,
    /// Where the first hash starts in `bytes`.
    start: usize,
    /// How many hashes there are.
    count: usize,
}

impl PieceHashes {
    /// View `bytes[range]` as hashes: `None` unless the range lies inside
    /// `bytes` and its length is a multiple of 20.
    pub fn new(bytes: Arc<Vec<u8>>, range: Range<usize>) -> Option<PieceHashes> {
        if range.start > range.end || range.end > bytes.len() || !range.len().is_multiple_of(20) {
            return None;
        }
        Some(PieceHashes {
            start: range.start,
            count: range.len() / 20,
            bytes,
        })
    }

    /// Hashes in a buffer of their own (torrents built in memory, tests).
    pub fn from_hashes(hashes: impl IntoIterator<Item = [u8; 20]>) -> PieceHashes {
        let bytes: Vec<u8> = hashes.into_iter().flatten().collect();
        let range = 0..bytes.len();
        PieceHashes::new(Arc::new(bytes), range).expect("a whole number of hashes")
    }

    /// The hashes as one slice.
    pub fn as_slice(&self) -> &[[u8; 20]] {
        let (hashes, rest) = self.as_bytes().as_chunks::<20>();
        debug_assert!(rest.is_empty());
        hashes
    }

    /// The hashes as the bytes of the `pieces` string (20 per piece).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..self.start + 20 * self.count]
    }

    /// Where the hashes lie in [`PieceHashes::buffer`].
    pub fn range(&self) -> Range<usize> {
        self.start..self.start + 20 * self.count
    }

    /// The buffer the hashes are a view into (for a parsed torrent: its
    /// info bytes).
    pub fn buffer(&self) -> &Arc<Vec<u8>> {
        &self.bytes
    }
}

impl Deref for PieceHashes {
    type Target = [[u8; 20]];
    fn deref(&self) -> &[[u8; 20]] {
        self.as_slice()
    }
}

impl<'a> IntoIterator for &'a PieceHashes {
    type Item = &'a [u8; 20];
    type IntoIter = std::slice::Iter<'a, [u8; 20]>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl FromIterator<[u8; 20]> for PieceHashes {
    fn from_iter<I: IntoIterator<Item = [u8; 20]>>(iter: I) -> PieceHashes {
        PieceHashes::from_hashes(iter)
    }
}

/// Equal when the hashes are, wherever they lie.
impl PartialEq for PieceHashes {
    fn eq(&self, other: &PieceHashes) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for PieceHashes {}

/// A count, not a million hashes.
impl fmt::Debug for PieceHashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PieceHashes({} at {}..{})", self.count, self.start, self.range().end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: u8) -> [u8; 20] {
        [b; 20]
    }

    #[test]
    fn a_view_indexes_the_range_and_nothing_past_it() {
        // 3 bytes before, two hashes, 2 bytes after.
        let mut buf = b"abc".to_vec();
        buf.extend_from_slice(&hash(1));
        buf.extend_from_slice(&hash(2));
        buf.extend_from_slice(b"de");
        let buf = Arc::new(buf);
        let p = PieceHashes::new(buf.clone(), 3..43).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0], hash(1));
        assert_eq!(p.get(1), Some(&hash(2)));
        assert_eq!(p.get(2), None);
        assert_eq!(p.iter().copied().collect::<Vec<_>>(), vec![hash(1), hash(2)]);
        assert_eq!((&p).into_iter().count(), 2);
        assert_eq!(p.range(), 3..43);
        // A view, not a copy: the hashes are the buffer's bytes.
        assert!(Arc::ptr_eq(p.buffer(), &buf));
        assert_eq!(p.as_bytes().as_ptr(), buf[3..].as_ptr());
        // Cheap to clone: the clone shares the buffer.
        let q = p.clone();
        assert!(Arc::ptr_eq(q.buffer(), &buf));
        assert_eq!(q, p);
        assert_eq!(format!("{p:?}"), "PieceHashes(2 at 3..43)");
    }

    #[test]
    #[should_panic]
    fn indexing_past_the_end_panics() {
        let p = PieceHashes::from_hashes([hash(1)]);
        let _ = p[1];
    }

    #[test]
    fn a_range_outside_the_buffer_or_not_whole_hashes_is_refused() {
        let buf = Arc::new(vec![0u8; 45]);
        assert!(PieceHashes::new(buf.clone(), 5..45).is_some());
        assert!(PieceHashes::new(buf.clone(), 6..46).is_none());
        assert!(PieceHashes::new(buf.clone(), 5..44).is_none());
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 20..0;
        assert!(PieceHashes::new(buf.clone(), backwards).is_none());
        let empty = PieceHashes::new(buf, 45..45).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.as_bytes(), b"");
        assert!(PieceHashes::default().is_empty());
    }

    #[test]
    fn equal_hashes_are_equal_wherever_they_lie() {
        let own = PieceHashes::from_hashes([hash(7), hash(8)]);
        let mut buf = vec![b'x'; 10];
        buf.extend_from_slice(own.as_bytes());
        let view = PieceHashes::new(Arc::new(buf), 10..50).unwrap();
        assert_eq!(own, view);
        assert_ne!(own, PieceHashes::from_hashes([hash(7)]));
        let collected: PieceHashes = [hash(7), hash(8)].into_iter().collect();
        assert_eq!(collected, own);
    }
}
