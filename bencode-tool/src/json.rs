//! The reversible mapping between bencode and JSON.
//!
//! JSON has text strings, bencode has byte strings, so byte strings (values
//! and dictionary keys alike) are mapped like this:
//!
//! * a byte string that is valid UTF-8 and does not start with `hex:` becomes
//!   the JSON string with the same text;
//! * any other byte string (not UTF-8, or text that starts with `hex:`)
//!   becomes the JSON string `"hex:"` followed by the lowercase hex of all of
//!   its bytes.
//!
//! Going back, a JSON string that starts with `hex:` must be followed by an
//! even number of hex digits and stands for those bytes; any other JSON
//! string stands for its UTF-8 bytes. Integers are JSON numbers in the i64
//! range, lists are arrays, dictionaries are objects. JSON floats, `true`,
//! `false` and `null` have no bencode form and are errors naming their JSON
//! path (`$.info.files[2].length`). The encoder writes canonical bencode
//! (keys sorted by their bytes), so `decode | encode` gives back the same
//! bytes for any input the strict decoder accepts.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use torrent_core::bencode::{Kind, OwnedValue, Value, DEFAULT_MAX_DEPTH};

/// Prefix of an escaped (hex) byte string.
pub const HEX_PREFIX: &str = "hex:";

/// The JSON string for a byte string (without quotes or JSON escaping).
pub fn bytes_to_text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) if !s.starts_with(HEX_PREFIX) => s.into(),
        _ => format!("{HEX_PREFIX}{}", hex::encode(b)).into(),
    }
}

/// The bytes a JSON string stands for.
pub fn text_to_bytes(s: &str) -> Result<Vec<u8>, String> {
    match s.strip_prefix(HEX_PREFIX) {
        Some(h) => hex::decode(h).map_err(|e| {
            format!("string starts with \"{HEX_PREFIX}\" but the rest is not valid hex ({e})")
        }),
        None => Ok(s.as_bytes().to_vec()),
    }
}

/// Write `v` as JSON. With `pretty`, objects and arrays are indented by two
/// spaces per level.
pub fn write_json<W: Write>(out: &mut W, v: &Value<'_>, pretty: bool) -> io::Result<()> {
    write_value(out, v, pretty, 0)?;
    out.write_all(b"\n")
}

fn write_string<W: Write>(out: &mut W, b: &[u8]) -> io::Result<()> {
    let text = bytes_to_text(b);
    serde_json::to_writer(&mut *out, text.as_ref()).map_err(io::Error::from)
}

fn newline_indent<W: Write>(out: &mut W, pretty: bool, level: usize) -> io::Result<()> {
    if pretty {
        out.write_all(b"\n")?;
        for _ in 0..level {
            out.write_all(b"  ")?;
        }
    }
    Ok(())
}

fn write_value<W: Write>(out: &mut W, v: &Value<'_>, pretty: bool, level: usize) -> io::Result<()> {
    match &v.kind {
        Kind::Int(i) => write!(out, "{i}"),
        Kind::Bytes(b) => write_string(out, b),
        Kind::List(items) => {
            if items.is_empty() {
                return out.write_all(b"[]");
            }
            out.write_all(b"[")?;
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.write_all(b",")?;
                }
                newline_indent(out, pretty, level + 1)?;
                write_value(out, item, pretty, level + 1)?;
            }
            newline_indent(out, pretty, level)?;
            out.write_all(b"]")
        }
        Kind::Dict(entries) => {
            if entries.is_empty() {
                return out.write_all(b"{}");
            }
            out.write_all(b"{")?;
            for (n, (k, item)) in entries.iter().enumerate() {
                if n > 0 {
                    out.write_all(b",")?;
                }
                newline_indent(out, pretty, level + 1)?;
                write_string(out, k)?;
                out.write_all(if pretty { b": " } else { b":" })?;
                write_value(out, item, pretty, level + 1)?;
            }
            newline_indent(out, pretty, level)?;
            out.write_all(b"}")
        }
    }
}

