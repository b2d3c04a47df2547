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
    /// Load what a command-line argument names (see [`crate::load`], the
    /// one loader; this is its error as a string).
    pub fn load(arg: &str) -> Result<Source, String> {
        crate::load::load(arg).map_err(|e| e.to_string())
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
        return crate::load::fetch_url(arg, crate::load::HTTP_TIMEOUT)
            .map_err(|e| format!("{arg}: {e}"));
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
