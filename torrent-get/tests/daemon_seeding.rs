//! Per-torrent seeding limits in the daemon: `remote add --seed-time`,
//! `remote limits TORRENT --seed-ratio`, the daemon's `--seed-time` as the
//! default of the others, a torrent's own `unlimited`, all shown in
//! `remote list --json` and kept in the session across a SIGKILL and a
//! restart; a done torrent whose limit is raised seeds again (announced to
//! its tracker, served to a leecher), one whose limit is lowered below
//! what it did is done at once.

mod common;

use common::daemon::*;
use common::{assert_same_tree, cmd};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use test_fixtures::tracker::{Tracker, TrackerOptions};

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

fn state_of(d: &Daemon, hash: &str) -> String {
    d.list().into_iter().find(|t| t.info_hash == hash).map(|t| t.state).unwrap_or_default()
}

fn limits(state: &std::path::Path, args: &[&str]) -> String {
    let r = remote(state, &[&["limits"], args].concat());
    assert_eq!(r.code(), 0, "{}", r.describe());
    r.stdout
}

#[test]
fn a_torrents_own_unlimited_outlasts_the_daemons_default_and_survives_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let free = payload(data.path(), "free", 23);
    let dflt = payload(data.path(), "dflt", 24);
    let (hf, hd) = (hex(&free), hex(&dflt));
    let mut d = Daemon::start(&state, &free.dir, &["--no-listen", "--seed-time", "1", "--seed-ratio", "5"]);
    let r = remote(&state, &["add", "--seed-time", "unlimited", "--seed-ratio", "UNLIMITED", free.torrent_path.to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(remote(&state, &["add", dflt.torrent_path.to_str().unwrap()]).code(), 0);
    let t = d.wait_torrent(&hd, LIMIT, "done by the daemon's 1 s", |t| t.state == "done");
    assert_eq!((t.seed_time, t.seed_ratio), (Some(1), Some(5.0)), "{t:?}");
    d.wait_torrent(&hf, LIMIT, "seeding", |t| t.state == "seeding");
    std::thread::sleep(Duration::from_secs(3));
    let v = listed(&state, &hf);
    assert_eq!(v["state"], "seeding", "unlimited: seeding past the daemon's 1 s: {v}");
    assert!(v["seed_time"].is_null() && v["seed_ratio"].is_null(), "{v}");
    assert_eq!((v["seed_time_mode"].as_str(), v["seed_ratio_mode"].as_str()), (Some("unlimited"), Some("unlimited")), "{v}");
    let v = listed(&state, &hd);
    assert_eq!((v["seed_time_mode"].as_str(), v["seed_time"].as_u64()), (Some("default"), Some(1)), "{v}");
    // `limits` without a value shows what is in force; `unlimited` is not `-`.
    assert_eq!(limits(&state, &[&hf[..8]]), format!("{hf}\tunlimited\tunlimited\n"));
    assert_eq!(limits(&state, &[&hf[..8], "--seed-ratio", "default"]), format!("{hf}\t5\tunlimited\n"));
    let show = remote(&state, &["show", &hf]);
    assert!(show.stdout.contains("seeding limits: ratio 5 (the daemon's), time unlimited (its own)"), "{}", show.describe());
    let show = remote(&state, &["show", "--json", &hf]);
    let v: Value = serde_json::from_str(show.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", show.describe()));
    assert_eq!((v["seed_time_mode"].as_str(), v["seed_ratio_mode"].as_str(), v["seed_ratio"].as_f64()), (Some("unlimited"), Some("default"), Some(5.0)), "{v}");
    let entry = std::fs::read_to_string(state.join(format!("torrents/{hf}.json"))).unwrap();
    assert!(entry.contains(r#""seed_time": "unlimited""#) && !entry.contains("seed_ratio"), "{entry}");
    // The API takes the word, and says what else it takes.
    let (_, token) = d.endpoint();
    let (code, body) = http(&d, "POST", &format!("/v1/torrents/{hd}/limits"), Some(&token), Some(br#"{"seed_ratio": "unlimited"}"#));
    assert_eq!(code, 200, "{body}");
    let (code, body) = http(&d, "POST", &format!("/v1/torrents/{hd}/limits"), Some(&token), Some(br#"{"seed_time": "forever"}"#));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("unlimited"), "{body}");
    let bad = remote(&state, &["limits", &hf, "--seed-time", "forever"]);
    assert_eq!(bad.code(), 2, "{}", bad.describe());
    assert!(bad.stderr.contains("unlimited"), "{}", bad.describe());

    d.kill();
    drop(d);
    let d = Daemon::start(&state, &free.dir, &["--no-listen", "--seed-time", "1"]);
    d.wait_torrent(&hd, LIMIT, "done again by the daemon's 1 s", |t| t.state == "done");
    d.wait_torrent(&hf, LIMIT, "seeding after the restart", |t| t.state == "seeding");
    std::thread::sleep(Duration::from_secs(3));
    let t = d.list().into_iter().find(|t| t.info_hash == hf).unwrap();
    assert_eq!((t.state.as_str(), t.seed_time), ("seeding", None), "still unlimited after the restart: {t:?}");
}

/// Wait until the tracker's swarm of the torrent satisfies `pred`.
fn wait_swarm(tracker: &Tracker, p: &test_fixtures::payload::Payload, what: &str, pred: impl Fn(&[SocketAddr]) -> bool) -> Vec<SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let peers = tracker.peers(&p.meta.info_hash);
        if pred(&peers) {
            return peers;
        }
        assert!(Instant::now() < deadline, "{what}: the tracker's swarm is {peers:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_done_torrent_whose_limit_is_raised_seeds_again_and_a_lowered_one_stops_at_once() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    // Interval 60 s: an announce within seconds of a change is the change's.
    let tracker = Tracker::start(TrackerOptions::default());
    let url = tracker.http_announce_url();
    let p = test_fixtures::payload::make_payload(data.path(), "again", &[("a.bin", 700_001), ("b.bin", 300_000)], 64 * 1024, &[&url], 25).unwrap();
    let h = hex(&p);
    let d = Daemon::start(&state, &p.dir, &[]);
    let r = remote(&state, &["add", "--seed-time", "1", p.torrent_path.to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    d.wait_torrent(&h, LIMIT, "done after its 1 s", |t| t.state == "done");
    wait_swarm(&tracker, &p, "stopped announced when seeding ended", |s| s.is_empty());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(state_of(&d, &h), "done");

    // Raised past the second it seeded (the 3 s it sat done do not count).
    let before = tracker.http_announces();
    assert_eq!(limits(&state, &[&h, "--seed-time", "600"]), format!("{h}\t-\t600\n"));
    assert_eq!(state_of(&d, &h), "seeding", "seeding again at once");
    // The daemon alone in the swarm: its listening address.
    let peers = wait_swarm(&tracker, &p, "started announced when seeding again", |s| !s.is_empty());
    assert!(tracker.http_announces() > before);
    let daemon = peers[0];
    // And it serves: a leecher told of it alone gets the whole torrent.
    let out = tempfile::tempdir().unwrap();
    let mut c = cmd(60);
    c.args(["--peer", &daemon.to_string(), "-o"]).arg(out.path()).arg(&p.torrent_path);
    let r = common::run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}\ndaemon log:\n{}", r.describe(), d.log());
    assert_same_tree(&p.dir.join("again"), &out.path().join("again"));
    let t = d.wait_torrent(&h, LIMIT, "uploads counted", |t| t.uploaded >= 1_000_001);
    assert_eq!((t.state.as_str(), t.seed_time_mode), ("seeding", torrent_get::control::SeedLimitMode::Own), "{t:?}");

    // Lowered below what it seeded: done at once, stopped announced.
    assert_eq!(limits(&state, &[&h, "--seed-time", "1"]), format!("{h}\t-\t1\n"));
    assert_eq!(state_of(&d, &h), "done", "done at once");
    // (The leecher may still be listed: its own `stopped` is best effort.)
    wait_swarm(&tracker, &p, "stopped announced when the lowered limit ended seeding", |s| !s.contains(&daemon));
    // Unlimited: seeding again; the default (none in this daemon): still.
    assert_eq!(limits(&state, &[&h, "--seed-time", "unlimited"]), format!("{h}\t-\tunlimited\n"));
    assert_eq!(state_of(&d, &h), "seeding");
    wait_swarm(&tracker, &p, "started announced again", |s| s.contains(&daemon));
    assert_eq!(limits(&state, &[&h, "--seed-time", "default"]), format!("{h}\t-\t-\n"));
    assert_eq!(state_of(&d, &h), "seeding");
    // The ratio too: 1 uploaded of a ratio 0.5 is done, the default seeds.
    assert_eq!(limits(&state, &[&h, "--seed-ratio", "0.5"]), format!("{h}\t0.5\t-\n"));
    assert_eq!(state_of(&d, &h), "done");
    assert_eq!(limits(&state, &[&h, "--seed-ratio", "default"]), format!("{h}\t-\t-\n"));
    assert_eq!(state_of(&d, &h), "seeding");
}
