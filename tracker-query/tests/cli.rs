//! The tracker-query command against the embedded tracker.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::tracker::{Mode, Tracker, TrackerOptions};
use torrent_core::create::{create_torrent, CreateOptions};
use torrent_core::{InfoHash, Metainfo};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracker-query"))
}

/// Run tracker-query with stdin closed, at most two minutes.
fn run(args: &[&str]) -> Output {
    test_fixtures::harness::run_bounded(bin().args(args), None, Duration::from_secs(120)).output()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn lines(o: &Output) -> Vec<String> {
    let mut v: Vec<String> = stdout(o).lines().map(str::to_string).collect();
    v.sort();
    v
}

/// Short timeouts so failures are quick.
const FAST: [&str; 6] = [
    "--timeout",
    "2",
    "--udp-retry-base",
    "0.3",
    "--udp-retries",
    "1",
];

fn with_fast<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend_from_slice(&FAST);
    v
}

fn torrent(dir: &Path, tiers: Vec<Vec<String>>) -> (PathBuf, InfoHash) {
    let data = dir.join("data.bin");
    std::fs::write(&data, vec![42u8; 40_000]).unwrap();
    let bytes = create_torrent(
        &data,
        &CreateOptions {
            piece_length: Some(16384),
            trackers: tiers,
            ..Default::default()
        },
    )
    .unwrap();
    let path = dir.join("data.torrent");
    std::fs::write(&path, &bytes).unwrap();
    (path, Metainfo::from_bytes(&bytes).unwrap().info_hash)
}

