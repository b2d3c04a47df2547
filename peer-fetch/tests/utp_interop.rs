//! peer-fetch --utp against python3-libtorrent seeding over uTP only (TCP
//! off in both directions): the handshake works, a piece arrives verified
//! and byte-identical, and libtorrent's own peer list says the connection
//! was a uTP socket. Fails (not skips) when python3-libtorrent is missing.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use test_fixtures::payload::make_payload;

const LT_UTP_SEED: &str = r#"
import sys, time, libtorrent as lt
torrent, save, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = lt.session({
    'listen_interfaces': '127.0.0.1:%d' % port,
    'outgoing_interfaces': '127.0.0.1',
    'enable_dht': False, 'enable_lsd': False,
    'enable_upnp': False, 'enable_natpmp': False,
    'enable_incoming_tcp': False, 'enable_outgoing_tcp': False,
    'enable_incoming_utp': True, 'enable_outgoing_utp': True,
    'allow_multiple_connections_per_ip': True,
    'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
atp.flags |= lt.torrent_flags.seed_mode
h = s.add_torrent(atp)
t0 = time.monotonic()
started = False
seen = set()
# peer_info::utp_socket is bit 17 (the Python binding does not export it).
UTP = int(getattr(lt.peer_info, 'utp_socket', 1 << 17))
while time.monotonic() - t0 < 120:
    for a in s.pop_alerts():
        if isinstance(a, lt.listen_succeeded_alert):
            print('listen', a.socket_type, a.port, flush=True)
    if not started and h.status().state == lt.torrent_status.seeding:
        print('seeding', flush=True)
        started = True
    for p in h.get_peer_info():
        key = (p.ip, bool(int(p.flags) & UTP))
        if key not in seen:
            seen.add(key)
            print('peer %s:%d utp=%d client=%s' % (p.ip[0], p.ip[1], key[1], p.client), flush=True)
    time.sleep(0.05)
"#;

struct Seeder {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Drop for Seeder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Seeder {
    fn wait_for(&mut self, what: &str, limit: Duration) -> Option<String> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.log.push(l.clone());
                if l.contains(what) {
                    return Some(l);
                }
            }
        }
        None
    }
}

