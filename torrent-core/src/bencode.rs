//! Bencode (BEP 3): a scanner that keeps the raw bytes of every value, in a
//! strict and a lenient flavour, and a canonical encoder.
//!
//! The strict decoder ([`decode`]): integers have no leading zeros and no
//! `-0`, string lengths are checked against the buffer, dictionary keys must
//! be byte strings in strictly increasing order (so no duplicates), nesting
//! is bounded, and trailing bytes are an error (unless [`decode_prefix`] is
//! used). Every error carries the byte offset where it was found. It is what
//! `bencode-tool validate` runs, and it reports the first non-canonical byte.
//!
//! The lenient decoder ([`decode_lenient`], [`decode_lenient_prefix`]) is for
//! everything that only reads (torrent files, tracker replies, extension
//! messages, KRPC, resume files): it accepts dictionaries whose keys are not
//! sorted or repeat, as libtorrent and Transmission do. Everything else is
//! as strict as the strict decoder (integers, lengths, depth). Unsorted
//! entries are sorted by key (a stable sort) and of duplicate keys the
//! **first** occurrence wins (libtorrent's `dict_find` looks up the first
//! one); later ones are dropped. So every [`Kind::Dict`] either decoder
//! returns is sorted with unique keys, and lookups are the same for both.
//!
//! Each decoded [`Value`] keeps `raw`, the exact bytes it was parsed from:
//! the info-hash is the SHA-1 of `raw` of the `info` value, never of a
//! re-encoding.

use std::collections::BTreeMap;
use std::fmt;

/// Default maximum nesting depth of lists and dictionaries.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// What went wrong, without the position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    UnexpectedEnd,
    UnexpectedByte(u8),
    EmptyInteger,
    LeadingZero,
    NegativeZero,
    IntegerOverflow,
    BadLength,
    LengthPastEnd { len: u64, available: usize },
    TooDeep(usize),
    KeyNotString,
    UnsortedKey,
    DuplicateKey,
    TrailingData,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::UnexpectedEnd => write!(f, "unexpected end of input"),
            ErrorKind::UnexpectedByte(b) if b.is_ascii_graphic() => {
                write!(f, "unexpected byte '{}'", *b as char)
            }
            ErrorKind::UnexpectedByte(b) => write!(f, "unexpected byte 0x{b:02x}"),
            ErrorKind::EmptyInteger => write!(f, "integer has no digits"),
            ErrorKind::LeadingZero => write!(f, "integer or length has a leading zero"),
            ErrorKind::NegativeZero => write!(f, "integer is -0"),
            ErrorKind::IntegerOverflow => write!(f, "integer does not fit in 64 bits"),
            ErrorKind::BadLength => write!(f, "invalid byte string length"),
            ErrorKind::LengthPastEnd { len, available } => write!(
                f,
                "byte string of length {len} runs past the end ({available} bytes left)"
            ),
            ErrorKind::TooDeep(max) => write!(f, "nesting deeper than {max} levels"),
            ErrorKind::KeyNotString => write!(f, "dictionary key is not a byte string"),
            ErrorKind::UnsortedKey => write!(f, "dictionary keys are not sorted"),
            ErrorKind::DuplicateKey => write!(f, "duplicate dictionary key"),
            ErrorKind::TrailingData => write!(f, "trailing data after the value"),
        }
    }
}

/// A decoding error with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bencode error at byte {offset}: {kind}")]
pub struct Error {
    pub offset: usize,
    pub kind: ErrorKind,
}

/// The shape of a decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    /// Entries sorted by key, keys unique: the strict decoder checked the
    /// input was so; the lenient one sorted it and kept the first of each
    /// duplicate key. `raw` of the dictionary is still the input span.
    Dict(Vec<(&'a [u8], Value<'a>)>),
}

/// A decoded value together with the raw bytes it was decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<'a> {
    pub raw: &'a [u8],
    pub kind: Kind<'a>,
}

