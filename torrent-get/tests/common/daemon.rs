//! A running `torrent-get daemon` for the daemon tests, `remote` runs,
//! raw API requests and the test payload.

use super::*;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::harness::wait_for;
use test_fixtures::payload::{make_payload, Payload};
use torrent_get::control::client::Client;
use torrent_get::control::{TorrentDetail, TorrentStatus};

pub const LIMIT: Duration = Duration::from_secs(60);

pub fn payload(dir: &Path, name: &str, seed: u64) -> Payload {
    // ~3 MiB in 48 pieces of 64 KiB, piece and file boundaries apart.
    make_payload(dir, name, &[("first.bin", 2_000_003), ("sub/second.bin", 1_145_725)], 64 * 1024, &[], seed).unwrap()
}

/// A running daemon, killed when dropped; stderr in a log file.
pub struct Daemon {
    pub child: Child,
    pub state: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(state: &Path, out: &Path, args: &[&str]) -> Daemon {
        // A stale address (a killed daemon's) must not be read as ours.
        let _ = std::fs::remove_file(state.join("api"));
        std::fs::create_dir_all(state).unwrap();
        let log = state.with_extension(format!("log{}", std::process::id() ^ Instant::now().elapsed().subsec_nanos()));
        let f = File::create(&log).unwrap();
        let mut c = Command::new(bin());
        c.arg("daemon").arg("--state").arg(state).arg("-o").arg(out);
        c.args(["--listen", "127.0.0.1:0", "--no-dht", "--save-interval", "1"]);
        c.args(args);
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(f);
        let child = c.spawn().expect("start the daemon");
        let d = Daemon { child, state: state.to_path_buf(), log };
        wait_for(Duration::from_secs(20), "the daemon's API address", || state.join("api").exists());
        d
    }

    pub fn client(&self) -> Client {
        Client::from_state_dir(&self.state).unwrap()
    }

    pub fn endpoint(&self) -> (String, String) {
        torrent_get::control::read_endpoint(&self.state).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn list(&self) -> Vec<TorrentStatus> {
        self.client().list().unwrap_or_else(|e| panic!("list: {e:#}\n{}", self.log()))
    }

    pub fn detail(&self, hash: &str) -> TorrentDetail {
        self.client().detail(hash).unwrap_or_else(|e| panic!("detail: {e:#}\n{}", self.log()))
    }

    /// Wait until the torrent satisfies `pred`; its last status.
    pub fn wait_torrent(&self, hash: &str, limit: Duration, what: &str, pred: impl Fn(&TorrentStatus) -> bool) -> TorrentStatus {
        let deadline = Instant::now() + limit;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(t) = self.list().into_iter().find(|t| t.info_hash == hash) {
                if pred(&t) {
                    return t;
                }
                last = Some(t);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what}: not within {limit:?}; last status {last:?}\ndaemon log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

pub fn remote(state: &Path, args: &[&str]) -> Run {
    let mut c = Command::new(bin());
    c.arg("remote").arg("--state").arg(state).args(args);
    c.stdin(Stdio::null());
    run(c, LIMIT)
}

pub fn hex(p: &Payload) -> String {
    p.meta.info_hash.to_hex()
}

pub fn complete(t: &TorrentStatus) -> bool {
    t.state == "seeding" && t.progress >= 1.0
}

/// A raw HTTP request to the API; (status, body).
pub fn http(d: &Daemon, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> (u16, String) {
    let (addr, _) = d.endpoint();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into();
    let url = format!("http://{addr}{path}");
    let auth = token.map(|t| format!("Bearer {t}"));
    let r = match (method, body) {
        ("GET", _) => {
            let mut rq = agent.get(&url);
            if let Some(a) = &auth {
                rq = rq.header("Authorization", a);
            }
            rq.call()
        }
        (_, b) => {
            let mut rq = agent.post(&url).header("Content-Type", "application/json");
            if let Some(a) = &auth {
                rq = rq.header("Authorization", a);
            }
            rq.send(b.unwrap_or(b""))
        }
    };
    let mut resp = r.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (status, body)
}
