//! `torrent-info create`: options from the command line turned into
//! [`torrent_core::create::CreateOptions`].

use crate::format::parse_size;
use std::path::Path;
use torrent_core::create::{build_torrent, collect_entries, CreateOptions, Created};
use torrent_core::path::sanitize_component;
use torrent_core::Metainfo;

/// Smallest piece length `create_torrent` accepts.
pub const MIN_PIECE_LENGTH: u64 = 16 * 1024;

/// Parse `--piece-length`: bytes or K/M/G sizes; a power of two between
/// 16 KiB and 256 MiB.
pub fn parse_piece_length(s: &str) -> Result<u64, String> {
    let n = parse_size(s)?;
    if (1..=40).contains(&n) {
        return Err(format!(
            "piece length {n} is too small (did you mean 2^{n} bytes? write {})",
            1u64.checked_shl(n as u32)
                .map(|b| b.to_string())
                .unwrap_or_else(|| "a size".into())
        ));
    }
    let max = torrent_core::metainfo::MAX_PIECE_LENGTH;
    if !n.is_power_of_two() || !(MIN_PIECE_LENGTH..=max).contains(&n) {
        return Err(format!(
            "piece length {n} must be a power of two from 16K to {}M",
            max >> 20
        ));
    }
    Ok(n)
}

/// `--tracker` values -> tiers: each flag is a tier; commas separate the
/// URLs of one tier.
pub fn tracker_tiers(flags: &[String]) -> Vec<Vec<String>> {
    flags
        .iter()
        .map(|f| {
            f.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// Check a `--name`: it must be usable as one path component unchanged.
pub fn check_name(name: &str) -> Result<(), String> {
    match sanitize_component(name.as_bytes()) {
        Ok(s) if s == name => Ok(()),
        Ok(_) => Err(format!(
            "name {name:?} has characters that cannot be stored"
        )),
        Err(e) => Err(format!("name: {e}")),
    }
}

/// Hash `path` and build the torrent; returns what was made and its parse
/// (as a self-check that we can read what we wrote). `bar` (if any) shows
/// the hashing.
pub fn build(
    path: &Path,
    opts: &CreateOptions,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<(Created, Metainfo), String> {
    if let Some(n) = &opts.name {
        check_name(n)?;
    }
    if let Some(pb) = bar {
        // The total is known once the files are listed; list them twice
        // (cheap next to hashing) rather than thread a callback for it.
        if let Ok(t) = collect_entries(path, opts.follow_symlinks) {
            pb.set_length(t.files.iter().map(|f| f.len).sum());
        }
    }
    let progress = |n: u64| {
        if let Some(pb) = bar {
            pb.inc(n);
        }
    };
    let created = build_torrent(path, opts, &progress).map_err(|e| e.to_string())?;
    let meta = Metainfo::from_bytes(&created.bytes)
        .map_err(|e| format!("the created torrent does not parse: {e}"))?;
    Ok((created, meta))
}

/// Check a tracker or web-seed URL: one of `schemes`, a host, a port that
/// is a number (required for udp://), no spaces.
pub fn check_url(url: &str, schemes: &[&str]) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{url:?} is not a URL: {why}"));
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad(&format!("expected {}://HOST...", schemes.join("://, ")));
    };
    let scheme = scheme.to_ascii_lowercase();
    if !schemes.contains(&scheme.as_str()) {
        return bad(&format!("scheme {scheme:?} is not one of {}", schemes.join(", ")));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains spaces or control characters");
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return bad("unclosed '['"),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return bad("no host");
    }
    match port {
        Some(p) if p.parse::<u16>().map_or(true, |p| p == 0) => bad(&format!("port {p:?} is not 1-65535")),
        None if scheme == "udp" => bad("a udp:// tracker needs a port"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_lengths() {
        assert_eq!(parse_piece_length("256K").unwrap(), 262_144);
        assert_eq!(parse_piece_length("16384").unwrap(), 16_384);
        assert_eq!(parse_piece_length("1M").unwrap(), 1 << 20);
        let e = parse_piece_length("15").unwrap_err();
        assert!(e.contains("2^15") && e.contains("32768"), "{e}");
        assert!(parse_piece_length("8K").is_err());
        assert!(parse_piece_length("300K").is_err());
        assert_eq!(parse_piece_length("512M").unwrap(), 512 << 20);
        assert!(parse_piece_length("1G").is_err());
        assert!(parse_piece_length("0").is_err());
    }

    #[test]
    fn tiers() {
        let t = tracker_tiers(&[
            "http://a/announce".into(),
            "udp://b:1,udp://c:2".into(),
            ",".into(),
        ]);
        assert_eq!(
            t,
            vec![
                vec!["http://a/announce".to_string()],
                vec!["udp://b:1".to_string(), "udp://c:2".to_string()]
            ]
        );
    }

    #[test]
    fn urls() {
        let t = ["http", "https", "udp"];
        for ok in ["http://t.example/announce", "udp://1.2.3.4:6969", "https://[::1]:443/a?x=1", "UDP://h:1/announce"] {
            assert!(check_url(ok, &t).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("t.example/announce", "expected"),
            ("ftp://x/", "scheme"),
            ("udp://host", "needs a port"),
            ("http://:80/", "no host"),
            ("http://h:99999/", "port"),
            ("http://h x/", "spaces"),
            ("udp://[::1:5", "unclosed"),
        ] {
            let e = check_url(bad, &t).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn names() {
        assert!(check_name("ok name.iso").is_ok());
        assert!(check_name("../x").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("..").is_err());
        assert!(check_name("a\nb").is_err());
    }
}