impl<'a> Value<'a> {
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.kind {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }
    /// The byte string as UTF-8, if it is a byte string and valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match &self.kind {
            Kind::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn as_dict(&self) -> Option<&[(&'a [u8], Value<'a>)]> {
        match &self.kind {
            Kind::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// Look up a key in a dictionary (None if this is not a dictionary).
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        let d = self.as_dict()?;
        // Keys are sorted (checked while decoding), so binary search works.
        d.binary_search_by(|(k, _)| (*k).cmp(key.as_bytes()))
            .ok()
            .map(|i| &d[i].1)
    }
    /// Name of the type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Int(_) => "integer",
            Kind::Bytes(_) => "byte string",
            Kind::List(_) => "list",
            Kind::Dict(_) => "dictionary",
        }
    }
    /// Offset of this value inside `buf` (the buffer it was decoded from).
    pub fn offset_in(&self, buf: &[u8]) -> usize {
        (self.raw.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
    }
    /// Where this byte string's contents (after the `N:` prefix) lie inside
    /// `buf`, the buffer it was decoded from or the `raw` of a value holding
    /// it. `None` if it is not a byte string or not inside `buf`.
    pub fn bytes_range_in(&self, buf: &[u8]) -> Option<std::ops::Range<usize>> {
        let b = self.as_bytes()?;
        let start = (b.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
        (start + b.len() <= buf.len()).then(|| start..start + b.len())
    }
    pub fn to_owned_value(&self) -> OwnedValue {
        match &self.kind {
            Kind::Int(i) => OwnedValue::Int(*i),
            Kind::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Kind::List(l) => OwnedValue::List(l.iter().map(|v| v.to_owned_value()).collect()),
            Kind::Dict(d) => OwnedValue::Dict(
                d.iter()
                    .map(|(k, v)| (k.to_vec(), v.to_owned_value()))
                    .collect(),
            ),
        }
    }
}

/// Decoder settings.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub max_depth: usize,
    /// Accept unsorted and duplicate dictionary keys (see the module docs).
    pub lenient: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_depth: DEFAULT_MAX_DEPTH,
            lenient: false,
        }
    }
}

impl Options {
    /// The default bounds, lenient about dictionary key order.
    pub fn lenient() -> Self {
        Options {
            lenient: true,
            ..Options::default()
        }
    }
}

impl ErrorKind {
    /// True for what the lenient decoder accepts and the strict one does not
    /// (unsorted or duplicate keys, bytes after the value): well-formed but
    /// not canonical.
    pub fn is_non_canonical(&self) -> bool {
        matches!(
            self,
            ErrorKind::UnsortedKey | ErrorKind::DuplicateKey | ErrorKind::TrailingData
        )
    }
}

/// Lenient decoding of exactly one value spanning the whole buffer.
pub fn decode_lenient(buf: &[u8]) -> Result<Value<'_>, Error> {
    decode_with(buf, Options::lenient())
}

/// Lenient decoding of one value at the start of the buffer; returns it and
/// the offset just past it. A .torrent file or tracker reply with bytes
/// after its dictionary (often a newline) is read this way.
pub fn decode_lenient_prefix(buf: &[u8]) -> Result<(Value<'_>, usize), Error> {
    decode_prefix_with(buf, Options::lenient())
}

/// Decode exactly one value that spans the whole buffer.
pub fn decode(buf: &[u8]) -> Result<Value<'_>, Error> {
    decode_with(buf, Options::default())
}

/// Decode exactly one value that spans the whole buffer, with options.
pub fn decode_with(buf: &[u8], opts: Options) -> Result<Value<'_>, Error> {
    let (v, end) = decode_prefix_with(buf, opts)?;
    if end != buf.len() {
        return Err(Error {
            offset: end,
            kind: ErrorKind::TrailingData,
        });
    }
    Ok(v)
}

/// Decode one value at the start of the buffer; returns it and the offset
/// just past it (bytes after it are left alone, as in ut_metadata messages).
pub fn decode_prefix(buf: &[u8]) -> Result<(Value<'_>, usize), Error> {
    decode_prefix_with(buf, Options::default())
}

