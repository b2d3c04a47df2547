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
    _tracker: Tracker,
    _seeders: Vec<Seeder>,
}

pub fn start(output: &Path, size: u64) -> anyhow::Result<DemoSwarm> {
    let base = if output == Path::new(".") {
        std::env::temp_dir().join(format!("torrent-get-demo-{}", std::process::id()))
    } else {
        output.to_path_buf()
    };
    let seed_dir = base.join("seed");
    let download_dir = base.join("download");
    std::fs::create_dir_all(&download_dir)?;
    let tracker = Tracker::try_start(TrackerOptions { interval: 5, ..TrackerOptions::default() })?;
    // Three files of uneven sizes so pieces cross file boundaries.
    let a = size / 2 + 12_345;
    let b = size / 3;
    let c = size.saturating_sub(a + b).max(1);
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
    eprintln!(
        "demo: tracker {} with 3 seeders of {} ({} bytes); downloading to {}",
        tracker.http_announce_url(),
        payload.torrent_path.display(),
        payload.meta.info.total_length,
        download_dir.display()
    );
    Ok(DemoSwarm { torrent_path: payload.torrent_path, download_dir, _tracker: tracker, _seeders: seeders })
}
