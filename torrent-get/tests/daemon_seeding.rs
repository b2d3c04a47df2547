//! Per-torrent seeding limits in the daemon: `remote add --seed-time`,
//! `remote limits TORRENT --seed-ratio`, the daemon's `--seed-time` as the
//! default of the others, all shown in `remote list --json` and kept in the
//! session across a SIGKILL and a restart.

mod common;

use common::daemon::*;
use serde_json::Value;
use std::time::Duration;

fn listed(state: &std::path::Path, hash: &str) -> Value {
    let r = remote(state, &["list", "--json"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    r.stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .find(|v| v["info_hash"] == hash)
        .unwrap_or_else(|| panic!("{hash} not listed: {}", r.stdout))
}

#[test]
fn a_torrents_seed_time_ends_its_seeding_and_survives_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    // The data is there already: both torrents seed once checked.
    let short = payload(data.path(), "short", 21);
    let long = payload(data.path(), "long", 22);
    let (hs, hl) = (hex(&short), hex(&long));
    let mut d = Daemon::start(&state, &short.dir, &["--no-listen"]);
    let r = remote(&state, &["add", "--seed-time", "1", short.torrent_path.to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(remote(&state, &["add", long.torrent_path.to_str().unwrap()]).code(), 0);
    let t = d.wait_torrent(&hs, LIMIT, "done after a second of seeding", |t| t.state == "done");
    assert_eq!((t.seed_time, t.seed_ratio, t.progress), (Some(1), None, 1.0), "{t:?}");
    let l = d.wait_torrent(&hl, LIMIT, "seeding", |t| t.state == "seeding");
    assert_eq!((l.seed_time, l.seed_ratio), (None, None), "no limit of its own, none by default: {l:?}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.list().iter().find(|t| t.info_hash == hl).unwrap().state, "seeding");
    let v = listed(&state, &hs);
    assert_eq!((v["state"].as_str(), v["seed_time"].as_u64()), (Some("done"), Some(1)), "{v}");
    // A limit set later: the line says what now applies.
    let r = remote(&state, &["limits", &hl[..8], "--seed-ratio", "2.5"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(r.stdout, format!("{hl}\t2.5\t-\n"));
    let bad = remote(&state, &["limits", &hl[..8], "--seed-ratio", "-1"]);
    assert_eq!(bad.code(), 2, "{}", bad.describe());
    let bad = remote(&state, &["limits", "--seed-time", "5"]);
    assert_eq!(bad.code(), 2, "--seed-time needs a torrent: {}", bad.describe());

    d.kill(); // SIGKILL: the limits must already be in the session
    drop(d);
    let d = Daemon::start(&state, &short.dir, &["--no-listen", "--seed-time", "3"]);
    // Checked again, seeding, and done a second later: its own limit.
    let t = d.wait_torrent(&hs, LIMIT, "done again after the restart", |t| t.state == "done");
    assert_eq!(t.seed_time, Some(1), "{t:?}");
    // The other keeps its ratio and takes the daemon's 3 s as its time.
    let l = d.wait_torrent(&hl, LIMIT, "done by the daemon's default", |t| t.state == "done");
    assert_eq!((l.seed_time, l.seed_ratio), (Some(3), Some(2.5)), "{l:?}");
    // `default` gives a limit back to the daemon's.
    let r = remote(&state, &["limits", &hl, "--seed-ratio", "default"]);
    assert_eq!(r.stdout, format!("{hl}\t-\t3\n"), "{}", r.describe());
    let v = listed(&state, &hl);
    assert!(v["seed_ratio"].is_null(), "{v}");
}