pub fn decode_prefix_with(buf: &[u8], opts: Options) -> Result<(Value<'_>, usize), Error> {
    let mut p = Parser {
        buf,
        pos: 0,
        max_depth: opts.max_depth,
        lenient: opts.lenient,
    };
    let v = p.value(0)?;
    Ok((v, p.pos))
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    max_depth: usize,
    lenient: bool,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, offset: usize, kind: ErrorKind) -> Result<T, Error> {
        Err(Error { offset, kind })
    }

    fn peek(&self) -> Result<u8, Error> {
        match self.buf.get(self.pos) {
            Some(b) => Ok(*b),
            None => self.err(self.pos, ErrorKind::UnexpectedEnd),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        let start = self.pos;
        let kind = match self.peek()? {
            b'i' => {
                self.pos += 1;
                let i = self.integer(b'e')?;
                Kind::Int(i)
            }
            b'0'..=b'9' => Kind::Bytes(self.bytes()?),
            b'l' => {
                if depth >= self.max_depth {
                    return self.err(start, ErrorKind::TooDeep(self.max_depth));
                }
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Kind::List(items)
            }
            b'd' => {
                if depth >= self.max_depth {
                    return self.err(start, ErrorKind::TooDeep(self.max_depth));
                }
                self.pos += 1;
                let mut items: Vec<(&'a [u8], Value<'a>)> = Vec::new();
                let mut canonical = true;
                while self.peek()? != b'e' {
                    let key_at = self.pos;
                    if !self.peek()?.is_ascii_digit() {
                        return self.err(key_at, ErrorKind::KeyNotString);
                    }
                    let key = self.bytes()?;
                    if let Some((prev, _)) = items.last().filter(|_| canonical) {
                        let kind = match (*prev).cmp(key) {
                            std::cmp::Ordering::Less => None,
                            std::cmp::Ordering::Equal => Some(ErrorKind::DuplicateKey),
                            std::cmp::Ordering::Greater => Some(ErrorKind::UnsortedKey),
                        };
                        if let Some(kind) = kind {
                            if !self.lenient {
                                return self.err(key_at, kind);
                            }
                            canonical = false;
                        }
                    }
                    let v = self.value(depth + 1)?;
                    items.push((key, v));
                }
                self.pos += 1;
                if !canonical {
                    // Stable: of equal keys the first in the input comes
                    // first, and dedup keeps it.
                    items.sort_by(|a, b| a.0.cmp(b.0));
                    items.dedup_by(|later, earlier| later.0 == earlier.0);
                }
                Kind::Dict(items)
            }
            b => return self.err(start, ErrorKind::UnexpectedByte(b)),
        };
        Ok(Value {
            raw: &self.buf[start..self.pos],
            kind,
        })
    }

    /// Parse a decimal integer terminated by `end`; the terminator is consumed.
    fn integer(&mut self, end: u8) -> Result<i64, Error> {
        let start = self.pos;
        let neg = self.peek()? == b'-';
        if neg {
            if end == b':' {
                return self.err(start, ErrorKind::BadLength);
            }
            self.pos += 1;
        }
        let digits_at = self.pos;
        let mut value: i64 = 0;
        loop {
            let b = self.peek()?;
            if b == end {
                break;
            }
            if !b.is_ascii_digit() {
                return self.err(self.pos, ErrorKind::UnexpectedByte(b));
            }
            if self.pos > digits_at && self.buf[digits_at] == b'0' {
                return self.err(digits_at, ErrorKind::LeadingZero);
            }
            let d = (b - b'0') as i64;
            value = value
                .checked_mul(10)
                .and_then(|v| if neg { v.checked_sub(d) } else { v.checked_add(d) })
                .ok_or(Error {
                    offset: start,
                    kind: ErrorKind::IntegerOverflow,
                })?;
            self.pos += 1;
        }
        if self.pos == digits_at {
            return self.err(digits_at, ErrorKind::EmptyInteger);
        }
        if neg && value == 0 {
            return self.err(start, ErrorKind::NegativeZero);
        }
        self.pos += 1; // terminator
        Ok(value)
    }

    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let start = self.pos;
        let len = self.integer(b':')?;
        let available = self.buf.len() - self.pos;
        if len as u64 > available as u64 {
            return self.err(
                start,
                ErrorKind::LengthPastEnd {
                    len: len as u64,
                    available,
                },
            );
        }
        let s = &self.buf[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(s)
    }
}

/// An owned bencode value, for building messages and files.
/// Dictionaries are `BTreeMap`s, so encoding is canonical (sorted keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedValue {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<OwnedValue>),
    Dict(BTreeMap<Vec<u8>, OwnedValue>),
}