fn dead_http() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/announce")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn announce_prints_peers_http_and_udp() {
    let t = Tracker::start(TrackerOptions::default());
    let h = InfoHash([0x11; 20]);
    t.add_peer(&h, addr("10.0.0.1:5000"));
    t.add_peer(&h, addr("[2001:db8::1]:6000"));
    let hex = h.to_hex();
    // HTTP gives both families (peers + peers6).
    let o = run(&with_fast(&["announce", &hex, "--tracker", &t.http_announce_url(), "--port", "7001"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&o), vec!["10.0.0.1:5000", "[2001:db8::1]:6000"]);
    let err = stderr(&o);
    assert!(err.contains(&t.http_announce_url()) && err.contains("interval 60s"), "{err}");
    assert!(err.contains("2 peers"), "{err}");
    // A query by default: the tracker did not keep us.
    assert!(!t.peers(&h).contains(&addr("127.0.0.1:7001")), "{:?}", t.peers(&h));
    assert_eq!(t.peers(&h).len(), 2);
    // --event started registers us with the port we gave.
    let o = run(&with_fast(&[
        "announce", &hex, "--tracker", &t.http_announce_url(), "--port", "7001", "--event", "started",
    ]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(t.peers(&h).contains(&addr("127.0.0.1:7001")));
    // UDP over IPv4: the IPv4 peers, including the registered one.
    let o = run(&with_fast(&[
        "announce", &hex, "--tracker", &t.udp_announce_url(), "--port", "7002", "--event", "started",
    ]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&o), vec!["10.0.0.1:5000", "127.0.0.1:7001"]);
    // event=stopped takes us out.
    let o = run(&with_fast(&[
        "announce", &hex, "--tracker", &t.http_announce_url(), "--port", "7001", "--event", "stopped",
    ]));
    assert_eq!(o.status.code(), Some(0));
    assert!(!t.peers(&h).contains(&addr("127.0.0.1:7001")));
    assert!(t.peers(&h).contains(&addr("127.0.0.1:7002")));
}

/// A tracker that answers with keys out of order, a repeated key and a
/// newline after the dictionary (issue 12): its peers are used.
#[test]
fn announce_reads_unsorted_tracker_replies() {
    let t = Tracker::start(TrackerOptions::default());
    t.set_mode(Mode::Unsorted);
    let h = InfoHash([0x12; 20]);
    t.add_peer(&h, addr("10.0.0.2:5001"));
    let o = run(&with_fast(&["announce", &h.to_hex(), "--tracker", &t.http_announce_url(), "--port", "7003"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&o), vec!["10.0.0.2:5001"]);
    // The first `interval` counts, not the repeated one.
    assert!(stderr(&o).contains("interval 60s"), "{}", stderr(&o));
}

#[test]
fn tiers_from_torrent_fall_through() {
    let t = Tracker::start(TrackerOptions {
        warning: Some("maintenance tonight".into()),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_http();
    let (path, h) = torrent(
        dir.path(),
        vec![vec![dead.clone()], vec![t.udp_announce_url(), t.http_announce_url()]],
    );
    t.add_peer(&h, addr("10.9.9.9:9"));
    let start = Instant::now();
    let o = run(&with_fast(&["announce", path.to_str().unwrap(), "--event", "started"]));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&o), vec!["10.9.9.9:9"]);
    let err = stderr(&o);
    assert!(err.contains(&dead), "the dead tracker's error is reported: {err}");
    // Only one tracker of the second tier was asked (it answered).
    assert_eq!(t.http_announces() + t.udp_announces(), 1);
    // With a torrent, left defaults to its size: we count as a leecher.
    let s = run(&with_fast(&["scrape", path.to_str().unwrap(), "--tracker", &t.http_announce_url()]));
    assert_eq!(s.status.code(), Some(0), "{}", stderr(&s));
    assert_eq!(stdout(&s), format!("1 1 0 {}\n", t.http_announce_url()));
    // Warnings go to stderr.
    let o = run(&with_fast(&["announce", path.to_str().unwrap(), "--tracker", &t.http_announce_url()]));
    assert!(stderr(&o).contains("warning: maintenance tonight"), "{}", stderr(&o));
}

#[test]
fn all_trackers_json_lines() {
    let t1 = Tracker::start(TrackerOptions::default());
    let t2 = Tracker::start(TrackerOptions::default());
    let h = InfoHash([0x22; 20]);
    t1.add_peer(&h, addr("10.0.0.1:1"));
    t2.add_peer(&h, addr("10.0.0.2:2"));
    t2.add_peer(&h, addr("10.0.0.1:1"));
    let dead = dead_http();
    let hex = h.to_hex();
    let (u1, u2) = (t1.udp_announce_url(), t2.http_announce_url());
    let args = with_fast(&[
        "announce", &hex, "--all", "--tracker", &dead, "--tracker", &u1, "--tracker", &u2,
        "--event", "started",
    ]);
    // Text: the union of the peers, no duplicates.
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&o), vec!["10.0.0.1:1", "10.0.0.2:2"]);
    // JSON: one object per tracker, in the order given.
    let mut jargs = args.clone();
    jargs.push("--json");
    let o = run(&jargs);
    assert_eq!(o.status.code(), Some(0));
    let objs: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 3, "{}", stdout(&o));
    assert_eq!(objs[0]["tracker"], dead.as_str());
    assert_eq!(objs[0]["ok"], false);
    assert!(objs[0]["error"].as_str().unwrap().contains("HTTP"));
    assert_eq!(objs[1]["tracker"], t1.udp_announce_url().as_str());
    assert_eq!(objs[1]["ok"], true);
    assert_eq!(objs[1]["peers"], serde_json::json!(["10.0.0.1:1"]));
    assert_eq!(objs[2]["interval"], 60);
    assert_eq!(objs[2]["min_interval"], 5);
    assert_eq!(objs[2]["complete"], 2);
    assert_eq!(objs[2]["peers"].as_array().unwrap().len(), 2);

    // Scrape --all --json.
    let o = run(&with_fast(&[
        "scrape", &hex, "--all", "--json",
        "--tracker", &t1.udp_announce_url(),
        "--tracker", &t2.http_announce_url(),
    ]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let objs: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0]["info_hash"], hex.as_str());
    // t1: the seeder we added plus our announce (left=1 for an info-hash).
    assert_eq!((objs[0]["complete"].as_u64(), objs[0]["incomplete"].as_u64()), (Some(1), Some(1)));
    assert_eq!((objs[1]["complete"].as_u64(), objs[1]["incomplete"].as_u64()), (Some(2), Some(1)));
}

