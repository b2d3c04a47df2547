//! `torrent-info create`: options from the command line turned into
//! [`torrent_core::create::CreateOptions`].

use crate::format::parse_size;
use std::path::Path;
use torrent_core::create::{create_torrent, CreateOptions};
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

/// Hash `path` and build the torrent; returns the bytes and their parse
/// (as a self-check that we can read what we wrote).
pub fn build(path: &Path, opts: &CreateOptions) -> Result<(Vec<u8>, Metainfo), String> {
    if let Some(n) = &opts.name {
        check_name(n)?;
    }
    let bytes = create_torrent(path, opts).map_err(|e| e.to_string())?;
    let meta = Metainfo::from_bytes(&bytes)
        .map_err(|e| format!("the created torrent does not parse: {e}"))?;
    Ok((bytes, meta))
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
    fn names() {
        assert!(check_name("ok name.iso").is_ok());
        assert!(check_name("../x").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("..").is_err());
        assert!(check_name("a\nb").is_err());
    }
}