/// A JSON document as read, keeping what serde_json's own `Value` loses for
/// our purpose: duplicate object keys and the exact kind of each number.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not an integer in the i64 range, as written.
    OtherNumber(String),
    String(String),
    Array(Vec<Json>),
    /// Members in document order, duplicates kept.
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Json, E> {
        Ok(Json::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Json, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Json::Int(i),
            Err(_) => Json::OtherNumber(u.to_string()),
        })
    }
    fn visit_f64<E>(self, f: f64) -> Result<Json, E> {
        Ok(Json::OtherNumber(format!("{f:?}")))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            members.push((k, v));
        }
        Ok(Json::Object(members))
    }
}

/// Parse a JSON document (the whole input: trailing non-space is an error).
pub fn parse_json(input: &[u8]) -> Result<Json, String> {
    let mut de = serde_json::Deserializer::from_slice(input);
    let v = Json::deserialize(&mut de).map_err(|e| format!("invalid JSON: {e}"))?;
    de.end().map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(v)
}

/// An error converting JSON to bencode, with the JSON path of the culprit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub path: String,
    pub msg: String,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.msg)
    }
}

impl std::error::Error for EncodeError {}

/// Append one step to a JSON path: `.key` for plain keys, `["key"]` otherwise.
fn path_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && !key.as_bytes()[0].is_ascii_digit()
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        format!("{path}.{key}")
    } else {
        let quoted = serde_json::to_string(key).expect("a string always serialises");
        format!("{path}[{quoted}]")
    }
}

/// Convert JSON (in the mapping above) to a bencode value.
pub fn json_to_bencode(j: &Json) -> Result<OwnedValue, EncodeError> {
    convert(j, "$".to_string(), 0)
}

