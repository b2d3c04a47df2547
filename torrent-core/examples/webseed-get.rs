//! Download a torrent from its web seeds only, with torrent-core's
//! web-seed scheduler and fetcher (the benchmark's client).
//!
//!   webseed-get TORRENT OUT_DIR [MIRROR_URL...]
//!
//! Without MIRROR_URLs the torrent's url-list is used. Environment:
//! WS_REQUESTS (requests in flight per mirror, default 4), WS_WORKERS
//! (fetcher threads, default 4), WS_RUN_MIB (MiB per request, default 8).
//! Prints `<seconds> <bytes received> <MB/s>` on stdout; mirrors' trouble
//! on stderr. Exit 1 on failure.

use std::time::Duration;
use torrent_core::webseed::blocking::{download, DownloadOptions};
use torrent_core::webseed::{self, Config, FetchConfig};
use torrent_core::Metainfo;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: webseed-get TORRENT OUT_DIR [MIRROR_URL...]");
        std::process::exit(2);
    }
    let raw = std::fs::read(&args[1]).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args[1]);
        std::process::exit(1)
    });
    let meta = Metainfo::from_bytes(&raw).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args[1]);
        std::process::exit(1)
    });
    let mirrors: Vec<String> = if args.len() > 3 { args[3..].to_vec() } else { webseed::mirrors(&meta) };
    let opts = DownloadOptions {
        scheduler: Config {
            requests_per_mirror: env("WS_REQUESTS", 4) as usize,
            run_bytes: env("WS_RUN_MIB", 8) << 20,
            ..Config::default()
        },
        fetch: FetchConfig { workers: env("WS_WORKERS", 4) as usize, ..FetchConfig::default() },
        timeout: Some(Duration::from_secs(3600)),
        verbose: true,
    };
    match download(&meta, std::path::Path::new(&args[2]), &mirrors, &opts) {
        Ok(r) => {
            let s = r.elapsed.as_secs_f64();
            println!("{s:.3} {} {:.1}", r.received, meta.info.total_length as f64 / s / 1e6);
        }
        Err(e) => {
            eprintln!("webseed-get: {e}");
            std::process::exit(1);
        }
    }
}
