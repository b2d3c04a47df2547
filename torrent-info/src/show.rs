//! `torrent-info show`: a summary of a torrent or magnet link, as aligned
//! `label: value` lines for people or as one JSON object for scripts.

use crate::format::{clean, human_size, iso8601_utc};
use torrent_core::source::Source as Loaded;
use serde::Serialize;
use std::fmt::Write as _;
use torrent_core::metainfo::Version;
use torrent_core::{Magnet, Metainfo};

/// One file of a torrent as shown in `--json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileJson {
    /// The file's number, as `--select` takes it (1-based; null for a
    /// padding file, which is never numbered).
    pub index: Option<usize>,
    /// Path below the download directory: `name` for a single-file torrent,
    /// `name/dir/file` for a multi-file one ('/'-separated).
    pub path: String,
    pub length: u64,
    /// Offset in the torrent's byte stream.
    pub offset: u64,
    /// First and last piece holding bytes of the file (null when empty).
    pub first_piece: Option<u64>,
    pub last_piece: Option<u64>,
    /// BEP 47 padding file (not stored on disk).
    pub padding: bool,
    /// BEP 47 symlink: the target, '/'-separated, relative to the torrent's
    /// directory (absent for ordinary files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symlink: Option<String>,
    /// The path as the torrent has it, when it had to be changed to be safe
    /// (components; UTF-8 as is, other bytes as `\xNN`). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_path: Option<Vec<String>>,
}

/// `show --json` for a .torrent.
#[derive(Debug, Clone, Serialize)]
pub struct TorrentJson {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub info_hash: String,
    /// SHA-256 info-hash of a hybrid v1+v2 torrent (BEP 52), else null.
    pub info_hash_v2: Option<String>,
    /// "v1" or "hybrid".
    pub version: Version,
    pub name: String,
    /// Length of the torrent's byte stream, padding files included.
    pub total_size: u64,
    /// Bytes in padding files (part of total_size).
    pub padding_size: u64,
    pub piece_length: u64,
    pub piece_count: usize,
    pub private: bool,
    pub multi_file: bool,
    /// The name as the torrent has it, when it had to be changed (absent
    /// otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_name: Option<String>,
    pub files: Vec<FileJson>,
    /// Tracker tiers (BEP 12); a lone `announce` is one tier.
    pub trackers: Vec<Vec<String>>,
    pub web_seeds: Vec<String>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    /// ISO-8601 UTC, e.g. "2024-01-31T12:00:00Z".
    pub creation_date: Option<String>,
    pub creation_date_unix: Option<i64>,
    pub magnet: String,
}

/// `show --json` for a magnet link or bare info-hash.
#[derive(Debug, Clone, Serialize)]
pub struct MagnetJson {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub info_hash: String,
    pub name: Option<String>,
    pub trackers: Vec<Vec<String>>,
    pub peers: Vec<String>,
    pub web_seeds: Vec<String>,
    pub magnet: String,
}

/// The on-disk relative path of a file ('/'-separated).
pub fn disk_path(meta: &Metainfo, index: usize) -> String {
    let f = &meta.info.files[index];
    if meta.info.multi_file {
        format!("{}/{}", meta.info.name, f.path_string())
    } else {
        meta.info.name.clone()
    }
}

/// The magnet link of a torrent; a hybrid torrent also gets its v2 hash
/// (`xt=urn:btmh:1220<sha256>`, BEP 52).
pub fn magnet_link(meta: &Metainfo) -> String {
    let uri = Magnet::from_metainfo(meta).to_uri();
    match meta.info_hash_v2 {
        Some(v2) => {
            // Put the second xt right after the first one.
            let btih_end = "magnet:?xt=urn:btih:".len() + 40;
            format!(
                "{}&xt=urn:btmh:1220{}{}",
                &uri[..btih_end],
                hex::encode(v2),
                &uri[btih_end..]
            )
        }
        None => uri,
    }
}

