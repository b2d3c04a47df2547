//! `torrent-get top` against the real `torrent-get daemon` (loopback,
//! test-fixtures seeders), in tmux: a slow download's progress moves on the
//! screen, `p` pauses it in the daemon and `r` resumes it, and a torrent
//! stuck on pieces no peer has shows why, with the peer and the files in
//! the detail pane.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::harness::{run_bounded, shell_quote, wait_for, Tmux};
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};
use torrent_get::control::client::Client;
use torrent_get::control::TorrentStatus;

const LIMIT: Duration = Duration::from_secs(60);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_torrent-get")
}

/// The daemon on a fresh state directory, killed when dropped.
struct Daemon {
    child: Child,
    state: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(work: &Path, peers: &[String]) -> Daemon {
        let state = work.join("state");
        let log = work.join("daemon.log");
        let mut c = Command::new(bin());
        c.arg("daemon").arg("--state").arg(&state).arg("-o").arg(work.join("dl"));
        c.args(["--listen", "127.0.0.1:0", "--no-dht"]);
        for p in peers {
            c.args(["--peer", p]);
        }
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(File::create(&log).unwrap());
        let child = c.spawn().expect("start the daemon");
        wait_for(Duration::from_secs(20), "the daemon's API address", || state.join("api").exists());
        Daemon { child, state, log }
    }

    fn list(&self) -> Vec<TorrentStatus> {
        Client::from_state_dir(&self.state).and_then(|c| c.list()).unwrap_or_else(|e| panic!("list: {e:#}\n{}", self.log()))
    }

    fn get(&self, hash: &str) -> TorrentStatus {
        self.list().into_iter().find(|t| t.info_hash == hash).unwrap_or_else(|| panic!("{hash} not listed"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn add(&self, torrent: &Path) {
        let r = run_bounded(Command::new(bin()).arg("remote").arg("--state").arg(&self.state).arg("add").arg(torrent), None, LIMIT);
        assert_eq!(r.code, 0, "remote add: {}\n{}", r.stderr, self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn payload(dir: &Path, name: &str, seed: u64) -> Payload {
    // 3 MiB in 48 pieces of 64 KiB.
    make_payload(dir, name, &[("first.bin", 2_000_003), ("sub/second.bin", 1_145_725)], 64 * 1024, &[], seed).unwrap()
}

fn percent_of(screen: &str, name: &str) -> Option<f64> {
    let row = screen.lines().find(|l| l.contains(name) && l.contains('%'))?;
    row.split_whitespace().find(|w| w.ends_with('%'))?.trim_end_matches('%').parse().ok()
}

fn wait_screen(t: &Tmux, d: &Daemon, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    loop {
        let s = t.capture();
        if ok(&s) {
            return s;
        }
        assert!(t0.elapsed() < LIMIT, "{what}; the screen:\n{s}\ndaemon log:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn top_follows_the_real_daemon_pauses_resumes_and_says_why_a_torrent_is_stuck() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let slow = payload(seed.path(), "slowly", 21);
    let stuck = payload(seed.path(), "stuck", 22);
    // 128 KiB/s: about 25 s for the whole of `slowly`.
    let s1 = Seeder::start(&slow.meta, &slow.dir, SeederOptions::behaviour(Behaviour::Slow(128 * 1024))).unwrap();
    // Pieces 0-31 of 48 only: `stuck` stops at two thirds.
    let have: Vec<bool> = (0..stuck.meta.info.piece_count()).map(|i| i < 32).collect();
    let s2 = Seeder::start(&stuck.meta, &stuck.dir, SeederOptions { have: Some(have), ..Default::default() }).unwrap();
    let d = Daemon::start(work.path(), &[s1.addr().to_string(), s2.addr().to_string()]);
    d.add(&slow.torrent_path);
    d.add(&stuck.torrent_path);
    let (hs, hk) = (slow.meta.info_hash.to_hex(), stuck.meta.info_hash.to_hex());

    let cmd = format!("{} top --state {} --interval 0.3", shell_quote(bin()), shell_quote(&d.state.display().to_string()));
    let t = Tmux::start(&cmd, "xterm-256color", &[], 150, 45);
    let first = wait_screen(&t, &d, "slowly has no progress yet", |s| percent_of(s, "slowly").is_some_and(|p| p > 0.0));
    let p1 = percent_of(&first, "slowly").unwrap();
    assert!(p1 < 100.0, "{first}");
    wait_screen(&t, &d, "slowly's progress did not move", |s| percent_of(s, "slowly").is_some_and(|p| p > p1 && p < 100.0));

    // The torrent without a seeder for its last pieces: the table and the
    // line under it say why (the daemon's words), the detail names the peer.
    t.send_keys("j");
    let s = wait_screen(&t, &d, "stuck is not said to be stalled", |s| {
        s.lines().any(|l| l.contains("> stuck") && l.contains("stalled")) && s.contains("stuck at 66.6% is not finishing: ")
    });
    let why = d.get(&hk).stalled.expect("the daemon says it is stalled");
    assert!(s.contains(&why[..why.len().min(60)]), "{why:?} not on the screen:\n{s}");
    t.send_keys("Enter");
    let s = wait_screen(&t, &d, "the detail pane has no peer row", |s| s.contains(&s2.addr().to_string()));
    assert!(s.contains("Why it is not finishing at 66.6%:"), "{s}");
    assert!(s.contains("Peers (1)") && s.contains("tcp"), "{s}");
    // Its files, numbered as --select takes them: the first is in, the
    // second is not (the missing pieces are at its end).
    let s = wait_screen(&t, &d, "the detail pane has no files list", |s| s.contains("Files (2, 2 selected)"));
    let row = |name: &str| s.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("no {name} row:\n{s}")).to_string();
    let (first, second) = (row("first.bin"), row("sub/second.bin"));
    for (r, n) in [(&first, "1"), (&second, "2")] {
        assert!(r.split_whitespace().any(|w| w == n) && r.contains("yes"), "{r}");
    }
    assert!(first.contains("1.91 MiB") && first.contains("100.0%"), "{first}");
    assert!(!second.contains("100.0%") && second.contains("1.09 MiB"), "{second}");
    t.send_keys("Enter");

    // Pause the slow one from the keyboard: the daemon has it paused.
    t.send_keys("k");
    wait_screen(&t, &d, "slowly is not selected", |s| s.lines().any(|l| l.contains("> slowly")));
    t.send_keys("p");
    wait_screen(&t, &d, "the pause is not shown", |s| s.lines().any(|l| l.contains("> slowly") && l.contains("paused")));
    let paused = d.get(&hs);
    assert_eq!(paused.state, "paused", "{paused:?}");
    assert!(paused.progress < 1.0, "finished before the pause: the test proves nothing");
    std::thread::sleep(Duration::from_secs(1));
    let have = d.get(&hs).have_bytes;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.get(&hs).have_bytes, have, "a paused torrent kept downloading");

    t.send_keys("r");
    wait_for(Duration::from_secs(20), "slowly downloading again", || d.get(&hs).have_bytes > have);
    wait_screen(&t, &d, "the resume is not shown", |s| s.lines().any(|l| l.contains("> slowly") && l.contains("downloading")));
    t.send_keys("q");
    let (code, s) = t.wait_exit(LIMIT);
    assert_eq!(code, 0, "{s}");
}
