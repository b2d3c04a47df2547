//! fixture-swarm: embedded seeders, each behind its own shaping proxy, for
//! the latency benchmarks (bench/shaped.py). Loopback only.
//!
//!   fixture-swarm TORRENT DATA_DIR COUNTERS_FILE DELAY_MS:RATE...
//!
//! DATA_DIR holds the payload (DATA_DIR/name). Each DELAY_MS:RATE starts a
//! seeder and a proxy that adds DELAY_MS one way and caps each direction of
//! each connection at RATE bytes/s (0: no cap). Prints `PROXY ADDR` per
//! seeder, then `READY`; every 50 ms writes `BYTES LAST B1 B2...` to
//! COUNTERS_FILE: the bytes all proxies passed to leechers, when they last
//! did (Unix seconds), and each proxy's bytes in the order of the shapes. Ends when its standard input is closed.
//!
//! The seeders accept plaintext and MSE/PE (RC4 when offered), as
//! libtorrent's default does: with plaintext only, a leecher that dials
//! with MSE first pays a refused handshake and a redial per peer. They
//! read peers tolerantly (as torrent-get and libtorrent do: a
//! strict one dropped aria2c, which sends its bitfield after its extended
//! handshake), advertise `reqq` 2000 (libtorrent's high_performance_seed),
//! keep a 64 KiB socket send buffer and drop cancelled requests they have
//! not yet sent, as libtorrent does.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;
use test_fixtures::seeder::{Seeder, SeederOptions};
use test_fixtures::shaper::{Shape, Shaper};
use torrent_core::Metainfo;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        bail!("usage: fixture-swarm TORRENT DATA_DIR COUNTERS_FILE DELAY_MS:RATE...");
    }
    let raw = std::fs::read(&args[0]).with_context(|| format!("reading {}", args[0]))?;
    let meta = Metainfo::from_bytes(&raw).with_context(|| format!("parsing {}", args[0]))?;
    let data = PathBuf::from(&args[1]);
    let counters = PathBuf::from(&args[2]);
    let mut pairs = Vec::new();
    for spec in &args[3..] {
        let (d, r) = spec.split_once(':').with_context(|| format!("{spec}: not DELAY_MS:RATE"))?;
        let shape = Shape {
            delay: Duration::from_millis(d.parse().with_context(|| format!("{spec}: delay"))?),
            rate: r.parse().with_context(|| format!("{spec}: rate"))?,
        };
        let opts = SeederOptions {
            reqq: Some(2000),
            tolerant: true,
            encryption: torrent_core::mse::Policy::Prefer,
            send_buffer: Some(64 * 1024),
            ..Default::default()
        };
        let seeder = Seeder::start(&meta, &data, opts).context("starting a seeder")?;
        let proxy = Shaper::start(seeder.addr(), shape).context("starting a proxy")?;
        println!("PROXY {}", proxy.addr());
        pairs.push((seeder, proxy));
    }
    println!("READY");
    std::io::stdout().flush()?;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d2 = done.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        d2.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let tmp = counters.with_extension("tmp");
    let mut seen = None;
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        let bytes: u64 = pairs.iter().map(|(_, p)| p.passed()).sum();
        let last = pairs.iter().map(|(_, p)| p.last_passed_unix()).fold(0.0, f64::max);
        if seen != Some(bytes) {
            let each: Vec<String> = pairs.iter().map(|(_, p)| p.passed().to_string()).collect();
            std::fs::write(&tmp, format!("{bytes} {last:.4} {}\n", each.join(" ")))?;
            std::fs::rename(&tmp, &counters)?;
            seen = Some(bytes);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // What went wrong on the seeders' side, for whoever reads the log.
    for (i, (s, _)) in pairs.iter().enumerate() {
        let errors = s.stats().protocol_errors.load(std::sync::atomic::Ordering::SeqCst);
        if let Some(e) = s.last_error() {
            eprintln!("seeder {i}: {} connections, {errors} protocol errors, last error: {e}", s.connections());
        }
    }
    Ok(())
}