pub fn torrent_json(meta: &Metainfo) -> TorrentJson {
    let info = &meta.info;
    let numbers = torrent_core::select::numbers(info);
    let files = info
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (first, last) = if f.length == 0 {
                (None, None)
            } else {
                (
                    Some(f.offset / info.piece_length),
                    Some((f.offset + f.length - 1) / info.piece_length),
                )
            };
            FileJson {
                index: numbers[i],
                path: disk_path(meta, i),
                length: f.length,
                offset: f.offset,
                first_piece: first,
                last_piece: last,
                padding: f.padding,
                symlink: f.symlink.as_ref().map(|t| t.join("/")),
                original_path: info
                    .path_changes
                    .iter()
                    .find(|c| c.file == Some(i))
                    .map(|c| c.original.clone()),
            }
        })
        .collect();
    TorrentJson {
        kind: "torrent",
        info_hash: meta.info_hash.to_hex(),
        info_hash_v2: meta.info_hash_v2.map(hex::encode),
        version: info.version,
        name: info.name.clone(),
        total_size: info.total_length,
        padding_size: info
            .files
            .iter()
            .filter(|f| f.padding)
            .map(|f| f.length)
            .sum(),
        piece_length: info.piece_length,
        piece_count: info.piece_count(),
        original_name: info
            .path_changes
            .iter()
            .find(|c| c.file.is_none())
            .map(|c| c.original.join("/")),
        private: info.private,
        multi_file: info.multi_file,
        files,
        trackers: meta.tracker_tiers(),
        web_seeds: meta.url_list.clone(),
        comment: meta.comment.clone(),
        created_by: meta.created_by.clone(),
        creation_date: meta.creation_date.and_then(iso8601_utc),
        creation_date_unix: meta.creation_date,
        magnet: magnet_link(meta),
    }
}

pub fn magnet_json(m: &Magnet) -> MagnetJson {
    MagnetJson {
        kind: "magnet",
        info_hash: m.info_hash.to_hex(),
        name: m.display_name.clone(),
        trackers: m.trackers.iter().map(|t| vec![t.clone()]).collect(),
        peers: m.peers.clone(),
        web_seeds: m.web_seeds.clone(),
        magnet: m.to_uri(),
    }
}

/// JSON text (one line, newline-terminated) for `show --json`.
pub fn json(loaded: &Loaded) -> String {
    let mut s = match loaded {
        Loaded::Torrent(m) => serde_json::to_string(&torrent_json(m)),
        Loaded::Magnet(m) => serde_json::to_string(&magnet_json(m)),
    }
    .expect("plain data serialises");
    s.push('\n');
    s
}

const W: usize = 15;

fn line(out: &mut String, label: &str, value: &str) {
    let label = format!("{label}:");
    let _ = writeln!(out, "{label:<W$}{value}");
}

fn opt(v: &Option<String>) -> String {
    v.as_deref().map(clean).unwrap_or_else(|| "-".into())
}

fn tiers(out: &mut String, tiers: &[Vec<String>]) {
    if tiers.is_empty() {
        line(out, "trackers", "-");
    }
    for (i, tier) in tiers.iter().enumerate() {
        let urls: Vec<String> = tier.iter().map(|u| clean(u)).collect();
        let label = if i == 0 { "trackers" } else { "" };
        let value = format!("tier {}: {}", i + 1, urls.join(" "));
        if label.is_empty() {
            let _ = writeln!(out, "{:W$}{value}", "");
        } else {
            line(out, label, &value);
        }
    }
}

fn list(out: &mut String, label: &str, items: &[String]) {
    if items.is_empty() {
        line(out, label, "-");
    }
    for (i, it) in items.iter().enumerate() {
        if i == 0 {
            line(out, label, &clean(it));
        } else {
            let _ = writeln!(out, "{:W$}{}", "", clean(it));
        }
    }
}

/// The human summary. `show_padding`: list padding files (marked) instead
/// of only counting them.
///
/// `selected`: only list the files with these numbers (`--select`).
pub fn human(loaded: &Loaded, show_padding: bool, selected: Option<&[usize]>) -> String {
    match loaded {
        Loaded::Torrent(m) => human_torrent(m, show_padding, selected),
        Loaded::Magnet(m) => human_magnet(m),
    }
}

