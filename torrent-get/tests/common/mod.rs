//! Helpers shared by the torrent-get integration tests: run the binary with a
//! hard time bound, read its `--json` events, compare trees byte for byte.
#![allow(dead_code)]

pub mod daemon;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_torrent-get")
}

/// A torrent-get command with the options every test wants: loopback
/// listener on a free port, quiet, bounded time.
pub fn cmd(timeout_secs: u64) -> Command {
    let mut c = cmd_loud(timeout_secs);
    c.arg("-q");
    c
}

/// As [`cmd`] without `-q`: messages and warnings on stderr.
pub fn cmd_loud(timeout_secs: u64) -> Command {
    let mut c = Command::new(bin());
    // --no-dht: tests never contact the public DHT routers (loopback only).
    c.args(["--listen", "127.0.0.1:0", "--no-dht", "--timeout", &timeout_secs.to_string()]);
    c.stdin(Stdio::null());
    c
}

pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// The JSON events on stdout (lines that parse as objects).
    pub fn events(&self) -> Vec<Value> {
        parse_events(&self.stdout)
    }

    /// The last event named `name`.
    pub fn last_event(&self, name: &str) -> Value {
        self.events()
            .into_iter()
            .rev()
            .find(|e| e["event"] == name)
            .unwrap_or_else(|| panic!("no {name:?} event in stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    pub fn describe(&self) -> String {
        format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", self.status, self.stdout, self.stderr)
    }
}

pub fn parse_events(s: &str) -> Vec<Value> {
    s.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.is_object())
        .collect()
}

/// Run to completion, killing the process if it outlives `limit` (a test
/// must never hang even if the program's own --timeout is broken).
pub fn run(mut c: Command, limit: Duration) -> Run {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().expect("spawn torrent-get");
    wait_bounded(child, limit)
}

pub fn wait_bounded(mut child: Child, limit: Duration) -> Run {
    let out = child.stdout.take().map(spawn_reader);
    let err = child.stderr.take().map(spawn_reader);
    let Some(status) = test_fixtures::harness::wait_until(&mut child, limit) else {
        let _ = child.kill();
        let st = child.wait().expect("wait");
        let stderr = err.map(|h| h.join().unwrap()).unwrap_or_default();
        panic!("torrent-get still running after {limit:?}: killed ({st:?})\nstderr:\n{stderr}");
    };
    Run {
        status,
        stdout: out.map(|h| h.join().unwrap()).unwrap_or_default(),
        stderr: err.map(|h| h.join().unwrap()).unwrap_or_default(),
    }
}

fn spawn_reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// A running torrent-get whose stdout lines are read by a thread and handed
/// over a channel (for tests that act while it runs).
pub struct Live {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Live {
    pub fn spawn(mut c: Command) -> Live {
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn torrent-get");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().map(spawn_reader);
        Live { child, lines: rx, seen: Vec::new(), stderr: Some(stderr.unwrap()) }
    }

    /// Wait (at most `limit`) for a JSON event satisfying `pred`.
    pub fn wait_event(&mut self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if pred(&v) {
                            return Some(v);
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => return None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Wait for exit (bounded), collecting the rest of stdout.
    pub fn finish(mut self, limit: Duration) -> Run {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("torrent-get still running after {limit:?}: killed; stdout so far:\n{}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        Run {
            status,
            stdout: self.seen.join("\n"),
            stderr: self.stderr.take().map(|h| h.join().unwrap()).unwrap_or_default(),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Every regular file under `root`, relative, sorted (the `.torrent-get`
/// state directory excluded).
pub fn list_files(root: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_name() == ".torrent-get" {
                continue;
            }
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    if root.is_file() {
        return vec![PathBuf::new()];
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Assert that `got` (file or directory) holds exactly the files of
/// `expected`, byte for byte.
pub fn assert_same_tree(expected: &Path, got: &Path) {
    let want = list_files(expected);
    let have = list_files(got);
    assert_eq!(want, have, "file lists differ: {} vs {}", expected.display(), got.display());
    for rel in &want {
        let (a, b) = (expected.join(rel), got.join(rel));
        let (da, db) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(da.len(), db.len(), "{}: size differs", b.display());
        if let Some(pos) = da.iter().zip(&db).position(|(x, y)| x != y) {
            panic!("{}: first difference at byte {pos}", b.display());
        }
    }
}

#[allow(unused_imports)]
pub use test_fixtures::harness::free_port;

/// Wait until something listens on 127.0.0.1:port.
pub fn wait_listening(port: u16, limit: Duration) -> bool {
    let mut ok = false;
    let t0 = Instant::now();
    while !ok && t0.elapsed() < limit {
        ok = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok();
        if !ok {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    ok
}

/// Sum of the sizes of the regular files under `root`.
pub fn bytes_on_disk(root: &Path) -> u64 {
    list_files(root)
        .iter()
        .filter_map(|r| std::fs::metadata(root.join(r)).ok())
        .map(|m| m.len())
        .sum()
}
