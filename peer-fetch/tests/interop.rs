//! peer-fetch against real BitTorrent clients from Debian's packages,
//! seeding on loopback: aria2c, python3-libtorrent and transmission-cli.
//! These tests fail (not skip) when a client is missing.

use std::net::SocketAddr;
use test_fixtures::harness::{self, free_port, Daemon};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::payload::{make_payload, Payload};
use torrent_core::{Magnet, Metainfo};

/// A client seeding on loopback, killed when the test ends, pass or fail.
struct Client {
    name: &'static str,
    daemon: Daemon,
    port: u16,
}

impl Client {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    fn log(&self) -> String {
        self.daemon.log()
    }
}

fn spawn(name: &'static str, cmd: Command, port: u16, log: &Path) -> Client {
    harness::require_tool(cmd.get_program().to_str().unwrap(), name);
    let mut daemon = Daemon::start(name, cmd, log);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    daemon.wait_listening(addr, Duration::from_secs(30));
    Client { name, daemon, port }
}

fn peer_fetch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peer-fetch"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Like `peer_fetch`, but when the client drops a new connection before
/// its handshake (Transmission refuses a reconnect from the same address
/// until it has noticed the previous connection closed), wait and retry.
fn fetch(args: &[&str]) -> Output {
    let mut o = peer_fetch(args);
    for _ in 0..20 {
        if o.status.success()
            || !String::from_utf8_lossy(&o.stderr)
                .contains("closed the connection while we waited for the peer's handshake")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        o = peer_fetch(args);
    }
    o
}

fn payload(dir: &Path) -> Payload {
    // 9 pieces of 32 KiB, the last one short; no trackers (nothing to announce to).
    make_payload(dir, "interop.bin", &[("", 270_000)], 32768, &[], 42).unwrap()
}

