//! Faults: SIGKILL at random points followed by resumes, and a full disk.
//! Each asserts the exact outcome: byte-identical data in the end, no piece
//! recorded as verified unless its bytes on disk match, clear errors.

mod common;

use common::*;
use rand::Rng;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use test_fixtures::payload::make_payload;
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};
use torrent_core::storage::Storage;
use torrent_core::Metainfo;

const LIMIT: Duration = Duration::from_secs(90);

/// Pieces the resume file (if any) claims as verified must verify on disk.
fn assert_resume_truthful(out: &Path, meta: &Metainfo) -> usize {
    let path = out.join(".torrent-get").join(format!("{}.resume", meta.info_hash));
    let Ok(buf) = std::fs::read(&path) else { return 0 };
    let v = torrent_core::bencode::decode(&buf).expect("resume file is valid bencode");
    let bits = v.get("pieces").and_then(|b| b.as_bytes()).expect("pieces in resume file");
    let mut st = Storage::new(out, &meta.info).unwrap();
    let mut n = 0;
    for i in 0..meta.info.piece_count() {
        if bits[i / 8] & (0x80 >> (i % 8)) != 0 {
            assert!(st.verify_piece(i).unwrap(), "resume file marks piece {i} verified but its data is wrong");
            n += 1;
        }
    }
    n
}

#[test]
fn sigkill_at_random_points_then_resume_is_byte_identical() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "k", &[("a.bin", 700_000), ("d/b.bin", 333_333)], 16 * 1024, &[], 5).unwrap();
    // Slow seeders: the download takes several seconds, so kills land mid-way.
    let slow: Vec<Seeder> = (0..2)
        .map(|_| Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(Behaviour::Slow(150 * 1024))).unwrap())
        .collect();
    let mut rng = rand::thread_rng();
    for round in 0..3 {
        let mut c = cmd(60);
        c.arg("--json").arg("-o").arg(out.path()).arg(&p.torrent_path);
        for s in &slow {
            c.arg("--peer").arg(s.addr().to_string());
        }
        let mut live = Live::spawn(c);
        // Wait until the run has checked the data, then kill at a random moment.
        live.wait_event(Duration::from_secs(20), |e| e["event"] == "checked")
            .unwrap_or_else(|| panic!("round {round}: no checked event"));
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..1500)));
        live.child.kill().unwrap(); // SIGKILL
        live.child.wait().unwrap();
        assert_resume_truthful(out.path(), &p.meta);
    }
    // A final run with an honest, fast seeder completes the download.
    let honest = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let mut c = cmd(60);
    c.arg("--json").arg("-o").arg(out.path()).arg(&p.torrent_path).arg("--peer").arg(honest.addr().to_string());
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let done = r.last_event("done");
    assert_eq!(done["status"], "done");
    assert_same_tree(&seed.path().join("k"), &out.path().join("k"));
    assert_eq!(assert_resume_truthful(out.path(), &p.meta), p.meta.info.piece_count());
    // Pieces verified before the kills were not fetched again.
    let downloaded = done["downloaded"].as_u64().unwrap();
    assert!(downloaded < p.meta.info.total_length, "downloaded {downloaded}: everything again");
}

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(st.success(), "mounting a tmpfs needs root (CI runs as root)");
        Tmpfs(dir.to_path_buf())
    }
    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_gives_clear_error_and_resumable_state() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "big.bin", &[("", 3 * 1024 * 1024)], 64 * 1024, &[], 9).unwrap();
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let fs = Tmpfs::mount(out.path(), "1m");
    let mut c = cmd(60);
    c.arg("-o").arg(out.path()).arg(&p.torrent_path).arg("--peer").arg(s.addr().to_string());
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 3, "{}", r.describe());
    assert!(r.stderr.contains("No space left on device"), "{}", r.describe());
    assert!(r.stdout.contains("\tfailed\t"), "{}", r.describe());
    assert_resume_truthful(out.path(), &p.meta);
    // More room: the same command finishes the job.
    fs.resize("8m");
    let mut c = cmd(60);
    c.arg("-o").arg(out.path()).arg(&p.torrent_path).arg("--peer").arg(s.addr().to_string());
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let (want, got) = (std::fs::read(seed.path().join("big.bin")).unwrap(), std::fs::read(out.path().join("big.bin")).unwrap());
    assert!(want == got, "downloaded file differs from the seed data");
}

