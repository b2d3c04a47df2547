//! Transports and encryption against python3-libtorrent (tests/lt_xport.py)
//! and between torrent-get processes, all on 127.0.0.1: MSE/PE with RC4 in
//! both directions, the plaintext fallback under `--encrypt prefer`, and
//! `--encrypt require` refusing plaintext peers. What libtorrent reports
//! about the connection (its peer flags) is asserted, not only the data.

mod common;

use common::*;
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::payload::{make_payload, Payload};

const PY: &str = "/usr/bin/python3";
const LIMIT: Duration = Duration::from_secs(60);

fn lt_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lt_xport.py")
}

/// A child killed when dropped; output in a log file.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut c: Command, logdir: &Path) -> Proc {
        let log = logdir.join(format!("{name}.log"));
        let f = File::create(&log).unwrap();
        c.stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f);
        let child = c.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { child, log }
    }
    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
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
    /// libtorrent's `PEER addr rc4=.. mse_plain=.. utp=..` lines.
    fn lt_peers(&self) -> Vec<String> {
        self.text().lines().filter(|l| l.starts_with("PEER ")).map(str::to_string).collect()
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

fn payload(dir: &Path, name: &str, seed: u64) -> Payload {
    make_payload(dir, name, &[("a.bin", 3_000_017), ("b/c.bin", 1_048_576), ("d", 1)], 64 * 1024, &[], seed).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn lt(mode: &str, p: &Payload, dir: &Path, port: u16, enc: &str, peer: Option<u16>, timeout: u32, logs: &Path) -> Proc {
    lt_over(mode, p, dir, port, enc, "tcp", peer, timeout, logs)
}

#[allow(clippy::too_many_arguments)]
fn lt_over(mode: &str, p: &Payload, dir: &Path, port: u16, enc: &str, transport: &str, peer: Option<u16>, timeout: u32, logs: &Path) -> Proc {
    let mut c = Command::new(PY);
    c.arg(lt_script()).arg(mode).arg(&p.torrent_path).arg(dir);
    c.args(["--port", &port.to_string(), "--enc", enc, "--transport", transport, "--timeout", &timeout.to_string()]);
    if let Some(q) = peer {
        c.args(["--peer", &format!("127.0.0.1:{q}")]);
    }
    Proc::spawn(&format!("lt-{mode}-{enc}"), c, logs)
}

fn tg_seeder(p: &Payload, port: u16, enc: &str, logs: &Path) -> Proc {
    tg_seeder_over(p, port, enc, "tcp", logs)
}

fn tg_seeder_over(p: &Payload, port: u16, enc: &str, transport: &str, logs: &Path) -> Proc {
    let mut c = Command::new(bin());
    c.args(["--seed-only", "--no-dht", "--json", "-v", "--timeout", "60", "--encrypt", enc, "--transport", transport]);
    c.args(["--listen", &format!("127.0.0.1:{port}")]);
    c.arg("-o").arg(&p.dir).arg(&p.torrent_path);
    let s = Proc::spawn(&format!("tg-seed-{enc}"), c, logs);
    assert!(wait_listening(port, Duration::from_secs(20)), "torrent-get not listening\n{}", s.text());
    // The UDP socket is bound before the TCP listener accepts.
    s
}

fn peer_events(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["event"] == "peer").collect()
}

fn download(p: &Payload, out: &Path, port: u16, enc: &str, secs: u64) -> Run {
    download_over(p, out, port, enc, "tcp", secs)
}

fn download_over(p: &Payload, out: &Path, port: u16, enc: &str, transport: &str, secs: u64) -> Run {
    let mut c = cmd_loud(secs);
    c.args(["--no-listen", "--json", "-v", "--encrypt", enc, "--transport", transport, "--peer", &format!("127.0.0.1:{port}")]);
    // Long enough (about 2 s) for libtorrent's 50 ms peer list poll to see
    // the connection after its handshake.
    c.args(["--max-download-rate", "2M"]);
    c.arg("-o").arg(out).arg(&p.torrent_path);
    run(c, LIMIT)
}

#[test]
fn libtorrent_forced_rc4_downloads_from_torrent_get() {
    let (seed, leech, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "enc-out", 71);
    let port = free_port();
    let tg = tg_seeder(&p, port, "prefer", logs.path());
    let mut l = lt("leech", &p, leech.path(), free_port(), "forced", Some(port), 45, logs.path());
    let st = l.wait(LIMIT).expect("libtorrent did not finish");
    assert!(st.success(), "libtorrent failed\n{}\n{}", l.text(), tg.text());
    assert_same_tree(&seed.path().join("enc-out"), &leech.path().join("enc-out"));
    let peers = l.lt_peers();
    assert!(!peers.is_empty() && peers.iter().all(|l| l.contains("rc4=1") && l.contains("utp=0")), "{peers:?}");
    let events = parse_events(&tg.text());
    let pe = peer_events(&events);
    assert!(pe.iter().any(|e| e["encryption"] == "rc4" && e["transport"] == "tcp" && e["outgoing"] == false), "{}", tg.text());
}

#[test]
fn torrent_get_requiring_rc4_downloads_from_libtorrent() {
    let (seed, out, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "enc-in", 72);
    let port = free_port();
    let s = lt("seed", &p, &p.dir, port, "forced", None, 50, logs.path());
    assert!(wait_listening(port, Duration::from_secs(20)), "libtorrent not listening\n{}", s.text());
    let r = download(&p, out.path(), port, "require", 40);
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), s.text());
    assert_same_tree(&seed.path().join("enc-in"), &out.path().join("enc-in"));
    let events = r.events();
    let pe = peer_events(&events);
    assert!(!pe.is_empty() && pe.iter().all(|e| e["encryption"] == "rc4" && e["outgoing"] == true), "{}", r.describe());
    std::thread::sleep(Duration::from_millis(300));
    let peers = s.lt_peers();
    assert!(!peers.is_empty() && peers.iter().all(|l| l.contains("rc4=1")), "{peers:?}\n{}", s.text());
}

