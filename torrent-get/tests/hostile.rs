//! Hostile peers and trackers: the download completes from the honest
//! peers in bounded time and memory, liars are banned, and a malicious
//! leecher cannot crash a seeding torrent-get or grow its memory.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use test_fixtures::payload::make_payload;
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};
use test_fixtures::tracker::{Mode, Tracker, TrackerOptions};
use torrent_core::peer::handshake::Handshake;
use torrent_core::peer::message::Message;

const LIMIT: Duration = Duration::from_secs(90);
/// Peak resident memory allowed for torrent-get in these tests.
const MAX_RSS_KB: u64 = 64 * 1024;

/// Peak RSS (VmHWM) of a running process, in KiB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
}

/// Wait for the run to end while sampling its peak RSS.
fn finish_measuring(mut live: Live, limit: Duration) -> (Run, u64) {
    let pid = live.child.id();
    let mut peak = 0;
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(kb) = peak_rss_kb(pid) {
            peak = peak.max(kb);
        }
        if let Ok(Some(_)) = live.child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (live.finish(Duration::from_secs(10)), peak)
}

#[test]
fn download_completes_among_hostile_seeders_and_tracker() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
    let p = make_payload(
        seed.path(),
        "h",
        &[("a.bin", 2_000_000), ("b.bin", 123_457)],
        32 * 1024,
        &[&tracker.http_announce_url()],
        31,
    )
    .unwrap();
    let kinds = [
        Behaviour::LyingBitfield,
        Behaviour::UnrequestedPieces,
        Behaviour::KeepAliveFlood,
        Behaviour::SlowLoris,
        Behaviour::WrongData,
        Behaviour::OversizedMessage,
        // The honest seeders are slowed down so that the fast liar surely
        // delivers some pieces (else nothing here tests the ban).
        Behaviour::Slow(1024 * 1024),
        Behaviour::Slow(1024 * 1024),
    ];
    let seeders: Vec<Seeder> =
        kinds.iter().map(|b| Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(*b)).unwrap()).collect();
    for s in &seeders {
        tracker.add_peer(&p.meta.info_hash, s.addr());
    }
    // Entries that are never peers: they must not be dialled.
    for bad in ["0.0.0.0:6881", "255.255.255.255:1", "224.0.0.1:1"] {
        tracker.add_peer(&p.meta.info_hash, bad.parse().unwrap());
    }
    // Not -q: the bans are messages, not errors.
    let mut c = cmd_loud(60);
    c.arg("--json").arg("-o").arg(out.path()).arg(&p.torrent_path);
    let (r, peak) = finish_measuring(Live::spawn(c), LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let done = r.last_event("done");
    assert_eq!(done["status"], "done");
    assert_same_tree(&seed.path().join("h"), &out.path().join("h"));
    // Liars are banned; what they had delivered before the first verdict
    // (at most the slow-start pipeline of 16 blocks each) is all they cost.
    let liar = kinds.iter().position(|b| *b == Behaviour::WrongData).unwrap();
    assert!(seeders[liar].bytes_uploaded() > 0, "the liar sent nothing, the test proves nothing\n{}", r.stderr);
    assert!(r.stderr.contains("banned"), "no liar was banned:\n{}", r.stderr);
    let fails = done["hash_failures"].as_u64().unwrap();
    assert!(fails <= 2 * 16, "{fails} hash failures: liars were not contained\n{}", r.stderr);
    assert!(peak > 0 && peak < MAX_RSS_KB, "peak RSS {peak} KiB");
}

#[test]
fn oversized_and_garbage_tracker_replies_do_not_stop_the_download() {
    for mode in [Mode::Oversized, Mode::Garbage, Mode::Truncated] {
        let seed = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let tracker = Tracker::start(TrackerOptions::default());
        tracker.set_mode(mode.clone());
        let p = make_payload(seed.path(), "t.bin", &[("", 200_000)], 16 * 1024, &[&tracker.http_announce_url()], 32)
            .unwrap();
        let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
        let mut c = cmd(30);
        c.arg("-o").arg(out.path()).arg(&p.torrent_path).arg("--peer").arg(s.addr().to_string());
        let (r, peak) = finish_measuring(Live::spawn(c), LIMIT);
        assert_eq!(r.code(), 0, "{mode:?}: {}", r.describe());
        assert!(tracker.http_announces() >= 1, "{mode:?}: the tracker was never asked");
        assert!(peak < MAX_RSS_KB, "{mode:?}: peak RSS {peak} KiB");
        assert_eq!(std::fs::read(out.path().join("t.bin")).unwrap(), std::fs::read(seed.path().join("t.bin")).unwrap());
    }
}

