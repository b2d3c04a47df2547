//! Interoperability with real BitTorrent software from Debian's packages
//! (aria2c, python3-libtorrent, transmission-cli), all on 127.0.0.1 with
//! DHT, local discovery, PEX and port mapping off:
//! - torrent-get downloads from each of them (from Transmission over uTP
//!   alone too);
//! - aria2c and libtorrent download from torrent-get `--seed-only`;
//! - two torrent-get processes holding one half each end up complete.
//!
//! The tools are required: a missing one fails the test (CI installs them).

mod common;

use common::*;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::tracker::{Tracker, TrackerOptions};

const LIMIT: Duration = Duration::from_secs(90);
const PY: &str = "/usr/bin/python3";

fn lt_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lt_peer.py")
}

/// A child process killed (and reaped) when dropped; its output goes to a
/// log file shown when something fails.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut c: Command, logdir: &Path) -> Proc {
        let log = logdir.join(format!("{name}.log"));
        let f = File::create(&log).unwrap();
        c.stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f);
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e} (is the Debian package installed?)", c.get_program()));
        Proc { name, child, log }
    }

    fn log_text(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = s.lines().rev().take(40).collect();
        format!("---- {} log (last lines) ----\n{}", self.name, tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    }

    /// Wait for exit at most `limit`; None on timeout.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn term(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn require_tool(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(found, "{name} is not installed (apt-get install aria2 transmission-cli python3-libtorrent)");
}

/// A multi-file payload (pieces across file boundaries) of about 6 MiB.
fn interop_payload(dir: &Path, name: &str, trackers: &[&str], seed: u64) -> Payload {
    make_payload(
        dir,
        name,
        &[("big.bin", 4_000_037), ("sub/mid.bin", 2_097_152), ("sub/one", 1), ("z.txt", 33_333)],
        64 * 1024,
        trackers,
        seed,
    )
    .unwrap()
}

fn aria2_common(dir: &Path, port: u16) -> Vec<String> {
    [
        format!("--dir={}", dir.display()),
        format!("--listen-port={port}"),
        "--interface=127.0.0.1".into(),
        "--disable-ipv6=true".into(),
        "--enable-dht=false".into(),
        "--enable-dht6=false".into(),
        "--bt-enable-lpd=false".into(),
        "--enable-peer-exchange=false".into(),
        "--bt-tracker-interval=2".into(),
        "--file-allocation=none".into(),
        "--summary-interval=0".into(),
        "--console-log-level=notice".into(),
        "--auto-save-interval=0".into(),
        "--stop=80".into(),
    ]
    .into()
}

fn lt_seeder(p: &Payload, logs: &Path) -> (Proc, u16) {
    require_tool("python3");
    let port = free_port();
    let mut c = Command::new(PY);
    c.arg(lt_script()).arg("seed").arg(&p.torrent_path).arg(&p.dir);
    c.args(["--port", &port.to_string(), "--timeout", "80"]);
    let proc = Proc::spawn("libtorrent-seed", c, logs);
    assert!(wait_listening(port, Duration::from_secs(20)), "libtorrent seeder not listening\n{}", proc.log_text());
    (proc, port)
}

/// torrent-get downloads from one external seeder at `port`.
fn download_from(p: &Payload, name: &str, port: u16, seeder: &Proc) {
    download_over(p, name, port, seeder, "both");
}

/// As [`download_from`], dialling over `transport` only (tcp, utp, both);
/// the run, for more checks.
fn download_over(p: &Payload, name: &str, port: u16, seeder: &Proc, transport: &str) -> Run {
    let out = tempfile::tempdir().unwrap();
    let mut c = cmd(60);
    c.args(["--no-listen", "--json", "--transport", transport, "--peer", &format!("127.0.0.1:{port}")]);
    c.arg("-o").arg(out.path()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), seeder.log_text());
    let done = r.last_event("done");
    assert_eq!(done["have_bytes"], p.meta.info.total_length);
    assert_same_tree(&p.dir.join(name), &out.path().join(name));
    r
}

