//! The JSON shapes of the control API (see [`super`]). Fields are added,
//! never renamed: scripts read them.

use super::seed_limit::{present, SeedLimit, SeedLimitMode};
use serde::{Deserialize, Serialize};

/// A torrent's lifecycle as the API names it.
pub const STATES: [&str; 7] = ["metadata", "checking", "downloading", "seeding", "paused", "done", "failed"];

/// One torrent in the list (and in `remote list --json`, one per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorrentStatus {
    pub info_hash: String,
    pub name: String,
    /// One of [`STATES`].
    pub state: String,
    /// 0 to 1 (of the selected files).
    pub progress: f64,
    pub total_bytes: u64,
    pub have_bytes: u64,
    /// Totals over the torrent's life in this session (persisted).
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes per second.
    pub download_rate: u64,
    pub upload_rate: u64,
    /// Connected peers, connections being made, candidates known.
    pub peers: u32,
    #[serde(default)]
    pub connecting: u32,
    #[serde(default)]
    pub known: u32,
    /// Seconds to completion at the current rate; None when unknown.
    pub eta_secs: Option<u64>,
    /// uploaded / max(downloaded or size).
    pub ratio: f64,
    pub save_dir: String,
    /// Why the torrent failed.
    pub error: Option<String>,
    /// Why a downloading torrent is not finishing, when there is a reason
    /// ("12 pieces no connected peer has", "all 4 peers choke us", ...).
    pub stalled: Option<String>,
    /// Payload bytes since the daemon (re)started: `downloaded` and
    /// `uploaded` minus what earlier runs did.
    #[serde(default)]
    pub session_downloaded: u64,
    #[serde(default)]
    pub session_uploaded: u64,
    /// The seeding limits that apply (the torrent's own, else the daemon's
    /// `--seed-ratio`/`--seed-time`): upload ratio, seconds of seeding.
    /// None: unlimited.
    #[serde(default)]
    pub seed_ratio: Option<f64>,
    #[serde(default)]
    pub seed_time: Option<u64>,
    /// Whose each limit is: "default" (the daemon's, maybe none), "own"
    /// (the torrent's value) or "unlimited" (the torrent's own "no limit",
    /// whatever the daemon's default).
    #[serde(default)]
    pub seed_ratio_mode: SeedLimitMode,
    #[serde(default)]
    pub seed_time_mode: SeedLimitMode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorrentList {
    pub torrents: Vec<TorrentStatus>,
}

/// One connected peer of a torrent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub addr: String,
    /// The client name from the peer id (BEP 20) or the extension handshake.
    pub client: String,
    /// "tcp" or "utp".
    pub transport: String,
    pub encrypted: bool,
    pub download_rate: u64,
    pub upload_rate: u64,
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    /// The share of the torrent the peer has, 0 to 1.
    pub progress: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackerStatus {
    pub url: String,
    /// "ok", "error", "pending" or "disabled" (older; see `state`).
    pub status: String,
    /// Its last error while it fails (None once it answers).
    pub error: Option<String>,
    /// Peers its last answer gave.
    pub peers: Option<u32>,
    /// "ok", "error" (its last announce failed), "backing off" (failed
    /// more than once in a row: retried at growing intervals) or "not
    /// contacted" (BEP 12: an earlier tracker answered, or not asked yet).
    #[serde(default)]
    pub state: String,
    /// Seeders and leechers its last answer counted, when it said.
    #[serde(default)]
    pub seeders: Option<u32>,
    #[serde(default)]
    pub leechers: Option<u32>,
    /// Seconds to the torrent's next announce (0: under way; None: none
    /// planned, e.g. paused).
    #[serde(default)]
    pub next_announce_secs: Option<u64>,
}

impl TrackerStatus {
    /// The tracker's state (an older daemon gives only `status`).
    pub fn state_name(&self) -> &str {
        if self.state.is_empty() {
            &self.status
        } else {
            &self.state
        }
    }

    /// ", 12 peers, 3 seeders, 5 leechers, next in 1800 s" (what is known).
    pub fn counts(&self) -> String {
        let mut out = String::new();
        if let Some(p) = self.peers {
            out.push_str(&format!(", {p} peers"));
        }
        if let Some(s) = self.seeders {
            out.push_str(&format!(", {s} seeders"));
        }
        if let Some(l) = self.leechers {
            out.push_str(&format!(", {l} leechers"));
        }
        match self.next_announce_secs {
            Some(0) => out.push_str(", announcing"),
            Some(n) => out.push_str(&format!(", next in {n} s")),
            None => {}
        }
        out
    }
}

/// A web seed (the `webseeds` of the detail, of `--json`'s `progress`
/// and `webseeds` events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebSeedStatus {
    pub url: String,
    /// "active" (requests in flight), "idle", "backing off" or "dropped".
    pub state: String,
    /// Why it is backing off or was dropped (the last error).
    pub reason: Option<String>,
    /// Body bytes received from it.
    pub bytes: u64,
    pub requests_in_flight: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileStatus {
    /// The number `--select` takes (padding files are not listed).
    pub index: usize,
    pub path: String,
    pub length: u64,
    pub selected: bool,
    pub progress: f64,
}

