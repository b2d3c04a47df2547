//! RC4 throughput on one core, as MSE uses it (16 KiB blocks, the size of
//! a piece message's payload), and the cost of one DH handshake.
//!
//! `cargo run --release -p torrent-core --example rc4_bench [MiB]`
//!
//! Besides wall time it reports MiB per CPU second of this process (from
//! /proc/self/stat), which holds on a loaded machine where wall time does
//! not.

use std::time::Instant;
use torrent_core::mse::{dh::KeyPair, Rc4};

/// User + system CPU seconds of this process (Linux), if readable.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 (1-based), in clock ticks (100 per second).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let mut rc4 = Rc4::mse(&[7u8; 20]);
    let mut block = vec![0u8; 16 * 1024];
    // Warm up.
    for _ in 0..64 {
        rc4.apply(&mut block);
    }
    let blocks = mib * 64;
    let c0 = cpu_secs();
    let t0 = Instant::now();
    for _ in 0..blocks {
        rc4.apply(&mut block);
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = c0.zip(cpu_secs()).map(|(a, b)| b - a);
    std::hint::black_box(&block);
    println!(
        "rc4: {mib} MiB in {secs:.3} s wall = {:.0} MiB/s ({:.2} s per GiB)",
        mib as f64 / secs,
        secs * 1024.0 / mib as f64
    );
    if let Some(cpu) = cpu.filter(|&c| c > 0.0) {
        println!(
            "rc4: {cpu:.2} CPU s = {:.0} MiB/s/core ({:.2} CPU s per GiB)",
            mib as f64 / cpu,
            cpu * 1024.0 / mib as f64
        );
    }
    let n = 200;
    let a = KeyPair::generate();
    let t0 = Instant::now();
    for _ in 0..n {
        let b = KeyPair::generate();
        std::hint::black_box(b.shared_secret(a.public()));
    }
    println!(
        "dh: {:.0} us per side (key generation + shared secret)",
        t0.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
