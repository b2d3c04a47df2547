//! The 20-byte v1 info-hash and peer ids.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

/// Parses 40 hex digits or 32 base32 characters (as in magnet links).
impl FromStr for InfoHash {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bytes = match s.len() {
            40 => hex::decode(s).map_err(|e| format!("info-hash {s:?} is not hex: {e}"))?,
            32 => data_encoding::BASE32
                .decode(s.to_ascii_uppercase().as_bytes())
                .map_err(|e| format!("info-hash {s:?} is not base32: {e}"))?,
            n => {
                return Err(format!(
                    "info-hash {s:?} has {n} characters; expected 40 hex or 32 base32"
                ))
            }
        };
        let arr: [u8; 20] = bytes
            .try_into()
            .map_err(|_| format!("info-hash {s:?} does not decode to 20 bytes"))?;
        Ok(InfoHash(arr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base32() {
        let h: InfoHash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a".parse().unwrap();
        let b: InfoHash = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK".parse().unwrap();
        assert_eq!(h, b);
        assert_eq!(h.to_string(), "c12fe1c06bba254a9dc9f519b335aa7c1367a88a");
        assert!("abc".parse::<InfoHash>().is_err());
        assert!("zz2fe1c06bba254a9dc9f519b335aa7c1367a88a".parse::<InfoHash>().is_err());
    }
}
