//! What the integration tests of every tool share, so that no crate keeps
//! its own copy: free loopback ports, time-bounded runs of a binary, real
//! tools that must be present, directory-tree comparison, command lines and
//! configuration for real clients, and a tmux session to see a terminal as
//! a person does (`capture-pane`).
//!
//! Real tools: tests **fail** when a client they drive is missing
//! ([`require_tool`]); CI installs them (`.ci/run`). Only conditions a test
//! cannot arrange by itself (not root for a tmpfs mount) may skip, with
//! [`skip`], which prints why.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A TCP port free on 127.0.0.1 (bound to 0, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// A TCP port on 127.0.0.1 that refuses connections for as long as this
/// value lives: a socket bound to it (without `SO_REUSEADDR`) that never
/// listens. Unlike a port from [`free_port`], no parallel test can take
/// it, and a dial to it can never connect to itself (the kernel will not
/// pick a bound port as the dialing side's ephemeral port).
pub struct RefusingPort {
    fd: libc::c_int,
    port: u16,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        // SAFETY: plain socket calls on a descriptor this value owns; the
        // sockaddr structs are fully initialised and sized as passed.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let rc = libc::bind(fd, &sa as *const libc::sockaddr_in as *const libc::sockaddr, len);
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            let mut got: libc::sockaddr_in = std::mem::zeroed();
            let mut glen = len;
            let rc = libc::getsockname(fd, &mut got as *mut libc::sockaddr_in as *mut libc::sockaddr, &mut glen);
            assert_eq!(rc, 0, "getsockname: {}", std::io::Error::last_os_error());
            RefusingPort { fd, port: u16::from_be(got.sin_port) }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Default for RefusingPort {
    fn default() -> Self {
        RefusingPort::new()
    }
}

impl Drop for RefusingPort {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value and closed once.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// A UDP port free on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    s.local_addr().unwrap().port()
}

/// A port free for both TCP and UDP on 127.0.0.1 (trackers serve both).
pub fn free_tcp_udp_port() -> u16 {
    for _ in 0..50 {
        let p = free_port();
        if UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no port free for both TCP and UDP on 127.0.0.1");
}

/// What a finished process printed.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code; -1 when killed by a signal.
    pub code: i32,
    pub status: ExitStatus,
    pub stdout_bytes: Vec<u8>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Panics with both streams unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit code {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// As `Command::output` returns it.
    pub fn output(self) -> std::process::Output {
        std::process::Output {
            status: self.status,
            stdout: self.stdout_bytes,
            stderr: self.stderr.into_bytes(),
        }
    }

    /// stdout parsed as one JSON value (panics with both streams if not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr)
        })
    }
}

