//! Interop with Debian's opentracker: HTTP and UDP announce and scrape.
//! Fails (does not skip) when opentracker is not installed.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use torrent_core::tracker::client::{self, Options};
use torrent_core::tracker::udp::RetryPolicy;
use torrent_core::tracker::{AnnounceRequest, ErrorKind, Event};
use torrent_core::InfoHash;

/// A port free for both TCP and UDP on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    for _ in 0..50 {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port");
}

struct OpenTracker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for OpenTracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OpenTracker {
    /// Debian's opentracker is built with a whitelist: only the listed
    /// info-hashes are served.
    fn start(whitelist: &[InfoHash]) -> OpenTracker {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let list: String = whitelist.iter().map(|h| format!("{}\n", h.to_hex())).collect();
        let wl = dir.path().join("whitelist");
        std::fs::write(&wl, list).unwrap();
        std::fs::set_permissions(&wl, std::fs::Permissions::from_mode(0o644)).unwrap();
        let port = free_port();
        let p = port.to_string();
        // -d chroots (as root); the relative whitelist path works inside the
        // chroot and, without it, from the working directory.
        let child = Command::new("opentracker")
            .args(["-i", "127.0.0.1", "-p", &p, "-P", &p, "-A", "127.0.0.1", "-w", "whitelist"])
            .arg("-d")
            .arg(dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("opentracker must be installed (apt-get install opentracker)");
        let t = OpenTracker {
            child,
            port,
            _dir: dir,
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "opentracker did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Let it finish reading the whitelist.
        std::thread::sleep(Duration::from_millis(300));
        t
    }

    fn http(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    fn udp(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }
}

fn opts() -> Options {
    Options {
        timeout: Duration::from_secs(5),
        udp_retry: RetryPolicy {
            base: Duration::from_millis(500),
            max_retries: 2,
        },
        ..Options::default()
    }
}

fn req(h: InfoHash, id: u8, port: u16, left: u64) -> AnnounceRequest {
    let mut peer_id = *b"-TK0001-opentracker0";
    peer_id[19] = id;
    AnnounceRequest {
        left,
        event: Event::Started,
        ..AnnounceRequest::new(h, peer_id, port)
    }
}

fn peer(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

#[test]
fn opentracker_http_and_udp() {
    let h = InfoHash([0xab; 20]);
    let other = InfoHash([0xcd; 20]);
    let ot = OpenTracker::start(&[h]);

    // HTTP: the second announce sees the first.
    let a = client::announce(&ot.http(), &req(h, 1, 6001, 0), &opts()).unwrap();
    assert!(a.interval > 0);
    let b = client::announce(&ot.http(), &req(h, 2, 6002, 1000), &opts()).unwrap();
    assert!(b.peers.contains(&peer(6001)), "{:?}", b.peers);
    assert_eq!(b.complete, Some(1));
    assert_eq!(b.incomplete, Some(1));

    // UDP: a third peer sees both.
    let c = client::announce(&ot.udp(), &req(h, 3, 6003, 1000), &opts()).unwrap();
    assert!(c.peers.contains(&peer(6001)), "{:?}", c.peers);
    assert!(c.peers.contains(&peer(6002)), "{:?}", c.peers);
    assert_eq!(c.complete, Some(1));
    assert_eq!(c.incomplete, Some(2));

    // Scrape over both protocols.
    for url in [ot.http(), ot.udp()] {
        let s = client::scrape(&url, &[h], &opts()).unwrap();
        let st = s.get(&h).unwrap_or_else(|| panic!("{url}: {s:?}"));
        assert_eq!((st.complete, st.incomplete), (1, 2), "{url}");
    }

    // Stopped: the peer leaves the swarm.
    let mut stop = req(h, 3, 6003, 1000);
    stop.event = Event::Stopped;
    client::announce(&ot.udp(), &stop, &opts()).unwrap();
    let s = client::scrape(&ot.http(), &[h], &opts()).unwrap();
    assert_eq!(s.get(&h).unwrap().incomplete, 1);

    // A torrent that is not whitelisted: the failure reason comes through.
    let e = client::announce(&ot.http(), &req(other, 4, 6004, 0), &opts()).unwrap_err();
    match &e.kind {
        ErrorKind::Failure(m) => assert!(m.contains("not authorized"), "{e}"),
        k => panic!("expected a failure reason, got {k:?}"),
    }

    // The CLI sees the peers too.
    let out = Command::new(env!("CARGO_BIN_EXE_tracker-query"))
        .args(["announce", &h.to_hex(), "--tracker", &ot.udp(), "--timeout", "5", "--port", "6009"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l == "127.0.0.1:6001"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "127.0.0.1:6002"), "{stdout}");
    let out = Command::new(env!("CARGO_BIN_EXE_tracker-query"))
        .args(["scrape", &h.to_hex(), "--tracker", &ot.http(), "--timeout", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("1 2 0 {}\n", ot.http())
    );
}
