//! RC4 throughput on one core, as MSE uses it (16 KiB blocks, the size of
//! a piece message's payload), and the cost of one DH handshake.
//!
//! `cargo run --release -p torrent-core --example rc4_bench [MiB]`

use std::time::Instant;
use torrent_core::mse::{dh::KeyPair, Rc4};

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
    let t0 = Instant::now();
    for _ in 0..blocks {
        rc4.apply(&mut block);
    }
    let secs = t0.elapsed().as_secs_f64();
    std::hint::black_box(&block);
    println!(
        "rc4: {mib} MiB in {secs:.3} s = {:.0} MiB/s/core ({:.2} s per GiB)",
        mib as f64 / secs,
        secs * 1024.0 / mib as f64
    );
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
