//! `torrent-get top` on a real terminal (tmux, read with capture-pane)
//! against a small stand-in of the control API in this file: a loopback
//! HTTP server answering the JSON of the contract (torrent_get::control,
//! written out here as the daemon sends it) with progress that moves on
//! every list, requiring the token, and recording every request so the
//! tests can check what a key sent.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use test_fixtures::harness::{run_bounded, shell_quote, Tmux};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "s3cret-token-for-the-test";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_torrent-get")
}

const ALPHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BETA: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

#[derive(Default)]
struct Shared {
    log: Vec<Recorded>,
    lists: u64,
    paused: HashSet<String>,
    removed: HashSet<String>,
}

/// The stand-in daemon.
struct FakeApi {
    addr: String,
    shared: Arc<Mutex<Shared>>,
}

impl FakeApi {
    fn start() -> FakeApi {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve(c, &s));
            }
        });
        FakeApi { addr, shared }
    }

    /// Write the address and token files `top` reads.
    fn write_state(&self, dir: &Path, token: &str) {
        std::fs::write(dir.join("token"), format!("{token}\n")).unwrap();
        std::fs::write(dir.join("api"), format!("{}\n", self.addr)).unwrap();
    }

    fn posts(&self) -> Vec<Recorded> {
        self.shared.lock().unwrap().log.iter().filter(|r| r.method == "POST").cloned().collect()
    }

    fn wait_post(&self, path: &str, screen: impl Fn() -> String) -> Recorded {
        let t0 = Instant::now();
        loop {
            if let Some(r) = self.posts().into_iter().find(|r| r.path == path) {
                return r;
            }
            assert!(t0.elapsed() < LIMIT, "no POST {path}; requests: {:?}\nscreen:\n{}", self.shared.lock().unwrap().log, screen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn status(hash: &str, name: &str, progress: f64, sh: &Shared) -> Value {
    let total: u64 = 700 << 20;
    let paused = sh.paused.contains(hash);
    let have = (total as f64 * progress) as u64;
    json!({
        "info_hash": hash, "name": name, "state": if paused { "paused" } else { "downloading" },
        "progress": progress, "total_bytes": total, "have_bytes": have, "downloaded": have, "uploaded": 1 << 20,
        "download_rate": if paused { 0 } else { 3 << 20 }, "upload_rate": if paused { 0 } else { 40 << 10 },
        "peers": if paused { 0 } else { 5 }, "connecting": 1, "known": 30,
        "eta_secs": if paused { Value::Null } else { json!(95) }, "ratio": 0.01,
        "save_dir": "/srv/downloads", "error": null, "stalled": null,
    })
}

/// alpha moves 1.3% per list (while not paused); beta sits at 99.9%,
/// stalled, with a diagnosis in its detail.
fn torrents(sh: &Shared) -> Vec<Value> {
    let n = sh.lists as f64;
    let mut v = Vec::new();
    if !sh.removed.contains(ALPHA) {
        v.push(status(ALPHA, "alpha.iso", (0.10 + 0.013 * n).min(0.95), sh));
    }
    if !sh.removed.contains(BETA) {
        let mut b = status(BETA, "beta.bin", 0.9991, sh);
        if !sh.paused.contains(BETA) {
            b["stalled"] = json!("2 pieces no connected peer has");
        }
        v.push(b);
    }
    v
}

/// `GET /v1/torrents/{hash}`: the list entry plus peers, trackers, files
/// and the diagnosis.
fn detail(mut t: Value) -> Value {
    let stalled = !t["stalled"].is_null();
    t["peers_detail"] = json!([{
        "addr": "127.0.0.1:51413", "client": "Transmission 4.0.5", "transport": "utp", "encrypted": true,
        "download_rate": 0, "upload_rate": 2048, "am_choking": false, "am_interested": true,
        "peer_choking": true, "peer_interested": true, "progress": 0.98,
    }]);
    t["trackers"] = json!([{"url": "http://127.0.0.1:9/announce", "status": "error", "error": "connection refused", "peers": null}]);
    t["files"] = json!([]);
    t["diagnosis"] = if stalled {
        json!(["2 pieces no connected peer has (pieces 17, 18)", "the 1 peer that has them chokes us"])
    } else {
        json!([])
    };
    t
}

fn reply(c: &mut TcpStream, code: u16, body: &str) {
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let _ = write!(
        c,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn serve(mut c: TcpStream, shared: &Mutex<Shared>) {
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let (mut len, mut authorization) = (0usize, None);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap_or(0),
            "authorization" => authorization = Some(v.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; len.min(1 << 20)];
    let _ = r.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut sh = shared.lock().unwrap();
    sh.log.push(Recorded { method: method.clone(), path: path.clone(), authorization: authorization.clone(), body });
    if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        drop(sh);
        return reply(&mut c, 401, r#"{"error":"missing or wrong token"}"#);
    }
    let segs: Vec<&str> = path.trim_start_matches("/v1/torrents").split('/').filter(|s| !s.is_empty()).collect();
    let answer = match (method.as_str(), segs.as_slice()) {
        ("GET", []) => {
            sh.lists += 1;
            Some(json!({ "torrents": torrents(&sh) }).to_string())
        }
        ("GET", [h]) => torrents(&sh).into_iter().find(|t| t["info_hash"] == *h).map(|t| detail(t).to_string()),
        ("POST", [h, what]) if [ALPHA, BETA].contains(h) => {
            let h = h.to_string();
            match *what {
                "pause" => {
                    sh.paused.insert(h.clone());
                }
                "resume" => {
                    sh.paused.remove(&h);
                }
                "remove" => {
                    let delete = sh.log.last().unwrap().body.contains("\"delete_data\":true");
                    sh.removed.insert(h.clone());
                    return reply(&mut c, 200, &format!(r#"{{"info_hash":"{h}","deleted_data":{delete}}}"#));
                }
                _ => {}
            }
            torrents(&sh).into_iter().find(|t| t["info_hash"] == h.as_str()).map(|t| t.to_string())
        }
        _ => None,
    };
    drop(sh);
    match answer {
        Some(b) => reply(&mut c, 200, &b),
        None => reply(&mut c, 404, r#"{"error":"no such torrent"}"#),
    }
}

fn top(state: &Path, term: &str, env: &[(&str, &str)]) -> Tmux {
    Tmux::start(&top_cmd(state), term, env, 150, 40)
}

/// `top` (its pid written to STATE/pid), then the terminal's modes as
/// `tty: icanon echo` (raw mode left on would print `-icanon -echo`), then
/// top's exit code for the harness's `[exit N]`.
fn top_cmd(state: &Path) -> String {
    let st = shell_quote(&state.display().to_string());
    let run = format!("echo $$ > {st}/pid; exec {} top --state {st} --interval 0.2", shell_quote(bin()));
    format!(
        "sh -c {}; c=$?; printf 'tty:'; stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' '; echo; (exit $c)",
        shell_quote(&run)
    )
}

/// The terminal was given back: off the alternate screen, out of raw mode.
fn assert_restored(screen: &str) {
    assert!(!screen.contains("torrent-get top |"), "the alternate screen was left:\n{screen}");
    assert!(screen.contains("tty:icanon echo"), "the terminal modes were restored:\n{screen}");
}

/// The progress shown on the row of `name`.
fn percent_of(screen: &str, name: &str) -> Option<f64> {
    let row = screen.lines().find(|l| l.contains(name))?;
    let pct = row.split_whitespace().find(|w| w.ends_with('%'))?;
    pct.trim_end_matches('%').parse().ok()
}

fn wait_screen(t: &Tmux, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    loop {
        let s = t.capture();
        if ok(&s) {
            return s;
        }
        assert!(t0.elapsed() < LIMIT, "{what}; the screen:\n{s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn shows_torrents_live_and_p_pauses_the_selected_one() {
    let api = FakeApi::start();
    let state = tempfile::tempdir().unwrap();
    api.write_state(state.path(), TOKEN);
    let t = top(state.path(), "xterm-256color", &[]);
    let first = t.wait_for_text("beta.bin", LIMIT);
    assert!(first.contains("alpha.iso"), "{first}");
    let p1 = percent_of(&first, "alpha.iso").unwrap_or_else(|| panic!("no percentage on the alpha row:\n{first}"));
    // The next captures show alpha's progress moving.
    let later = wait_screen(&t, "alpha's progress did not change", |s| percent_of(s, "alpha.iso").is_some_and(|p| p > p1));
    assert!(later.contains("700.00 MiB") && later.contains("3.00 MiB/s"), "{later}");
    assert_eq!(percent_of(&later, "beta.bin"), Some(99.9), "{later}");
    assert!(later.contains("stalled"), "{later}");

    // Select beta (j), see why it is stuck, pause it.
    t.send_keys("j");
    let s = wait_screen(&t, "beta is not selected", |s| s.lines().any(|l| l.contains("> beta.bin")));
    assert!(s.contains("beta.bin at 99.9% is not finishing: 2 pieces no connected peer has"), "{s}");
    assert!(api.posts().is_empty(), "{:?}", api.posts());
    t.send_keys("p");
    let post = api.wait_post(&format!("/v1/torrents/{BETA}/pause"), || t.capture());
    assert_eq!(post.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    let posts = api.posts();
    assert_eq!(posts.len(), 1, "one key, one request: {posts:?}");
    let s = wait_screen(&t, "the pause is not shown", |s| {
        s.contains("paused beta.bin (paused)") && s.lines().any(|l| l.contains("> beta.bin") && l.contains("paused"))
    });
    assert!(s.lines().any(|l| l.contains("alpha.iso") && l.contains("downloading")), "alpha is not paused:\n{s}");

    // The detail pane: peers, trackers, diagnosis (of alpha, which is fine).
    t.send_keys("k");
    t.send_keys("Enter");
    let s = t.wait_for_text("127.0.0.1:51413", LIMIT);
    for want in ["Transmission 4.0.5", "utp", "http://127.0.0.1:9/announce error: connection refused", "nothing is holding it back", "ICi-"] {
        assert!(s.contains(want), "{want}:\n{s}");
    }
    t.send_keys("q");
    let (code, s) = t.wait_exit(LIMIT);
    assert_eq!(code, 0, "{s}");
    assert_restored(&s);
}

#[test]
fn sigterm_gives_the_terminal_back() {
    let api = FakeApi::start();
    let state = tempfile::tempdir().unwrap();
    api.write_state(state.path(), TOKEN);
    let t = top(state.path(), "xterm-256color", &[]);
    t.wait_for_text("beta.bin", LIMIT);
    let pid: i32 = std::fs::read_to_string(state.path().join("pid")).unwrap().trim().parse().unwrap();
    // SAFETY: a signal to the process this test started (by its pid).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let (code, s) = t.wait_exit(LIMIT);
    assert_eq!(code, 0, "{s}");
    assert_restored(&s);
}

#[test]
fn the_detail_of_a_stalled_torrent_says_why() {
    let api = FakeApi::start();
    let state = tempfile::tempdir().unwrap();
    api.write_state(state.path(), TOKEN);
    let t = top(state.path(), "xterm-256color", &[]);
    t.wait_for_text("beta.bin", LIMIT);
    t.send_keys("G");
    t.send_keys("Tab");
    let s = t.wait_for_text("Why it is not finishing at 99.9%:", LIMIT);
    assert!(s.contains("! 2 pieces no connected peer has (pieces 17, 18)"), "{s}");
    assert!(s.contains("! the 1 peer that has them chokes us"), "{s}");
    assert!(s.contains(&format!("beta.bin ({BETA})")), "{s}");
    // Esc closes the pane, a second Esc quits.
    t.send_keys("Escape");
    wait_screen(&t, "the pane did not close", |s| !s.contains("Why it is not finishing"));
    t.send_keys("Escape");
    assert_eq!(t.wait_exit(LIMIT).0, 0);
}

#[test]
fn remove_asks_first_and_capital_d_deletes_the_data() {
    let api = FakeApi::start();
    let state = tempfile::tempdir().unwrap();
    api.write_state(state.path(), TOKEN);
    let t = top(state.path(), "xterm-256color", &[]);
    t.wait_for_text("beta.bin", LIMIT);
    t.send_keys("d");
    t.wait_for_text("Remove alpha.iso (the data stays)? (y/n)", LIMIT);
    t.send_keys("n");
    t.wait_for_text("kept alpha.iso", LIMIT);
    std::thread::sleep(Duration::from_millis(500));
    assert!(api.posts().is_empty(), "n sent something: {:?}", api.posts());
    t.send_keys("D");
    t.wait_for_text("Remove alpha.iso and DELETE its data? (y/n)", LIMIT);
    t.send_keys("y");
    let post = api.wait_post(&format!("/v1/torrents/{ALPHA}/remove"), || t.capture());
    assert_eq!(post.body, r#"{"delete_data":true}"#);
    let s = wait_screen(&t, "alpha is still listed", |s| {
        !s.lines().any(|l| l.contains("alpha.iso") && l.contains('%')) && s.contains("removed alpha.iso and deleted its data")
    });
    assert!(s.lines().any(|l| l.contains("> beta.bin")), "the selection moved to the next torrent:\n{s}");
    t.send_keys("C-c");
    assert_eq!(t.wait_exit(LIMIT).0, 0);
}

#[test]
fn no_daemon_is_reported_and_retried_until_one_comes() {
    let state = tempfile::tempdir().unwrap();
    let t = top(state.path(), "xterm-256color", &[]);
    let s = t.wait_for_text("error: no daemon address in", LIMIT);
    assert!(s.contains("retrying"), "{s}");
    // A daemon answering with another token: the refusal is shown.
    let api = FakeApi::start();
    api.write_state(state.path(), "not-the-token");
    t.wait_for_text("missing or wrong token (HTTP 401)", LIMIT);
    // The right token: the torrents appear, the error goes.
    api.write_state(state.path(), TOKEN);
    let s = wait_screen(&t, "the torrents did not appear", |s| s.contains("alpha.iso") && !s.contains("error:"));
    assert!(s.contains("beta.bin"), "{s}");
    t.send_keys("q");
    assert_eq!(t.wait_exit(LIMIT).0, 0);
}

#[test]
fn dumb_terminal_and_no_color_still_work() {
    let api = FakeApi::start();
    let state = tempfile::tempdir().unwrap();
    api.write_state(state.path(), TOKEN);
    for (term, env) in [("dumb", vec![]), ("xterm-256color", vec![("NO_COLOR", "1")])] {
        let t = top(state.path(), term, &env);
        let s = t.wait_for_text("beta.bin", LIMIT);
        assert!(s.contains("alpha.iso") && s.contains("%"), "{term}: {s}");
        if term == "dumb" {
            assert!(s.contains("+ Torrents"), "ASCII borders on a dumb terminal:\n{s}");
        }
        t.send_keys("q");
        assert_eq!(t.wait_exit(LIMIT).0, 0, "{term}");
    }
}

#[test]
fn refuses_when_stdout_is_not_a_terminal() {
    let state = tempfile::tempdir().unwrap();
    let r = run_bounded(Command::new(bin()).args(["top", "--state"]).arg(state.path()), None, LIMIT).expect_code(2);
    assert!(r.stderr.starts_with("error: torrent-get top draws on a terminal"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let r = run_bounded(Command::new(bin()).args(["top", "--help"]), None, LIMIT).expect_code(0);
    assert!(r.stdout.contains("Usage: torrent-get top") && r.stdout.contains("p pause"), "{}", r.stdout);
    let r = run_bounded(Command::new(bin()).args(["top", "--bogus"]), None, LIMIT).expect_code(2);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
}
