//! `--watch DIR`: a thread that looks at the directory every second. A
//! `.torrent` file, or a file holding a magnet link or an info-hash, whose
//! size and modification time did not change between two looks (so it is
//! completely written) is added like `POST /v1/torrents` with the default
//! download directory, then renamed `NAME.added` (`NAME.invalid` if it
//! could not be read), so it is added once, across restarts too.

use super::{AddOp, Call, Op};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use torrent_core::source::Source;

const EVERY: Duration = Duration::from_secs(1);
/// Larger files are not torrents or magnet links.
const MAX_FILE: u64 = 16 << 20;

pub fn spawn(dir: PathBuf, calls: Sender<Call>, waker: Arc<mio::Waker>, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || {
            let mut seen: HashMap<PathBuf, (u64, SystemTime)> = HashMap::new();
            while !stop.load(Ordering::Relaxed) {
                scan(&dir, &mut seen, &calls, &waker);
                std::thread::sleep(EVERY);
            }
        })
        .expect("spawn watch thread");
}

fn candidate(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.') && !name.ends_with(".added") && !name.ends_with(".invalid") && p.is_file()
}

fn scan(dir: &Path, seen: &mut HashMap<PathBuf, (u64, SystemTime)>, calls: &Sender<Call>, waker: &mio::Waker) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut present = Vec::new();
    for de in rd.flatten() {
        let p = de.path();
        if !candidate(&p) {
            continue;
        }
        let Ok(m) = std::fs::metadata(&p) else { continue };
        let stamp = (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        present.push(p.clone());
        match seen.get(&p) {
            Some(s) if *s == stamp => {
                seen.remove(&p);
                let outcome = add(&p, m.len(), calls, waker);
                let suffix = if outcome.is_ok() { "added" } else { "invalid" };
                if let Err(e) = &outcome {
                    cli_support::warning(format_args!("--watch: {}: {e}", p.display()));
                }
                let mut to = p.clone().into_os_string();
                to.push(format!(".{suffix}"));
                if let Err(e) = std::fs::rename(&p, &to) {
                    cli_support::warning(format_args!("--watch: cannot rename {}: {e}", p.display()));
                }
            }
            _ => {
                seen.insert(p, stamp);
            }
        }
    }
    seen.retain(|p, _| present.contains(p));
}

/// Read and add one file; Err says why it is not a torrent.
fn add(p: &Path, len: u64, calls: &Sender<Call>, waker: &mio::Waker) -> Result<(), String> {
    if len > MAX_FILE {
        return Err("too large for a .torrent or a magnet link".into());
    }
    let bytes = std::fs::read(p).map_err(|e| e.to_string())?;
    let (source, magnet) = if bytes.first() == Some(&b'd') {
        let m = torrent_core::Metainfo::from_bytes(&bytes).map_err(|e| format!("not a valid .torrent: {e}"))?;
        (Source::Torrent(Box::new(m)), None)
    } else {
        let text = String::from_utf8_lossy(&bytes);
        let line = text.lines().map(str::trim).find(|l| !l.is_empty()).ok_or("empty file")?;
        if !line.starts_with("magnet:") && line.len() != 40 && line.len() != 32 {
            return Err("neither a .torrent nor a magnet link".into());
        }
        let s = torrent_core::load::load(line).map_err(|e| e.to_string())?;
        (s, Some(line.to_string()))
    };
    let (tx, rx) = mpsc::channel();
    let op = Op::Add(Box::new(AddOp { source, magnet, save_dir: None, paused: false, select: None, seed_ratio: Default::default(), seed_time: Default::default() }));
    calls.send(Call { op, reply: Some(tx) }).map_err(|_| "the daemon is stopping".to_string())?;
    let _ = waker.wake();
    let r = rx.recv_timeout(Duration::from_secs(30)).map_err(|_| "the daemon did not answer".to_string())?;
    if r.status >= 300 {
        return Err(r.body["error"].as_str().unwrap_or("not added").to_string());
    }
    Ok(())
}
