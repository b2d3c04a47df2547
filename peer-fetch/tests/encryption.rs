//! peer-fetch --encrypt against the embedded seeder with each encryption
//! policy: what the connection used (both sides' view), fallback, refusal.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::Ordering;
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Seeder, SeederOptions};
use torrent_core::mse::Policy;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peer-fetch"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn payload(dir: &Path) -> Payload {
    make_payload(dir, "enc.bin", &[("", 300_000)], 65536, &[], 5).unwrap()
}

fn seeder(p: &Payload, encryption: Policy) -> Seeder {
    Seeder::start(
        &p.meta,
        &p.dir,
        SeederOptions {
            encryption,
            ..Default::default()
        },
    )
    .unwrap()
}

/// (plain, mse-plaintext, rc4) connections the seeder saw.
fn seen(s: &Seeder) -> (u64, u64, u64) {
    let st = s.stats();
    (
        st.plain_connections.load(Ordering::SeqCst),
        st.mse_plaintext_connections.load(Ordering::SeqCst),
        st.rc4_connections.load(Ordering::SeqCst),
    )
}

#[test]
fn every_policy_pair() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let t = p.torrent_path.to_str().unwrap();
    let data = std::fs::read(p.dir.join("enc.bin")).unwrap();
    // (seeder, peer-fetch) -> what the connection uses, None: fails.
    let cases = [
        (Policy::Off, "off", Some("plain")),
        (Policy::Off, "prefer", Some("plain")), // MSE fails, plaintext retry
        (Policy::Off, "require", None),
        (Policy::Prefer, "off", Some("plain")),
        (Policy::Prefer, "prefer", Some("rc4")),
        (Policy::Prefer, "require", Some("rc4")),
        (Policy::Require, "off", None),
        (Policy::Require, "prefer", Some("rc4")),
        (Policy::Require, "require", Some("rc4")),
    ];
    for (sp, cp, want) in cases {
        let s = seeder(&p, sp);
        let addr = s.addr().to_string();
        let o = run(&[t, &addr, "handshake", "--json", "--encrypt", cp, "--timeout", "5"]);
        let what = format!("seeder {sp}, peer-fetch --encrypt {cp}");
        match want {
            Some(m) => {
                assert!(o.status.success(), "{what}: {}", stderr(&o));
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                assert_eq!(v["encryption"], m, "{what}: {v}");
                assert_eq!(v["transport"], "tcp", "{what}");
                assert_eq!(v["pieces"]["have"], p.meta.info.piece_count(), "{what}");
                // The seeder's `e` (BEP 10): 1 unless its encryption is off.
                let e = &v["ext_handshake"]["e"];
                if sp == Policy::Off {
                    assert!(e.is_null(), "{what}: {v}");
                } else {
                    assert_eq!(e, 1, "{what}: {v}");
                }
                // Piece data through the same kind of connection.
                let o = run(&[t, &addr, "piece", "2", "--encrypt", cp]);
                assert!(o.status.success(), "{what}: {}", stderr(&o));
                assert!(o.stdout == data[2 * 65536..3 * 65536], "{what}");
                let (plain, msep, rc4) = seen(&s);
                assert_eq!(msep, 0, "{what}");
                if m == "rc4" {
                    assert_eq!((plain, rc4), (0, 2), "{what}");
                } else if sp == Policy::Off && cp == "prefer" {
                    // Each MSE attempt reached the plaintext-only seeder
                    // (which took it for a broken handshake), then a retry.
                    assert_eq!((plain, rc4), (4, 0), "{what}");
                    assert!(s.stats().protocol_errors.load(Ordering::SeqCst) >= 1);
                } else {
                    assert_eq!((plain, rc4), (2, 0), "{what}");
                }
                if cp == "prefer" && sp == Policy::Off {
                    assert!(stderr(&o).contains("retrying in plaintext"), "{}", stderr(&o));
                }
            }
            None => {
                assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
                assert!(o.stdout.is_empty(), "{what}");
                assert_eq!(seen(&s).2, 0, "{what}");
            }
        }
    }
}

#[test]
fn everything_over_rc4_and_metadata_from_a_magnet() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let s = seeder(&p, Policy::Require);
    let addr = s.addr().to_string();
    let out = dir.path().join("out");
    let o = run(&[
        p.torrent_path.to_str().unwrap(),
        &addr,
        "all",
        "-o",
        out.to_str().unwrap(),
        "--json",
        "--encrypt",
        "require",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["encryption"], "rc4");
    assert_eq!(
        std::fs::read(out.join("enc.bin")).unwrap(),
        std::fs::read(p.dir.join("enc.bin")).unwrap()
    );
    assert_eq!(s.bytes_uploaded(), 300_000);
    let magnet = torrent_core::Magnet::from_metainfo(&p.meta).to_uri();
    let tf = dir.path().join("m.torrent");
    let o = run(&[&magnet, &addr, "metadata", "-o", tf.to_str().unwrap(), "--encrypt", "prefer"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&tf).unwrap(), p.meta.to_torrent_bytes());
    assert_eq!(seen(&s), (0, 0, 2));
}

#[test]
fn wrong_torrent_is_refused_by_an_encrypted_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(dir.path());
    let s = seeder(&p, Policy::Require);
    let other = "0123456789abcdef0123456789abcdef01234567";
    let o = run(&[other, &s.addr().to_string(), "handshake", "--encrypt", "require", "--timeout", "5"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("encryption handshake"), "{err}");
    assert!(s.last_error().unwrap_or_default().contains("none of our torrents"), "{:?}", s.last_error());
}
