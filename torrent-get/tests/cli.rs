//! torrent-get's command line and what a person sees: the shared start and
//! end conventions (cli-support), sources through torrent_core::load,
//! --select numbered as torrent-info numbers files, environment defaults,
//! --seed-only pointed at the wrong directory, -q, status lines without a
//! terminal, and the terminal itself (tmux capture-pane, TERM=dumb too).

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use test_fixtures::harness::{self, check_conventions, run_bounded, shell_quote, HttpFiles, Run, Tmux};
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};

const LIMIT: Duration = Duration::from_secs(60);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_torrent-get")
}

/// torrent-get on loopback, no DHT, bounded by --timeout.
fn tg(timeout: u64) -> Command {
    let mut c = Command::new(bin());
    c.args(["--no-listen", "--no-dht", "--timeout", &timeout.to_string()]);
    c.env_remove("TORRENT_GET_OUTPUT");
    c
}

fn run(c: &mut Command) -> Run {
    run_bounded(c, None, LIMIT)
}

fn small(dir: &Path) -> Payload {
    make_payload(dir, "multi", &[("a.bin", 70_000), ("sub/b.bin", 50_000), ("c.iso", 30_000)], 16 * 1024, &[], 7).unwrap()
}

#[test]
fn conventions_help_completions_man() {
    // daemon, remote and top are dispatched before clap: their completions
    // and man pages come from the same `completions`/`man`.
    check_conventions(bin(), "torrent-get", &["daemon", "remote", "top"]);
    let dir = tempfile::tempdir().unwrap();
    run_bounded(Command::new(bin()).arg("man").arg("--dir").arg(dir.path()), None, LIMIT).expect_code(0);
    let page = |name: &str| std::fs::read_to_string(dir.path().join(format!("torrent-get-{name}.1"))).unwrap_or_else(|e| panic!("{name}: {e}"));
    for sub in ["add", "list", "show", "pause", "resume", "remove", "select", "limits", "watch"] {
        let p = page(&format!("remote-{sub}"));
        assert!(p.contains(&format!(".TH torrent-get-remote-{sub} 1")), "{sub}:\n{p}");
    }
    for (name, text) in [("daemon", "seed\\-ratio"), ("daemon", "\\-\\-on\\-done"), ("remote-limits", "seed\\-time"), ("top", "\\-\\-interval")] {
        assert!(page(name).contains(text), "torrent-get-{name}.1 lacks {text}:\n{}", page(name));
    }
    // The main page names them.
    let r = run_bounded(Command::new(bin()).arg("man"), None, LIMIT).expect_code(0);
    for name in ["torrent\\-get\\-daemon(1)", "torrent\\-get\\-remote(1)", "torrent\\-get\\-top(1)"] {
        assert!(r.stdout.contains(name), "{name}:\n{}", r.stdout);
    }
    // No argument: the help, as the other tools do.
    let r = run_bounded(&mut Command::new(bin()), None, LIMIT);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("Usage: torrent-get"), "{}", r.stderr);
    let r = run_bounded(Command::new(bin()).arg("--help"), None, LIMIT).expect_code(0);
    for text in ["Exit codes:", "  3  a torrent failed", "TORRENT_GET_OUTPUT", "MiB", "completions bash|zsh|fish"] {
        assert!(r.stdout.contains(text), "--help lacks {text:?}:\n{}", r.stdout);
    }
}

#[test]
fn almost_an_info_hash_and_errors_use_the_shared_prefix() {
    let r = run(tg(1).arg("0123456789abcdef0123456789abcdef0123456")).expect_code(2);
    assert_eq!(
        r.stderr.trim(),
        "error: 0123456789abcdef0123456789abcdef0123456: not a file, and not an info-hash: 39 hex digits (an info-hash has 40 hex or 32 base32 characters)"
    );
    let r = run(tg(1).args(["--peer", "no-such-host.invalid:6881", "x"])).expect_code(2);
    assert!(r.stderr.starts_with("error: ") && r.stderr.contains("cannot resolve"), "{}", r.stderr);
    let r = run(tg(1).args(["--max-download-rate", "fast", "x"])).expect_code(2);
    assert!(r.stderr.contains("500K = 500 KiB"), "{}", r.stderr);
}