#[test]
fn torrent_get_downloads_from_aria2() {
    require_tool("aria2c");
    let seed = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    // aria2c wants a tracker to announce to; the embedded one will do.
    let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
    let p = interop_payload(seed.path(), "from-aria2", &[&tracker.http_announce_url()], 51);
    let port = free_port();
    let mut c = Command::new("aria2c");
    c.args(aria2_common(seed.path(), port));
    c.args(["--seed-ratio=0.0", "--bt-seed-unverified=true"]).arg(&p.torrent_path);
    let aria = Proc::spawn("aria2c-seed", c, logs.path());
    assert!(wait_listening(port, Duration::from_secs(20)), "aria2c not listening\n{}", aria.log_text());
    download_from(&p, "from-aria2", port, &aria);
}

#[test]
fn torrent_get_downloads_from_libtorrent() {
    let seed = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let p = interop_payload(seed.path(), "from-lt", &[], 52);
    let (lt, port) = lt_seeder(&p, logs.path());
    download_from(&p, "from-lt", port, &lt);
}

#[test]
fn torrent_get_downloads_from_transmission() {
    let seed = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let p = interop_payload(seed.path(), "from-tr", &[], 53);
    let (tr, port) = transmission_seeder(&p, seed.path(), state.path(), logs.path(), false);
    // It checks the local data before it serves it; torrent-get retries.
    download_from(&p, "from-tr", port, &tr);
}

/// Transmission 3 speaks uTP on loopback too: torrent-get dials it over
/// uTP alone (`--transport utp`: no TCP fallback exists) and gets the
/// data byte for byte.
#[test]
fn torrent_get_downloads_from_transmission_over_utp() {
    let seed = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let p = interop_payload(seed.path(), "from-tr-utp", &[], 56);
    let (tr, port) = transmission_seeder(&p, seed.path(), state.path(), logs.path(), true);
    let r = download_over(&p, "from-tr-utp", port, &tr, "utp");
    let events = r.events();
    let peers: Vec<_> = events.iter().filter(|e| e["event"] == "peer").collect();
    assert!(!peers.is_empty() && peers.iter().all(|e| e["transport"] == "utp"), "{}", r.describe());
}

/// transmission-cli seeding `p` from `dir` on a free port, uTP on or off
/// (it listens on TCP either way).
fn transmission_seeder(p: &Payload, dir: &Path, state: &Path, logs: &Path, utp: bool) -> (Proc, u16) {
    require_tool("transmission-cli");
    let port = free_port();
    // transmission-cli has no bind-address flag: its settings.json does it.
    let settings = serde_json::json!({
        "bind-address-ipv4": "127.0.0.1",
        "bind-address-ipv6": "::1",
        "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": utp,
        "port-forwarding-enabled": false,
        "peer-port": port, "peer-port-random-on-start": false,
        "rpc-enabled": false,
        "download-dir": dir.display().to_string(),
        "incomplete-dir-enabled": false, "rename-partial-files": false,
        "ratio-limit-enabled": false, "idle-seeding-limit-enabled": false,
        "speed-limit-up-enabled": false, "speed-limit-down-enabled": false,
        "encryption": 0, "blocklist-enabled": false, "message-level": 2,
    });
    std::fs::write(state.join("settings.json"), settings.to_string()).unwrap();
    let mut c = Command::new("transmission-cli");
    c.arg("-g").arg(state).args(["-p", &port.to_string()]).arg("-w").arg(dir);
    c.args(["-et", "-M", "-D", "-U"]).arg(&p.torrent_path);
    c.env("HOME", state);
    let tr = Proc::spawn("transmission-seed", c, logs);
    assert!(wait_listening(port, Duration::from_secs(20)), "transmission-cli not listening\n{}", tr.log_text());
    (tr, port)
}

/// Start `torrent-get --seed-only` on a fixed port over `p`'s data.
fn torrent_get_seeder(p: &Payload, port: u16, logs: &Path) -> Proc {
    let mut c = Command::new(bin());
    c.args(["--seed-only", "--no-dht", "--json", "-q", "--timeout", "80", "--listen", &format!("127.0.0.1:{port}")]);
    c.arg("-o").arg(&p.dir).arg(&p.torrent_path);
    let proc = Proc::spawn("torrent-get-seed", c, logs);
    assert!(wait_listening(port, Duration::from_secs(20)), "torrent-get not listening\n{}", proc.log_text());
    proc
}

