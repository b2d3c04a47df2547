//! MSE/PE against python3-libtorrent on loopback, both directions, with
//! libtorrent's own peer flags saying which encryption the connection used:
//! peer-fetch --encrypt downloading from a libtorrent seeder, and a
//! libtorrent leecher downloading from the test-fixtures seeder with
//! encryption on. These tests fail (not skip) when libtorrent is missing.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Seeder, SeederOptions};
use torrent_core::mse::Policy;

/// libtorrent session: seeds (mode `seed`) or downloads from `peer` (mode
/// `leech`), with encryption `forced` (pe_forced, RC4 only) or `enabled`
/// (libtorrent's default: pe_enabled, both levels). Every 10 ms it writes
/// each connected peer's encryption flags to stdout:
/// `peer <addr> rc4=<0|1> plaintext_encrypted=<0|1>`, once per change.
const LT_SCRIPT: &str = r#"
import sys, time, libtorrent as lt
torrent, save, port, mode, enc, peer = sys.argv[1:7]
port = int(port)
pol = lt.enc_policy.pe_forced if enc == 'forced' else lt.enc_policy.pe_enabled
lvl = lt.enc_level.pe_rc4 if enc == 'forced' else lt.enc_level.pe_both
s = lt.session({
    'listen_interfaces': '127.0.0.1:%d' % port,
    'outgoing_interfaces': '127.0.0.1',
    'enable_dht': False, 'enable_lsd': False,
    'enable_upnp': False, 'enable_natpmp': False,
    'enable_incoming_utp': False, 'enable_outgoing_utp': False,
    'allow_multiple_connections_per_ip': True,
    'out_enc_policy': int(pol), 'in_enc_policy': int(pol),
    'allowed_enc_level': int(lvl),
})
# Slow transfers with loopback peers, so connections live long enough to
# be seen in the peer list after their handshake.
pc = s.get_peer_class(s.local_peer_class_id)
pc['upload_limit'] = 150000
pc['download_limit'] = 150000
s.set_peer_class(s.local_peer_class_id, pc)
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
if mode == 'seed':
    atp.flags |= lt.torrent_flags.seed_mode
h = s.add_torrent(atp)
if mode == 'leech':
    ip, p = peer.rsplit(':', 1)
    h.connect_peer((ip, int(p)))
print('started', flush=True)
seen = set()
t0 = time.monotonic()
while time.monotonic() - t0 < 90:
    for pi in h.get_peer_info():
        rc4 = 1 if pi.flags & lt.peer_info.rc4_encrypted else 0
        pe = 1 if pi.flags & lt.peer_info.plaintext_encrypted else 0
        key = (pi.ip, rc4, pe)
        if key not in seen:
            seen.add(key)
            print('peer %s:%d rc4=%d plaintext_encrypted=%d' % (pi.ip[0], pi.ip[1], rc4, pe), flush=True)
    st = h.status()
    if mode == 'leech' and st.is_seeding:
        print('complete', flush=True)
        time.sleep(0.3)
        break
    time.sleep(0.01)
"#;