/// Poll `handshake --json` until the client reports every piece (it may
/// still be checking its files when it starts listening).
fn wait_seeding(c: &Client, p: &Payload) -> serde_json::Value {
    let t = p.torrent_path.to_str().unwrap();
    let n = p.meta.info.piece_count();
    let t0 = Instant::now();
    loop {
        let o = fetch(&[t, &c.addr(), "handshake", "--json", "--timeout", "5"]);
        if o.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            if v["pieces"]["have"] == n && v["pieces"]["total"] == n {
                return v;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "{} never reported all {n} pieces; last: {} {}\nclient log:\n{}",
            c.name,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            c.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// handshake + pieces + all + metadata from a magnet against one client.
fn exercise(c: &Client, p: &Payload, client_word: &str, dir: &Path, quick: bool) {
    let v = wait_seeding(c, p);
    assert!(
        v["client"].as_str().unwrap_or("").contains(client_word),
        "{}: client decoded as {:?} (peer id {})",
        c.name,
        v["client"],
        v["peer_id"]
    );
    assert_eq!(v["extensions"]["extended"], true, "{}: {v}", c.name);
    let m = &v["ext_handshake"]["m"];
    assert!(
        m["ut_metadata"].as_i64().unwrap_or(0) > 0,
        "{}: no ut_metadata in {v}",
        c.name
    );
    assert_eq!(
        v["ext_handshake"]["metadata_size"],
        p.meta.info_bytes.len(),
        "{}: {v}",
        c.name
    );

    // The human form, too.
    let t = p.torrent_path.to_str().unwrap();
    let o = fetch(&[t, &c.addr(), "handshake"]);
    assert!(
        o.status.success(),
        "{}: {}",
        c.name,
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    let n = p.meta.info.piece_count();
    assert!(
        text.contains(&format!("pieces: {n}/{n}")),
        "{}: {text}",
        c.name
    );

    let data = std::fs::read(p.dir.join("interop.bin")).unwrap();
    if quick {
        // Transmission unchokes on its 10 s rechoke timer: one connection
        // that fetches the last two pieces (the last one short).
        let o = fetch(&[
            t,
            &c.addr(),
            "pieces",
            &format!("{}..={}", n - 2, n - 1),
            "--timeout",
            "30",
        ]);
        assert!(
            o.status.success(),
            "{}: {}",
            c.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.stdout, &data[(n - 2) * 32768..], "{}", c.name);
    } else {
        // One piece, then the short last one, to stdout.
        let o = fetch(&[t, &c.addr(), "piece", "3"]);
        assert!(
            o.status.success(),
            "{}: {}",
            c.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.stdout, &data[3 * 32768..4 * 32768], "{}", c.name);
        let o = fetch(&[t, &c.addr(), "piece", &(n - 1).to_string()]);
        assert!(
            o.status.success(),
            "{}: {}",
            c.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.stdout, &data[(n - 1) * 32768..], "{}", c.name);
        // Everything, pipelined, into a directory.
        let out = dir.join(format!("out-{}", c.name));
        let o = fetch(&[t, &c.addr(), "all", "-o", out.to_str().unwrap(), "--json"]);
        assert!(
            o.status.success(),
            "{}: {}",
            c.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            std::fs::read(out.join("interop.bin")).unwrap(),
            data,
            "{}",
            c.name
        );
    }

    // Metadata for the magnet (no torrent given), checked against the hash.
    let magnet = Magnet::from_metainfo(&p.meta).to_uri();
    let tf = dir.join(format!("{}.torrent", c.name));
    let o = fetch(&[&magnet, &c.addr(), "metadata", "-o", tf.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "{}: {}",
        c.name,
        String::from_utf8_lossy(&o.stderr)
    );
    let m = Metainfo::from_bytes(&std::fs::read(&tf).unwrap()).unwrap();
    assert_eq!(m.info_hash, p.meta.info_hash, "{}", c.name);
    assert_eq!(m.info_bytes, p.meta.info_bytes, "{}", c.name);
}

#[test]
fn aria2c_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let port = free_port();
    let cmd = harness::clients::aria2c_seed(&p.torrent_path, &p.dir, port, 120);
    let c = spawn("aria2c", cmd, port, &dir.path().join("aria2.log"));
    exercise(&c, &p, "aria2", dir.path(), false);
}

const LT_SCRIPT: &str = r#"
import sys, time, libtorrent as lt
torrent, save, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = lt.session({
    'listen_interfaces': '127.0.0.1:%d' % port,
    'outgoing_interfaces': '127.0.0.1',
    'enable_dht': False, 'enable_lsd': False,
    'enable_upnp': False, 'enable_natpmp': False,
    'enable_incoming_utp': False, 'enable_outgoing_utp': False,
    'allow_multiple_connections_per_ip': True,
})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
atp.flags |= lt.torrent_flags.seed_mode
h = s.add_torrent(atp)
print('started', flush=True)
t0 = time.monotonic()
while time.monotonic() - t0 < 120:
    time.sleep(0.1)
"#;

#[test]
fn libtorrent_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let port = free_port();
    let script = dir.path().join("lt_seed.py");
    std::fs::write(&script, LT_SCRIPT).unwrap();
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(&script)
        .arg(&p.torrent_path)
        .arg(&p.dir)
        .arg(port.to_string());
    let c = spawn("libtorrent", cmd, port, &dir.path().join("lt.log"));
    exercise(&c, &p, "libtorrent (Rasterbar)", dir.path(), false);
}

#[test]
fn transmission_cli_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let port = free_port();
    let cfg = dir.path().join("tr-config");
    std::fs::create_dir_all(&cfg).unwrap();
    // transmission-cli has no bind flag; settings.json keeps it on loopback.
    std::fs::write(
        cfg.join("settings.json"),
        format!(
            r#"{{
  "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
  "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
  "port-forwarding-enabled": false, "peer-port": {port}, "peer-port-random-on-start": false,
  "rpc-enabled": false, "encryption": 0, "ratio-limit-enabled": false,
  "idle-seeding-limit-enabled": false, "message-level": 2
}}"#
        ),
    )
    .unwrap();
    let mut cmd = Command::new("transmission-cli");
    cmd.args([
        "-g",
        cfg.to_str().unwrap(),
        "-p",
        &port.to_string(),
        "-w",
        p.dir.to_str().unwrap(),
        "-et",
        "-D",
        "-U",
        "-v",
    ])
    .arg(&p.torrent_path);
    let c = spawn("transmission", cmd, port, &dir.path().join("tr.log"));
    exercise(&c, &p, "Transmission", dir.path(), true);
}