fn human_torrent(m: &Metainfo, show_padding: bool, selected: Option<&[usize]>) -> String {
    let j = torrent_json(m);
    let mut out = String::new();
    line(&mut out, "name", &clean(&j.name));
    line(&mut out, "info hash", &j.info_hash);
    if let Some(v2) = &j.info_hash_v2 {
        line(&mut out, "info hash v2", v2);
    }
    line(
        &mut out,
        "version",
        match j.version {
            Version::V1 => "v1",
            Version::Hybrid => "hybrid v1+v2",
        },
    );
    let data = j.total_size - j.padding_size;
    let mut size = format!("{data} bytes ({})", human_size(data));
    if j.padding_size > 0 {
        size.push_str(&format!(" + {} bytes padding", j.padding_size));
    }
    line(&mut out, "total size", &size);
    line(
        &mut out,
        "piece length",
        &format!("{} bytes ({})", j.piece_length, human_size(j.piece_length)),
    );
    line(&mut out, "pieces", &j.piece_count.to_string());
    line(&mut out, "private", if j.private { "yes" } else { "no" });
    line(&mut out, "created by", &opt(&j.created_by));
    let date = match (&j.creation_date, j.creation_date_unix) {
        (Some(d), _) => d.clone(),
        (None, Some(raw)) => format!("{raw} (out of range)"),
        (None, None) => "-".into(),
    };
    line(&mut out, "creation date", &date);
    line(&mut out, "comment", &opt(&j.comment));
    tiers(&mut out, &j.trackers);
    list(&mut out, "web seeds", &j.web_seeds);
    line(&mut out, "magnet", &clean(&j.magnet));
    let real: Vec<&FileJson> = j.files.iter().filter(|f| !f.padding).collect();
    let pads = j.files.len() - real.len();
    let mut count = real.len().to_string();
    if pads > 0 && !show_padding {
        count.push_str(&format!(
            " (+{pads} padding files not shown; --padding lists them)"
        ));
    }
    line(&mut out, "files", &count);
    let width = j
        .files
        .iter()
        .map(|f| f.length.to_string().len())
        .max()
        .unwrap_or(1);
    // The number column: what `--select` takes (padding is never numbered).
    let nw = real.len().to_string().len().max(1);
    for f in j.files.iter().filter(|f| show_padding || !f.padding) {
        if let Some(sel) = selected {
            if !f.index.is_some_and(|n| sel.contains(&n)) {
                continue;
            }
        }
        let mark = match (&f.symlink, f.padding) {
            (_, true) => "  [padding]".to_string(),
            (Some(t), _) => format!("  -> {}", clean(t)),
            _ => String::new(),
        };
        let num = f.index.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        let _ = writeln!(out, "  {num:>nw$}  {:>width$}  {}{mark}", f.length, clean(&f.path));
    }
    out
}

