//! Stopping and resuming: SIGKILL midway, SIGTERM (Ctrl-C) with a resume
//! file and a quick restart, damage found after the download completed.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};

const LIMIT: Duration = Duration::from_secs(90);

fn payload(dir: &std::path::Path, name: &str, seed: u64) -> Payload {
    // ~3 MiB in 48 pieces of 64 KiB; the piece boundaries do not match the
    // file boundaries.
    make_payload(dir, name, &[("first.bin", 2_000_003), ("second.bin", 1_145_725)], 64 * 1024, &[], seed).unwrap()
}

/// A JSON-mode download from the given seeders.
fn download_cmd(p: &Payload, out: &std::path::Path, seeders: &[&Seeder], timeout: u64) -> Command {
    let mut c = cmd(timeout);
    c.arg("--json").arg("--no-listen").arg("-o").arg(out);
    for s in seeders {
        c.arg("--peer").arg(s.addr().to_string());
    }
    c.arg(&p.torrent_path);
    c
}

fn have_pieces(v: &Value) -> u64 {
    v["have_pieces"].as_u64().unwrap_or(0)
}

/// Start a download from a slow seeder and wait until a good part (but not
/// all) of it is there.
fn start_slow_and_wait(p: &Payload, out: &std::path::Path, slow: &Seeder) -> Live {
    let n = p.meta.info.piece_count() as u64;
    let mut live = Live::spawn(download_cmd(p, out, &[slow], 60));
    let ev = live.wait_event(Duration::from_secs(30), |v| {
        v["event"] == "progress" && have_pieces(v) >= n / 4
    });
    let ev = ev.unwrap_or_else(|| panic!("no progress within 30 s; stdout:\n{}", live.seen.join("\n")));
    assert!(have_pieces(&ev) < n, "the slow download finished too early to test an interruption: {ev}");
    live
}

#[test]
fn sigkill_midway_then_resume_byte_identical() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(seed.path(), "killed", 21);
    let total = p.meta.info.total_length;
    let slow = Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(Behaviour::Slow(768 * 1024))).unwrap();
    let mut live = start_slow_and_wait(&p, out.path(), &slow);
    live.child.kill().unwrap(); // SIGKILL: no chance to save anything
    let st = live.child.wait().unwrap();
    assert!(!st.success());
    drop(live);
    drop(slow);

    let honest = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let r = run(download_cmd(&p, out.path(), &[&honest], 60), LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let checked = r.last_event("checked");
    assert!(have_pieces(&checked) > 0, "the data of the first run was not found: {checked}");
    let done = r.last_event("done");
    assert_eq!(done["status"], "done");
    let downloaded = done["downloaded"].as_u64().unwrap();
    assert!(downloaded < total, "the second run downloaded {downloaded} of {total} bytes: everything again");
    assert!(honest.bytes_uploaded() < total);
    assert_same_tree(&seed.path().join("killed"), &out.path().join("killed"));
}

#[test]
fn sigterm_saves_resume_file_and_restart_is_quick() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(seed.path(), "termed", 22);
    let n = p.meta.info.piece_count() as u64;
    let slow = Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(Behaviour::Slow(768 * 1024))).unwrap();
    let live = start_slow_and_wait(&p, out.path(), &slow);
    let pid = live.child.id().to_string();
    let st = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
    assert!(st.success());
    let r = live.finish(Duration::from_secs(20));
    assert_eq!(r.code(), 1, "interrupted run: {}", r.describe());
    let stopped = r.last_event("stopped");
    assert_eq!(stopped["status"], "incomplete", "{stopped}");
    let had = stopped["have_bytes"].as_u64().unwrap();
    assert!(had > 0 && had < p.meta.info.total_length, "{stopped}");
    let resume = out.path().join(".torrent-get").join(format!("{}.resume", p.meta.info_hash));
    assert!(resume.is_file(), "no resume file at {}", resume.display());
    drop(slow);

    let honest = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let r = run(download_cmd(&p, out.path(), &[&honest], 60), LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let checked = r.last_event("checked");
    assert_eq!(checked["rechecked"], false, "resume data not used: {checked}");
    assert_eq!(checked["pieces"].as_u64(), Some(n));
    assert!(have_pieces(&checked) > 0 && have_pieces(&checked) < n, "{checked}");
    let done = r.last_event("done");
    assert!(done["downloaded"].as_u64().unwrap() < p.meta.info.total_length, "{done}");
    assert_same_tree(&seed.path().join("termed"), &out.path().join("termed"));
}

#[test]
fn damage_after_completion_is_found_and_repaired() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(seed.path(), "damaged", 23);
    let n = p.meta.info.piece_count() as u64;
    let plen = p.meta.info.piece_length;
    let honest = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let r = run(download_cmd(&p, out.path(), &[&honest], 60), LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&seed.path().join("damaged"), &out.path().join("damaged"));

    // Run again on the complete data: quick resume, nothing to fetch.
    let r = run(download_cmd(&p, out.path(), &[&honest], 30), LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let checked = r.last_event("checked");
    assert_eq!(checked["rechecked"], false, "{checked}");
    assert_eq!(have_pieces(&checked), n, "{checked}");
    assert_eq!(r.last_event("done")["downloaded"], 0);

    // Flip one byte in the second file (same size, new mtime).
    let victim = out.path().join("damaged/second.bin");
    let mut data = std::fs::read(&victim).unwrap();
    let at = 500_000;
    data[at] ^= 0xff;
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&victim, &data).unwrap();

    let r = run(download_cmd(&p, out.path(), &[&honest], 60), LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let checked = r.last_event("checked");
    assert_eq!(checked["rechecked"], true, "a changed file must invalidate the resume data: {checked}");
    assert_eq!(have_pieces(&checked), n - 1, "exactly one piece is damaged: {checked}");
    let done = r.last_event("done");
    let downloaded = done["downloaded"].as_u64().unwrap();
    assert!(downloaded >= plen / 2 && downloaded <= 2 * plen, "repair fetched {downloaded} bytes: {done}");
    assert_same_tree(&seed.path().join("damaged"), &out.path().join("damaged"));
}
