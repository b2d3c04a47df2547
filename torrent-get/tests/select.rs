//! `--select` / `--only`: only the chosen files are downloaded (plus the
//! bytes of neighbours that share a piece with them).

mod common;

use common::*;
use std::time::Duration;
use test_fixtures::payload::make_payload;
use test_fixtures::seeder::{Seeder, SeederOptions};

#[test]
fn select_downloads_only_the_chosen_file() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    // 64 KiB (pieces 0-1), 100 000 bytes (pieces 2-5), 200 KiB (pieces 5-11).
    let files = [("a-one.bin", 65_536), ("b-two.bin", 100_000), ("c-three.bin", 204_800)];
    let p = make_payload(seed.path(), "sel", &files, 32 * 1024, &[], 24).unwrap();
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    for flag in ["--select", "--only"] {
        let out = out.path().join(flag.trim_start_matches('-'));
        let mut c = cmd(60);
        c.arg("--json").arg(flag).arg("2").arg("-o").arg(&out).arg(&p.torrent_path);
        c.arg("--peer").arg(s.addr().to_string());
        let r = run(c, Duration::from_secs(90));
        assert_eq!(r.code(), 0, "{}", r.describe());
        let done = r.last_event("done");
        // Pieces 2..=5 are wanted: 4 pieces of 32 KiB.
        assert_eq!(done["total_bytes"], 4 * 32 * 1024, "{done}");
        assert_eq!(
            std::fs::read(out.join("sel/b-two.bin")).unwrap(),
            std::fs::read(seed.path().join("sel/b-two.bin")).unwrap()
        );
        assert!(!out.join("sel/a-one.bin").exists(), "a file that was not selected was written");
        // three.bin shares piece 5 with two.bin: only that piece's part is there.
        let three = std::fs::read(out.join("sel/c-three.bin")).unwrap_or_default();
        assert!(three.len() <= 32 * 1024, "three.bin has {} bytes", three.len());
    }
    // A file number out of range is a usage error.
    let mut c = cmd(10);
    c.arg("--select").arg("4").arg("-o").arg(out.path()).arg(&p.torrent_path);
    let r = run(c, Duration::from_secs(30));
    assert_eq!(r.code(), 2, "{}", r.describe());
}