/// A raw leecher: handshake + interested, then whatever the test sends.
fn connect_leecher(addr: SocketAddr, hash: torrent_core::InfoHash) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let hs = Handshake::new(hash, *b"-XX0001-hostile00001");
    s.write_all(&hs.encode()).unwrap();
    let mut theirs = [0u8; 68];
    s.read_exact(&mut theirs).unwrap();
    s.write_all(&Message::Interested.encode()).unwrap();
    s
}

/// True once the peer closed the connection (reads drain what it sent).
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    let mut buf = [0u8; 65536];
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn malicious_leecher_cannot_crash_or_bloat_a_seeding_torrent_get() {
    let seed = tempfile::tempdir().unwrap();
    let p = make_payload(seed.path(), "s.bin", &[("", 4 * 1024 * 1024)], 64 * 1024, &[], 33).unwrap();
    // Port 0 and the port from the `listening` event: a port picked
    // beforehand can be taken by a parallel test's torrent-get, and a dial
    // to it would reach that one.
    let mut c = Command::new(bin());
    c.args(["--no-dht", "--json", "--seed-only", "--seed-time", "60", "--listen", "127.0.0.1:0"])
        .arg("-o")
        .arg(seed.path())
        .arg(&p.torrent_path);
    let mut live = Live::spawn(c);
    let pid = live.child.id();
    let listening = live.wait_event(Duration::from_secs(20), |e| e["event"] == "listening").expect("seeder never listened");
    let addr: SocketAddr = format!("127.0.0.1:{}", listening["port"].as_u64().expect("a port")).parse().unwrap();
    // Seeding once its data is checked.
    live.wait_event(Duration::from_secs(20), |e| e["event"] == "checked").expect("seeder never checked its data");
    let hash = p.meta.info_hash;
    let plen = 64 * 1024;

    // A request past the end of the piece: dropped.
    let mut s = connect_leecher(addr, hash);
    s.write_all(&Message::Request { index: 0, begin: plen - 100, length: 16384 }.encode()).unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(10)), "request past the piece end was accepted");

    // A huge length: dropped.
    let mut s = connect_leecher(addr, hash);
    s.write_all(&Message::Request { index: 1, begin: 0, length: 1 << 30 }.encode()).unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(10)), "request of 1 GiB was accepted");

    // A piece index out of range: dropped.
    let mut s = connect_leecher(addr, hash);
    s.write_all(&Message::Request { index: 1_000_000, begin: 0, length: 16384 }.encode()).unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(10)), "request for piece 1000000 was accepted");

    // A flood of valid requests from peers that never read: memory stays bounded.
    let mut flooders = Vec::new();
    for _ in 0..4 {
        let mut s = connect_leecher(addr, hash);
        let mut batch = Vec::new();
        for i in 0..50_000u32 {
            let index = i % 64;
            Message::Request { index, begin: (i % 4) * 16384, length: 16384 }.encode_into(&mut batch);
        }
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&batch); // may block once the seeder stops reading: fine
        flooders.push(s);
    }
    std::thread::sleep(Duration::from_secs(2));
    let peak = peak_rss_kb(pid).expect("torrent-get still running");
    assert!(peak < MAX_RSS_KB, "peak RSS {peak} KiB under a request flood");

    // Still serving: an honest client gets verified pieces.
    let out = tempfile::tempdir().unwrap();
    let r = run(
        {
            let mut c = cmd(30);
            c.arg("-o").arg(out.path()).arg(&p.torrent_path).arg("--peer").arg(addr.to_string());
            c
        },
        LIMIT,
    );
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(std::fs::read(out.path().join("s.bin")).unwrap(), std::fs::read(seed.path().join("s.bin")).unwrap());
    drop(flooders);
    assert!(live.child.try_wait().unwrap().is_none(), "the seeder died");
}
