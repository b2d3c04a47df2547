//! A human-readable, indented view of a bencode value (not meant to be
//! parsed back: use `decode` for that).
//!
//! Text (UTF-8 without control characters other than tab/newline/CR) is
//! shown quoted with JSON escapes; other byte strings in hex as
//! `<N bytes: hex>`. Unless `full` is set, long text is cut after
//! [`TEXT_PREVIEW_CHARS`] characters, long binary after [`HEX_PREVIEW_BYTES`]
//! bytes, and an info dictionary's `pieces` is summarised as
//! `<pieces: 7800 bytes, sha1 list of 390>`. With `full` every byte is shown,
//! long binary as hex lines under the key (one SHA-1 a line for `pieces`).

use std::io::{self, Write};
use torrent_core::bencode::{Kind, Value};

/// Text longer than this many characters is shortened unless `full`.
pub const TEXT_PREVIEW_CHARS: usize = 100;
/// Binary longer than this many bytes is shortened unless `full`.
pub const HEX_PREVIEW_BYTES: usize = 32;
/// Lists of scalars shorter than this are written on one line.
const INLINE_WIDTH: usize = 72;

pub fn write_pretty<W: Write>(out: &mut W, v: &Value<'_>, full: bool) -> io::Result<()> {
    let mut p = Printer { out, full };
    p.value(v, None, 0)?;
    p.out.write_all(b"\n")
}

struct Printer<'w, W: Write> {
    out: &'w mut W,
    full: bool,
}

fn is_text(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    let ok = s
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'));
    ok.then_some(s)
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

/// How a dictionary key is shown: bare when that cannot confuse the reader.
fn key_label(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s)
            if !s.is_empty()
                && s.trim() == s
                && s.chars()
                    .all(|c| !c.is_control() && !matches!(c, ':' | '"' | '<' | '[' | '{')) =>
        {
            s.to_string()
        }
        Ok(s) if is_text(k).is_some() => quote(s),
        _ => format!("<{} bytes: {}>", k.len(), hex::encode(k)),
    }
}

