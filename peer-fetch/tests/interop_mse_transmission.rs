//! peer-fetch --encrypt against transmission-daemon with encryption
//! required (-er), on loopback; Transmission's RPC (`torrent-get` peers,
//! `isEncrypted`) says whether our connection was encrypted. Fails (not
//! skips) when transmission-daemon is missing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::payload::make_payload;

struct Daemon {
    child: Child,
    rpc: u16,
    log: std::path::PathBuf,
    session: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One JSON-RPC call (HTTP/1.0, the session-id handshake on 409).
    fn rpc(&mut self, body: &serde_json::Value) -> serde_json::Value {
        for _ in 0..3 {
            let mut s = TcpStream::connect(("127.0.0.1", self.rpc)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let b = body.to_string();
            write!(
                s,
                "POST /transmission/rpc HTTP/1.0\r\nHost: 127.0.0.1\r\nX-Transmission-Session-Id: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                self.session,
                b.len()
            )
            .unwrap();
            let mut resp = Vec::new();
            s.read_to_end(&mut resp).unwrap();
            let text = String::from_utf8_lossy(&resp).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            if head.starts_with("HTTP/1.1 409") || head.starts_with("HTTP/1.0 409") {
                self.session = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .starts_with("x-transmission-session-id:")
                            .then(|| l.split_once(':').unwrap().1.trim().to_string())
                    })
                    .expect("session id header");
                continue;
            }
            assert!(head.contains(" 200 "), "rpc: {head}\n{body}");
            return serde_json::from_str(body).unwrap();
        }
        panic!("rpc: no session id accepted");
    }
}

fn peer_fetch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peer-fetch"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Transmission drops a new connection from an address it still has a
/// connection from; retry those.
fn fetch(args: &[&str]) -> Output {
    let mut o = peer_fetch(args);
    for _ in 0..20 {
        let e = String::from_utf8_lossy(&o.stderr);
        if o.status.success()
            || !(e.contains("closed the connection while we waited for the peer's handshake")
                || e.contains("closed the connection during the encryption handshake"))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        o = peer_fetch(args);
    }
    o
}

fn start(dir: &Path, data_dir: &Path) -> (Daemon, u16) {
    let (rpc, peer) = (free_port(), free_port());
    let cfg = dir.join("tr-daemon");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("settings.json"),
        format!(
            r#"{{
  "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
  "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
  "port-forwarding-enabled": false, "peer-port": {peer}, "peer-port-random-on-start": false,
  "rpc-enabled": true, "rpc-bind-address": "127.0.0.1", "rpc-port": {rpc},
  "rpc-authentication-required": false, "rpc-whitelist-enabled": true,
  "rpc-whitelist": "127.0.0.1", "rpc-host-whitelist-enabled": false,
  "encryption": 2, "ratio-limit-enabled": false, "idle-seeding-limit-enabled": false,
  "download-dir": "{}", "message-level": 2
}}"#,
            data_dir.display()
        ),
    )
    .unwrap();
    let log = dir.join("tr-daemon.log");
    let f = std::fs::File::create(&log).unwrap();
    let child = Command::new("transmission-daemon")
        .args(["-f", "-g", cfg.to_str().unwrap(), "-T", "-er", "-O", "-Y", "-M", "--no-utp"])
        .args(["-p", &rpc.to_string(), "-P", &peer.to_string(), "-r", "127.0.0.1", "-i", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("cannot start transmission-daemon (transmission-daemon package)");
    let d = Daemon {
        child,
        rpc,
        log,
        session: String::new(),
    };
    let t0 = Instant::now();
    let a: SocketAddr = format!("127.0.0.1:{rpc}").parse().unwrap();
    while TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "no RPC:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    (d, peer)
}

#[test]
fn peer_fetch_from_transmission_with_encryption_required() {
    let dir = tempfile::tempdir().unwrap();
    let p = make_payload(dir.path(), "tr.bin", &[("", 270_000)], 32768, &[], 99).unwrap();
    let (mut d, port) = start(dir.path(), &p.dir);
    let r = d.rpc(&serde_json::json!({
        "method": "torrent-add",
        "arguments": {"filename": p.torrent_path.to_str().unwrap(), "download-dir": p.dir.to_str().unwrap()}
    }));
    assert_eq!(r["result"], "success", "{r}");
    let addr = format!("127.0.0.1:{port}");
    let t = p.torrent_path.to_str().unwrap();
    let n = p.meta.info.piece_count();
    // Wait until it has checked the data and seeds (over MSE).
    let t0 = Instant::now();
    loop {
        let o = fetch(&[t, &addr, "handshake", "--json", "--encrypt", "require", "--timeout", "5"]);
        if o.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["encryption"], "rc4", "{v}");
            if v["pieces"]["have"] == n {
                break;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "transmission never seeded: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // A plaintext peer gets nowhere.
    let o = peer_fetch(&[t, &addr, "handshake", "--encrypt", "off", "--timeout", "5"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    // Two pieces (the last one short) over RC4; Transmission unchokes on
    // its 10 s timer, so the connection lives long enough to be listed.
    let args: Vec<String> = [t, &addr, "pieces", &format!("{}..={}", n - 2, n - 1), "--encrypt", "require", "--timeout", "30", "--json", "-o"]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.path().join("out.bin").to_str().unwrap().to_string()])
        .collect();
    let child = std::thread::spawn(move || {
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        fetch(&a)
    });
    let mut encrypted_seen = None;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(40) && encrypted_seen.is_none() {
        let r = d.rpc(&serde_json::json!({"method": "torrent-get", "arguments": {"fields": ["peers"]}}));
        if let Some(peers) = r["arguments"]["torrents"][0]["peers"].as_array() {
            if let Some(peer) = peers.iter().find(|x| x["address"] == "127.0.0.1") {
                encrypted_seen = Some(peer["isEncrypted"].clone());
            }
        }
        if child.is_finished() && encrypted_seen.is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = child.join().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stderr), d.log());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["encryption"], "rc4");
    let data = std::fs::read(p.dir.join("tr.bin")).unwrap();
    assert_eq!(std::fs::read(dir.path().join("out.bin")).unwrap(), &data[(n - 2) * 32768..]);
    assert_eq!(
        encrypted_seen,
        Some(serde_json::Value::Bool(true)),
        "Transmission's peer list did not show our connection as encrypted"
    );
}
