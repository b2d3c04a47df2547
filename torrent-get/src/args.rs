//! Command-line values shared by `torrent-get`, `torrent-get daemon` and
//! `torrent-get remote`: rates and sizes, peer addresses, a magnet's
//! `--select` by number.

use std::net::{SocketAddr, ToSocketAddrs};

pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let lower = lower.trim_end_matches("/s");
    let lower = lower.strip_suffix("ib").or_else(|| lower.strip_suffix('b').filter(|r| r.ends_with(['k', 'm', 'g']))).unwrap_or(lower);
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1u64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower, 1),
    };
    let num = num.trim();
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(|| format!("{t:?} is too large"));
    }
    match num.parse::<f64>() {
        Ok(f) if f >= 0.0 && f.is_finite() => Ok((f * mult as f64) as u64),
        _ => Err(format!("{t:?} is not a size (examples: 500K = 500 KiB, 2M = 2 MiB, 1.5G)")),
    }
}

/// `HOST:PORT` or `[v6]:PORT`, host names resolved now (the first address).
pub fn parse_peer(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(|| format!("{s:?}: expected HOST:PORT"))?;
    port.parse::<u16>().map_err(|_| format!("{s:?}: {port:?} is not a port number"))?;
    if host.is_empty() {
        return Err(format!("{s:?}: expected HOST:PORT"));
    }
    match s.to_socket_addrs() {
        Ok(mut it) => it.next().ok_or_else(|| format!("{host}: the name has no address")),
        Err(e) => Err(format!("{host}: cannot resolve the name: {e}")),
    }
}

/// A `--select` for a magnet link (no file list yet): numbers and ranges
/// only, returned 0-based as *numbers* (the engine maps them to files, past
/// the padding, once the metadata is known).
pub fn parse_number_select(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) else {
            return Err(format!(
                "--select {part:?}: with a magnet link, files are chosen by number (names and globs need the file list; \
                 get the .torrent or run once without --select)"
            ));
        };
        if a == 0 || b < a {
            return Err(format!("--select: bad range {part:?} (files are numbered from 1)"));
        }
        out.extend((a - 1)..b);
    }
    if out.is_empty() {
        return Err("--select: no files given".into());
    }
    Ok(out)
}

/// An upload ratio (`--seed-ratio`): a number 0 or more.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f >= 0.0 && f.is_finite() => Ok(f),
        _ => Err(format!("{s:?} is not a ratio (a number 0 or more, e.g. 1.5)")),
    }
}