/// After the leecher finished, stop the seeder: SIGTERM, exit 0 (the data
/// was complete), and it says it uploaded.
fn stop_seeder(mut seeder: Proc, p: &Payload) {
    seeder.term();
    let st = seeder.wait(Duration::from_secs(15)).expect("torrent-get did not stop on SIGTERM");
    let log = std::fs::read_to_string(&seeder.log).unwrap();
    let events = parse_events(&log);
    let last = events.iter().rev().find(|e| e["event"] == "done" || e["event"] == "stopped").expect("final event");
    assert_eq!(last["status"], "done", "{}", seeder.log_text());
    let up = last["uploaded"].as_u64().unwrap();
    assert!(up >= p.meta.info.total_length, "torrent-get reports {up} bytes uploaded\n{}", seeder.log_text());
    assert_eq!(st.code(), Some(0), "stopping a complete seeder is not a failure\n{}", seeder.log_text());
}

#[test]
fn aria2_downloads_from_torrent_get() {
    require_tool("aria2c");
    let seed = tempfile::tempdir().unwrap();
    let leech = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions { interval: 2, min_interval: Some(1), ..Default::default() });
    let p = interop_payload(seed.path(), "to-aria2", &[&tracker.http_announce_url()], 54);
    let port = free_port();
    let tg = torrent_get_seeder(&p, port, logs.path());
    // The tracker hands torrent-get's address to aria2c.
    tracker.add_peer(&p.meta.info_hash, format!("127.0.0.1:{port}").parse().unwrap());
    let mut c = Command::new("aria2c");
    c.args(aria2_common(leech.path(), free_port()));
    c.args(["--seed-time=0", "--bt-stop-timeout=60"]).arg(&p.torrent_path);
    let mut aria = Proc::spawn("aria2c-leech", c, logs.path());
    let st = aria.wait(LIMIT).unwrap_or_else(|| panic!("aria2c did not finish\n{}\n{}", aria.log_text(), tg.log_text()));
    assert!(st.success(), "aria2c failed: {st:?}\n{}\n{}", aria.log_text(), tg.log_text());
    assert_same_tree(&seed.path().join("to-aria2"), &leech.path().join("to-aria2"));
    stop_seeder(tg, &p);
}

#[test]
fn libtorrent_downloads_from_torrent_get() {
    let seed = tempfile::tempdir().unwrap();
    let leech = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let p = interop_payload(seed.path(), "to-lt", &[], 55);
    let port = free_port();
    let tg = torrent_get_seeder(&p, port, logs.path());
    let mut c = Command::new(PY);
    c.arg(lt_script()).arg("leech").arg(&p.torrent_path).arg(leech.path());
    c.args(["--port", &free_port().to_string(), "--peer", &format!("127.0.0.1:{port}"), "--timeout", "60"]);
    let mut lt = Proc::spawn("libtorrent-leech", c, logs.path());
    let st = lt.wait(LIMIT).unwrap_or_else(|| panic!("libtorrent did not finish\n{}\n{}", lt.log_text(), tg.log_text()));
    assert!(st.success(), "libtorrent failed: {st:?}\n{}\n{}", lt.log_text(), tg.log_text());
    assert_same_tree(&seed.path().join("to-lt"), &leech.path().join("to-lt"));
    stop_seeder(tg, &p);
}