fn convert(j: &Json, path: String, depth: usize) -> Result<OwnedValue, EncodeError> {
    let err = |path: String, msg: String| Err(EncodeError { path, msg });
    match j {
        Json::Int(i) => Ok(OwnedValue::Int(*i)),
        Json::OtherNumber(n) => err(
            path,
            format!("number {n} is not an integer in the 64-bit signed range; bencode has only integers"),
        ),
        Json::Bool(b) => err(path, format!("{b} has no bencode form (use 0 or 1)")),
        Json::Null => err(path, "null has no bencode form".into()),
        Json::String(s) => text_to_bytes(s)
            .map(OwnedValue::Bytes)
            .or_else(|m| err(path, m)),
        Json::Array(_) | Json::Object(_) if depth >= DEFAULT_MAX_DEPTH => err(
            path,
            format!("nesting deeper than {DEFAULT_MAX_DEPTH} levels, which the strict decoder refuses"),
        ),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(n, item)| convert(item, format!("{path}[{n}]"), depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(OwnedValue::List),
        Json::Object(members) => {
            let mut dict = BTreeMap::new();
            for (k, v) in members {
                let member_path = path_key(&path, k);
                let key = match text_to_bytes(k) {
                    Ok(key) => key,
                    Err(m) => return err(member_path, format!("key {m}")),
                };
                let value = convert(v, member_path.clone(), depth + 1)?;
                if dict.insert(key, value).is_some() {
                    return err(
                        member_path,
                        "duplicate key (bencode dictionaries have unique keys; \
                         \"hex:..\" keys count as the bytes they stand for)"
                            .into(),
                    );
                }
            }
            Ok(OwnedValue::Dict(dict))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use torrent_core::bencode::decode;

    fn to_json(buf: &[u8], pretty: bool) -> String {
        let mut out = Vec::new();
        write_json(&mut out, &decode(buf).unwrap(), pretty).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn from_json(s: &str) -> Result<Vec<u8>, String> {
        let j = parse_json(s.as_bytes())?;
        json_to_bencode(&j)
            .map(|v| v.encode())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn text_mapping() {
        assert_eq!(bytes_to_text(b"abc"), "abc");
        assert_eq!(bytes_to_text(b"\xff\x00"), "hex:ff00");
        assert_eq!(bytes_to_text(b"hex:1"), "hex:6865783a31");
        assert_eq!(bytes_to_text(b""), "");
        assert_eq!(text_to_bytes("hex:6865783a31").unwrap(), b"hex:1");
        assert_eq!(text_to_bytes("hex:FF00").unwrap(), b"\xff\x00");
        assert_eq!(text_to_bytes("hex:").unwrap(), b"");
        assert!(text_to_bytes("hex:abc").is_err());
        assert!(text_to_bytes("hex:zz").is_err());
    }

    #[test]
    fn compact_and_pretty() {
        let buf = b"d1:ai-5e1:bl4:spami0ee2:hi0:3:\xff\xfe\x00dee";
        assert_eq!(
            to_json(buf, false),
            "{\"a\":-5,\"b\":[\"spam\",0],\"hi\":\"\",\"hex:fffe00\":{}}\n"
        );
        assert_eq!(
            to_json(buf, true),
            "{\n  \"a\": -5,\n  \"b\": [\n    \"spam\",\n    0\n  ],\n  \"hi\": \"\",\n  \"hex:fffe00\": {}\n}\n"
        );
        assert_eq!(to_json(b"le", true), "[]\n");
    }

    #[test]
    fn round_trips_exactly() {
        let cases: &[&[u8]] = &[
            b"i0e",
            b"i-9223372036854775808e",
            b"0:",
            b"4:hex:",
            b"6:hex:zz",
            b"d4:hex:i1e1:\xffi2ee",
            b"d3:\x00\x01\x02l1:\x80e4:quot2:\"\\e",
            b"ld2:\n\t4:\xe2\x82\xacxeli1eee",
        ];
        for &c in cases {
            for pretty in [false, true] {
                let j = to_json(c, pretty);
                assert_eq!(from_json(&j).unwrap(), c, "{j}");
            }
        }
    }

    #[test]
    fn errors_name_the_path() {
        let e = from_json(r#"{"info":{"files":[{"length":1},{"length":2},{"length":2.5}]}}"#)
            .unwrap_err();
        assert!(e.starts_with("$.info.files[2].length: number 2.5"), "{e}");
        let e = from_json(r#"{"piece length": true}"#).unwrap_err();
        assert!(e.starts_with("$[\"piece length\"]: true"), "{e}");
        let e = from_json(r#"[1, null]"#).unwrap_err();
        assert!(e.starts_with("$[1]: null"), "{e}");
        let e = from_json(r#"[18446744073709551615]"#).unwrap_err();
        assert!(e.contains("$[0]: number 18446744073709551615"), "{e}");
        let e = from_json(r#"{"a": "hex:q"}"#).unwrap_err();
        assert!(e.starts_with("$.a: string starts with"), "{e}");
        let e = from_json(r#"{"hex:1": 1}"#).unwrap_err();
        assert!(e.starts_with("$[\"hex:1\"]: key string starts"), "{e}");
        let e = from_json(r#"{"a": 1, "a": 2}"#).unwrap_err();
        assert!(e.starts_with("$.a: duplicate key"), "{e}");
        let e = from_json(r#"{"a": 1, "hex:61": 2}"#).unwrap_err();
        assert!(e.contains("duplicate key"), "{e}");
        let e = from_json("[1] x").unwrap_err();
        assert!(e.starts_with("invalid JSON"), "{e}");
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let e = from_json(&deep).unwrap_err();
        assert!(e.contains("nesting deeper than 64"), "{e}");
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(decode(&from_json(&ok).unwrap()).is_ok());
    }

    #[test]
    fn encoder_sorts_keys() {
        assert_eq!(
            from_json(r#"{"b":1,"a":"x","hex:00":[]}"#).unwrap(),
            b"d1:\x00le1:a1:x1:bi1ee"
        );
    }
}
