//! Helpers shared by the integration tests of torrent-info.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_torrent-info");

pub use test_fixtures::harness::Run;

/// Run torrent-info with `args` in `cwd` (stdin closed, at most 2 minutes).
pub fn run_in(cwd: &Path, args: &[&str]) -> Run {
    test_fixtures::harness::run_bounded(
        Command::new(BIN).args(args).current_dir(cwd),
        None,
        std::time::Duration::from_secs(120),
    )
}

pub fn run(args: &[&str]) -> Run {
    run_in(Path::new("."), args)
}

/// Write a file of `size` deterministic bytes, creating parent directories.
pub fn write_file(path: &Path, size: u64, seed: u64) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    test_fixtures::payload::write_pseudo_random_file(path, size, seed).unwrap();
}

/// Flip one byte of a file in place; returns the old value.
pub fn flip_byte(path: &Path, offset: u64) -> u8 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 0xff], offset).unwrap();
    b[0]
}

/// Put back a byte changed by [`flip_byte`].
pub fn restore_byte(path: &Path, offset: u64, old: u8) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&[old], offset).unwrap();
}