impl OwnedValue {
    pub fn bytes(b: impl AsRef<[u8]>) -> Self {
        OwnedValue::Bytes(b.as_ref().to_vec())
    }
    pub fn dict() -> Self {
        OwnedValue::Dict(BTreeMap::new())
    }
    /// Insert into a dictionary (no-op on other kinds); returns self for chaining.
    pub fn with(mut self, key: &str, v: OwnedValue) -> Self {
        self.insert(key, v);
        self
    }
    pub fn insert(&mut self, key: &str, v: OwnedValue) {
        if let OwnedValue::Dict(d) = self {
            d.insert(key.as_bytes().to_vec(), v);
        }
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            OwnedValue::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            OwnedValue::Bytes(b) => encode_bytes(b, out),
            OwnedValue::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            OwnedValue::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    encode_bytes(k, out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

impl From<i64> for OwnedValue {
    fn from(i: i64) -> Self {
        OwnedValue::Int(i)
    }
}
impl From<&str> for OwnedValue {
    fn from(s: &str) -> Self {
        OwnedValue::Bytes(s.as_bytes().to_vec())
    }
}
impl From<String> for OwnedValue {
    fn from(s: String) -> Self {
        OwnedValue::Bytes(s.into_bytes())
    }
}
impl From<Vec<u8>> for OwnedValue {
    fn from(b: Vec<u8>) -> Self {
        OwnedValue::Bytes(b)
    }
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(buf: &[u8]) -> Error {
        decode(buf).unwrap_err()
    }

    #[test]
    fn scalars() {
        assert_eq!(decode(b"i42e").unwrap().as_int(), Some(42));
        assert_eq!(decode(b"i-7e").unwrap().as_int(), Some(-7));
        assert_eq!(decode(b"i0e").unwrap().as_int(), Some(0));
        assert_eq!(decode(b"4:spam").unwrap().as_bytes(), Some(&b"spam"[..]));
        assert_eq!(decode(b"0:").unwrap().as_bytes(), Some(&b""[..]));
        assert_eq!(
            decode(b"i9223372036854775807e").unwrap().as_int(),
            Some(i64::MAX)
        );
        assert_eq!(
            decode(b"i-9223372036854775808e").unwrap().as_int(),
            Some(i64::MIN)
        );
    }

    #[test]
    fn malformed_integers() {
        assert_eq!(err(b"i03e").kind, ErrorKind::LeadingZero);
        assert_eq!(err(b"i-0e").kind, ErrorKind::NegativeZero);
        assert_eq!(err(b"ie").kind, ErrorKind::EmptyInteger);
        assert_eq!(err(b"i-e").kind, ErrorKind::EmptyInteger);
        assert_eq!(err(b"i9223372036854775808e").kind, ErrorKind::IntegerOverflow);
        assert_eq!(err(b"i12").kind, ErrorKind::UnexpectedEnd);
        assert_eq!(err(b"i1x2e").kind, ErrorKind::UnexpectedByte(b'x'));
        assert_eq!(err(b"i1x2e").offset, 2);
    }

    #[test]
    fn malformed_strings() {
        assert_eq!(
            err(b"5:abc").kind,
            ErrorKind::LengthPastEnd {
                len: 5,
                available: 3
            }
        );
        assert_eq!(err(b"01:a").kind, ErrorKind::LeadingZero);
        assert_eq!(err(b"-1:a").kind, ErrorKind::UnexpectedByte(b'-'));
        assert_eq!(
            err(b"99999999999999999999:a").kind,
            ErrorKind::IntegerOverflow
        );
    }

    #[test]
    fn dicts_and_spans() {
        let buf = b"d3:bar4:spam3:fooi42e4:infod1:ai1eee";
        let v = decode(buf).unwrap();
        assert_eq!(v.get("bar").unwrap().as_str(), Some("spam"));
        assert_eq!(v.get("foo").unwrap().as_int(), Some(42));
        let info = v.get("info").unwrap();
        assert_eq!(info.raw, b"d1:ai1ee");
        assert_eq!(info.offset_in(buf), 27);
        assert!(v.get("zzz").is_none());
        // The contents of a byte string, in the buffer and in a value's raw.
        let spam = v.get("bar").unwrap();
        assert_eq!(spam.bytes_range_in(buf), Some(8..12));
        assert_eq!(spam.bytes_range_in(&buf[5..]), Some(3..7));
        assert_eq!(spam.bytes_range_in(info.raw), None);
        assert_eq!(v.get("foo").unwrap().bytes_range_in(buf), None);
    }

    #[test]
    fn dict_key_rules() {
        assert_eq!(err(b"d1:bi1e1:ai2ee").kind, ErrorKind::UnsortedKey);
        assert_eq!(err(b"d1:bi1e1:ai2ee").offset, 7);
        assert_eq!(err(b"d1:ai1e1:ai2ee").kind, ErrorKind::DuplicateKey);
        assert_eq!(err(b"di1ei2ee").kind, ErrorKind::KeyNotString);
        assert_eq!(err(b"d1:a").kind, ErrorKind::UnexpectedEnd);
    }

    #[test]
    fn nesting_limit() {
        let deep = format!("{}{}", "l".repeat(65), "e".repeat(65));
        assert_eq!(err(deep.as_bytes()).kind, ErrorKind::TooDeep(64));
        let ok = format!("{}{}", "l".repeat(64), "e".repeat(64));
        assert!(decode(ok.as_bytes()).is_ok());
    }

    #[test]
    fn trailing_and_prefix() {
        assert_eq!(err(b"i1ei2e").kind, ErrorKind::TrailingData);
        assert_eq!(err(b"i1ei2e").offset, 3);
        let (v, end) = decode_prefix(b"d1:ai1eeRAW").unwrap();
        assert_eq!(v.get("a").unwrap().as_int(), Some(1));
        assert_eq!(end, 8);
        assert_eq!(err(b"").kind, ErrorKind::UnexpectedEnd);
        assert_eq!(err(b"x").kind, ErrorKind::UnexpectedByte(b'x'));
    }

    #[test]
    fn lenient_keys() {
        // Unsorted: accepted, entries come back sorted, raw is the input.
        let buf = b"d1:bi1e1:ai2ee";
        let v = decode_lenient(buf).unwrap();
        assert_eq!(v.raw, buf);
        let keys: Vec<&[u8]> = v.as_dict().unwrap().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec![&b"a"[..], b"b"]);
        assert_eq!(v.get("a").unwrap().as_int(), Some(2));
        assert_eq!(v.get("b").unwrap().as_int(), Some(1));
        // Duplicates: the first occurrence wins, the others are dropped,
        // also when the duplicate comes after an unsorted key.
        let v = decode_lenient(b"d1:ai1e1:ai2ee").unwrap();
        assert_eq!(v.as_dict().unwrap().len(), 1);
        assert_eq!(v.get("a").unwrap().as_int(), Some(1));
        let v = decode_lenient(b"d1:zi0e1:ai1e1:ai2e1:zi9ee").unwrap();
        assert_eq!(v.get("a").unwrap().as_int(), Some(1));
        assert_eq!(v.get("z").unwrap().as_int(), Some(0));
        assert_eq!(v.as_dict().unwrap().len(), 2);
        // Nested dictionaries are lenient too.
        let v = decode_lenient(b"d4:infod4:name1:x6:lengthi3eee").unwrap();
        assert_eq!(v.get("info").unwrap().get("length").unwrap().as_int(), Some(3));
        // Strict decoding of the same bytes still says what is wrong and where.
        assert_eq!(err(b"d4:infod4:name1:x6:lengthi3eee").offset, 17);
        assert!(err(b"d1:bi1e1:ai2ee").kind.is_non_canonical());
        // Everything else is as strict as before.
        assert_eq!(decode_lenient(b"d1:ai01ee").unwrap_err().kind, ErrorKind::LeadingZero);
        assert_eq!(decode_lenient(b"di1ei2ee").unwrap_err().kind, ErrorKind::KeyNotString);
        assert_eq!(decode_lenient(b"i1e\n").unwrap_err().kind, ErrorKind::TrailingData);
        let deep = format!("{}{}", "d1:a".repeat(65), "e".repeat(65));
        assert_eq!(
            decode_lenient(deep.as_bytes()).unwrap_err().kind,
            ErrorKind::TooDeep(64)
        );
        // The prefix form allows bytes after the value.
        let (v, end) = decode_lenient_prefix(b"d1:bi1e1:ai2ee\n").unwrap();
        assert_eq!((v.get("a").unwrap().as_int(), end), (Some(2), 14));
        // Re-encoding a lenient value gives canonical bencode.
        let enc = decode_lenient(b"d1:bi1e1:ai2e1:ai3ee").unwrap().to_owned_value().encode();
        assert_eq!(enc, b"d1:ai2e1:bi1ee");
        assert!(decode(&enc).is_ok());
    }

    #[test]
    fn encode_round_trip() {
        let v = OwnedValue::dict()
            .with("z", OwnedValue::Int(-3))
            .with("a", OwnedValue::List(vec!["x".into(), OwnedValue::Int(0)]))
            .with("m", OwnedValue::bytes([0u8, 255]));
        let enc = v.encode();
        assert_eq!(enc, b"d1:al1:xi0ee1:m2:\x00\xff1:zi-3ee");
        assert_eq!(decode(&enc).unwrap().to_owned_value(), v);
    }
}