#[test]
fn prefer_falls_back_to_plaintext_and_require_refuses_it() {
    let (seed, out, out2, logs) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "fallback", 73);
    let port = free_port();
    // A plaintext-only libtorrent: it drops MSE handshakes.
    let s = lt("seed", &p, &p.dir, port, "disabled", None, 50, logs.path());
    assert!(wait_listening(port, Duration::from_secs(20)), "libtorrent not listening\n{}", s.text());
    let r = download(&p, out.path(), port, "require", 6);
    assert_ne!(r.code(), 0, "require must not download from a plaintext peer\n{}", r.describe());
    assert!(peer_events(&r.events()).is_empty(), "{}", r.describe());
    assert!(r.stderr.contains("encryption handshake"), "{}", r.describe());
    assert!(!out.path().join("fallback/a.bin").exists() || bytes_on_disk(out.path()) < p.meta.info.total_length);

    let r = download(&p, out2.path(), port, "prefer", 40);
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), s.text());
    assert_same_tree(&seed.path().join("fallback"), &out2.path().join("fallback"));
    // First an MSE attempt that the peer dropped, then plaintext.
    assert!(r.stderr.contains("(tcp+rc4): closed (encryption handshake"), "{}", r.describe());
    let events = r.events();
    let pe = peer_events(&events);
    assert!(!pe.is_empty() && pe.iter().all(|e| e["encryption"] == "plain"), "{}", r.describe());
    std::thread::sleep(Duration::from_millis(300));
    let peers = s.lt_peers();
    assert!(!peers.is_empty() && peers.iter().all(|l| l.contains("rc4=0") && l.contains("mse_plain=0")), "{peers:?}");
}

