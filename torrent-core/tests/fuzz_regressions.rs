//! Replays fuzzing results through the same checks the cargo-fuzz targets
//! run (the modules of `fuzz/src/` are included here by path), so they hold
//! in the normal test suite on stable Rust, without libFuzzer:
//!
//! - every input a fuzz target once crashed on, kept in
//!   `fuzz/regressions/<target>/` after the fix;
//! - the committed, minimised corpora of the structured targets
//!   (`fuzz/corpus/<target>/`), which cover the paths the fuzzer reached.

use std::fs;
use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../../fuzz/src/input.rs"]
mod input;

#[allow(dead_code)]
#[path = "../../fuzz/src/tracker.rs"]
mod tracker;

#[allow(dead_code)]
#[path = "../../fuzz/src/peer.rs"]
mod peer;

#[allow(dead_code)]
#[path = "../../fuzz/src/dht.rs"]
mod dht;

#[allow(dead_code)]
#[path = "../../fuzz/src/mse.rs"]
mod mse;

#[path = "../../fuzz/src/utp.rs"]
mod utp;

#[path = "../../fuzz/src/demux.rs"]
mod demux;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Run `check` on every file of `fuzz/<kind>/<target>/`; returns how many.
fn replay(kind: &str, target: &str, check: fn(&[u8])) -> usize {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return 0;
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for p in &paths {
        let data = fs::read(p).unwrap();
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(r.is_ok(), "{} fails its checks", p.display());
    }
    paths.len()
}

const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("tracker_http", tracker::check_tracker_http),
    ("tracker_udp", tracker::check_tracker_udp),
    ("peer_codec", peer::check_peer_codec),
    ("peer_state", peer::check_peer_state),
    ("ut_metadata", peer::check_ut_metadata),
    ("krpc", dht::check_dht),
    ("mse", mse::check_mse),
    ("utp", utp::check_utp),
    ("demux", demux::check_demux),
];

#[test]
fn crashers_stay_fixed() {
    let mut total = 0;
    for (target, check) in TARGETS {
        total += replay("regressions", target, *check);
    }
    // At least the tracker_udp reconnect loop is kept.
    assert!(total >= 1, "no regression inputs found under fuzz/regressions");
}

#[test]
fn committed_corpora_pass_the_checks() {
    for (target, check) in TARGETS {
        let n = replay("corpus", target, *check);
        assert!(n >= 3, "corpus/{target} has only {n} inputs");
    }
}