impl<W: Write> Printer<'_, W> {
    fn indent(&mut self, level: usize) -> io::Result<()> {
        for _ in 0..level {
            self.out.write_all(b"  ")?;
        }
        Ok(())
    }

    /// A scalar on one line, or None if it needs several (full binary).
    fn scalar(&self, v: &Value<'_>, key: Option<&[u8]>) -> Option<String> {
        match &v.kind {
            Kind::Int(i) => Some(i.to_string()),
            Kind::Bytes(b) => {
                if let Some(s) = is_text(b) {
                    let chars = s.chars().count();
                    if self.full || chars <= TEXT_PREVIEW_CHARS {
                        return Some(quote(s));
                    }
                    let head: String = s.chars().take(TEXT_PREVIEW_CHARS).collect();
                    let q = quote(&head);
                    return Some(format!("{}…\" ({} bytes)", &q[..q.len() - 1], b.len()));
                }
                let sha1_list = key == Some(b"pieces") && b.len() % 20 == 0;
                if self.full && b.len() > HEX_PREVIEW_BYTES {
                    return None;
                }
                if sha1_list && !self.full {
                    return Some(format!(
                        "<pieces: {} bytes, sha1 list of {}>",
                        b.len(),
                        b.len() / 20
                    ));
                }
                if b.len() <= HEX_PREVIEW_BYTES {
                    Some(format!("<{} bytes: {}>", b.len(), hex::encode(b)))
                } else {
                    Some(format!(
                        "<{} bytes: {}…>",
                        b.len(),
                        hex::encode(&b[..HEX_PREVIEW_BYTES])
                    ))
                }
            }
            Kind::List(_) | Kind::Dict(_) => None,
        }
    }

    /// Write `v`; the cursor is already after `key: ` (or the indent).
    fn value(&mut self, v: &Value<'_>, key: Option<&[u8]>, level: usize) -> io::Result<()> {
        if let Some(s) = self.scalar(v, key) {
            return self.out.write_all(s.as_bytes());
        }
        match &v.kind {
            Kind::Bytes(b) => {
                // Full binary: hex lines below, one SHA-1 a line for pieces.
                let sha1_list = key == Some(b"pieces") && b.len() % 20 == 0;
                let width = if sha1_list { 20 } else { HEX_PREVIEW_BYTES };
                if sha1_list {
                    write!(
                        self.out,
                        "<pieces: {} bytes, sha1 list of {}:",
                        b.len(),
                        b.len() / 20
                    )?;
                } else {
                    write!(self.out, "<{} bytes:", b.len())?;
                }
                for chunk in b.chunks(width) {
                    self.out.write_all(b"\n")?;
                    self.indent(level + 1)?;
                    self.out.write_all(hex::encode(chunk).as_bytes())?;
                }
                self.out.write_all(b"\n")?;
                self.indent(level)?;
                self.out.write_all(b">")
            }
            Kind::List(items) => {
                if items.is_empty() {
                    return self.out.write_all(b"[]");
                }
                let inline: Option<Vec<String>> =
                    items.iter().map(|i| self.scalar(i, None)).collect();
                if let Some(parts) = inline {
                    let line = format!("[{}]", parts.join(", "));
                    if line.chars().count() <= INLINE_WIDTH {
                        return self.out.write_all(line.as_bytes());
                    }
                }
                self.out.write_all(b"[")?;
                for item in items {
                    self.out.write_all(b"\n")?;
                    self.indent(level + 1)?;
                    self.value(item, None, level + 1)?;
                }
                self.out.write_all(b"\n")?;
                self.indent(level)?;
                self.out.write_all(b"]")
            }
            Kind::Dict(entries) => {
                if entries.is_empty() {
                    return self.out.write_all(b"{}");
                }
                self.out.write_all(b"{")?;
                for (k, item) in entries {
                    self.out.write_all(b"\n")?;
                    self.indent(level + 1)?;
                    write!(self.out, "{}: ", key_label(k))?;
                    self.value(item, Some(k), level + 1)?;
                }
                self.out.write_all(b"\n")?;
                self.indent(level)?;
                self.out.write_all(b"}")
            }
            Kind::Int(_) => unreachable!("integers are scalars"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use torrent_core::bencode::{decode, OwnedValue as O};

    fn show(buf: &[u8], full: bool) -> String {
        let mut out = Vec::new();
        write_pretty(&mut out, &decode(buf).unwrap(), full).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn torrent_like() {
        let pieces: Vec<u8> = (0..60u8).collect();
        let t = O::dict()
            .with("announce", "http://127.0.0.1:1/a".into())
            .with(
                "info",
                O::dict()
                    .with("length", O::Int(40000))
                    .with("name", "a b.bin".into())
                    .with("piece length", O::Int(16384))
                    .with("pieces", O::Bytes(pieces)),
            )
            .with("url-list", O::List(vec![]))
            .encode();
        assert_eq!(
            show(&t, false),
            "{\n  announce: \"http://127.0.0.1:1/a\"\n  info: {\n    length: 40000\n    \
             name: \"a b.bin\"\n    piece length: 16384\n    \
             pieces: <pieces: 60 bytes, sha1 list of 3>\n  }\n  url-list: []\n}\n"
        );
        let full = show(&t, true);
        assert!(
            full.contains(
                "pieces: <pieces: 60 bytes, sha1 list of 3:\n      \
                 000102030405060708090a0b0c0d0e0f10111213\n      \
                 1415161718191a1b1c1d1e1f2021222324252627\n      \
                 28292a2b2c2d2e2f303132333435363738393a3b\n    >\n"
            ),
            "{full}"
        );
    }

    #[test]
    fn shortening() {
        let long_text = "x".repeat(150);
        let bin = vec![0xffu8; 40];
        let v = O::List(vec![
            long_text.as_str().into(),
            O::Bytes(bin.clone()),
            O::Bytes(vec![1, 2]),
        ])
        .encode();
        let short = show(&v, false);
        assert!(
            short.contains(&format!("\"{}…\" (150 bytes)", "x".repeat(100))),
            "{short}"
        );
        assert!(
            short.contains(&format!("<40 bytes: {}…>", "ff".repeat(32))),
            "{short}"
        );
        assert!(short.contains("<2 bytes: 0102>"), "{short}");
        let full = show(&v, true);
        assert!(full.contains(&format!("\"{long_text}\"")), "{full}");
        assert!(
            full.contains(&format!(
                "<40 bytes:\n    {}\n    {}\n  >",
                "ff".repeat(32),
                "ff".repeat(8)
            )),
            "{full}"
        );
    }

    #[test]
    fn inline_lists_and_odd_keys() {
        let v = O::Dict(
            [
                (b"a:b".to_vec(), O::List(vec![O::Int(1), "x".into()])),
                (b"\xff".to_vec(), O::Int(2)),
                (b"".to_vec(), O::Int(3)),
            ]
            .into_iter()
            .collect(),
        )
        .encode();
        assert_eq!(
            show(&v, false),
            "{\n  \"\": 3\n  \"a:b\": [1, \"x\"]\n  <1 bytes: ff>: 2\n}\n"
        );
    }
}