#[test]
fn torrent_get_requiring_rc4_refuses_a_plaintext_libtorrent() {
    let (seed, leech, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "refuse", 74);
    let port = free_port();
    let tg = tg_seeder(&p, port, "require", logs.path());
    let mut l = lt("leech", &p, leech.path(), free_port(), "disabled", Some(port), 6, logs.path());
    let st = l.wait(Duration::from_secs(30)).expect("libtorrent did not stop");
    assert!(!st.success(), "a plaintext libtorrent downloaded from torrent-get --encrypt require\n{}", l.text());
    assert!(l.lt_peers().is_empty(), "{}", l.text());
    assert!(peer_events(&parse_events(&tg.text())).is_empty(), "{}", tg.text());
    assert!(tg.text().contains("dropped during the encryption handshake"), "{}", tg.text());
}

#[test]
fn two_torrent_gets_talk_rc4() {
    let (seed, out, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "tg-tg", 75);
    let port = free_port();
    let tg = tg_seeder(&p, port, "require", logs.path());
    let r = download(&p, out.path(), port, "prefer", 40);
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), tg.text());
    assert_same_tree(&seed.path().join("tg-tg"), &out.path().join("tg-tg"));
    let events = r.events();
    assert!(peer_events(&events).iter().all(|e| e["encryption"] == "rc4"), "{}", r.describe());
    assert!(!peer_events(&events).is_empty());
}

/// libtorrent with TCP off: it can only have reached us over uTP.
fn wait_lt_listening(s: &Proc) {
    wait_lt(s, "LISTENING");
}

/// Until libtorrent's log has `what` (its `LISTENING`, `READY` lines).
fn wait_lt(s: &Proc, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.text().contains(what) {
        assert!(Instant::now() < deadline, "libtorrent did not start\n{}", s.text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn utp_only_libtorrent_downloads_from_torrent_get() {
    let (seed, leech, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "utp-out", 81);
    let port = free_port();
    let tg = tg_seeder_over(&p, port, "prefer", "both", logs.path());
    let mut l = lt_over("leech", &p, leech.path(), free_port(), "disabled", "utp", Some(port), 45, logs.path());
    let st = l.wait(LIMIT).expect("libtorrent did not finish");
    assert!(st.success(), "libtorrent failed\n{}\n{}", l.text(), tg.text());
    assert_same_tree(&seed.path().join("utp-out"), &leech.path().join("utp-out"));
    let peers = l.lt_peers();
    assert!(!peers.is_empty() && peers.iter().all(|l| l.contains("utp=1") && l.contains("rc4=0")), "{peers:?}");
    let events = parse_events(&tg.text());
    assert!(peer_events(&events).iter().any(|e| e["transport"] == "utp" && e["encryption"] == "plain"), "{}", tg.text());
}

#[test]
fn torrent_get_downloads_from_utp_only_libtorrent_with_rc4() {
    let (seed, out, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "utp-in", 82);
    let port = free_port();
    let s = lt_over("seed", &p, &p.dir, port, "forced", "utp", None, 50, logs.path());
    wait_lt_listening(&s);
    let r = download_over(&p, out.path(), port, "require", "utp", 40);
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), s.text());
    assert_same_tree(&seed.path().join("utp-in"), &out.path().join("utp-in"));
    let events = r.events();
    let pe = peer_events(&events);
    assert!(!pe.is_empty() && pe.iter().all(|e| e["transport"] == "utp" && e["encryption"] == "rc4"), "{}", r.describe());
    std::thread::sleep(Duration::from_millis(300));
    let peers = s.lt_peers();
    assert!(!peers.is_empty() && peers.iter().all(|l| l.contains("utp=1") && l.contains("rc4=1")), "{peers:?}\n{}", s.text());
}

#[test]
fn both_falls_back_to_tcp_when_the_peer_has_no_utp() {
    let (seed, out, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "utp-fallback", 83);
    let port = free_port();
    let s = lt_over("seed", &p, &p.dir, port, "enabled", "tcp", None, 50, logs.path());
    assert!(wait_listening(port, Duration::from_secs(20)), "libtorrent not listening\n{}", s.text());
    // TCP now follows 250 ms after the uTP attempt, not 3 s: before its
    // torrent is started (about 0.5 s) libtorrent closes every connection,
    // and a closed MSE handshake makes the next attempts plaintext.
    wait_lt(&s, "READY");
    let r = download_over(&p, out.path(), port, "prefer", "both", 40);
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), s.text());
    assert_same_tree(&seed.path().join("utp-fallback"), &out.path().join("utp-fallback"));
    assert!(r.stderr.contains("(utp+rc4): closed"), "a uTP attempt first\n{}", r.describe());
    let events = r.events();
    let pe = peer_events(&events);
    assert!(!pe.is_empty() && pe.iter().all(|e| e["transport"] == "tcp" && e["encryption"] == "rc4"), "{}", r.describe());
}