struct Lt {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Lt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Lt {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log has a line for which `f` holds.
    fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            if let Some(l) = self.log().lines().find(|l| f(l)) {
                return l.to_string();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "libtorrent never reported {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn libtorrent(dir: &Path, p: &Payload, save: &Path, mode: &str, enc: &str, peer: &str) -> (Lt, u16) {
    let port = free_port();
    let script = dir.join("lt_mse.py");
    std::fs::write(&script, LT_SCRIPT).unwrap();
    let log = dir.join(format!("lt-{mode}-{enc}.log"));
    let f = std::fs::File::create(&log).unwrap();
    let child = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(&p.torrent_path)
        .arg(save)
        .arg(port.to_string())
        .arg(mode)
        .arg(enc)
        .arg(peer)
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("cannot start /usr/bin/python3 with libtorrent (python3-libtorrent)");
    let lt = Lt { child, log };
    lt.wait_for("start", |l| l == "started");
    if mode == "seed" {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let t0 = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(30), "libtorrent did not listen:\n{}", lt.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    (lt, port)
}

fn payload(dir: &Path) -> Payload {
    // 9 pieces of 32 KiB, the last one short.
    make_payload(dir, "mse.bin", &[("", 270_000)], 32768, &[], 77).unwrap()
}

fn peer_fetch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peer-fetch"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Run peer-fetch until libtorrent has checked its files and answers
/// (it may refuse pieces until then).
fn fetch_all(t: &str, addr: &str, out: &Path, encrypt: &str, lt: &Lt) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let o = peer_fetch(&[t, addr, "all", "-o", out.to_str().unwrap(), "--json", "--encrypt", encrypt, "--timeout", "10"]);
        if o.status.success() {
            return serde_json::from_slice(&o.stdout).unwrap();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "peer-fetch --encrypt {encrypt} failed: {}\nlibtorrent log:\n{}",
            String::from_utf8_lossy(&o.stderr),
            lt.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn peer_fetch_from_libtorrent_with_encryption_forced() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let (lt, port) = libtorrent(dir.path(), &p, &p.dir, "seed", "forced", "-");
    let addr = format!("127.0.0.1:{port}");
    let t = p.torrent_path.to_str().unwrap();
    // A plaintext peer is refused by libtorrent.
    let o = peer_fetch(&[t, &addr, "piece", "0", "--encrypt", "off", "--timeout", "5"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("out");
    let v = fetch_all(t, &addr, &out, "require", &lt);
    assert_eq!(v["encryption"], "rc4", "{v}");
    assert_eq!(
        std::fs::read(out.join("mse.bin")).unwrap(),
        std::fs::read(p.dir.join("mse.bin")).unwrap()
    );
    // libtorrent's view of our connection: RC4.
    let line = lt.wait_for("an RC4 peer", |l| l.starts_with("peer ") && l.ends_with("rc4=1 plaintext_encrypted=0"));
    assert!(line.starts_with("peer 127.0.0.1:"), "{line}");
    // (Lines with rc4=0 are connections seen while still in their
    // handshake, and the refused plaintext attempt.)
    assert!(!lt.log().contains("plaintext_encrypted=1"), "{}", lt.log());
}

#[test]
fn peer_fetch_prefer_against_libtorrent_defaults() {
    // libtorrent's default (pe_enabled, both levels, prefer_rc4 off): it
    // selects plaintext after the MSE handshake when we offer both.
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let (lt, port) = libtorrent(dir.path(), &p, &p.dir, "seed", "enabled", "-");
    let addr = format!("127.0.0.1:{port}");
    let t = p.torrent_path.to_str().unwrap();
    let out = dir.path().join("out");
    let v = fetch_all(t, &addr, &out, "prefer", &lt);
    let enc = v["encryption"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read(out.join("mse.bin")).unwrap(),
        std::fs::read(p.dir.join("mse.bin")).unwrap()
    );
    let want = match enc.as_str() {
        "rc4" => "rc4=1 plaintext_encrypted=0",
        "mse-plaintext" => "rc4=0 plaintext_encrypted=1",
        other => panic!("prefer against libtorrent gave {other}"),
    };
    lt.wait_for(want, |l| l.starts_with("peer ") && l.ends_with(want));
    // And require gets RC4 from the same libtorrent.
    let out2 = dir.path().join("out2");
    let v = fetch_all(t, &addr, &out2, "require", &lt);
    assert_eq!(v["encryption"], "rc4");
    lt.wait_for("an RC4 peer", |l| l.starts_with("peer ") && l.ends_with("rc4=1 plaintext_encrypted=0"));
}

#[test]
fn libtorrent_downloads_from_our_encrypted_seeder() {
    for (policy, enc, want) in [
        (Policy::Require, "forced", "rc4=1 plaintext_encrypted=0"),
        (Policy::Prefer, "forced", "rc4=1 plaintext_encrypted=0"),
        (Policy::Prefer, "enabled", ""),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let p = payload(dir.path());
        let seeder = Seeder::start(
            &p.meta,
            &p.dir,
            SeederOptions {
                encryption: policy,
                ..Default::default()
            },
        )
        .unwrap();
        let save = dir.path().join("lt-download");
        std::fs::create_dir_all(&save).unwrap();
        let (lt, _) = libtorrent(dir.path(), &p, &save, "leech", enc, &seeder.addr().to_string());
        lt.wait_for("a complete download", |l| l == "complete");
        assert_eq!(
            std::fs::read(save.join("mse.bin")).unwrap(),
            std::fs::read(p.dir.join("mse.bin")).unwrap(),
            "seeder {policy}, libtorrent {enc}"
        );
        let st = seeder.stats();
        let (plain, msep, rc4) = (
            st.plain_connections.load(Ordering::SeqCst),
            st.mse_plaintext_connections.load(Ordering::SeqCst),
            st.rc4_connections.load(Ordering::SeqCst),
        );
        if want.is_empty() {
            // libtorrent's default dials encrypted and offers both; our
            // prefer selects RC4.
            assert!(rc4 >= 1, "seeder {policy}, libtorrent {enc}: {plain} {msep} {rc4}\n{}", lt.log());
            lt.wait_for("an RC4 connection", |l| l.starts_with("peer ") && l.ends_with("rc4=1 plaintext_encrypted=0"));
        } else {
            assert_eq!((plain, msep), (0, 0), "seeder {policy}, libtorrent {enc}");
            assert!(rc4 >= 1);
            lt.wait_for(want, |l| l.starts_with("peer ") && l.ends_with(want));
            assert!(!lt.log().contains("plaintext_encrypted=1"), "{}", lt.log());
        }
    }
}