/// An http:// URL of a .torrent, a peer given by host name, -o from the
/// environment, --select by glob (numbers as torrent-info prints them).
#[test]
fn url_source_host_name_peer_env_output_and_glob_select() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = small(seed.path());
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let http = HttpFiles::start(vec![("/multi.torrent".into(), p.torrent_bytes.clone())]);
    let r = run(tg(30)
        .args(["--json", "--select", "*.iso", "--peer", &format!("localhost:{}", s.addr().port())])
        .arg(http.url("/multi.torrent"))
        .env("TORRENT_GET_OUTPUT", out.path()))
    .expect_code(0);
    assert_eq!(std::fs::read(out.path().join("multi/c.iso")).unwrap(), std::fs::read(seed.path().join("multi/c.iso")).unwrap());
    // Files are in path order: a.bin (pieces 0-4), c.iso (4-6), sub/b.bin
    // (6-9). Only a.bin's part of piece 4 may be there, nothing before it.
    let a = std::fs::read(out.path().join("multi/a.bin")).unwrap_or_default();
    assert!(a.iter().take(4 * 16384).all(|&b| b == 0), "a file that was not selected was written: {}", r.stderr);
    // By name, and by number as torrent-info lists them (3 is sub/b.bin).
    let out2 = tempfile::tempdir().unwrap();
    run(tg(30).args(["--select", "3", "--peer", &s.addr().to_string(), "-o"]).arg(out2.path()).arg(&p.torrent_path))
        .expect_code(0);
    assert_eq!(std::fs::read(out2.path().join("multi/sub/b.bin")).unwrap(), std::fs::read(seed.path().join("multi/sub/b.bin")).unwrap());
    let out2 = tempfile::tempdir().unwrap();
    run(tg(30).args(["--select", "b.bin", "--peer", &s.addr().to_string(), "-o"]).arg(out2.path()).arg(&p.torrent_path))
        .expect_code(0);
    assert!(out2.path().join("multi/sub/b.bin").is_file());
    let r = run(tg(1).args(["--select", "*.txt", "-o"]).arg(out2.path()).arg(&p.torrent_path)).expect_code(2);
    assert!(r.stderr.starts_with("error: --select: "), "{}", r.stderr);
    // A 404 names the URL and the status.
    let r = run(tg(1).arg(http.url("/none.torrent"))).expect_code(2);
    assert!(r.stderr.contains("/none.torrent: HTTP status 404"), "{}", r.stderr);
}

#[test]
fn the_same_torrent_twice_runs_once() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = small(seed.path());
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let hex = p.meta.info_hash.to_hex();
    let r = run(tg(30).args(["--peer", &s.addr().to_string(), "-o"]).arg(out.path()).arg(&p.torrent_path).arg(&p.torrent_path))
        .expect_code(0);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(r.stderr.contains(&format!("info-hash {hex} was given before; downloading it once")), "{}", r.stderr);
}

#[test]
fn seed_only_pointed_at_the_content_folder() {
    let seed = tempfile::tempdir().unwrap();
    let p = small(seed.path());
    let content = seed.path().join("multi");
    let before = harness::read_tree(seed.path());
    let r = run(tg(5).arg("--seed-only").arg("-o").arg(&content).arg(&p.torrent_path)).expect_code(2);
    let want = format!(
        "error: --seed-only: no data found under {}; did you mean -o {}?",
        content.join("multi").display(),
        seed.path().display()
    );
    assert_eq!(r.stderr.trim(), want);
    assert_eq!(harness::read_tree(seed.path()), before, "the user's data was changed");
    assert!(!content.join(".torrent-get").exists());
}

#[test]
fn quiet_prints_only_the_result_line() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = small(seed.path());
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let r = run(tg(30).args(["-q", "--peer", &s.addr().to_string(), "-o"]).arg(out.path()).arg(&p.torrent_path)).expect_code(0);
    assert_eq!(r.stderr, "", "-q printed more than errors");
    assert_eq!(r.stdout.trim(), format!("{}\tdone\t{}", p.meta.info_hash.to_hex(), out.path().join("multi").display()));
    // An error still gets through.
    let r = run(tg(1).args(["-q", "nope.torrent"])).expect_code(2);
    assert!(r.stderr.starts_with("error: nope.torrent"), "{}", r.stderr);
}

