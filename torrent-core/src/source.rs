//! What a user names on the command line: a .torrent file (or `-` for
//! stdin), an http(s) URL of a .torrent, a magnet link, or a bare
//! info-hash.

use crate::infohash::InfoHash;
use crate::magnet::Magnet;
use crate::metainfo::{Metainfo, MAX_TORRENT_SIZE};
use std::io::Read;

#[derive(Debug, Clone)]
pub enum Source {
    Torrent(Box<Metainfo>),
    Magnet(Magnet),
}

impl Source {
    /// Load from a path, `-` (stdin), a magnet link or a 40-hex/32-base32
    /// info-hash.
    pub fn load(arg: &str) -> Result<Source, String> {
        if arg.starts_with("magnet:") {
            return Magnet::parse(arg).map(Source::Magnet).map_err(|e| e.to_string());
        }
        let path = std::path::Path::new(arg);
        if arg != "-" && !path.exists() && matches!(arg.len(), 32 | 40) {
            if let Ok(h) = arg.parse::<InfoHash>() {
                return Ok(Source::Magnet(Magnet {
                    info_hash: h,
                    display_name: None,
                    trackers: Vec::new(),
                    peers: Vec::new(),
                    web_seeds: Vec::new(),
                }));
            }
        }
        let bytes = read_limited(arg)?;
        Metainfo::from_bytes(&bytes)
            .map(|m| Source::Torrent(Box::new(m)))
            .map_err(|e| format!("{arg}: {e}"))
    }

    pub fn info_hash(&self) -> InfoHash {
        match self {
            Source::Torrent(m) => m.info_hash,
            Source::Magnet(m) => m.info_hash,
        }
    }

    /// Tracker tiers named by the source.
    pub fn tracker_tiers(&self) -> Vec<Vec<String>> {
        match self {
            Source::Torrent(m) => m.tracker_tiers(),
            Source::Magnet(m) => m.trackers.iter().map(|t| vec![t.clone()]).collect(),
        }
    }

    pub fn metainfo(&self) -> Option<&Metainfo> {
        match self {
            Source::Torrent(m) => Some(m),
            Source::Magnet(_) => None,
        }
    }
}

/// Read a file (or stdin for `-`, or an `http://`/`https://` URL),
/// refusing more than the torrent size limit.
pub fn read_limited(arg: &str) -> Result<Vec<u8>, String> {
    if crate::webseed::layout::is_http_url(arg) {
        return fetch_url(arg, MAX_TORRENT_SIZE);
    }
    let mut buf = Vec::new();
    let limit = MAX_TORRENT_SIZE as u64 + 1;
    let res = if arg == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(arg).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    res.map_err(|e| format!("{arg}: {e}"))?;
    if buf.len() > MAX_TORRENT_SIZE {
        return Err(format!("{arg}: larger than {MAX_TORRENT_SIZE} bytes"));
    }
    Ok(buf)
}

/// GET `url` (redirects followed, at most 5; 30 s timeout) and return the
/// body, refusing a status other than 200 and a body over `limit` bytes.
/// Errors read "URL: what went wrong".
pub fn fetch_url(url: &str, limit: usize) -> Result<Vec<u8>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(5)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .user_agent(concat!("torrent-toolkit/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let safe = crate::webseed::layout::encode_base(url);
    let resp = agent.get(safe.as_str()).call().map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(format!("{url}: HTTP {status}"));
    }
    let mut buf = Vec::new();
    resp.into_body()
        .into_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{url}: {e}"))?;
    if buf.len() > limit {
        return Err(format!("{url}: larger than {limit} bytes"));
    }
    Ok(buf)
}
