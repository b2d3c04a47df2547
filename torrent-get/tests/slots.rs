//! Connection slots and memory under hostile connections (issue 18), end to
//! end: torrent-get seeders and leechers on loopback against
//! `test_fixtures::hostile_conns`. Each test asserts that an honest download
//! completes in bounded time meanwhile, and the peak RSS (VmHWM) where the
//! attack is about memory.

mod common;

use common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::harness::{free_port, wait_for};
use test_fixtures::hostile_conns::{HostileConns, Mode};
use test_fixtures::payload::{make_payload, Payload};

/// The target of issue 18: 2,000 hostile connections cost less than this.
const MAX_RSS_KB: u64 = 64 * 1024;

/// Raise this process's open-file limit (the attackers' sockets; children
/// inherit it) to at least `n`, as far as the hard limit allows.
fn raise_nofile(n: u64) -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain syscalls on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok())
}

/// The peak RSS (VmHWM) of a process, sampled until it exits or `stop`.
struct PeakSampler {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl PeakSampler {
    fn start(pid: u32) -> PeakSampler {
        use std::sync::atomic::Ordering;
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (pk, st) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Some(kb) = status_kb(pid, "VmHWM:") else { break };
                pk.fetch_max(kb, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        PeakSampler { peak, stop }
    }

    fn kb(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// torrent-get with the test defaults, listening on `port` (0: any).
fn tg(port: u16, timeout: u64) -> Command {
    let mut c = Command::new(bin());
    c.args(["--no-dht", "-q", "--timeout", &timeout.to_string(), "--listen", &format!("127.0.0.1:{port}")]);
    c.stdin(Stdio::null());
    c
}

fn seeder(p: &Payload, port: u16, extra: &[&str]) -> Live {
    let mut c = tg(port, 150);
    c.arg("--seed-only").args(extra).arg("-o").arg(&p.dir).arg(&p.torrent_path);
    let s = Live::spawn(c);
    assert!(wait_listening(port, Duration::from_secs(20)), "the seeder listens on {port}");
    s
}

fn payload(dir: &Path, name: &str) -> Payload {
    make_payload(dir, name, &[("", 4 * 1024 * 1024)], 64 * 1024, &[], 18).unwrap()
}

/// The download in `out` is the payload, byte for byte (a single file).
fn same_data(p: &Payload, out: &Path) {
    let want = std::fs::read(p.dir.join(&p.meta.info.name)).unwrap();
    let got = std::fs::read(out.join(&p.meta.info.name)).unwrap_or_default();
    assert!(got == want, "the downloaded file differs ({} of {} bytes)", got.len(), want.len());
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// An honest leecher of `p` from the peer at `port`: done, in how long.
fn honest_leecher(p: &Payload, port: u16, limit: Duration) -> Duration {
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut c = tg(0, limit.as_secs());
    c.arg("--peer").arg(addr(port).to_string()).arg("-o").arg(out.path()).arg(&p.torrent_path);
    let r = run(c, limit + Duration::from_secs(20));
    assert_eq!(r.code(), 0, "the honest leecher completes: {}", r.describe());
    same_data(p, out.path());
    started.elapsed()
}

/// 1,000 connections that send one byte of a handshake and 1,000 that
/// handshake and then idle (keep-alives every 3 minutes): the seeder stays under 64 MiB and within its descriptor budget,
/// and an honest leecher downloads meanwhile.
#[test]
fn two_thousand_hostile_connections_cost_under_64_mib() {
    let nofile = raise_nofile(8192);
    assert!(nofile >= 4200, "needs an open-file limit of 4,200 (ulimit -n is {nofile})");
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path(), "slots2000");
    let port = free_port();
    let mut s = seeder(&p, port, &[]);
    let pid = s.child.id();
    let base = status_kb(pid, "VmRSS:").unwrap();
    let sampler = PeakSampler::start(pid);
    let one_byte = HostileConns::start(addr(port), Mode::OneByte, 1000, 4, false);
    let idle = HostileConns::start(addr(port), Mode::Idle { info_hash: p.meta.info_hash.0, keepalive: Duration::from_secs(180) }, 1000, 4, false);
    wait_for(Duration::from_secs(60), "2,000 hostile connections made", || one_byte.connected() + idle.connected() >= 2000);
    let mut max_fds = 0;
    let took = std::thread::scope(|sc| {
        let leecher = sc.spawn(|| honest_leecher(&p, port, Duration::from_secs(60)));
        while !leecher.is_finished() {
            max_fds = max_fds.max(open_fds(pid));
            std::thread::sleep(Duration::from_millis(100));
        }
        leecher.join().unwrap()
    });
    let peak = status_kb(pid, "VmHWM:").unwrap().max(sampler.kb());
    let (made, shed) = (one_byte.connected() + idle.connected(), one_byte.closed_by_peer() + idle.closed_by_peer());
    one_byte.stop();
    idle.stop();
    assert!(s.child.try_wait().unwrap().is_none(), "the seeder is still running");
    eprintln!(
        "seeder under 2,000 hostile connections: peak RSS {peak} KiB (at start {base} KiB), at most {max_fds} descriptors, \
         {made} connections made, {shed} closed by the seeder; honest leecher done in {:.1} s",
        took.as_secs_f64()
    );
    assert!(peak < MAX_RSS_KB, "peak RSS {peak} KiB");
    assert!(shed > 1000, "the seeder sheds connections past its limits ({shed})");
    assert!(max_fds < 400, "pre-handshake connections are bounded ({max_fds} descriptors)");
}

/// Before the metadata is known (a magnet), 200 peers send a 256 KiB
/// bitfield and a million haves each, 200 more a 2 MiB bitfield: the
/// leecher stays under 64 MiB and completes once the seeder appears.
#[test]
fn early_floods_before_metadata_cost_under_64_mib() {
    raise_nofile(4096);
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path(), "slotsflood");
    let (lport, sport) = (free_port(), free_port());
    let out = tempfile::tempdir().unwrap();
    let magnet = format!("magnet:?xt=urn:btih:{}", p.meta.info_hash);
    let mut c = tg(lport, 120);
    c.arg("--peer").arg(addr(sport).to_string()).arg("-o").arg(out.path()).arg(&magnet);
    let leecher = Live::spawn(c);
    let peak = PeakSampler::start(leecher.child.id());
    assert!(wait_listening(lport, Duration::from_secs(20)));
    let ih = p.meta.info_hash.0;
    let haves = HostileConns::start(addr(lport), Mode::EarlyFlood { info_hash: ih, bitfield_bytes: 256 * 1024, haves: 1_000_000 }, 200, 8, false);
    let long = HostileConns::start(addr(lport), Mode::EarlyFlood { info_hash: ih, bitfield_bytes: 2 * 1024 * 1024 - 8, haves: 1000 }, 200, 4, false);
    wait_for(Duration::from_secs(90), "the floods written or refused", || {
        haves.connected() + haves.stats.connect_failed.load(std::sync::atomic::Ordering::Relaxed) >= 200
            && long.connected() + long.stats.connect_failed.load(std::sync::atomic::Ordering::Relaxed) >= 200
            && (haves.open() + haves.closed_by_peer() >= haves.connected())
            && (long.open() + long.closed_by_peer() >= long.connected())
    });
    let (shed_haves, shed_long) = (haves.closed_by_peer(), long.closed_by_peer());
    let flood_peak = peak.kb();
    let started = Instant::now();
    let _s = seeder(&p, sport, &[]);
    let r = leecher.finish(Duration::from_secs(120));
    let took = started.elapsed();
    assert_eq!(r.code(), 0, "{}", r.describe());
    same_data(&p, out.path());
    haves.stop();
    long.stop();
    eprintln!(
        "magnet leecher under 400 early floods: peak RSS {flood_peak} KiB after the floods, {} KiB in all; \
         {shed_haves} + {shed_long} flooding connections closed; done {:.1} s after the seeder appeared",
        peak.kb(),
        took.as_secs_f64()
    );
    assert!(peak.kb() < MAX_RSS_KB, "peak RSS {} KiB", peak.kb());
    assert!(shed_long >= 190, "2 MiB bitfields before the metadata end the connection ({shed_long} of 200)");
}

/// 50 connections that handshake and then idle take a seeder's 50 slots:
/// at most 40 are let in (10 stay for dialling), and an honest leecher
/// gets the slot of one once it has been idle for 20 s.
#[test]
fn fifty_idle_peers_do_not_hold_a_seeders_slots() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path(), "slotsidle");
    let port = free_port();
    let _s = seeder(&p, port, &["--max-peers", "50"]);
    let idle = HostileConns::start(addr(port), Mode::Idle { info_hash: p.meta.info_hash.0, keepalive: Duration::from_secs(180) }, 50, 1, false);
    wait_for(Duration::from_secs(20), "50 idle peers connected, 10 refused", || idle.connected() == 50 && idle.closed_by_peer() >= 10);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(idle.open(), 40, "incoming peers hold at most 40 of 50 slots");
    let took = honest_leecher(&p, port, Duration::from_secs(60));
    assert!(idle.closed_by_peer() > 10, "an idle peer was evicted for the leecher");
    eprintln!("honest leecher done in {:.1} s among 40 idle peers", took.as_secs_f64());
}

/// The same 50 against a listening leecher do not stop it dialling the
/// seeder it was told about (which comes up after them).
#[test]
fn fifty_idle_peers_do_not_stop_a_leecher_dialling() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path(), "slotsdial");
    let (lport, sport) = (free_port(), free_port());
    let out = tempfile::tempdir().unwrap();
    let mut c = tg(lport, 60);
    c.args(["--max-peers", "50", "--peer", &addr(sport).to_string(), "-o"]).arg(out.path()).arg(&p.torrent_path);
    let leecher = Live::spawn(c);
    assert!(wait_listening(lport, Duration::from_secs(20)));
    let idle = HostileConns::start(addr(lport), Mode::Idle { info_hash: p.meta.info_hash.0, keepalive: Duration::from_secs(180) }, 50, 1, false);
    wait_for(Duration::from_secs(20), "50 idle peers connected", || idle.connected() == 50);
    let _s = seeder(&p, sport, &[]);
    let r = leecher.finish(Duration::from_secs(80));
    assert_eq!(r.code(), 0, "{}", r.describe());
    same_data(&p, out.path());
}
