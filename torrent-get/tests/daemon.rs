//! `torrent-get daemon` and `torrent-get remote` against test-fixtures
//! seeders, all on loopback: adding with `remote` and with plain HTTP (a
//! base64 .torrent), pause and resume measured at the seeder, removal with
//! and without the data, SIGKILL mid-download and a restart that goes on
//! from the verified pieces, the token and bad bodies, the watch directory
//! and the completion hook.

mod common;

use common::daemon::*;
use common::*;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use test_fixtures::harness::wait_for;
use test_fixtures::payload::make_payload;
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions};

#[test]
fn add_with_remote_and_http_then_both_complete() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let a = payload(seed.path(), "by-remote", 1);
    let b = payload(seed.path(), "by-http", 2);
    let sa = Seeder::start(&a.meta, &a.dir, SeederOptions::default()).unwrap();
    let sb = Seeder::start(&b.meta, &b.dir, SeederOptions::default()).unwrap();
    let d = Daemon::start(&state, &out, &["--peer", &sa.addr().to_string(), "--peer", &sb.addr().to_string()]);

    // The event stream, from before the adds.
    let mut watch = Command::new(bin());
    watch.arg("remote").arg("--state").arg(&state).arg("watch").stdout(Stdio::piped()).stderr(Stdio::null());
    let mut watch = watch.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let wout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(wout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    std::thread::sleep(Duration::from_millis(300));

    let r = remote(&state, &["add", a.torrent_path.to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(r.stdout.trim(), hex(&a), "remote add prints the info-hash");

    let body = json!({ "torrent_base64": data_encoding::BASE64.encode(&b.torrent_bytes) }).to_string();
    let (_, token) = d.endpoint();
    let (status, answer) = http(&d, "POST", "/v1/torrents", Some(&token), Some(body.as_bytes()));
    assert_eq!(status, 201, "{answer}");
    let added: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(added["info_hash"], hex(&b));
    assert_eq!(added["new"], true);
    // Again: already there, nothing changes.
    let (status, answer) = http(&d, "POST", "/v1/torrents", Some(&token), Some(body.as_bytes()));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(serde_json::from_str::<Value>(&answer).unwrap()["new"], false);

    for p in [&a, &b] {
        d.wait_torrent(&hex(p), LIMIT, "complete", complete);
        assert_same_tree(&p.dir.join(&p.meta.info.name), &out.join(&p.meta.info.name));
    }
    // list --json: one object per line with the documented fields.
    let r = remote(&state, &["list", "--json"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let rows = parse_events(&r.stdout);
    assert_eq!(rows.len(), 2, "{}", r.stdout);
    for row in &rows {
        for k in ["info_hash", "name", "state", "progress", "downloaded", "uploaded", "peers"] {
            assert!(row.get(k).is_some(), "{k} missing in {row}");
        }
        assert_eq!(row["state"], "seeding");
        assert_eq!(row["progress"], 1.0);
        assert!(row["downloaded"].as_u64().unwrap() >= a.meta.info.total_length);
    }
    // The human table names both; show resolves a prefix.
    let r = remote(&state, &["list"]);
    assert!(r.stdout.contains("by-remote") && r.stdout.contains("by-http"), "{}", r.stdout);
    let r = remote(&state, &["show", &hex(&a)[..8], "--json"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let det: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(det["files"].as_array().unwrap().len(), 2);
    assert_eq!(det["files"][1]["path"], "sub/second.bin");
    assert_eq!(det["files"][1]["progress"], 1.0);
    // By name, too; an unknown name is exit 1.
    let r = remote(&state, &["pause", "by-http"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(r.stdout.trim(), format!("{}\tpaused", hex(&b)));
    assert_eq!(remote(&state, &["pause", "no-such-torrent"]).code(), 1);

    // The event stream saw both adds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline && seen.iter().filter(|l: &&String| l.contains("\"added\"")).count() < 2 {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    for p in [&a, &b] {
        assert!(
            seen.iter().any(|l| l.contains("\"added\"") && l.contains(&hex(p))),
            "no added event for {} in:\n{}",
            p.meta.info.name,
            seen.join("\n")
        );
    }
    assert!(seen.iter().all(|l| serde_json::from_str::<Value>(l).is_ok()), "not NDJSON:\n{}", seen.join("\n"));
}

#[test]
fn pause_stops_traffic_at_the_seeder_and_resume_continues() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let p = payload(seed.path(), "paused", 3);
    let total = p.meta.info.total_length;
    let slow = Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(Behaviour::Slow(512 * 1024))).unwrap();
    let d = Daemon::start(&state, &out, &["--peer", &slow.addr().to_string()]);
    let h = hex(&p);
    assert_eq!(remote(&state, &["add", p.torrent_path.to_str().unwrap()]).code(), 0);
    d.wait_torrent(&h, LIMIT, "some data", |t| t.have_bytes > 0);

    let r = remote(&state, &["pause", &h[..6]]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(r.stdout.trim(), format!("{h}\tpaused"));
    // What was on the wire when the connection closed settles, then nothing.
    std::thread::sleep(Duration::from_millis(800));
    let served = slow.bytes_uploaded();
    let have = d.list()[0].have_bytes;
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(slow.bytes_uploaded(), served, "the seeder kept serving a paused torrent");
    let t = d.list().remove(0);
    assert_eq!(t.state, "paused");
    assert_eq!(t.have_bytes, have);
    assert_eq!(t.peers, 0);
    assert!(served < total, "finished before the pause: the test proves nothing");

    let r = remote(&state, &["resume", &h]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    wait_for(Duration::from_secs(20), "traffic again after resume", || slow.bytes_uploaded() > served);
    d.wait_torrent(&h, LIMIT, "complete after resume", complete);
    assert_same_tree(&p.dir.join("paused"), &out.join("paused"));
}

#[test]
fn pause_stops_a_web_seed_and_the_detail_shows_it() {
    use test_fixtures::webseed::{Switches, WebSeedServer};
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let p = payload(seed.path(), "mirrored", 6);
    let total = p.meta.info.total_length;
    // Slow enough that a request (a run of total/16) lasts seconds.
    let ws = WebSeedServer::start(&p.dir, Switches { slow: Some(64 * 1024), ..Default::default() }).unwrap();
    // The payload's torrent with the mirror as its url-list, no tracker.
    let opts = torrent_core::create::CreateOptions {
        piece_length: Some(p.meta.info.piece_length),
        web_seeds: vec![ws.url()],
        ..Default::default()
    };
    let torrent = work.path().join("mirrored.torrent");
    std::fs::write(&torrent, torrent_core::create::create_torrent(&p.dir.join("mirrored"), &opts).unwrap()).unwrap();
    let d = Daemon::start(&state, &out, &[]);
    let h = hex(&p);
    assert_eq!(remote(&state, &["add", torrent.to_str().unwrap()]).code(), 0);
    d.wait_torrent(&h, LIMIT, "some data", |t| t.have_bytes > 0);
    let w = d.detail(&h).webseeds;
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].url.as_str(), w[0].state.as_str()), (ws.url().as_str(), "active"), "{w:?}");
    assert!(w[0].bytes > 0 && w[0].requests_in_flight > 0, "{w:?}");

    let r = remote(&state, &["pause", &h]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    // What was in the socket buffers when the requests were cancelled
    // settles, then the mirror serves nothing more.
    std::thread::sleep(Duration::from_millis(800));
    let served = ws.bytes_sent();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(ws.bytes_sent(), served, "the mirror kept serving a paused torrent");
    assert!(served < total, "finished before the pause: the test proves nothing");
    let w = d.detail(&h).webseeds;
    assert_eq!((w[0].state.as_str(), w[0].requests_in_flight, w[0].reason.as_deref()), ("idle", 0, None), "{w:?}");

    ws.set_switches(Switches::default());
    let r = remote(&state, &["resume", &h]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    wait_for(Duration::from_secs(20), "mirror traffic again after resume", || ws.bytes_sent() > served);
    d.wait_torrent(&h, LIMIT, "complete after resume", complete);
    assert_same_tree(&p.dir.join("mirrored"), &out.join("mirrored"));
}

#[test]
fn remove_keeps_the_data_or_deletes_it() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let keep = payload(seed.path(), "kept", 4);
    let del = payload(seed.path(), "deleted", 5);
    let s1 = Seeder::start(&keep.meta, &keep.dir, SeederOptions::default()).unwrap();
    let s2 = Seeder::start(&del.meta, &del.dir, SeederOptions::default()).unwrap();
    let d = Daemon::start(&state, &out, &["--peer", &s1.addr().to_string(), "--peer", &s2.addr().to_string()]);
    let r = remote(&state, &["add", keep.torrent_path.to_str().unwrap(), del.torrent_path.to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(r.stdout.lines().collect::<Vec<_>>(), vec![hex(&keep), hex(&del)]);
    for p in [&keep, &del] {
        d.wait_torrent(&hex(p), LIMIT, "complete", complete);
    }
    assert!(state.join(format!("torrents/{}.json", hex(&keep))).exists());

    let r = remote(&state, &["remove", "kept"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(r.stdout.trim(), hex(&keep));
    let r = remote(&state, &["remove", &hex(&del), "--delete-data"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert!(d.list().is_empty(), "{:?}", d.list());
    assert!(!state.join(format!("torrents/{}.json", hex(&keep))).exists(), "the session still has it");
    assert!(!state.join(format!("torrents/{}.torrent", hex(&keep))).exists());
    assert_same_tree(&keep.dir.join("kept"), &out.join("kept"));
    wait_for(Duration::from_secs(10), "the deleted torrent's files to go", || !out.join("deleted").exists());
    assert!(!out.join(format!(".torrent-get/{}.resume", hex(&del))).exists());
    assert!(out.join(format!(".torrent-get/{}.resume", hex(&keep))).exists(), "the kept torrent's resume file went too");
    // Removed means gone: naming it again fails (exit 1).
    assert_eq!(remote(&state, &["resume", &hex(&keep)]).code(), 1);
}

#[test]
fn sigkill_mid_download_then_restart_restores_the_session_without_downloading_again() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let p = payload(seed.path(), "killed", 6);
    let idle = payload(seed.path(), "idle", 7);
    let total = p.meta.info.total_length;
    let n = p.meta.info.piece_count() as u64;
    let slow = Seeder::start(&p.meta, &p.dir, SeederOptions::behaviour(Behaviour::Slow(384 * 1024))).unwrap();
    let mut d = Daemon::start(&state, &out, &["--peer", &slow.addr().to_string()]);
    let h = hex(&p);
    assert_eq!(remote(&state, &["add", p.torrent_path.to_str().unwrap()]).code(), 0);
    let r = remote(&state, &["add", "--paused", "--select", "2", idle.torrent_path.to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let t = d.wait_torrent(&h, LIMIT, "a third of the data", |t| t.have_bytes * 3 >= total);
    assert!(t.have_bytes < total, "finished too early to test a kill");
    // Resume data is saved every second (--save-interval 1).
    std::thread::sleep(Duration::from_millis(1500));
    let before = d.list().into_iter().find(|t| t.info_hash == h).unwrap();
    assert!(before.have_bytes < total, "finished before the kill");
    d.kill(); // SIGKILL: nothing is saved on the way out
    drop(d);
    drop(slow);

    let fast = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let d = Daemon::start(&state, &out, &["--peer", &fast.addr().to_string()]);
    let list = d.list();
    assert_eq!(list.len(), 2, "{list:?}");
    let idle_status = list.iter().find(|t| t.info_hash == hex(&idle)).unwrap();
    assert_eq!(idle_status.state, "paused", "{idle_status:?}");
    let det = d.detail(&hex(&idle));
    let selected: Vec<bool> = det.files.iter().map(|f| f.selected).collect();
    assert_eq!(selected, vec![false, true], "the selection was not restored: {:?}", det.files);

    let t = d.wait_torrent(&h, LIMIT, "complete after the restart", complete);
    eprintln!(
        "killed at {} of {total} bytes verified; after the restart: downloaded {}, the seeder sent {}",
        before.have_bytes,
        t.session_downloaded,
        fast.bytes_uploaded()
    );
    assert_same_tree(&p.dir.join("killed"), &out.join("killed"));
    assert!(t.session_downloaded < total, "downloaded {} of {total} again after the restart", t.session_downloaded);
    assert!(fast.bytes_uploaded() < total, "the seeder sent {} of {total} bytes after the restart", fast.bytes_uploaded());
    // Totals are saved every --save-interval (1 s here) and resume data on
    // its own schedule: the pieces the restart trusts may be newer than the
    // saved totals by up to an interval of the seeder's 384 KiB/s.
    assert!(t.downloaded > t.session_downloaded, "the totals of the first run were lost: {t:?}");
    assert!(t.downloaded + 2 * 384 * 1024 >= total, "the totals of the first run lag too far: {t:?}");
    // The verified pieces came from the resume data, not a hash check.
    let log = d.log();
    let line = log.lines().find(|l| l.contains("killed:") && l.contains("already verified")).unwrap_or_else(|| panic!("no check line:\n{log}"));
    assert!(line.contains("(resume data)") && !line.starts_with(&format!("killed: 0 of {n}")), "{line}");
}

#[test]
fn token_is_required_and_bad_bodies_change_nothing() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let p = payload(seed.path(), "guarded", 8);
    let d = Daemon::start(&state, &out, &["--no-listen"]);
    let (addr, token) = d.endpoint();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(state.join("token")).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    let add = json!({ "torrent_base64": data_encoding::BASE64.encode(&p.torrent_bytes) }).to_string();
    for tok in [None, Some("wrong"), Some(&token[..token.len() - 1])] {
        let (s, body) = http(&d, "POST", "/v1/torrents", tok, Some(add.as_bytes()));
        assert_eq!(s, 401, "{tok:?}: {body}");
        assert!(body.contains("token"), "{body}");
        let (s, _) = http(&d, "GET", "/v1/torrents", tok, None);
        assert_eq!(s, 401);
    }
    assert!(d.list().is_empty(), "an unauthenticated add got in");

    let (s, body) = http(&d, "POST", "/v1/torrents", Some(&token), Some(b"{\"torrent_base64\": "));
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("malformed JSON"), "{body}");
    let (s, body) = http(&d, "POST", "/v1/torrents", Some(&token), Some(br#"{"torrent_base64": "not base64!"}"#));
    assert_eq!(s, 400, "{body}");
    let (s, body) = http(&d, "POST", "/v1/torrents", Some(&token), Some(br#"{"source": "magnet:?xt=urn:btih:zz"}"#));
    assert_eq!(s, 400, "{body}");
    let (s, body) = http(&d, "POST", "/v1/torrents", Some(&token), Some(br#"{"torrent_base64": "", "source": "x"}"#));
    assert_eq!(s, 400, "{body}");
    // A selection that matches nothing: refused before anything is kept.
    let bad_sel = json!({ "torrent_base64": data_encoding::BASE64.encode(&p.torrent_bytes), "select": "9" }).to_string();
    let (s, body) = http(&d, "POST", "/v1/torrents", Some(&token), Some(bad_sel.as_bytes()));
    assert_eq!(s, 400, "{body}");

    // A huge body: a valid add padded past 16 MiB.
    let mut huge = add.clone().into_bytes();
    huge.pop();
    huge.extend_from_slice(b", \"pad\": \"");
    huge.resize(huge.len() + (17 << 20), b'x');
    huge.extend_from_slice(b"\"}");
    let (s, body) = http(&d, "POST", "/v1/torrents", Some(&token), Some(&huge));
    assert_eq!(s, 413, "{body}");
    // Announced as huge, never sent: refused from the header.
    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(tcp, "POST /v1/torrents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{{").unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&head));

    // GET never changes anything; other methods are refused.
    let (s, _) = http(&d, "GET", &format!("/v1/torrents/{}/pause", hex(&p)), Some(&token), None);
    assert_eq!(s, 405);
    let (s, _) = http(&d, "GET", "/v1/nothing", Some(&token), None);
    assert_eq!(s, 404);
    let (s, _) = http(&d, "POST", &format!("/v1/torrents/{}/pause", hex(&p)), Some(&token), Some(b"{}"));
    assert_eq!(s, 404, "pausing a torrent that is not there");
    assert!(d.list().is_empty(), "{:?}", d.list());
    assert!(std::fs::read_dir(state.join("torrents")).unwrap().next().is_none(), "the session has entries");

    // And the same add with the token works.
    let (s, body) = http(&d, "POST", "/v1/torrents", Some(&token), Some(add.as_bytes()));
    assert_eq!(s, 201, "{body}");
    assert_eq!(d.list().len(), 1);
    // Malformed limits change nothing either.
    let (s, _) = http(&d, "POST", "/v1/limits", Some(&token), Some(br#"{"download": "fast"}"#));
    assert_eq!(s, 400);
    let (s, body) = http(&d, "GET", "/v1/limits", Some(&token), None);
    assert_eq!(s, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"download": 0, "upload": 0}));
}

#[test]
fn watch_directory_adds_and_on_done_runs() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out, watch) = (work.path().join("state"), work.path().join("dl"), work.path().join("watch"));
    let hook_out = work.path().join("hook.txt");
    let p = payload(seed.path(), "watched", 9);
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    std::fs::create_dir_all(&watch).unwrap();
    let hook = format!(
        "printf '%s\\n%s\\n%s\\n' \"$TORRENT_GET_INFO_HASH\" \"$TORRENT_GET_NAME\" \"$TORRENT_GET_PATH\" > {}",
        test_fixtures::harness::shell_quote(hook_out.to_str().unwrap())
    );
    let d = Daemon::start(&state, &out, &["--peer", &s.addr().to_string(), "--watch", watch.to_str().unwrap(), "--on-done", &hook]);
    std::fs::copy(&p.torrent_path, watch.join("dropped.torrent")).unwrap();
    std::fs::write(watch.join("junk.magnet"), b"this is not a magnet link\n").unwrap();
    wait_for(Duration::from_secs(20), "the watched file to be added", || watch.join("dropped.torrent.added").exists());
    wait_for(Duration::from_secs(20), "the junk file to be refused", || watch.join("junk.magnet.invalid").exists());
    d.wait_torrent(&hex(&p), LIMIT, "complete", complete);
    wait_for(Duration::from_secs(20), "the --on-done hook", || std::fs::read_to_string(&hook_out).is_ok_and(|s| s.lines().count() == 3));
    let got = std::fs::read_to_string(&hook_out).unwrap();
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines, vec![hex(&p).as_str(), "watched", out.join("watched").to_str().unwrap()]);
    assert_same_tree(&p.dir.join("watched"), &out.join("watched"));
}

#[test]
fn stalled_magnet_says_why_and_a_smaller_selection_finishes_it() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let p = payload(seed.path(), "partial", 10);
    let n = p.meta.info.piece_count();
    // The seeder has pieces 0-31 of 48: all of first.bin (0-30), not the rest.
    let have: Vec<bool> = (0..n).map(|i| i < 32).collect();
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions { have: Some(have), ..Default::default() }).unwrap();
    let mut d = Daemon::start(&state, &out, &["--peer", &s.addr().to_string()]);
    let (_, token) = d.endpoint();
    let h = hex(&p);
    let magnet = format!("magnet:?xt=urn:btih:{h}&dn=partial");
    let (st, body) = http(&d, "POST", "/v1/torrents", Some(&token), Some(json!({ "source": magnet }).to_string().as_bytes()));
    assert_eq!(st, 201, "{body}");
    let t = d.wait_torrent(&h, LIMIT, "stuck at the seeder's pieces", |t| t.have_bytes == 32 * 65536 && t.stalled.is_some());
    assert_eq!(t.state, "downloading");
    assert_eq!(t.name, "partial", "the name from the fetched metadata");
    let why = t.stalled.unwrap();
    assert!(why.contains("16 of the 16 missing pieces: no connected peer has them"), "{why}");
    let det = d.detail(&h);
    assert_eq!(det.diagnosis.first(), Some(&why));
    assert_eq!(det.peers_detail.len(), 1, "{:?}", det.peers_detail);
    let peer = &det.peers_detail[0];
    assert_eq!(peer.addr, s.addr().to_string());
    assert_eq!(peer.transport, "tcp");
    assert!((peer.progress - 32.0 / 48.0).abs() < 1e-9, "{peer:?}");
    assert_eq!(det.files.iter().map(|f| (f.index, f.progress == 1.0)).collect::<Vec<_>>(), vec![(1, true), (2, false)]);

    // Only the first file (by name): complete.
    let r = remote(&state, &["select", "partial", "first.bin"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let t = d.wait_torrent(&h, LIMIT, "complete with one file", complete);
    assert!(t.stalled.is_none(), "{t:?}");
    assert_eq!(
        std::fs::read(out.join("partial/first.bin")).unwrap(),
        std::fs::read(p.dir.join("partial/first.bin")).unwrap()
    );
    let det = d.detail(&h);
    assert_eq!(det.files.iter().map(|f| f.selected).collect::<Vec<_>>(), vec![true, false]);
    assert!(det.diagnosis.is_empty(), "{:?}", det.diagnosis);

    // Restarted, the magnet comes back with its metadata and its selection
    // by name, complete at once.
    d.kill();
    drop(d);
    let d = Daemon::start(&state, &out, &["--peer", &s.addr().to_string()]);
    let t = d.wait_torrent(&h, LIMIT, "complete after the restart", complete);
    assert_eq!(t.name, "partial");
    assert_eq!(t.session_downloaded, 0, "{t:?}");
    let det = d.detail(&h);
    assert_eq!(det.files.iter().map(|f| f.selected).collect::<Vec<_>>(), vec![true, false]);
}

#[test]
fn downloads_from_aria2c_through_a_tracker() {
    test_fixtures::harness::require_tool("aria2c", "aria2");
    use test_fixtures::tracker::{Tracker, TrackerOptions};
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let tracker = Tracker::start(TrackerOptions { interval: 2, ..Default::default() });
    let p = make_payload(seed.path(), "from-aria2", &[("big.bin", 4_000_037), ("sub/one", 1)], 64 * 1024, &[&tracker.http_announce_url()], 11).unwrap();
    let port = test_fixtures::harness::free_port();
    let log = File::create(work.path().join("aria2c.log")).unwrap();
    let mut aria = Command::new("aria2c")
        .arg(format!("--dir={}", seed.path().display()))
        .arg(format!("--listen-port={port}"))
        .args([
            "--interface=127.0.0.1",
            "--disable-ipv6=true",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--bt-tracker-interval=2",
            "--file-allocation=none",
            "--summary-interval=0",
            "--console-log-level=notice",
            "--auto-save-interval=0",
            "--stop=80",
            "--seed-ratio=0.0",
            "--bt-seed-unverified=true",
        ])
        .arg(&p.torrent_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start aria2c");
    let aria_log = || std::fs::read_to_string(work.path().join("aria2c.log")).unwrap_or_default();
    wait_for(Duration::from_secs(20), "aria2c listening", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let d = Daemon::start(&state, &out, &[]);
    let (_, token) = d.endpoint();
    // `source` may be a path the daemon reads itself.
    let (st, body) = http(&d, "POST", "/v1/torrents", Some(&token), Some(json!({ "source": p.torrent_path }).to_string().as_bytes()));
    assert_eq!(st, 201, "{body}");
    let h = hex(&p);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !d.list().iter().any(|t| t.info_hash == h && complete(t)) {
        assert!(Instant::now() < deadline, "not complete from aria2c\n{}\naria2c:\n{}", d.log(), aria_log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_same_tree(&p.dir.join("from-aria2"), &out.join("from-aria2"));
    let det = d.detail(&h);
    assert_eq!(det.trackers.len(), 1);
    assert_eq!(det.trackers[0].status, "ok", "{:?}", det.trackers);
    let _ = aria.kill();
    let _ = aria.wait();
}

#[test]
fn usage_errors_and_one_daemon_per_state_directory() {
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let t = Duration::from_secs(30);
    let r = run(
        {
            let mut c = Command::new(bin());
            c.args(["daemon", "--help"]);
            c
        },
        t,
    );
    assert_eq!(r.code(), 0);
    for text in ["--state", "--api", "--watch", "--on-done", "SIGKILL"] {
        assert!(r.stdout.contains(text), "daemon --help lacks {text}:\n{}", r.stdout);
    }
    let r = run(
        {
            let mut c = Command::new(bin());
            c.args(["remote", "--help"]);
            c
        },
        t,
    );
    assert_eq!(r.code(), 0);
    assert!(r.stdout.contains("list") && r.stdout.contains("Authorization"), "{}", r.stdout);
    // No daemon: exit 2, and what to do.
    let r = remote(&state, &["list"]);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.starts_with("error: ") && r.stderr.contains("torrent-get daemon --state"), "{}", r.stderr);
    let r = remote(&state, &["frobnicate"]);
    assert_eq!(r.code(), 2, "{}", r.describe());
    // Not loopback: refused.
    let mut c = Command::new(bin());
    c.arg("daemon").arg("--state").arg(&state).args(["--api", "0.0.0.0:0", "--no-listen", "--no-dht"]);
    let r = run(c, t);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.contains("loopback"), "{}", r.stderr);
    // A second daemon on the same state directory is refused.
    let d = Daemon::start(&state, &out, &["--no-listen"]);
    let mut c = Command::new(bin());
    c.arg("daemon").arg("--state").arg(&state).args(["--no-listen", "--no-dht"]);
    let r = run(c, t);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.contains("another torrent-get daemon uses this state directory"), "{}", r.stderr);
    // The first one still answers; its stale address after a kill means exit 2.
    assert!(d.list().is_empty());
    drop(d);
    std::fs::write(state.join("api"), "127.0.0.1:1\n").unwrap();
    let r = remote(&state, &["list"]);
    assert_eq!(r.code(), 2, "{}", r.describe());
}

#[test]
fn a_failing_tracker_is_the_reason_given() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let refusing = test_fixtures::harness::RefusingPort::new();
    let url = format!("http://127.0.0.1:{}/announce", refusing.port());
    let p = make_payload(seed.path(), "lonely", &[("a.bin", 300_000)], 64 * 1024, &[&url], 12).unwrap();
    let d = Daemon::start(&state, &out, &["--no-listen", "--tracker-timeout", "2"]);
    assert_eq!(remote(&state, &["add", p.torrent_path.to_str().unwrap()]).code(), 0);
    let h = hex(&p);
    let t = d.wait_torrent(&h, LIMIT, "the tracker error", |t| t.stalled.as_deref().is_some_and(|s| s.starts_with("tracker error:")));
    assert_eq!(t.state, "downloading");
    let det = d.detail(&h);
    assert_eq!(det.diagnosis.len(), 2, "{:?}", det.diagnosis);
    assert_eq!(det.diagnosis[1], "no peers known yet");
    assert_eq!(det.trackers.len(), 1);
    assert_eq!(det.trackers[0].url, url);
    assert_eq!(det.trackers[0].status, "error");
    assert!(det.trackers[0].error.is_some());
    // `remote list` says it on the torrent's second line.
    let r = remote(&state, &["list"]);
    assert!(r.stdout.contains("not finishing: tracker error:"), "{}", r.stdout);
}

#[test]
fn each_tracker_has_its_own_state_in_the_detail() {
    let seed = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (state, out) = (work.path().join("state"), work.path().join("dl"));
    let refusing = test_fixtures::harness::RefusingPort::new();
    let bad = format!("http://127.0.0.1:{}/announce", refusing.port());
    let tracker = test_fixtures::tracker::Tracker::start(Default::default());
    let good = tracker.http_announce_url();
    // Two tiers: the refusing one is asked first, then the working one.
    let p = make_payload(seed.path(), "two-trackers", &[("a.bin", 300_000)], 64 * 1024, &[&bad, &good], 13).unwrap();
    // A seed the tracker knows of (nobody listens there: the torrent stays downloading).
    let nobody = test_fixtures::harness::RefusingPort::new();
    tracker.add_peer_with_left(&p.meta.info_hash, format!("127.0.0.1:{}", nobody.port()).parse().unwrap(), 0);
    let d = Daemon::start(&state, &out, &["--no-listen", "--tracker-timeout", "2"]);
    assert_eq!(remote(&state, &["add", p.torrent_path.to_str().unwrap()]).code(), 0);
    let h = hex(&p);
    let deadline = Instant::now() + LIMIT;
    let det = loop {
        let det = d.detail(&h);
        if det.trackers.iter().any(|t| t.state == "ok") || Instant::now() > deadline {
            break det;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(det.trackers.len(), 2, "{:?}", det.trackers);
    let (b, g) = (&det.trackers[0], &det.trackers[1]);
    assert_eq!((b.url.as_str(), g.url.as_str()), (bad.as_str(), good.as_str()));
    assert_eq!((b.state.as_str(), b.status.as_str(), b.peers, b.seeders), ("error", "error", None, None), "{b:?}");
    assert!(b.error.as_deref().is_some_and(|e| !e.is_empty()), "{b:?}");
    assert_eq!((g.state.as_str(), g.status.as_str(), g.error.as_deref()), ("ok", "ok", None), "{g:?}");
    // The seed it was told of, and us (downloading).
    assert_eq!((g.peers, g.seeders, g.leechers), (Some(1), Some(1), Some(1)), "{g:?}");
    // The tracker's interval is 60 s; both are asked at the next announce.
    for t in [b, g] {
        assert!(t.next_announce_secs.is_some_and(|s| (50..=60).contains(&s)), "{t:?}");
    }
    let r = remote(&state, &["show", &h]);
    let line = |url: &str| r.stdout.lines().find(|l| l.contains(url)).unwrap_or_else(|| panic!("{url} not shown:\n{}", r.stdout)).to_string();
    assert!(line(&good).contains("ok, 1 peers, 1 seeders, 1 leechers, next in"), "{}", r.stdout);
    assert!(line(&bad).contains(" error: "), "{}", r.stdout);
    let r = remote(&state, &["show", "--json", &h]);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["trackers"][1]["seeders"], 1, "{v}");
    assert_eq!(v["trackers"][0]["state"], "error", "{v}");
}