#[test]
fn two_torrent_get_halves_complete_each_other() {
    let seed = tempfile::tempdir().unwrap();
    // Two files, each a whole number of pieces: one file is one half.
    let plen = 32 * 1024;
    let p = make_payload(seed.path(), "halves", &[("h1.bin", 40 * plen), ("h2.bin", 30 * plen + 77)], plen, &[], 56).unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (dir, file) in [(a.path(), "h1.bin"), (b.path(), "h2.bin")] {
        std::fs::create_dir_all(dir.join("halves")).unwrap();
        std::fs::copy(seed.path().join("halves").join(file), dir.join("halves").join(file)).unwrap();
    }
    let (pa, pb) = (free_port(), free_port());
    let start = |dir: &Path, me: u16, other: u16| {
        let mut c = Command::new(bin());
        c.args(["--no-dht", "--json", "-q", "--timeout", "60", "--seed-time", "3"]);
        c.args(["--listen", &format!("127.0.0.1:{me}"), "--peer", &format!("127.0.0.1:{other}")]);
        c.arg("-o").arg(dir).arg(&p.torrent_path);
        Live::spawn(c)
    };
    let la = start(a.path(), pa, pb);
    let lb = start(b.path(), pb, pa);
    let ra = la.finish(LIMIT);
    let rb = lb.finish(LIMIT);
    for (r, name) in [(&ra, "A"), (&rb, "B")] {
        assert_eq!(r.code(), 0, "leecher {name}: {}", r.describe());
        let checked = r.last_event("checked");
        let have = checked["have_pieces"].as_u64().unwrap();
        assert!(have == 31 || have == 40, "leecher {name} did not start with its half: {checked}");
        let done = r.last_event("done");
        assert!(done["downloaded"].as_u64().unwrap() > 0, "{done}");
        assert!(done["uploaded"].as_u64().unwrap() > 0, "leecher {name} gave nothing: {done}");
    }
    assert_same_tree(&seed.path().join("halves"), &a.path().join("halves"));
    assert_same_tree(&seed.path().join("halves"), &b.path().join("halves"));
}

/// Every file of `expected` is present under `got` with the same bytes.
fn same_tree(expected: &Path, got: &Path) -> bool {
    list_files(expected)
        .iter()
        .all(|rel| std::fs::read(expected.join(rel)).ok() == std::fs::read(got.join(rel)).ok())
}

#[test]
fn transmission_downloads_from_torrent_get() {
    require_tool("transmission-cli");
    let seed = tempfile::tempdir().unwrap();
    let leech = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions { interval: 2, min_interval: Some(1), ..Default::default() });
    let p = interop_payload(seed.path(), "to-tr", &[&tracker.http_announce_url()], 57);
    let port = free_port();
    let tg = torrent_get_seeder(&p, port, logs.path());
    let tr_port = free_port();
    let settings = serde_json::json!({
        "bind-address-ipv4": "127.0.0.1",
        "bind-address-ipv6": "::1",
        "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
        "port-forwarding-enabled": false,
        "peer-port": tr_port, "peer-port-random-on-start": false,
        "rpc-enabled": false,
        "download-dir": leech.path().display().to_string(),
        "incomplete-dir-enabled": false, "rename-partial-files": false,
        "speed-limit-up-enabled": false, "speed-limit-down-enabled": false,
        "encryption": 0, "blocklist-enabled": false, "message-level": 2,
    });
    std::fs::write(state.path().join("settings.json"), settings.to_string()).unwrap();
    let mut c = Command::new("transmission-cli");
    c.arg("-g").arg(state.path()).args(["-p", &tr_port.to_string()]).arg("-w").arg(leech.path());
    c.args(["-et", "-M", "-D", "-U"]).arg(&p.torrent_path);
    c.env("HOME", state.path());
    let tr = Proc::spawn("transmission-leech", c, logs.path());
    // Both announce to the tracker; torrent-get (a seed) dials the leecher it
    // learns about, as transmission-cli waits to be called. transmission-cli
    // keeps running (seeding) after the download: poll the files.
    let end = std::time::Instant::now() + LIMIT;
    while !same_tree(&seed.path().join("to-tr"), &leech.path().join("to-tr")) {
        assert!(
            std::time::Instant::now() < end,
            "transmission-cli did not get the data from torrent-get\n{}\n{}",
            tr.log_text(),
            tg.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(tr);
    assert_same_tree(&seed.path().join("to-tr"), &leech.path().join("to-tr"));
    stop_seeder(tg, &p);
}