/// Without a terminal: a status line every --status-interval seconds, and
/// the summary in binary units.
#[test]
fn status_lines_without_a_terminal() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = small(seed.path());
    let opts = SeederOptions { behaviour: Behaviour::Slow(40_000), ..SeederOptions::default() };
    let s = Seeder::start(&p.meta, &p.dir, opts).unwrap();
    let r = run(tg(3).args(["--status-interval", "1", "--peer", &s.addr().to_string(), "-o"]).arg(out.path()).arg(&p.torrent_path))
        .expect_code(1);
    let status: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("multi: ") && l.contains(" down, ")).collect();
    assert!(status.len() >= 2, "{}", r.stderr);
    assert!(status[0].contains(" of 146.48 KiB ("), "{}", status[0]);
    assert!(r.stderr.contains("time limit reached"), "{}", r.stderr);
    let summary = r.stderr.lines().find(|l| l.starts_with("multi: incomplete, ")).expect("summary");
    assert!(summary.contains("KiB of 146.48 KiB") && !summary.contains("MB/s"), "{summary}");
}

fn tmux_cmd(args: &str) -> String {
    format!("{} {args}", shell_quote(bin()))
}

/// On a terminal, a stopped download's bar keeps what was done (never jumps
/// to 100%), and the result line and summary stay on the screen.
#[test]
fn terminal_bar_keeps_progress_on_timeout() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = small(seed.path());
    let opts = SeederOptions { behaviour: Behaviour::Slow(30_000), ..SeederOptions::default() };
    let s = Seeder::start(&p.meta, &p.dir, opts).unwrap();
    let args = format!(
        "--no-listen --no-dht --timeout 3 --peer {} -o {} {}",
        s.addr(),
        shell_quote(&out.path().display().to_string()),
        shell_quote(&p.torrent_path.display().to_string())
    );
    let t = Tmux::start(&tmux_cmd(&args), "xterm-256color", &[], 160, 30);
    let (code, screen) = t.wait_exit(LIMIT);
    assert_eq!(code, 1, "{screen}");
    assert!(!screen.contains("146.48 KiB/146.48 KiB"), "the bar claims it is complete:\n{screen}");
    let bar = screen.lines().find(|l| l.contains("/146.48 KiB")).unwrap_or_else(|| panic!("no bar left:\n{screen}"));
    assert!(bar.contains("KiB/146.48 KiB") || bar.contains(" B/146.48 KiB"), "{bar}");
    assert!(screen.contains("time limit reached"), "{screen}");
    assert!(screen.contains(&format!("{}\tincomplete", p.meta.info_hash.to_hex())) || screen.contains(&p.meta.info_hash.to_hex()), "{screen}");
    assert!(screen.contains("multi: incomplete, "), "{screen}");
}

/// TERM=dumb on a terminal: no bars, but every message still reaches the
/// screen (indicatif would hide them).
#[test]
fn dumb_terminal_still_shows_messages() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = small(seed.path());
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let args = format!(
        "--no-listen --no-dht --timeout 30 --peer {} -o {} {}",
        s.addr(),
        shell_quote(&out.path().display().to_string()),
        shell_quote(&p.torrent_path.display().to_string())
    );
    let t = Tmux::start(&tmux_cmd(&args), "dumb", &[], 160, 30);
    let (code, screen) = t.wait_exit(LIMIT);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("multi: complete"), "{screen}");
    assert!(screen.contains("multi: done, 146.48 KiB of 146.48 KiB"), "{screen}");
    assert!(screen.contains(&format!("{}\tdone", p.meta.info_hash.to_hex())) || screen.contains(&p.meta.info_hash.to_hex()), "{screen}");
}

/// The demo says what it builds and removes its temporary payload at the
/// end (kept with --keep).
#[test]
fn demo_cleans_up_after_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(Command::new(bin()).args(["--demo", "--demo-size", "1M", "--no-dht", "--timeout", "40"]).env("TMPDIR", tmp.path()))
        .expect_code(0);
    assert!(r.stderr.contains("demo: payload of 1.00 MiB written and hashed in"), "{}", r.stderr);
    assert!(r.stderr.contains("demo: removed "), "{}", r.stderr);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the demo left files in TMPDIR");
    let r = run(Command::new(bin()).args(["--demo", "--keep", "--demo-size", "1M", "--timeout", "40"]).env("TMPDIR", tmp.path()))
        .expect_code(0);
    assert!(r.stderr.contains("kept in"), "{}", r.stderr);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

