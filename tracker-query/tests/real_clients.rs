//! Real clients (aria2c over HTTP and UDP, transmission-cli over HTTP)
//! announce to the embedded tracker, and
//! tracker-query then lists them. Fails (does not skip) without the clients.

use test_fixtures::harness::{self, free_port, free_udp_port, Daemon};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::payload::make_payload;
use test_fixtures::tracker::{Tracker, TrackerOptions};

/// Seed a small torrent announcing to `url` with aria2c; poll tracker-query
/// (against `query_url`) until aria2's port shows up.
fn aria2_shows_up(udp: bool) {
    let t = Tracker::start(TrackerOptions::default());
    let url = if udp {
        t.udp_announce_url()
    } else {
        t.http_announce_url()
    };
    let dir = tempfile::tempdir().unwrap();
    let p = make_payload(dir.path(), "seed.bin", &[("", 200_000)], 16384, &[&url], 11).unwrap();
    let port = free_port();
    // aria2 speaks UDP tracker only through its DHT socket, so the UDP case
    // enables DHT, on a loopback port, with no entry points and a state file
    // in the temporary directory: it has no node to talk to.
    let dht = if udp {
        vec![
            "--enable-dht=true".to_string(),
            format!("--dht-listen-port={}", free_udp_port()),
            format!("--dht-file-path={}", dir.path().join("dht.dat").display()),
        ]
    } else {
        vec!["--enable-dht=false".to_string()]
    };
    let mut child = Command::new("aria2c");
    child
        .args(&dht)
        .args([
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--disable-ipv6=true",
            "--interface=127.0.0.1",
            &format!("--listen-port={port}"),
            "--seed-ratio=0",
            "--stop=60",
            "--no-conf",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--auto-save-interval=0",
            "-V",
            "--dir",
        ])
        .arg(&p.dir)
        .arg(&p.torrent_path);
    harness::require_tool("aria2c", "aria2");
    let _guard = Daemon::start("aria2c", child, &dir.path().join("aria2c.log"));
    let want = format!("127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_tracker-query"))
            .args(["announce", p.torrent_path.to_str().unwrap(), "--timeout", "3", "--port", "1"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && stdout.lines().any(|l| l == want) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "aria2c ({want}) never showed up; last output: {stdout} / {}; tracker swarm: {:?}",
            String::from_utf8_lossy(&out.stderr),
            t.peers(&p.meta.info_hash)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(t.peers(&p.meta.info_hash).contains(&want.parse().unwrap()));
    if udp {
        assert!(t.udp_announces() >= 2);
    } else {
        assert!(t.http_announces() >= 2);
    }
}

#[test]
fn aria2c_announce_over_http_is_listed() {
    aria2_shows_up(false);
}

#[test]
fn aria2c_announce_over_udp_is_listed() {
    aria2_shows_up(true);
}

/// transmission-cli seeding a torrent announces to the embedded tracker
/// over HTTP; its peer port shows up in tracker-query's list.
#[test]
fn transmission_announce_is_listed() {
    let t = Tracker::start(TrackerOptions::default());
    let url = t.http_announce_url();
    let dir = tempfile::tempdir().unwrap();
    let p = make_payload(dir.path(), "tr.bin", &[("", 100_000)], 16384, &[&url], 12).unwrap();
    let port = free_port();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    // transmission-cli has no bind flags; its settings.json keeps it on
    // loopback with DHT, LPD, PEX, uTP, port mapping and RPC off.
    std::fs::write(
        state.join("settings.json"),
        harness::clients::transmission_settings(port, None, &p.dir),
    )
    .unwrap();
    let mut child = Command::new("transmission-cli");
    child
        .arg("-g")
        .arg(&state)
        .args(["-p", &port.to_string(), "-w"])
        .arg(&p.dir)
        .arg(&p.torrent_path);
    harness::require_tool("transmission-cli", "transmission-cli");
    let _guard = Daemon::start("transmission-cli", child, &state.join("transmission.log"));
    let want = format!("127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_tracker-query"))
            .args(["announce", p.torrent_path.to_str().unwrap(), "--timeout", "3", "--port", "1"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && stdout.lines().any(|l| l == want) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "transmission ({want}) never showed up; swarm: {:?}",
            t.peers(&p.meta.info_hash)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
