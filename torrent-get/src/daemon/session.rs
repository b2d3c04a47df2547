//! The daemon's session on disk: one entry per torrent in
//! `STATE/torrents/<info-hash>.json` (how it was added, where its data
//! goes, its file selection, paused or not, the totals up and down), and
//! beside it `<info-hash>.torrent` when the metainfo is known at add time.
//! Every file is written crash-safely ([`crate::resume::write_atomic`]:
//! temporary file, fsync, rename, fsync of the directory), so a daemon
//! killed at any moment finds each entry as it was before or after the
//! change, never half of it. Verified pieces are not here: they are in the
//! torrent's resume file, next to its data ([`crate::resume`]).

use crate::control::{Limits, SeedLimit};
use crate::resume::write_atomic;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub info_hash: String,
    pub name: String,
    /// The magnet link or info-hash it was added with (None: a .torrent,
    /// kept as `<info-hash>.torrent`).
    #[serde(default)]
    pub magnet: Option<String>,
    pub save_dir: PathBuf,
    /// The `--select` spec; None: every file.
    #[serde(default)]
    pub select: Option<String>,
    #[serde(default)]
    pub paused: bool,
    /// Payload totals over the torrent's life (all runs).
    #[serde(default)]
    pub downloaded: u64,
    #[serde(default)]
    pub uploaded: u64,
    /// The completion hook ran (or the torrent was complete when added).
    #[serde(default)]
    pub completed: bool,
    /// Seconds since the epoch.
    #[serde(default)]
    pub added_at: u64,
    /// The torrent's own seeding limits: a number, `"unlimited"`, or
    /// absent (the daemon's default; entries older than the limits, and
    /// than "unlimited", read as before).
    #[serde(default, skip_serializing_if = "SeedLimit::is_default")]
    pub seed_ratio: SeedLimit<f64>,
    #[serde(default, skip_serializing_if = "SeedLimit::is_default")]
    pub seed_time: SeedLimit<u64>,
}

impl Entry {
    pub fn seed_limits(&self) -> crate::engine::SeedLimits {
        crate::engine::SeedLimits { ratio: self.seed_ratio, time: self.seed_time.map(std::time::Duration::from_secs) }
    }
}

pub struct Session {
    dir: PathBuf,
}

impl Session {
    /// The session of state directory `state` (made if missing).
    pub fn open(state: &Path) -> std::io::Result<Session> {
        let dir = state.join("torrents");
        std::fs::create_dir_all(&dir)?;
        Ok(Session { dir })
    }