/// A refused --peer and a tracker that does not answer: each said once on
/// stderr (without -v), and `peer_error` / `tracker_error` JSON events.
#[test]
fn failing_peer_and_tracker_are_reported() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let refusing = harness::RefusingPort::new();
    let dead = refusing.port();
    let refusing_tracker = harness::RefusingPort::new();
    let tracker = format!("http://127.0.0.1:{}/announce", refusing_tracker.port());
    let p = make_payload(seed.path(), "lonely", &[("a.bin", 40_000)], 16 * 1024, &[&tracker], 3).unwrap();
    let r = run(tg(4).args(["--json", "--peer", &format!("127.0.0.1:{dead}"), "-o"]).arg(out.path()).arg(&p.torrent_path))
        .expect_code(1);
    let said: Vec<&str> = r.stderr.lines().filter(|l| l.contains(&format!("peer 127.0.0.1:{dead}: "))).collect();
    assert_eq!(said.len(), 1, "{}", r.stderr);
    assert!(said[0].starts_with("lonely: peer ") && said[0].ends_with("(will retry)"), "{}", said[0]);
    let tr: Vec<&str> = r.stderr.lines().filter(|l| l.contains("(retrying in 5 s, then at most every 60 s)")).collect();
    assert_eq!(tr.len(), 1, "{}", r.stderr);
    let events: Vec<serde_json::Value> = r.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let pe = events.iter().find(|e| e["event"] == "peer_error").unwrap_or_else(|| panic!("{}", r.stdout));
    assert_eq!(pe["peer"], format!("127.0.0.1:{dead}"));
    assert_eq!(pe["info_hash"], p.meta.info_hash.to_hex());
    assert!(pe["error"].as_str().unwrap().len() > 3, "{pe}");
    // The progress says what is known and what is being tried.
    let prog = events.iter().rfind(|e| e["event"] == "progress").unwrap_or_else(|| panic!("{}", r.stdout));
    assert_eq!(prog["known"], 1, "{prog}");
    assert_eq!(prog["peers"], 0, "{prog}");
    assert!(prog["connecting"].is_u64(), "{prog}");
    let te = events.iter().find(|e| e["event"] == "tracker_error").unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(te["error"].as_str().unwrap().contains("127.0.0.1"), "{te}");
}

/// A tracker that refuses the first announce, then answers (the only way
/// to the seeder): its failure is said once, the retry comes after 5 s,
/// and its recovery is said once ("working again"); the download completes.
#[test]
fn a_tracker_that_recovers_is_said_to_work_again() {
    use test_fixtures::tracker::{Mode, Tracker, TrackerOptions};
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions::default());
    tracker.set_mode(Mode::FailFirst(1));
    let url = tracker.http_announce_url();
    let p = make_payload(seed.path(), "flaky", &[("", 100_000)], 16 * 1024, &[&url], 5).unwrap();
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    tracker.add_peer(&p.meta.info_hash, s.addr());
    let started = std::time::Instant::now();
    let r = run(tg(40).arg("-o").arg(out.path()).arg(&p.torrent_path)).expect_code(0);
    let took = started.elapsed();
    let lines: Vec<&str> = r.stderr.lines().collect();
    let failed: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains("(retrying in 5 s, then at most every 60 s)")).collect();
    let again: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(&format!("tracker {url}: working again"))).collect();
    assert_eq!(failed.len(), 1, "the failure is said once:\n{}", r.stderr);
    assert!(lines[failed[0]].contains("down for now"), "the tracker's reason is given: {}", lines[failed[0]]);
    assert_eq!(again.len(), 1, "the recovery is said once:\n{}", r.stderr);
    assert!(failed[0] < again[0], "{}", r.stderr);
    assert_eq!(lines[again[0]], format!("flaky: tracker {url}: working again (1 peers)"));
    assert_eq!(std::fs::read(out.path().join("flaky")).unwrap(), std::fs::read(p.dir.join("flaky")).unwrap());
    assert!(tracker.http_announces() >= 2, "{} announces", tracker.http_announces());
    // The second announce came after the 5 s back-off, not after a minute.
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(30), "took {took:?}");
}

