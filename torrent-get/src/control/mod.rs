//! The client controller's control API: what `torrent-get daemon` serves
//! and what `torrent-get remote` and `torrent-get top` use. JSON over HTTP
//! on loopback, every request carrying the token from the state directory.
//!
//! The contract (paths under `/v1`, bodies and answers are JSON; errors are
//! `{"error": "..."}` with a 4xx/5xx status):
//!
//! | request | body | answer |
//! | --- | --- | --- |
//! | `GET /v1/torrents` | | [`TorrentList`] |
//! | `GET /v1/torrents/{hash}` | | [`TorrentDetail`] |
//! | `POST /v1/torrents` | [`AddRequest`] | [`Added`] (201) |
//! | `POST /v1/torrents/{hash}/pause` | | [`TorrentStatus`] |
//! | `POST /v1/torrents/{hash}/resume` | | [`TorrentStatus`] |
//! | `POST /v1/torrents/{hash}/remove` | [`RemoveRequest`] | [`Removed`] |
//! | `POST /v1/torrents/{hash}/select` | [`SelectRequest`] | [`TorrentStatus`] |
//! | `POST /v1/torrents/{hash}/limits` | [`SeedLimitsRequest`] (numbers, `"unlimited"`, `null`: the default) | [`TorrentStatus`] |
//! | `POST /v1/limits` | [`Limits`] | [`Limits`] |
//! | `GET /v1/events` | | NDJSON: the objects `--json` prints, one per line, as they happen |
//! | `POST /v1/torrents/{hash}/files/{n}/stream?offset=B` | | the file's verified bytes from B, chunked, as they arrive ([`crate::daemon::stream`]) |
//! | `POST /v1/torrents/{hash}/stream?offset=B` | | the same for a single-file torrent |
//!
//! `{hash}` is the full 40-hex info-hash; `remote` resolves prefixes and
//! names through the list. Every request has `Authorization: Bearer TOKEN`
//! (401 without it); state changes only on POST (CSRF: a browser cannot
//! add the header cross-origin without a preflight the server refuses).

pub mod client;
pub mod seed_limit;
pub mod types;

pub use seed_limit::{SeedLimit, SeedLimitMode};
pub use types::*;

use std::path::{Path, PathBuf};

/// File in the state directory holding the API address (`127.0.0.1:PORT`).
pub const ADDRESS_FILE: &str = "api";
/// File in the state directory holding the token (mode 0600).
pub const TOKEN_FILE: &str = "token";
/// The header every request carries: `Authorization: Bearer <token>`.
pub const AUTH_HEADER: &str = "Authorization";

/// The default state directory: `$XDG_STATE_HOME/torrent-get`, else
/// `~/.local/state/torrent-get`.
pub fn default_state_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("torrent-get");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/state/torrent-get")
}

/// Where a running daemon of `state` listens and the token it wants.
pub fn read_endpoint(state: &Path) -> anyhow::Result<(String, String)> {
    use anyhow::Context;
    let addr_path = state.join(ADDRESS_FILE);
    let addr = std::fs::read_to_string(&addr_path)
        .with_context(|| format!("no daemon address in {} (is `torrent-get daemon --state {}` running?)", addr_path.display(), state.display()))?;
    let token_path = state.join(TOKEN_FILE);
    let token = std::fs::read_to_string(&token_path).with_context(|| format!("cannot read the API token {}", token_path.display()))?;
    Ok((addr.trim().to_string(), token.trim().to_string()))
}