#[test]
fn two_torrent_gets_over_utp_and_rc4() {
    let (seed, out, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "tg-utp", 84);
    let port = free_port();
    let tg = tg_seeder_over(&p, port, "require", "utp", logs.path());
    let r = download_over(&p, out.path(), port, "require", "utp", 40);
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), tg.text());
    assert_same_tree(&seed.path().join("tg-utp"), &out.path().join("tg-utp"));
    let events = r.events();
    assert!(!peer_events(&events).is_empty());
    assert!(peer_events(&events).iter().all(|e| e["encryption"] == "rc4" && e["transport"] == "utp"), "{}", r.describe());
}

/// Peers that break the encryption handshake: garbage instead of a key,
/// a stall after connecting. torrent-get drops them (bounded time) and
/// still serves a real peer meanwhile.
#[test]
fn broken_encryption_handshakes_are_dropped_and_others_go_on() {
    use std::io::{Read, Write};
    let (seed, out, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "hostile", 85);
    let port = free_port();
    let tg = tg_seeder(&p, port, "prefer", logs.path());
    // 2000 bytes that are neither a BitTorrent handshake nor a DH key
    // followed by a sync marker within the 512-byte padding limit.
    let mut garbage = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    garbage.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let junk: Vec<u8> = (0..2000u32).map(|i| (i * 7 + 3) as u8).collect();
    let _ = garbage.write_all(&junk);
    // A peer that connects and says nothing.
    let _silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let r = download(&p, out.path(), port, "require", 40);
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), tg.text());
    assert_same_tree(&seed.path().join("hostile"), &out.path().join("hostile"));
    // The garbage peer was cut off: EOF or reset, not a timeout.
    let mut buf = vec![0u8; 4096];
    let t0 = Instant::now();
    loop {
        match garbage.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => assert!(t0.elapsed() < Duration::from_secs(10), "still talking to the garbage peer"),
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(9), "garbage peer not dropped");
    assert!(tg.text().contains("dropped during the encryption handshake"), "{}", tg.text());
}