/// Files of the torrent's names already in the download directory, not
/// from an earlier run of ours (no resume file): one with other data is
/// named once with what the download does to it, one longer than in the
/// torrent too; an empty (all zeros) one and one with the right bytes are
/// not. Every piece is checked and the download ends with the torrent's
/// bytes. A second run there (its resume file now exists) says nothing.
#[test]
fn unrelated_existing_files_are_named_before_they_are_overwritten() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = small(seed.path());
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let dl = out.path().join("multi");
    std::fs::create_dir_all(dl.join("sub")).unwrap();
    // a.bin: someone else's file of that name (70,000 bytes of text).
    let other: Vec<u8> = b"not this torrent's data\n".iter().copied().cycle().take(70_000).collect();
    std::fs::write(dl.join("a.bin"), &other).unwrap();
    // sub/b.bin: the right bytes; c.iso: zeros, and longer than the torrent's 30,000.
    std::fs::copy(p.dir.join("multi/sub/b.bin"), dl.join("sub/b.bin")).unwrap();
    std::fs::write(dl.join("c.iso"), vec![0u8; 30_100]).unwrap();
    let r = run(tg(30).args(["--json", "--peer", &s.addr().to_string(), "-o"]).arg(out.path()).arg(&p.torrent_path)).expect_code(0);
    let warned: Vec<&str> = r.stderr.lines().filter(|l| l.contains("warning:")).collect();
    let a = dl.join("a.bin").display().to_string();
    let c = dl.join("c.iso").display().to_string();
    assert_eq!(warned.len(), 2, "{}", r.stderr);
    assert_eq!(
        warned[0],
        format!("multi: warning: {a} already exists with other data (5 of its 5 pieces are neither this torrent's nor empty): the download overwrites them")
    );
    assert_eq!(warned[1], format!("multi: warning: {c} already exists with other data: it is 100 bytes longer than in the torrent; those bytes stay"));
    let ev: Vec<serde_json::Value> = r.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).filter(|e: &serde_json::Value| e["event"] == "existing_data").collect();
    assert_eq!(ev.len(), 2, "{}", r.stdout);
    assert_eq!(ev[0]["file"], a.as_str());
    assert_eq!(ev[0]["other_pieces"], 5);
    assert_eq!(std::fs::read(dl.join("a.bin")).unwrap(), std::fs::read(p.dir.join("multi/a.bin")).unwrap());
    assert_eq!(std::fs::read(dl.join("sub/b.bin")).unwrap(), std::fs::read(p.dir.join("multi/sub/b.bin")).unwrap());
    // Again, with --recheck (every piece hashed once more): ours now.
    let r = run(tg(30).args(["--recheck", "--peer", &s.addr().to_string(), "-o"]).arg(out.path()).arg(&p.torrent_path)).expect_code(0);
    assert!(!r.stderr.contains("warning:"), "{}", r.stderr);
}

/// --seed-only from a read-only directory (a read-only bind mount, which
/// binds root too): the data is seeded, the resume data goes to the cache.
#[test]
fn seed_only_from_a_read_only_directory() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let ro = work.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let p = small(&src);
    let ok = |c: &mut Command| c.output().map(|o| o.status.success()).unwrap_or(false);
    let mounted = ok(Command::new("mount").arg("--bind").arg(&src).arg(&ro))
        && ok(Command::new("mount").args(["-o", "remount,ro,bind"]).arg(&ro));
    // skip(cond): skips when the condition for running does not hold.
    if harness::skip(mounted, "cannot make a read-only bind mount (needs CAP_SYS_ADMIN)") {
        let _ = Command::new("umount").arg(&ro).status();
        return;
    }
    struct Umount(std::path::PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Umount(ro.clone());
    assert!(std::fs::write(ro.join("probe"), b"").is_err(), "the mount is writable");
    let cache = work.path().join("cache");
    let port = harness::free_port();
    let mut seeder = Command::new(bin());
    seeder.args(["--no-dht", "--seed-only", "--timeout", "30", "--listen", &format!("127.0.0.1:{port}"), "-o"]).arg(&ro).arg(&p.torrent_path);
    seeder.env("XDG_CACHE_HOME", &cache).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let mut child = seeder.spawn().unwrap();
    harness::wait_for(Duration::from_secs(20), "the seeder listening", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let out = tempfile::tempdir().unwrap();
    run(tg(30).args(["--peer", &format!("127.0.0.1:{port}"), "-o"]).arg(out.path()).arg(&p.torrent_path)).expect_code(0);
    // Ctrl-C: the seeder saves its state and ends.
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    harness::wait_until(&mut child, Duration::from_secs(20)).expect("the seeder ended on SIGINT");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    harness::assert_same_tree(&src.join("multi"), &out.path().join("multi"));
    assert!(err.contains("is not writable: resume data kept in"), "{err}");
    assert!(cache.join("torrent-get/resume").join(format!("{}.resume", p.meta.info_hash.to_hex())).is_file(), "{err}");
}

/// Two runs on the same torrent and directory: the second is refused
/// (they would share the resume file); other directories are fine.
#[test]
fn a_second_run_on_the_same_torrent_and_directory_is_refused() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = small(seed.path());
    let mut first = tg(20);
    first.arg("-o").arg(out.path()).arg(&p.torrent_path);
    first.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = first.spawn().unwrap();
    let lock = out.path().join(format!(".torrent-get/{}.lock", p.meta.info_hash.to_hex()));
    harness::wait_for(Duration::from_secs(10), "the first run's lock", || lock.exists());
    std::thread::sleep(Duration::from_millis(200));
    let r = run(tg(2).arg("-o").arg(out.path()).arg(&p.torrent_path)).expect_code(2);
    assert_eq!(
        r.stderr.trim(),
        format!("error: multi: another torrent-get is already working on this torrent here (lock {})", lock.display())
    );
    let other = tempfile::tempdir().unwrap();
    run(tg(1).arg("-o").arg(other.path()).arg(&p.torrent_path)).expect_code(1);
    let _ = child.kill();
    let _ = child.wait();
    // Once the first is gone, the lock is free again.
    run(tg(1).arg("-o").arg(out.path()).arg(&p.torrent_path)).expect_code(1);
}

