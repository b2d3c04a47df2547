//! Interop with Debian's opentracker: HTTP and UDP announce and scrape.
//! Fails (does not skip) when opentracker is not installed.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use test_fixtures::harness::{self, Daemon};
use torrent_core::tracker::client::{self, Options};
use torrent_core::tracker::udp::RetryPolicy;
use torrent_core::tracker::{AnnounceRequest, ErrorKind, Event};
use torrent_core::InfoHash;

struct OpenTracker {
    _daemon: Daemon,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OpenTracker {
    /// Debian's opentracker is built with a whitelist: only the listed
    /// info-hashes are served.
    fn start(whitelist: &[InfoHash]) -> OpenTracker {
        harness::require_tool("opentracker", "opentracker");
        let dir = tempfile::tempdir().unwrap();
        let port = harness::free_tcp_udp_port();
        let list: Vec<String> = whitelist.iter().map(|h| h.to_hex()).collect();
        let logs = tempfile::tempdir().unwrap();
        let cmd = harness::clients::opentracker(dir.path(), port, &list);
        let mut d = Daemon::start("opentracker", cmd, &logs.path().join("opentracker.log"));
        d.wait_listening(([127, 0, 0, 1], port).into(), Duration::from_secs(10));
        // Let it finish reading the whitelist.
        std::thread::sleep(Duration::from_millis(300));
        OpenTracker {
            _daemon: d,
            port,
            _dir: dir,
        }
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
    // The announce above was a query: opentracker did not keep port 6009.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("1 1 0 {}\n", ot.http())
    );
    // A torrent opentracker does not know scrapes as zeros (HTTP and UDP).
    for url in [ot.http(), ot.udp()] {
        let out = Command::new(env!("CARGO_BIN_EXE_tracker-query"))
            .args(["scrape", &other.to_hex(), "--tracker", &url, "--timeout", "5"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("0 0 0 {url}\n"));
    }
}