/// With no --transport, torrent-get dials uTP first (a uTP-only libtorrent
/// is reached) and a peer with no uTP socket (a closed UDP port answers
/// with ICMP) is reached over TCP without waiting for uTP timeouts;
/// --no-utp dials TCP only.
#[test]
fn utp_is_on_by_default_and_no_utp_turns_it_off() {
    let (seed, out, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "utp-default", 86);
    let port = free_port();
    let s = lt_over("seed", &p, &p.dir, port, "enabled", "utp", None, 50, logs.path());
    wait_lt_listening(&s);
    let mut c = cmd_loud(40);
    c.args(["--no-listen", "--json", "-v", "--peer", &format!("127.0.0.1:{port}")]);
    c.arg("-o").arg(out.path()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), s.text());
    assert_same_tree(&seed.path().join("utp-default"), &out.path().join("utp-default"));
    let events = r.events();
    let pe = peer_events(&events);
    assert!(!pe.is_empty() && pe.iter().all(|e| e["transport"] == "utp"), "{}", r.describe());
    drop(s);

    // A TCP-only torrent-get seeder (no UDP socket on its port).
    let out2 = tempfile::tempdir().unwrap();
    let port = free_port();
    let tg = tg_seeder_over(&p, port, "prefer", "tcp", logs.path());
    let started = Instant::now();
    let mut c = cmd_loud(40);
    c.args(["--no-listen", "--json", "-v", "--peer", &format!("127.0.0.1:{port}")]);
    c.arg("-o").arg(out2.path()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), tg.text());
    assert!(r.stderr.contains("uTP connect failed: Unreachable"), "the uTP attempt is refused by ICMP\n{}", r.describe());
    assert!(started.elapsed() < Duration::from_secs(10), "fallback took {:?}", started.elapsed());
    assert!(peer_events(&r.events()).iter().all(|e| e["transport"] == "tcp"), "{}", r.describe());

    // --no-utp: no uTP attempt at all.
    let out3 = tempfile::tempdir().unwrap();
    let mut c = cmd_loud(40);
    c.args(["--no-listen", "--json", "-v", "--no-utp", "--peer", &format!("127.0.0.1:{port}")]);
    c.arg("-o").arg(out3.path()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert!(!r.stderr.contains("(utp"), "a uTP attempt under --no-utp\n{}", r.describe());
}

/// Happy eyeballs (issue 14): a seeder listening on TCP whose UDP port is
/// a bound socket that drops every datagram (no uTP answer, no ICMP
/// error). torrent-get's default uTP dial gets 250 ms alone, then TCP is
/// dialled too and wins; the uTP attempt is closed as superseded long
/// before the 3 s uTP connect timeout that decided it before.
#[test]
fn a_silent_udp_port_costs_the_head_start_not_the_utp_timeout() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use test_fixtures::seeder::{Seeder, SeederOptions};
    let (seed, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = payload(seed.path(), "eyeballs", 87);
    let opts = SeederOptions { encryption: torrent_core::mse::Policy::Prefer, ..Default::default() };
    let s = Seeder::start(&p.meta, &p.dir, opts).unwrap();
    let port = s.addr().port();
    let udp = std::net::UdpSocket::bind(("127.0.0.1", port)).expect("the seeder's port is free on UDP");
    udp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let (stop, datagrams) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let sink = {
        let (stop, datagrams) = (stop.clone(), datagrams.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if udp.recv_from(&mut buf).is_ok() {
                    datagrams.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let started = Instant::now();
    let mut c = cmd_loud(40);
    c.args(["--json", "-v", "--peer", &format!("127.0.0.1:{port}")]);
    c.arg("-o").arg(out.path()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    sink.join().unwrap();
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&seed.path().join("eyeballs"), &out.path().join("eyeballs"));
    assert!(datagrams.load(Ordering::Relaxed) > 0, "a uTP attempt was made (its SYN reached the silent port)");
    assert!(r.stderr.contains("uTP not connected after 250 ms, dialling TCP too"), "{}", r.describe());
    // "peer A (utp+rc4): closed (superseded: ...) after 0.3s, 0 bytes in"
    let line = r.stderr.lines().find(|l| l.contains("(utp") && l.contains("closed (superseded")).unwrap_or_else(|| panic!("no superseded uTP attempt\n{}", r.describe()));
    let secs: f64 = line.split(" after ").nth(1).and_then(|t| t.split('s').next()).and_then(|t| t.parse().ok()).unwrap();
    assert!(secs < 2.0, "uTP was given up after {secs} s, the 3 s timeout's business\n{line}");
    let events = r.events();
    let pe = peer_events(&events);
    assert!(!pe.is_empty() && pe.iter().all(|e| e["transport"] == "tcp"), "{}", r.describe());
    assert!(!events.iter().any(|e| e["event"] == "peer_error"), "the superseded attempt is no error\n{}", r.describe());
    assert!(took < Duration::from_secs(3), "took {took:?}: as long as the uTP connect timeout");
}