/// Run `cmd` to its end with stdin closed (or fed `stdin`), killing it and
/// panicking with what it printed if it takes longer than `limit`.
pub fn run_bounded(cmd: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> Run {
    let t0 = Instant::now();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let feeder = stdin.map(|data| {
        let data = data.to_vec();
        let mut w = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut w, &data);
        })
    });
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    };
    let out = reader(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err = reader(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let status = wait_until(&mut child, limit);
    let timed_out = status.is_none();
    if timed_out {
        let _ = child.kill();
    }
    let status = status.unwrap_or_else(|| child.wait().unwrap());
    let stdout_bytes = out.join().unwrap();
    let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let run = Run {
        code: status.code().unwrap_or(-1),
        status,
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stdout_bytes,
        stderr,
        elapsed: t0.elapsed(),
    };
    assert!(
        !timed_out,
        "{:?} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
        cmd.get_program(),
        run.stdout,
        run.stderr
    );
    run
}

/// Wait for `child` at most `limit`; None if it is still running.
pub fn wait_until(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait for child") {
            return Some(s);
        }
        if t0.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Poll `cond` every 50 ms until it holds; panics with `what` after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Panics (the test fails) when `tool` cannot be run: real clients are
/// part of the test setup, which `.ci/run` installs from `package`.
pub fn require_tool(tool: &str, package: &str) {
    if !tool_present(tool) {
        panic!("{tool} is not installed: apt-get install {package} (.ci/run installs it)");
    }
}

/// Panics (the test fails) unless `python` can import `module`, naming
/// the Debian `package` that provides it.
pub fn require_python_module(python: &str, module: &str, package: &str) {
    let o = Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .unwrap_or_else(|e| panic!("{python} cannot be run ({e}): apt-get install python3 {package}"));
    if !o.status.success() {
        panic!(
            "{python} cannot import {module} ({}): apt-get install {package} (.ci/run installs it)",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
}

/// Whether `tool` is on PATH (or is an existing path).
pub fn tool_present(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).exists();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// Print why a test does not run here and return true, when `cond` fails.
/// Only for what a test cannot arrange itself (root for a mount); a
/// missing real client is a failure, see [`require_tool`].
pub fn skip(cond: bool, reason: &str) -> bool {
    if !cond {
        eprintln!("skipped: {reason}");
    }
    !cond
}

/// A background process killed (and reaped) when dropped; its output goes
/// to a log file that [`Daemon::log`] reads for failure messages.
pub struct Daemon {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Start `cmd` with stdin closed and stdout+stderr into `log`.
    pub fn start(name: &str, mut cmd: Command, log: &Path) -> Daemon {
        let f = std::fs::File::create(log).expect("create log");
        cmd.stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({e}); see README for the packages"));
        Daemon {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until something accepts TCP connections on `addr`.
    pub fn wait_listening(&mut self, addr: SocketAddr, limit: Duration) {
        let t0 = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(s)) = self.child.try_wait() {
                panic!("{} exited ({s}) before listening on {addr}:\n{}", self.name, self.log());
            }
            assert!(
                t0.elapsed() < limit,
                "{} did not listen on {addr} within {limit:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file below `root`, relative path (with `/`) → contents. Symlinks
/// are listed with their target prefixed by `-> `; directories that hold
/// nothing are listed with a trailing `/`.
pub fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let e = e.unwrap();
            n += 1;
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(rel, format!("-> {}", t.display()).into_bytes());
            } else if ft.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
        if n == 0 && dir != root {
            let rel = dir.strip_prefix(root).unwrap().to_string_lossy();
            out.insert(format!("{rel}/"), Vec::new());
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The differences between two trees, one line each (empty when equal):
/// `only in A: x`, `only in B: y`, `differs: z (N vs M bytes, first at K)`.
pub fn tree_diff(a: &Path, b: &Path) -> Vec<String> {
    let (ta, tb) = (read_tree(a), read_tree(b));
    let mut d = Vec::new();
    for (k, va) in &ta {
        match tb.get(k) {
            None => d.push(format!("only in {}: {k}", a.display())),
            Some(vb) if vb != va => {
                let first = va.iter().zip(vb).position(|(x, y)| x != y).unwrap_or(va.len().min(vb.len()));
                d.push(format!("differs: {k} ({} vs {} bytes, first at {first})", va.len(), vb.len()));
            }
            Some(_) => {}
        }
    }
    for k in tb.keys().filter(|k| !ta.contains_key(*k)) {
        d.push(format!("only in {}: {k}", b.display()));
    }
    d
}

/// Panics listing the differences unless the trees are identical.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let d = tree_diff(a, b);
    assert!(d.is_empty(), "trees differ:\n{}", d.join("\n"));
}

/// Command lines and configuration for the real clients, loopback only,
/// no DHT/LPD/UPnP, so a test talks to nothing but what it started.
pub mod clients {
    use super::*;

    /// aria2c seeding `torrent` from `dir` on `port`, ending after `stop`
    /// seconds; the caller adds tracker/DHT options if needed.
    pub fn aria2c_seed(torrent: &Path, dir: &Path, port: u16, stop: u32) -> Command {
        let mut c = Command::new("aria2c");
        c.args([
            "--no-conf",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--disable-ipv6=true",
            "--interface=127.0.0.1",
            "--seed-ratio=0",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--auto-save-interval=0",
            "--check-integrity=true",
            "--bt-max-peers=0",
        ])
        .arg(format!("--listen-port={port}"))
        .arg(format!("--stop={stop}"))
        .arg("--dir")
        .arg(dir)
        .arg(torrent);
        c
    }

    /// Debian's opentracker on 127.0.0.1:`port` (TCP and UDP), serving the
    /// info-hashes in `whitelist` (Debian builds it with a whitelist). The
    /// files go in `dir`, which must outlive the process.
    pub fn opentracker(dir: &Path, port: u16, whitelist: &[String]) -> Command {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let wl = dir.join("whitelist");
        let list: String = whitelist.iter().map(|h| format!("{h}\n")).collect();
        std::fs::write(&wl, list).unwrap();
        std::fs::set_permissions(&wl, std::fs::Permissions::from_mode(0o644)).unwrap();
        let p = port.to_string();
        let mut c = Command::new("opentracker");
        // -d chroots (as root); the relative whitelist path works inside
        // the chroot and, without it, from the working directory.
        c.args(["-i", "127.0.0.1", "-p", &p, "-P", &p, "-A", "127.0.0.1", "-w", "whitelist"])
            .arg("-d")
            .arg(dir)
            .current_dir(dir);
        c
    }

    /// A transmission settings.json: peers on 127.0.0.1:`peer_port`, RPC
    /// on 127.0.0.1:`rpc_port` without authentication (None: RPC off), no
    /// DHT/LPD/PEX/uTP, port mapping, blocklist or watch dir; downloads
    /// into `download_dir`, added torrents start at once.
    pub fn transmission_settings(peer_port: u16, rpc_port: Option<u16>, download_dir: &Path) -> String {
        serde_json::json!({
            "bind-address-ipv4": "127.0.0.1",
            "bind-address-ipv6": "::1",
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "utp-enabled": false,
            "port-forwarding-enabled": false,
            "peer-port": peer_port,
            "peer-port-random-on-start": false,
            "rpc-enabled": rpc_port.is_some(),
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": rpc_port.unwrap_or(9091),
            "rpc-authentication-required": false,
            "rpc-host-whitelist-enabled": false,
            "rpc-whitelist": "127.0.0.1",
            "download-dir": download_dir.display().to_string(),
            "incomplete-dir-enabled": false,
            "ratio-limit-enabled": false,
            "idle-seeding-limit-enabled": false,
            "speed-limit-up-enabled": false,
            "blocklist-enabled": false,
            "start-added-torrents": true,
            "watch-dir-enabled": false,
            "message-level": 1,
        })
        .to_string()
    }

    /// Python with the libtorrent binding (Debian's python3-libtorrent):
    /// the system interpreter, not one a virtualenv put first on PATH.
    pub const PYTHON: &str = "/usr/bin/python3";
}

static TMUX_SEQ: AtomicU32 = AtomicU32::new(0);

/// A detached tmux server of its own (`tmux -L NAME`), one window of a
/// fixed size running one command: the test reads the screen as a person
/// would see it with [`Tmux::capture`]. Killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Start `command` (run by `sh -c`) in a `width`×`height` terminal
    /// with `TERM=term` and the extra `env`; the pane stays after the
    /// command exits, showing `[exit CODE]`, so its last screen can be read.
    pub fn start(command: &str, term: &str, env: &[(&str, &str)], width: u16, height: u16) -> Tmux {
        require_tool("tmux", "tmux");
        let socket = format!(
            "tt-{}-{}",
            std::process::id(),
            TMUX_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let t = Tmux { socket };
        let mut exports = format!("export TERM={}; ", shell_quote(term));
        for (k, v) in env {
            exports.push_str(&format!("export {k}={}; ", shell_quote(v)));
        }
        // The shell stays after the command so its last screen can be read
        // (the server is killed on drop).
        let script = format!("{exports}{command}; echo \"[exit $?]\"; exec sleep 3600");
        let o = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d", "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .args(["sh", "-c", &script])
            .env_remove("TMUX")
            .output()
            .expect("run tmux");
        assert!(o.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&o.stderr));
        t
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    /// The visible screen (plus scrollback), trailing blank lines dropped.
    pub fn capture(&self) -> String {
        let o = self.tmux(&["capture-pane", "-p", "-J", "-S", "-1000"]);
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        s.trim_end_matches('\n').to_string()
    }

    /// Wait until the screen contains `text`; returns the screen.
    pub fn wait_for_text(&self, text: &str, limit: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.capture();
            if s.contains(text) {
                return s;
            }
            assert!(t0.elapsed() < limit, "{text:?} not on the screen within {limit:?}:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait for the command to end; returns (exit code, final screen).
    pub fn wait_exit(&self, limit: Duration) -> (i32, String) {
        let s = self.wait_for_text("[exit ", limit);
        let code = s
            .rsplit("[exit ")
            .next()
            .and_then(|r| r.split(']').next())
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(-1);
        (code, s)
    }

    /// Send keys (tmux key names, e.g. `C-c`).
    pub fn send_keys(&self, keys: &str) {
        let _ = self.tmux(&["send-keys", keys]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// Quote for `sh`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Checks every tool's start-and-end conventions (cli-support): `completions
/// bash|zsh|fish` names the `subcommands`, `man` renders a page, `man --dir`
/// writes one per subcommand, and a bad flag is `error: ...` with exit 2.
pub fn check_conventions(bin: &str, name: &str, subcommands: &[&str]) {
    let t = Duration::from_secs(30);
    for shell in ["bash", "zsh", "fish"] {
        let r = run_bounded(Command::new(bin).args(["completions", shell]), None, t).expect_code(0);
        assert!(r.stdout.contains(name), "{shell}: {}", r.stdout);
        for s in subcommands {
            assert!(r.stdout.contains(s), "{shell} completion lacks {s}:\n{}", r.stdout);
        }
    }
    let r = run_bounded(Command::new(bin).args(["completions", "tcsh"]), None, t).expect_code(2);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    let r = run_bounded(Command::new(bin).arg("man"), None, t).expect_code(0);
    assert!(r.stdout.contains(&format!(".TH {name} 1")), "{}", r.stdout);
    assert!(r.stdout.contains("Exit codes") || r.stdout.contains("Exit status"), "{}", r.stdout);
    let dir = tempfile::tempdir().unwrap();
    run_bounded(Command::new(bin).arg("man").arg("--dir").arg(dir.path()), None, t).expect_code(0);
    assert!(dir.path().join(format!("{name}.1")).is_file());
    for s in subcommands {
        let p = dir.path().join(format!("{name}-{s}.1"));
        assert!(p.is_file(), "{} missing", p.display());
    }
    let r = run_bounded(Command::new(bin).arg("--no-such-flag"), None, t).expect_code(2);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    let r = run_bounded(Command::new(bin).arg("--help"), None, t).expect_code(0);
    assert!(r.stdout.contains("completions"), "--help does not mention completions:\n{}", r.stdout);
}

/// Runs `bin args` with its stdout a pipe closed after the first byte, as
/// `| head -c 1` does: the tool must exit 0, without a panic or a "broken
/// pipe" message; returns what it printed on stderr.
pub fn check_closed_stdout(bin: &str, args: &[&str]) -> String {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    let _ = stdout.read(&mut one);
    drop(stdout);
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = wait_until(&mut child, Duration::from_secs(60)).expect("tool ended");
    assert_eq!(status.code(), Some(0), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(!err.to_lowercase().contains("broken pipe"), "{args:?}: {err}");
    err
}

/// A one-shot-per-connection HTTP/1.1 file server on 127.0.0.1: `GET /P`
/// answers with `files[P]` (200) or 404; runs until dropped.
pub struct HttpFiles {
    pub addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpFiles {
    pub fn start(files: Vec<(String, Vec<u8>)>) -> HttpFiles {
        use std::io::Write;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                let (mut c, _) = match l.accept() {
                    Ok(c) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                let _ = c.set_nonblocking(false);
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = files.iter().find(|(p, _)| *p == path).map(|(_, b)| b.clone());
                let resp = match body {
                    Some(b) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/x-bittorrent\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&b);
                        r
                    }
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found".to_vec(),
                };
                let _ = c.write_all(&resp);
            }
        });
        HttpFiles {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for HttpFiles {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_bindable() {
        let p = free_tcp_udp_port();
        TcpListener::bind(("127.0.0.1", p)).unwrap();
        UdpSocket::bind(("127.0.0.1", free_udp_port())).unwrap();
    }

    #[test]
    fn bounded_runs_report_and_time_out() {
        let r = run_bounded(Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]), Some(b"in"), Duration::from_secs(10));
        assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (3, "in", "err\n"));
        let t0 = Instant::now();
        let res = std::panic::catch_unwind(|| {
            run_bounded(Command::new("sleep").arg("30"), None, Duration::from_millis(300))
        });
        assert!(res.is_err());
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn tree_comparison_names_each_difference() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for d in [a.path(), b.path()] {
            std::fs::create_dir_all(d.join("x/y")).unwrap();
            std::fs::write(d.join("x/same"), b"1").unwrap();
        }
        assert!(tree_diff(a.path(), b.path()).is_empty());
        std::fs::write(a.path().join("x/diff"), b"abc").unwrap();
        std::fs::write(b.path().join("x/diff"), b"abd").unwrap();
        std::fs::write(a.path().join("only-a"), b"").unwrap();
        std::fs::remove_dir(b.path().join("x/y")).unwrap();
        let d = tree_diff(a.path(), b.path());
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d.contains(&"differs: x/diff (3 vs 3 bytes, first at 2)".to_string()), "{d:?}");
        assert!(d.iter().any(|l| l.ends_with(": only-a")), "{d:?}");
        assert!(d.iter().any(|l| l.ends_with(": x/y/")), "{d:?}");
    }

    #[test]
    fn tool_presence() {
        assert!(tool_present("sh"));
        assert!(!tool_present("no-such-tool-anywhere"));
        assert!(skip(false, "test of skip"));
        assert!(!skip(true, "unused"));
    }

    #[test]
    fn tmux_shows_the_screen_also_with_term_dumb() {
        for term in ["xterm-256color", "dumb"] {
            let t = Tmux::start("printf 'hello\\n'; echo $TERM $X >&2", term, &[("X", "it's")], 80, 10);
            let (code, screen) = t.wait_exit(Duration::from_secs(10));
            assert_eq!(code, 0, "{screen}");
            assert!(screen.contains("hello"), "{screen}");
            assert!(screen.contains(&format!("{term} it's")), "{screen}");
        }
    }

    #[test]
    fn http_files_serves_and_404s() {
        let s = HttpFiles::start(vec![("/a.torrent".into(), b"d1:ai1ee".to_vec())]);
        let get = |p: &str| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            std::io::Write::write_all(&mut c, format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
            let mut r = String::new();
            c.read_to_string(&mut r).unwrap();
            r
        };
        assert!(get("/a.torrent").ends_with("d1:ai1ee"));
        assert!(get("/b").starts_with("HTTP/1.1 404"));
    }
}
