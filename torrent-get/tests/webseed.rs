//! Web seeds (BEP 19) in torrent-get: downloads from the embedded web seed
//! of test-fixtures (honest and hostile) and from Debian's nginx, alone and
//! together with peers; the files must equal the source byte for byte.

mod common;

use common::*;
use std::time::Duration;
use test_fixtures::payload::{make_payload, Payload};
use test_fixtures::seeder::{Seeder, SeederOptions};
use test_fixtures::webseed::{Nginx, Switches, WebSeedServer};

const LIMIT: Duration = Duration::from_secs(90);
// No zero-length file: torrent-get does not create those today (with peers
// too), a separate matter.
const FILES: &[(&str, u64)] = &[
    ("a b.txt", 70_001),
    ("dir with space/caf\u{e9} \u{fc}.bin", 600_000),
    ("x/y/z%20?#.dat", 33_333),
];

fn payload(dir: &std::path::Path) -> Payload {
    make_payload(dir, "My Torrent \u{2603}", FILES, 16_384, &[], 7).unwrap()
}

fn get(p: &Payload, out: &std::path::Path, extra: &[String]) -> Run {
    let mut c = cmd_loud(60);
    c.arg("--json").arg("-v").arg("-o").arg(out).arg(&p.torrent_path).args(extra);
    run(c, LIMIT)
}

fn mirrors(r: &Run) -> Vec<serde_json::Value> {
    r.last_event("webseeds")["mirrors"].as_array().cloned().unwrap_or_default()
}

#[test]
fn multi_file_torrent_downloads_from_a_web_seed_alone() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let ws = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let r = get(&p, out.path(), &["--web-seed".into(), ws.url()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["pieces_ok"].as_u64().unwrap() as usize, p.meta.info.piece_count(), "{m:?}");
    assert_eq!(m[0]["pieces_bad"], 0);
    assert_eq!(m[0]["wasted"], 0, "{m:?}");
    // Every byte fetched once, no request left over.
    assert_eq!(m[0]["bytes"].as_u64().unwrap(), p.meta.info.total_length, "{m:?}");
    assert_eq!(m[0]["state"], "idle", "{m:?}");
    assert!(ws.requests() > 0);
    assert_eq!(r.last_event("done")["hash_failures"], 0);
}

#[test]
fn peers_and_a_mirror_share_the_download_without_double_fetching() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    // A slow mirror, so the peer gets a share of the pieces too.
    let ws = WebSeedServer::start(&p.dir, Switches { slow: Some(400_000), ..Default::default() }).unwrap();
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let r = get(&p, out.path(), &["--web-seed".into(), ws.url(), "--peer".into(), seeder.addr().to_string()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    let from_mirror = m[0]["bytes"].as_u64().unwrap();
    let done = r.last_event("done");
    let total = p.meta.info.total_length;
    let downloaded = done["downloaded"].as_u64().unwrap();
    assert!(m[0]["pieces_ok"].as_u64().unwrap() > 0, "the mirror contributed nothing: {m:?}");
    assert!(from_mirror < total, "the peer contributed nothing: {m:?}\n{}", r.stderr);
    // No piece is fetched from both (no endgame sharing between them): the
    // over-download is what a cancelled mirror request had in flight.
    assert!(downloaded <= total + total / 10, "downloaded {downloaded} of {total}\n{}", r.stderr);
}

#[test]
fn a_mirror_serving_wrong_bytes_is_dropped_and_no_peer_is_blamed() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let bad = WebSeedServer::start(&p.dir, Switches { wrong_bytes: true, ..Default::default() }).unwrap();
    let good = WebSeedServer::start(&p.dir, Switches { slow: Some(2_000_000), ..Default::default() }).unwrap();
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let r = get(
        &p,
        out.path(),
        &["--web-seed".into(), bad.url(), "--web-seed".into(), good.url(), "--peer".into(), seeder.addr().to_string()],
    );
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    let b = m.iter().find(|x| x["url"] == bad.url()).unwrap();
    let g = m.iter().find(|x| x["url"] == good.url()).unwrap();
    assert_eq!(b["dropped"], true, "{m:?}");
    assert!(b["pieces_bad"].as_u64().unwrap() >= 1);
    assert_eq!(b["pieces_ok"], 0);
    assert_eq!(g["dropped"], false, "{m:?}");
    assert!(r.events().iter().any(|e| e["event"] == "webseed_dropped" && e["url"] == bad.url()));
    assert!(!r.stderr.contains("banned"), "a peer was blamed for the mirror:\n{}", r.stderr);
    assert!(r.stderr.contains("from a web seed failed the hash check"), "{}", r.stderr);
}

#[test]
fn hostile_mirror_alone_with_an_honest_mirror() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let bad = WebSeedServer::start(&p.dir, Switches { wrong_bytes: true, ..Default::default() }).unwrap();
    let good = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let r = get(&p, out.path(), &["--web-seed".into(), bad.url(), "--web-seed".into(), good.url()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    assert_eq!(m.iter().find(|x| x["url"] == bad.url()).unwrap()["dropped"], true, "{m:?}");
}

#[test]
fn no_web_seeds_ignores_them() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let ws = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    let mut c = cmd(3);
    c.arg("--json").arg("-o").arg(out.path()).arg(&p.torrent_path).args(["--web-seed", &ws.url(), "--no-web-seeds"]);
    let r = run(c, LIMIT);
    assert_ne!(r.code(), 0, "{}", r.describe());
    assert_eq!(ws.requests(), 0);
}

#[test]
fn nginx_serves_the_payload() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let nginx = Nginx::start(&p.dir).expect("nginx (Debian package nginx-light, see .ci/run)");
    let r = get(&p, out.path(), &["--web-seed".into(), nginx.url()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    assert_eq!(m[0]["pieces_ok"].as_u64().unwrap() as usize, p.meta.info.piece_count(), "{m:?}");
}

#[test]
fn url_list_of_a_mktorrent_torrent_alone() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = payload(src.path());
    let ws = WebSeedServer::start(&p.dir, Switches::default()).unwrap();
    // A torrent whose only source is its url-list (no tracker, no peers).
    let torrent = src.path().join("url-list.torrent");
    let st = std::process::Command::new("mktorrent")
        .args(["-l", "15", "-w", &ws.url(), "-o"])
        .arg(&torrent)
        .arg(p.dir.join(&p.meta.info.name))
        .output()
        .expect("mktorrent (Debian package mktorrent)");
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let mut c = cmd(60);
    c.arg("--json").arg("-o").arg(out.path()).arg(&torrent);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&p.dir.join(&p.meta.info.name), &out.path().join(&p.meta.info.name));
    let m = mirrors(&r);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["url"], ws.url());
    assert_eq!(m[0]["wasted"], 0, "{m:?}");
}