fn spawn(dir: &Path, torrent: &Path, save: &Path, port: u16) -> Seeder {
    let script = dir.join("lt_utp_seed.py");
    std::fs::write(&script, LT_UTP_SEED).unwrap();
    let mut child = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(torrent)
        .arg(save)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with libtorrent (python3-libtorrent)");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Seeder {
        child,
        lines: rx,
        log: Vec::new(),
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn peer_fetch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peer-fetch"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn libtorrent_utp_only_seeder() {
    let dir = tempfile::tempdir().unwrap();
    // 6 pieces of 64 KiB, the last short.
    let p = make_payload(dir.path(), "utp.bin", &[("", 350_000)], 65536, &[], 7).unwrap();
    let port = free_udp_port();
    let mut lt = spawn(dir.path(), &p.torrent_path, &p.dir, port);
    assert!(
        lt.wait_for("seeding", Duration::from_secs(30)).is_some(),
        "libtorrent never seeded: {:?}",
        lt.log
    );
    assert!(
        lt.log.iter().any(|l| l.starts_with("listen udp")),
        "libtorrent did not report its UDP (uTP) listen socket: {:?}",
        lt.log
    );
    let addr = format!("127.0.0.1:{port}");
    let t = p.torrent_path.to_str().unwrap();

    // Over TCP nobody answers: libtorrent listens on uTP only.
    let o = peer_fetch(&[t, &addr, "handshake", "--timeout", "3"]);
    assert_eq!(o.status.code(), Some(1), "TCP should fail: {}", String::from_utf8_lossy(&o.stdout));

    // Right after start libtorrent answers SYNs with a FIN until the torrent
    // is running (a refusal, as for TCP): poll the handshake like the TCP
    // interop tests do.
    let t0 = Instant::now();
    let o = loop {
        let o = peer_fetch(&[t, &addr, "--utp", "handshake", "--json", "--timeout", "10"]);
        if o.status.success() || t0.elapsed() > Duration::from_secs(20) {
            break o;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(o.status.success(), "handshake over uTP: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["client"].as_str().unwrap_or("").contains("libtorrent"), "{v}");
    assert_eq!(v["pieces"]["have"], 6);

    let out = dir.path().join("piece3.bin");
    let o = peer_fetch(&[t, &addr, "--utp", "piece", "3", "-o", out.to_str().unwrap(), "--timeout", "10"]);
    assert!(o.status.success(), "piece over uTP: {}", String::from_utf8_lossy(&o.stderr));
    let payload = std::fs::read(p.dir.join("utp.bin")).unwrap();
    assert!(std::fs::read(&out).unwrap() == payload[3 * 65536..4 * 65536]);

    // Every piece, the whole payload to stdout.
    let o = peer_fetch(&[t, &addr, "--utp", "all", "--timeout", "10"]);
    assert!(o.status.success(), "all over uTP: {}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout == payload);

    // libtorrent's side: the peer connection was a uTP socket.
    let line = lt
        .wait_for("utp=", Duration::from_secs(5))
        .or_else(|| lt.log.iter().find(|l| l.contains("utp=")).cloned());
    let all: Vec<&String> = lt.log.iter().filter(|l| l.starts_with("peer ")).collect();
    assert!(line.is_some(), "libtorrent listed no peer: {:?}", lt.log);
    assert!(!all.is_empty() && all.iter().all(|l| l.contains("utp=1")), "{all:?}");
}

const LT_UTP_LEECH: &str = r#"
import sys, time, libtorrent as lt
torrent, save, port, ours = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = lt.session({
    'listen_interfaces': '127.0.0.1:%d' % port,
    'outgoing_interfaces': '127.0.0.1',
    'enable_dht': False, 'enable_lsd': False,
    'enable_upnp': False, 'enable_natpmp': False,
    'enable_incoming_tcp': False, 'enable_outgoing_tcp': False,
    'enable_incoming_utp': True, 'enable_outgoing_utp': True,
    'allow_multiple_connections_per_ip': True,
    # plaintext (encryption over uTP is the mse helper's part)
    'out_enc_policy': 2, 'in_enc_policy': 2,
})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
h = s.add_torrent(atp)
UTP = int(getattr(lt.peer_info, 'utp_socket', 1 << 17))
t0 = time.monotonic()
seen = set()
last = 0
while time.monotonic() - t0 < 60:
    if time.monotonic() - last > 1:
        h.connect_peer(('127.0.0.1', ours))
        last = time.monotonic()
    for p in h.get_peer_info():
        key = (p.ip, bool(int(p.flags) & UTP))
        if key not in seen:
            seen.add(key)
            print('peer %s:%d utp=%d client=%s' % (p.ip[0], p.ip[1], key[1], p.client), flush=True)
    if h.status().is_seeding:
        print('finished', flush=True)
        break
    time.sleep(0.05)
time.sleep(0.5)
"#;

/// The other direction: libtorrent dials our `UtpStream::accept` and
/// downloads the whole torrent from it (a minimal seeder written here with
/// torrent-core's peer codec).
#[test]
fn libtorrent_downloads_from_our_utp_acceptor() {
    use std::io::{Read, Write};
    use torrent_core::peer::{Decoder, Handshake, Message};
    use torrent_core::utp::UtpStream;

    let dir = tempfile::tempdir().unwrap();
    let p = make_payload(dir.path(), "in.bin", &[("", 700_000)], 32768, &[], 11).unwrap();
    let payload = std::fs::read(p.dir.join("in.bin")).unwrap();
    let save = dir.path().join("lt-save");
    std::fs::create_dir_all(&save).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ours = sock.local_addr().unwrap().port();
    let script = dir.path().join("lt_utp_leech.py");
    std::fs::write(&script, LT_UTP_LEECH).unwrap();
    let mut child = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(&p.torrent_path)
        .arg(&save)
        .arg(free_udp_port().to_string())
        .arg(ours.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with libtorrent (python3-libtorrent)");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut lt = Seeder {
        child,
        lines: rx,
        log: Vec::new(),
    };

    let mut s = UtpStream::accept(sock, Some(Duration::from_secs(30))).expect("libtorrent dials us over uTP");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let info_hash = p.meta.info_hash;
    let mut dec = Decoder::new();
    let mut buf = vec![0u8; 65536];
    let theirs = loop {
        if let Some(h) = dec.next_handshake().unwrap() {
            break h;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "libtorrent closed before its handshake");
        dec.feed(&buf[..n]).unwrap();
    };
    theirs.check_info_hash(&info_hash).unwrap();
    let mut id = *b"-TK0001-utpinterop00";
    id[19] = b'1';
    s.write_all(&Handshake::new(info_hash, id).encode()).unwrap();
    let n = p.meta.info.piece_count();
    let mut bits = vec![0u8; n.div_ceil(8)];
    for i in 0..n {
        bits[i / 8] |= 0x80 >> (i % 8);
    }
    let mut w = Vec::new();
    Message::Bitfield(bits).encode_into(&mut w);
    Message::Unchoke.encode_into(&mut w);
    s.write_all(&w).unwrap();
    let mut served = 0usize;
    let t0 = Instant::now();
    while served < payload.len() && t0.elapsed() < Duration::from_secs(40) {
        while let Some(m) = dec.next_message().unwrap() {
            if let Message::Request { index, begin, length } = m {
                let off = index as usize * 32768 + begin as usize;
                let data = payload[off..off + length as usize].to_vec();
                let mut w = Vec::new();
                Message::Piece { index, begin, data }.encode_into(&mut w);
                s.write_all(&w).unwrap();
                served += length as usize;
            }
        }
        if served >= payload.len() {
            break;
        }
        let k = s.read(&mut buf).unwrap();
        assert!(k > 0, "libtorrent closed after {served} bytes");
        dec.feed(&buf[..k]).unwrap();
    }
    assert!(served >= payload.len(), "served {served} bytes");
    // Data moves only while the blocking stream is driven.
    s.wait_acked(Duration::from_secs(20)).unwrap();
    assert!(lt.wait_for("finished", Duration::from_secs(20)).is_some(), "libtorrent did not finish: {:?}", lt.log);
    assert!(std::fs::read(save.join("in.bin")).unwrap() == payload);
    let peers: Vec<&String> = lt.log.iter().filter(|l| l.starts_with("peer ")).collect();
    assert!(!peers.is_empty() && peers.iter().all(|l| l.contains("utp=1")), "{:?}", lt.log);
    drop(s);
}