#[test]
fn no_answer_is_exit_1() {
    let t = Tracker::start(TrackerOptions::default());
    t.set_mode(Mode::Failure("unregistered torrent".into()));
    let hex = "33".repeat(20);
    for url in [t.http_announce_url(), t.udp_announce_url()] {
        let o = run(&with_fast(&["announce", &hex, "--tracker", &url]));
        assert_eq!(o.status.code(), Some(1));
        assert!(o.stdout.is_empty());
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{url}: tracker failure: unregistered torrent")),
            "{err}"
        );
        let o = run(&with_fast(&["scrape", &hex, "--tracker", &url]));
        assert_eq!(o.status.code(), Some(1));
    }
    // A silent tracker: exit 1 within the timeout.
    t.set_mode(Mode::Timeout);
    let start = Instant::now();
    let o = run(&["announce", &hex, "--tracker", &t.udp_announce_url(), "--timeout", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
}

#[test]
fn usage_errors_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = torrent(dir.path(), vec![]);
    let o = run(&["announce", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no trackers"), "{}", stderr(&o));
    let hex = "44".repeat(20);
    let o = run(&["scrape", &hex]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no trackers"));
    let o = run(&["announce", "/nonexistent/file.torrent", "--tracker", "http://127.0.0.1:1/announce"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["announce", &hex, "--tracker", "wss://example/announce"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unsupported"), "{}", stderr(&o));
    let o = run(&["announce", &hex, "--event", "paused", "--tracker", "http://127.0.0.1:1/a"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["announce", &hex, "--timeout", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Exit codes"));
}

#[test]
fn closed_stdout_is_quiet() {
    let t = Tracker::start(TrackerOptions::default());
    let h = InfoHash([0x55; 20]);
    for i in 0..100u16 {
        t.add_peer(&h, SocketAddr::from(([10, 0, 1, 1], 1000 + i)));
    }
    let mut child = bin()
        .args(with_fast(&["announce", &h.to_hex(), "--tracker", &t.http_announce_url()]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(!stderr(&o).contains("Broken pipe"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

/// Issue 13 item 13: a plain announce over HTTP and UDP leaves no phantom
/// peer behind, whatever the port; a later announce does not return us.
#[test]
fn default_announce_is_a_query_that_leaves_no_peer() {
    let t = Tracker::start(TrackerOptions::default());
    let h = InfoHash([0x22; 20]);
    let hex = h.to_hex();
    for url in [t.http_announce_url(), t.udp_announce_url()] {
        for _ in 0..2 {
            let o = run(&with_fast(&["announce", &hex, "--tracker", &url]));
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            assert!(stdout(&o).is_empty(), "{}", stdout(&o));
        }
        assert!(t.peers(&h).is_empty(), "{url}: {:?}", t.peers(&h));
    }
    // The environment supplies the port; started registers it.
    let o = bin()
        .args(with_fast(&["announce", &hex, "--tracker", &t.udp_announce_url(), "--event", "started"]))
        .env("TRACKER_QUERY_PORT", "7345")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(t.peers(&h), vec![addr("127.0.0.1:7345")]);
    let help = stdout(&run(&["announce", "--help"]));
    assert!(help.contains("[default: none]"), "{help}");
    assert!(help.contains("TRACKER_QUERY_PORT"), "{help}");
}

/// Issue 13 item 14: a torrent the tracker does not know scrapes as 0 0 0.
#[test]
fn scrape_of_an_unknown_torrent_is_zeros() {
    let t = Tracker::start(TrackerOptions::default());
    let hex = InfoHash([0x33; 20]).to_hex();
    for url in [t.http_announce_url(), t.udp_announce_url()] {
        let o = run(&with_fast(&["scrape", &hex, "--tracker", &url]));
        assert_eq!(o.status.code(), Some(0), "{url}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("0 0 0 {url}\n"));
        let o = run(&with_fast(&["scrape", &hex, "--tracker", &url, "--json"]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!((v["ok"].as_bool(), v["complete"].as_u64(), v["downloaded"].as_u64()), (Some(true), Some(0), Some(0)));
    }
}

#[test]
fn conventions_completions_man_and_errors() {
    let bin = env!("CARGO_BIN_EXE_tracker-query");
    test_fixtures::harness::check_conventions(bin, "tracker-query", &["announce", "scrape", "dht"]);
    // A 39-hex "info-hash" gets a precise message.
    let o = run(&["announce", "c12fe1c06bba254a9dc9f519b335aa7c1367a88", "--tracker", "http://127.0.0.1:1/a"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: c12fe1c06bba254a9dc9f519b335aa7c1367a88: not a file, and not an info-hash: 39 hex digits"),
        "{}",
        stderr(&o)
    );
}

/// On a terminal (tmux, styled TERM and TERM=dumb) a person sees the
/// per-tracker line on stderr, the peers, and an `error:` line when no
/// tracker answers.
#[test]
fn terminal_shows_details_peers_and_errors() {
    use test_fixtures::harness::{shell_quote, Tmux};
    let t = Tracker::start(TrackerOptions::default());
    let h = InfoHash([0x44; 20]);
    t.add_peer(&h, addr("10.1.2.3:4567"));
    let bin = shell_quote(env!("CARGO_BIN_EXE_tracker-query"));
    let dead = dead_http();
    for term in ["xterm-256color", "dumb"] {
        let cmd = format!(
            "{bin} announce {hex} --tracker {url} --timeout 2; {bin} announce {hex} --tracker {dead} --timeout 2",
            hex = h.to_hex(),
            url = t.http_announce_url(),
        );
        let tm = Tmux::start(&cmd, term, &[], 120, 20);
        let (code, screen) = tm.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 1, "{term}:\n{screen}");
        assert!(screen.contains("10.1.2.3:4567"), "{term}:\n{screen}");
        assert!(screen.contains(&format!("{}: 1 peers", t.http_announce_url())), "{term}:\n{screen}");
        assert!(screen.contains("error: no tracker answered"), "{term}:\n{screen}");
    }
}