/// `GET /v1/torrents/{hash}`: the list entry plus what the detail pane shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorrentDetail {
    #[serde(flatten)]
    pub status: TorrentStatus,
    pub peers_detail: Vec<PeerStatus>,
    pub trackers: Vec<TrackerStatus>,
    pub files: Vec<FileStatus>,
    /// The torrent's web seeds (BEP 19 mirrors).
    #[serde(default)]
    pub webseeds: Vec<WebSeedStatus>,
    /// Why it is not finishing, one reason per line, most important first
    /// (pieces no connected peer has, all peers choking, tracker errors,
    /// disk errors). Empty when nothing is wrong.
    pub diagnosis: Vec<String>,
}

/// `POST /v1/torrents`. Exactly one of `source` and `torrent_base64`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddRequest {
    /// A magnet link, an info-hash, or an http(s) URL of a .torrent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The bytes of a .torrent file, base64 (standard alphabet, padded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torrent_base64: Option<String>,
    /// Where the data goes (absolute); the daemon's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_dir: Option<String>,
    #[serde(default)]
    pub paused: bool,
    /// A `--select` spec ("1,3-5", "*.iso"); all files when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<String>,
    /// The torrent's own seeding limits: a number, `"unlimited"` (no
    /// limit whatever the daemon's default), absent: the daemon's default.
    #[serde(default, skip_serializing_if = "SeedLimit::is_default")]
    pub seed_ratio: SeedLimit<f64>,
    #[serde(default, skip_serializing_if = "SeedLimit::is_default")]
    pub seed_time: SeedLimit<u64>,
}

/// `POST /v1/torrents/{hash}/limits`: a torrent's own seeding limits. A
/// field left out is unchanged; `null` makes it follow the daemon's
/// default again; `"unlimited"` seeds without that limit whatever the
/// default. A torrent done because it reached its limit seeds again when
/// the new one is not reached; a seeding one past the new one is done.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeedLimitsRequest {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub seed_ratio: Option<SeedLimit<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub seed_time: Option<SeedLimit<u64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Added {
    pub info_hash: String,
    pub name: String,
    /// False when the torrent was already in the session (nothing changed).
    pub new: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoveRequest {
    #[serde(default)]
    pub delete_data: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Removed {
    pub info_hash: String,
    pub deleted_data: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectRequest {
    /// A `--select` spec; None selects every file.
    pub select: Option<String>,
}

/// Bytes per second; 0 means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub download: u64,
    pub upload: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_limits_tell_absent_from_null() {
        let r: SeedLimitsRequest = serde_json::from_str(r#"{"seed_ratio": null, "seed_time": 60}"#).unwrap();
        assert_eq!(r, SeedLimitsRequest { seed_ratio: Some(SeedLimit::Default), seed_time: Some(SeedLimit::Value(60)) });
        let r: SeedLimitsRequest = serde_json::from_str(r#"{"seed_ratio": 1.5}"#).unwrap();
        assert_eq!(r, SeedLimitsRequest { seed_ratio: Some(SeedLimit::Value(1.5)), seed_time: None });
        let back = serde_json::to_string(&SeedLimitsRequest { seed_ratio: Some(SeedLimit::Default), seed_time: None }).unwrap();
        assert_eq!(back, r#"{"seed_ratio":null}"#);
    }

    #[test]
    fn unlimited_is_neither_absent_nor_null() {
        let r: SeedLimitsRequest = serde_json::from_str(r#"{"seed_time": "unlimited"}"#).unwrap();
        assert_eq!(r, SeedLimitsRequest { seed_ratio: None, seed_time: Some(SeedLimit::Unlimited) });
        let back = serde_json::to_string(&SeedLimitsRequest { seed_ratio: Some(SeedLimit::Unlimited), seed_time: None }).unwrap();
        assert_eq!(back, r#"{"seed_ratio":"unlimited"}"#);
        let add: AddRequest = serde_json::from_str(r#"{"source": "x", "seed_ratio": "unlimited", "seed_time": 5}"#).unwrap();
        assert_eq!((add.seed_ratio, add.seed_time), (SeedLimit::Unlimited, SeedLimit::Value(5)));
        let add: AddRequest = serde_json::from_str(r#"{"source": "x"}"#).unwrap();
        assert_eq!((add.seed_ratio, add.seed_time), (SeedLimit::Default, SeedLimit::Default));
        assert_eq!(serde_json::to_string(&add).unwrap(), r#"{"source":"x","paused":false}"#);
    }

    #[test]
    fn a_status_from_an_older_daemon_has_default_modes() {
        let mut v = serde_json::to_value(TorrentStatus {
            info_hash: "h".into(),
            name: "n".into(),
            state: "seeding".into(),
            progress: 1.0,
            total_bytes: 1,
            have_bytes: 1,
            downloaded: 0,
            uploaded: 0,
            download_rate: 0,
            upload_rate: 0,
            peers: 0,
            connecting: 0,
            known: 0,
            eta_secs: None,
            ratio: 0.0,
            save_dir: "/".into(),
            error: None,
            stalled: None,
            session_downloaded: 0,
            session_uploaded: 0,
            seed_ratio: None,
            seed_time: None,
            seed_ratio_mode: SeedLimitMode::Own,
            seed_time_mode: SeedLimitMode::Unlimited,
        })
        .unwrap();
        assert_eq!((v["seed_ratio_mode"].as_str(), v["seed_time_mode"].as_str()), (Some("own"), Some("unlimited")));
        let o = v.as_object_mut().unwrap();
        o.remove("seed_ratio_mode");
        o.remove("seed_time_mode");
        let s: TorrentStatus = serde_json::from_value(v).unwrap();
        assert_eq!((s.seed_ratio_mode, s.seed_time_mode), (SeedLimitMode::Default, SeedLimitMode::Default));
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}