fn human_magnet(m: &Magnet) -> String {
    let mut out = String::new();
    line(&mut out, "info hash", &m.info_hash.to_hex());
    line(&mut out, "name", &opt(&m.display_name));
    let t: Vec<Vec<String>> = m.trackers.iter().map(|t| vec![t.clone()]).collect();
    tiers(&mut out, &t);
    list(&mut out, "peers", &m.peers);
    list(&mut out, "web seeds", &m.web_seeds);
    line(&mut out, "magnet", &clean(&m.to_uri()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use torrent_core::bencode::OwnedValue as O;

    fn hybrid_like() -> Metainfo {
        // A hybrid multi-file torrent: v1 list with a padding file, and the
        // v2 file tree describing the same files.
        let files = O::List(vec![
            O::dict()
                .with("length", O::Int(10))
                .with("path", O::List(vec!["a".into()])),
            O::dict()
                .with("attr", "p".into())
                .with("length", O::Int(16374))
                .with("path", O::List(vec![".pad".into(), "16374".into()])),
            O::dict()
                .with("length", O::Int(0))
                .with("path", O::List(vec!["e".into()])),
            O::dict()
                .with("length", O::Int(20))
                .with("path", O::List(vec!["d".into(), "b".into()])),
        ]);
        let leaf = |len: i64| {
            let mut f = O::dict().with("length", O::Int(len));
            if len > 0 {
                f.insert("pieces root", O::Bytes(vec![1; 32]));
            }
            O::dict().with("", f)
        };
        let tree = O::dict()
            .with("a", leaf(10))
            .with("d", O::dict().with("b", leaf(20)))
            .with("e", leaf(0));
        let info = O::dict()
            .with("file tree", tree)
            .with("files", files)
            .with("meta version", O::Int(2))
            .with("name", "root".into())
            .with("piece length", O::Int(16384))
            .with("pieces", O::Bytes(vec![1; 40]));
        let t = O::dict()
            .with("announce", "http://127.0.0.1:1/a".into())
            .with("comment", "line1\nline2".into())
            .with("creation date", O::Int(1_700_000_000))
            .with("info", info)
            .encode();
        Metainfo::from_bytes(&t).unwrap()
    }

    #[test]
    fn json_fields() {
        let m = hybrid_like();
        let j = torrent_json(&m);
        assert_eq!(j.total_size, 16404);
        assert_eq!(j.padding_size, 16374);
        assert_eq!(j.piece_count, 2);
        assert_eq!(j.files[0].path, "root/a");
        assert_eq!(
            (j.files[0].first_piece, j.files[0].last_piece),
            (Some(0), Some(0))
        );
        assert!(j.files[1].padding);
        assert_eq!(
            (j.files[2].first_piece, j.files[2].last_piece),
            (None, None)
        );
        assert_eq!(j.files[3].offset, 16384);
        assert_eq!(
            (j.files[3].first_piece, j.files[3].last_piece),
            (Some(1), Some(1))
        );
        assert_eq!(j.creation_date.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(j.trackers, vec![vec!["http://127.0.0.1:1/a".to_string()]]);
        let v2 = j.info_hash_v2.clone().unwrap();
        assert_eq!(v2.len(), 64);
        assert!(
            j.magnet.contains(&format!("&xt=urn:btmh:1220{v2}&dn=root")),
            "{}",
            j.magnet
        );
        let parsed = Magnet::parse(&j.magnet).unwrap();
        assert_eq!(parsed.info_hash, m.info_hash);
        let v: serde_json::Value =
            serde_json::from_str(&json(&Loaded::Torrent(Box::new(m)))).unwrap();
        assert_eq!(v["version"], "hybrid");
        assert_eq!(v["files"][3]["path"], "root/d/b");
    }

    #[test]
    fn human_hides_padding_and_escapes() {
        let m = Loaded::Torrent(Box::new(hybrid_like()));
        let h = human(&m, false, None);
        assert!(h.contains("comment:       line1\\nline2\n"), "{h}");
        assert!(h.contains("files:         3 (+1 padding files"), "{h}");
        assert!(!h.contains(".pad"), "{h}");
        assert!(
            h.contains("total size:    30 bytes (30 B) + 16374 bytes padding"),
            "{h}"
        );
        let h = human(&m, true, None);
        // Padding is listed with `-` in the number column and not counted.
        assert!(h.contains("  -  16374  root/.pad/16374  [padding]"), "{h}");
        assert!(h.contains("  3     20  root/d/b\n"), "{h}");
        let h = human(&m, false, Some(&[3]));
        assert!(h.contains("  3     20  root/d/b\n") && !h.contains("root/a"), "{h}");
        let j = torrent_json(match &m {
            Loaded::Torrent(t) => t,
            _ => unreachable!(),
        });
        let idx: Vec<Option<usize>> = j.files.iter().map(|f| f.index).collect();
        assert_eq!(idx, [Some(1), None, Some(2), Some(3)]);
    }
}