    fn entry_path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.json"))
    }

    pub fn torrent_path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.torrent"))
    }

    /// Every entry, oldest first; unreadable ones are skipped with a
    /// warning (and left for a person to look at).
    pub fn load(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return out };
        for de in rd.flatten() {
            let p = de.path();
            if p.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match std::fs::read(&p).map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(|e| e.to_string())) {
                Ok(e) if super::parse_hash(&e.info_hash).is_some() => out.push(e),
                Ok(_) => cli_support::warning(format_args!("{}: not a session entry (bad info-hash); skipped", p.display())),
                Err(e) => cli_support::warning(format_args!("{}: unreadable session entry: {e}; skipped", p.display())),
            }
        }
        out.sort_by(|a, b| (a.added_at, &a.info_hash).cmp(&(b.added_at, &b.info_hash)));
        out
    }

    /// Write (or rewrite) an entry.
    pub fn save(&self, e: &Entry) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(e).expect("entries serialise");
        write_atomic(&self.entry_path(&e.info_hash), &json)
    }

    /// Keep a torrent's metainfo (before its entry, so an entry never
    /// points at a missing file).
    pub fn save_torrent(&self, hash: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.torrent_path(hash), bytes)
    }

    /// Forget a torrent: its entry first, then its metainfo.
    pub fn remove(&self, hash: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.entry_path(hash)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let _ = std::fs::remove_file(self.torrent_path(hash));
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn limits_path(&self) -> PathBuf {
        self.dir.parent().unwrap_or(&self.dir).join("limits.json")
    }

    /// The rate limits set through the API (kept across restarts).
    pub fn load_limits(&self) -> Option<Limits> {
        serde_json::from_slice(&std::fs::read(self.limits_path()).ok()?).ok()
    }

    pub fn save_limits(&self, l: &Limits) -> std::io::Result<()> {
        write_atomic(&self.limits_path(), &serde_json::to_vec(l).expect("limits serialise"))
    }
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let s = Session::open(dir.path()).unwrap();
        let hash = "0123456789abcdef0123456789abcdef01234567".to_string();
        let e = Entry {
            info_hash: hash.clone(),
            name: "n".into(),
            magnet: Some(format!("magnet:?xt=urn:btih:{hash}")),
            save_dir: dir.path().to_path_buf(),
            select: Some("1,3".into()),
            paused: true,
            downloaded: 5,
            uploaded: 7,
            completed: false,
            added_at: 1,
            seed_ratio: SeedLimit::Value(2.5),
            seed_time: SeedLimit::Unlimited,
        };
        s.save(&e).unwrap();
        std::fs::write(dir.path().join("torrents/garbage.json"), b"{").unwrap();
        assert_eq!(s.load(), vec![e]);
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path().join("torrents")).unwrap().map(|d| d.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        s.remove(&hash).unwrap();
        assert!(s.load().is_empty());
        s.save_limits(&Limits { download: 1, upload: 2 }).unwrap();
        assert_eq!(s.load_limits(), Some(Limits { download: 1, upload: 2 }));
    }

    #[test]
    fn entries_written_before_seed_limits_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let s = Session::open(dir.path()).unwrap();
        let hash = "0123456789abcdef0123456789abcdef01234567";
        let old = format!(r#"{{"info_hash": "{hash}", "name": "n", "magnet": null, "save_dir": "/tmp", "select": null, "paused": false, "downloaded": 1, "uploaded": 2, "completed": true, "added_at": 3}}"#);
        std::fs::write(dir.path().join(format!("torrents/{hash}.json")), &old).unwrap();
        let e = s.load();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].seed_ratio, e[0].seed_time, e[0].uploaded), (SeedLimit::Default, SeedLimit::Default, 2));
        assert_eq!(e[0].seed_limits(), crate::engine::SeedLimits::default());
        // Written by a daemon with limits but before "unlimited".
        let older = old.replace(r#""added_at": 3"#, r#""added_at": 3, "seed_ratio": 1.5, "seed_time": 60"#);
        std::fs::write(dir.path().join(format!("torrents/{hash}.json")), older).unwrap();
        let e = s.load();
        assert_eq!((e[0].seed_ratio, e[0].seed_time), (SeedLimit::Value(1.5), SeedLimit::Value(60)));
    }

    #[test]
    fn unlimited_is_kept_apart_from_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let s = Session::open(dir.path()).unwrap();
        let hash = "0123456789abcdef0123456789abcdef01234567".to_string();
        let e = Entry {
            info_hash: hash.clone(),
            name: "n".into(),
            magnet: None,
            save_dir: dir.path().to_path_buf(),
            select: None,
            paused: false,
            downloaded: 0,
            uploaded: 0,
            completed: true,
            added_at: 1,
            seed_ratio: SeedLimit::Default,
            seed_time: SeedLimit::Unlimited,
        };
        s.save(&e).unwrap();
        let text = std::fs::read_to_string(dir.path().join(format!("torrents/{hash}.json"))).unwrap();
        assert!(text.contains(r#""seed_time": "unlimited""#) && !text.contains("seed_ratio"), "{text}");
        let back = s.load();
        assert_eq!(back, vec![e]);
        let l = back[0].seed_limits();
        assert_eq!((l.ratio, l.time), (SeedLimit::Default, SeedLimit::Unlimited));
    }
}