/// Two torrents on a terminal: both result lines and both summaries stay on
/// the screen (printed through the bars' suspend, bars ended first), and a
/// complete torrent's bar is full.
#[test]
fn terminal_two_torrents_keep_their_result_lines() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p1 = small(seed.path());
    let p2 = make_payload(seed.path(), "second", &[("x.bin", 90_000)], 16 * 1024, &[], 9).unwrap();
    let s1 = Seeder::start(&p1.meta, &p1.dir, SeederOptions::default()).unwrap();
    let s2 = Seeder::start(&p2.meta, &p2.dir, SeederOptions::default()).unwrap();
    let args = format!(
        "--no-listen --no-dht --timeout 30 --peer {} --peer {} -o {} {} {}",
        s1.addr(),
        s2.addr(),
        shell_quote(&out.path().display().to_string()),
        shell_quote(&p1.torrent_path.display().to_string()),
        shell_quote(&p2.torrent_path.display().to_string())
    );
    let t = Tmux::start(&tmux_cmd(&args), "xterm-256color", &[], 200, 40);
    let (code, screen) = t.wait_exit(LIMIT);
    assert_eq!(code, 0, "{screen}");
    for (p, size) in [(&p1, "146.48 KiB"), (&p2, "87.89 KiB")] {
        let hex = p.meta.info_hash.to_hex();
        assert!(screen.lines().any(|l| l.starts_with(&hex) && l.contains("done")), "no result line for {hex}:\n{screen}");
        let name = &p.meta.info.name;
        assert!(screen.contains(&format!("{name}: done, {size} of {size}")), "{screen}");
    }
    assert!(screen.contains("146.48 KiB/146.48 KiB"), "{screen}");
    // Nothing is drawn after the summaries: the last lines are the summary
    // of the second torrent and the shell's exit line.
    let last: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).rev().take(2).collect();
    assert!(last[1].starts_with("second: done, "), "{screen}");
}

/// A magnet link takes --select by number (mapped to files once the
/// metadata is in); names and globs are refused with the reason.
#[test]
fn magnet_select_by_number() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = small(seed.path());
    let opts = SeederOptions { serve_metadata: true, extended: true, ..SeederOptions::default() };
    let s = Seeder::start(&p.meta, &p.dir, opts).unwrap();
    let magnet = format!("magnet:?xt=urn:btih:{}", p.meta.info_hash.to_hex());
    // Files in path order: 1 a.bin, 2 c.iso, 3 sub/b.bin (pieces 6-9).
    let r = run(tg(30).args(["--json", "--select", "3", "--peer", &s.addr().to_string(), "-o"]).arg(out.path()).arg(&magnet))
        .expect_code(0);
    assert_eq!(std::fs::read(out.path().join("multi/sub/b.bin")).unwrap(), std::fs::read(seed.path().join("multi/sub/b.bin")).unwrap());
    let done: serde_json::Value = r.stdout.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).rfind(|e| e["event"] == "done").unwrap();
    assert_eq!(done["total_bytes"], 150_000 - 6 * 16384, "{done}");
    let r = run(tg(1).args(["--select", "*.iso", "--peer", &s.addr().to_string()]).arg(&magnet)).expect_code(2);
    assert!(r.stderr.contains("with a magnet link, files are chosen by number"), "{}", r.stderr);
}
