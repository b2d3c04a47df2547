//! `torrent-get --demo`: an embedded local swarm on 127.0.0.1 (an HTTP
//! tracker, three seeders, a generated multi-file payload) to download from,
//! so the whole path (tracker announce, many peers, pieces across file
//! boundaries, verification) can be seen working with no setup.

use std::path::{Path, PathBuf};
use test_fixtures::payload::make_payload;
use test_fixtures::seeder::{Seeder, SeederOptions};
use test_fixtures::tracker::{Tracker, TrackerOptions};

pub struct DemoSwarm {
    pub torrent_path: PathBuf,
    pub download_dir: PathBuf,
    /// The temporary directory to remove at the end (None: `--keep`, or a
    /// directory the user chose with -o).
    remove: Option<PathBuf>,
    quiet: bool,
    _tracker: Tracker,
    _seeders: Vec<Seeder>,
}

impl DemoSwarm {
    /// The end of the demo: stop the swarm, remove the temporary payload
    /// and download (unless kept) and say what happened to them.
    pub fn finish(mut self) {
        if let Some(dir) = self.remove.take() {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) if !self.quiet => eprintln!("demo: removed {} (use --keep to keep it)", dir.display()),
                Ok(()) => {}
                Err(e) => eprintln!("error: demo: cannot remove {}: {e}", dir.display()),
            }
        } else if !self.quiet {
            eprintln!("demo: payload and download kept in {}", self.download_dir.parent().unwrap_or(&self.download_dir).display());
        }
    }
}

impl Drop for DemoSwarm {
    fn drop(&mut self) {
        if let Some(dir) = self.remove.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn start(output: &Path, size: u64, quiet: bool, keep: bool) -> anyhow::Result<DemoSwarm> {
    let temp = output == Path::new(".");
    let base = if temp {
        std::env::temp_dir().join(format!("torrent-get-demo-{}", std::process::id()))
    } else {
        output.to_path_buf()
    };
    let remove = (temp && !keep).then(|| base.clone());
    // Removed again if building the swarm fails below.
    let guard = RemoveOnError(remove.clone());
    let seed_dir = base.join("seed");
    let download_dir = base.join("download");
    std::fs::create_dir_all(&download_dir)?;
    let tracker = Tracker::try_start(TrackerOptions { interval: 5, ..TrackerOptions::default() })?;
    // Three files of uneven sizes so pieces cross file boundaries.
    let a = size / 2 + 12_345;
    let b = size / 3;
    let c = size.saturating_sub(a + b).max(1);
    let spinner = building_spinner(quiet, size);
    let t0 = std::time::Instant::now();
    let payload = make_payload(
        &seed_dir,
        "demo-payload",
        &[("video.bin", a), ("extras/notes.bin", b), ("extras/data.bin", c)],
        256 * 1024,
        &[&tracker.http_announce_url()],
        42,
    )?;
    let mut seeders = Vec::new();
    for _ in 0..3 {
        let s = Seeder::start(&payload.meta, &seed_dir, SeederOptions::default())?;
        tracker.add_peer(&payload.meta.info_hash, s.addr());
        seeders.push(s);
    }
    spinner.finish_and_clear();
    if !quiet {
        eprintln!(
            "demo: payload of {} written and hashed in {:.1} s",
            crate::progress::human_bytes(payload.meta.info.total_length),
            t0.elapsed().as_secs_f64()
        );
        eprintln!(
            "demo: tracker {} with 3 seeders of {}; downloading to {}",
            tracker.http_announce_url(),
            payload.torrent_path.display(),
            download_dir.display()
        );
    }
    std::mem::forget(guard);
    Ok(DemoSwarm { torrent_path: payload.torrent_path, download_dir, remove, quiet, _tracker: tracker, _seeders: seeders })
}

struct RemoveOnError(Option<PathBuf>);

impl Drop for RemoveOnError {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// What is shown while the payload is written and hashed: a spinner on a
/// terminal, one line otherwise.
fn building_spinner(quiet: bool, size: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let msg = format!("demo: writing and hashing a payload of {} ...", crate::progress::human_bytes(size));
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new_spinner();
    if std::io::stderr().is_terminal() && !crate::progress::dumb_terminal() {
        pb.set_message(msg);
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
    } else {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        eprintln!("{msg}");
    }
    pb
}