#[test]
fn recheck_ignores_resume_data() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "r.bin", &[("", 300_000)], 16 * 1024, &[], 12).unwrap();
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let go = |extra: &[&str]| {
        let mut c = cmd(60);
        c.arg("--json").args(extra).arg("-o").arg(out.path()).arg(&p.torrent_path);
        c.arg("--peer").arg(s.addr().to_string());
        run(c, LIMIT)
    };
    let r = go(&[]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    // Damage a byte behind the resume file's back (size and mtime kept, as
    // after a power failure that lost written data).
    let path = out.path().join("r.bin");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut data = std::fs::read(&path).unwrap();
    data[200_000] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    // The resume file is trusted: nothing is checked or fetched.
    let r = go(&[]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(r.last_event("checked")["rechecked"], false);
    assert_eq!(r.last_event("done")["downloaded"], 0);
    // --recheck hashes the data, finds the damaged piece and fetches it again.
    let r = go(&["--recheck"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let checked = r.last_event("checked");
    assert_eq!(checked["rechecked"], true);
    assert_eq!(checked["have_pieces"].as_u64().unwrap() + 1, p.meta.info.piece_count() as u64);
    assert_eq!(r.last_event("done")["downloaded"], 16 * 1024);
    assert!(std::fs::read(&path).unwrap() == std::fs::read(seed.path().join("r.bin")).unwrap());
}

#[test]
fn a_full_disk_that_fits_the_data_exactly_still_exits_0() {
    // The data fills the filesystem to the last page: the resume file
    // cannot be written. That is a warning, the download is complete and
    // verified, and no empty temporary file is left.
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "exact.bin", &[("", 1024 * 1024)], 64 * 1024, &[], 19).unwrap();
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let _fs = Tmpfs::mount(out.path(), "1m");
    let mut c = cmd_loud(60);
    c.arg("-o").arg(out.path()).arg(&p.torrent_path).arg("--peer").arg(s.addr().to_string());
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert!(r.stderr.contains("could not save resume data"), "{}", r.describe());
    assert!(r.stdout.contains("\tdone\t"), "{}", r.describe());
    let state: Vec<String> = std::fs::read_dir(out.path().join(".torrent-get"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!state.iter().any(|n| n.ends_with(".tmp")), "temporary file left: {state:?}");
    let (want, got) = (std::fs::read(seed.path().join("exact.bin")).unwrap(), std::fs::read(out.path().join("exact.bin")).unwrap());
    assert!(want == got, "downloaded file differs from the seed data");
}

#[test]
fn after_a_sigkill_the_restart_trusts_the_periodic_resume_data() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "pk.bin", &[("", 3_000_000)], 32 * 1024, &[], 20).unwrap();
    // About 10 s at this rate: a periodic record (every 5 s) before the kill.
    let slow = Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(Behaviour::Slow(300 * 1024))).unwrap();
    let mut c = cmd(60);
    c.arg("--json").arg("-o").arg(out.path()).arg(&p.torrent_path).arg("--peer").arg(slow.addr().to_string());
    let mut live = Live::spawn(c);
    live.wait_event(Duration::from_secs(20), |e| e["event"] == "checked").expect("checked");
    std::thread::sleep(Duration::from_millis(7500));
    live.child.kill().unwrap(); // SIGKILL: no clean stop
    live.child.wait().unwrap();
    let recorded = assert_resume_truthful(out.path(), &p.meta);
    assert!(recorded > 0, "no periodic resume record after 7.5 s");
    let honest = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let mut c = cmd(60);
    c.arg("--json").arg("-o").arg(out.path()).arg(&p.torrent_path).arg("--peer").arg(honest.addr().to_string());
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let checked = r.last_event("checked");
    assert_eq!(checked["rechecked"], false, "the data was hashed again: {}", r.describe());
    assert_eq!(checked["have_pieces"].as_u64().unwrap(), recorded as u64);
    assert!(r.last_event("done")["downloaded"].as_u64().unwrap() < p.meta.info.total_length);
    let (want, got) = (std::fs::read(seed.path().join("pk.bin")).unwrap(), std::fs::read(out.path().join("pk.bin")).unwrap());
    assert!(want == got, "downloaded file differs from the seed data");
}
