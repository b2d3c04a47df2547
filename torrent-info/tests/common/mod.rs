//! Helpers shared by the integration tests of torrent-info.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_torrent-info");

/// Result of running the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(o: Output) -> Run {
        Run {
            // A signal (no exit code) shows as -1; no test expects that.
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Panics with both streams unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit code {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// Run torrent-info with `args` in `cwd` (stdin closed).
pub fn run_in(cwd: &Path, args: &[&str]) -> Run {
    let o = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run torrent-info");
    Run::from_output(o)
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
