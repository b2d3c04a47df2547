//! Reading what real clients accept (issue 12): a tracker that answers
//! with unsorted keys, and a quirky torrent (unsorted info keys, a newline
//! after the dictionary, duplicate file names) downloaded from a real
//! libtorrent seeder into safe names, nothing outside the directory.

mod common;

use common::*;
use sha1::{Digest, Sha1};
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use test_fixtures::payload::make_payload;
use test_fixtures::seeder::{Seeder, SeederOptions};
use test_fixtures::tracker::{Mode, Tracker, TrackerOptions};
use torrent_core::bencode::{self, OwnedValue as O};

const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn peers_from_a_tracker_with_unsorted_replies() {
    let seed = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(TrackerOptions { interval: 5, ..Default::default() });
    tracker.set_mode(Mode::Unsorted);
    let p = make_payload(seed.path(), "u.bin", &[("", 300_000)], 16 * 1024, &[&tracker.http_announce_url()], 77)
        .unwrap();
    let s = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    tracker.add_peer(&p.meta.info_hash, s.addr());
    // No --peer: the only way to the seeder is the tracker's reply.
    let mut c = cmd(30);
    c.arg("--no-listen").arg("-o").arg(out.path()).arg(&p.torrent_path);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert!(tracker.http_announces() >= 1);
    assert_eq!(std::fs::read(out.path().join("u.bin")).unwrap(), std::fs::read(seed.path().join("u.bin")).unwrap());
}

/// Write `d` with its keys in reverse order (not canonical).
fn reversed(d: &O) -> Vec<u8> {
    let enc = d.encode();
    let v = bencode::decode(&enc).unwrap();
    let mut out = b"d".to_vec();
    for (k, v) in v.as_dict().unwrap().iter().rev() {
        out.extend_from_slice(format!("{}:", k.len()).as_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(v.raw);
    }
    out.push(b'e');
    out
}

fn all_entries(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn quirky_torrent_from_a_libtorrent_seeder() {
    let work = tempfile::tempdir().unwrap();
    let seed_dir = work.path().join("seed");
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Three files, two of them with the same path in the torrent.
    let sizes = [40_000usize, 30_001, 25_555];
    let mut data = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        let mut b = vec![0u8; *n];
        test_fixtures::payload::fill_pseudo_random(90 + i as u64, &mut b);
        data.push(b);
    }
    let plen = 16 * 1024;
    let all: Vec<u8> = data.concat();
    let pieces: Vec<u8> = all.chunks(plen).flat_map(|c| <[u8; 20]>::from(Sha1::digest(c))).collect();
    let file = |len: usize, path: &[&str]| {
        O::dict()
            .with("path", O::List(path.iter().map(|c| O::from(*c)).collect()))
            .with("length", O::Int(len as i64))
    };
    let info = O::dict()
        .with(
            "files",
            O::List(vec![
                file(sizes[0], &["a.bin"]),
                file(sizes[1], &["sub", "b.bin"]),
                file(sizes[2], &["sub", "b.bin"]),
            ]),
        )
        .with("name", "quirky".into())
        .with("piece length", O::Int(plen as i64))
        .with("pieces", O::Bytes(pieces));
    let info_raw = reversed(&info);
    let mut torrent = b"d4:info".to_vec();
    torrent.extend_from_slice(&info_raw);
    torrent.extend_from_slice(b"e\n");
    let tpath = work.path().join("quirky.torrent");
    std::fs::write(&tpath, &torrent).unwrap();
    let our_hash = torrent_core::InfoHash(Sha1::digest(&info_raw).into()).to_hex();

    // libtorrent reads it with the same info-hash and the same names.
    let o = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            "import sys, libtorrent as lt\n\
             ti = lt.torrent_info(sys.argv[1]); fs = ti.files()\n\
             print(str(ti.info_hash()))\n\
             for i in range(fs.num_files()): print(fs.file_path(i))",
        )
        .arg(&tpath)
        .output()
        .expect("python3-libtorrent");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lt_out = String::from_utf8(o.stdout).unwrap();
    let lt_lines: Vec<&str> = lt_out.lines().collect();
    assert_eq!(lt_lines[0], our_hash);
    assert_eq!(&lt_lines[1..], ["quirky/a.bin", "quirky/sub/b.bin", "quirky/sub/b.1.bin"]);

    // The seeder's data, at the names libtorrent gives.
    for (name, d) in lt_lines[1..].iter().zip(&data) {
        let p = seed_dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, d).unwrap();
    }
    let port = free_port();
    let log = File::create(work.path().join("lt.log")).unwrap();
    let mut seeder = Command::new("/usr/bin/python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lt_peer.py"))
        .arg("seed")
        .arg(&tpath)
        .arg(&seed_dir)
        .args(["--port", &port.to_string(), "--timeout", "80"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    assert!(wait_listening(port, Duration::from_secs(20)), "libtorrent seeder not listening");

    let before: Vec<String> = all_entries(work.path()).into_iter().filter(|e| !e.starts_with("out")).collect();
    let mut c = cmd_loud(60);
    c.args(["--no-listen", "--json", "--peer", &format!("127.0.0.1:{port}")]);
    c.arg("-o").arg(&out).arg(&tpath);
    let r = run(c, LIMIT);
    let _ = seeder.kill();
    let _ = seeder.wait();
    assert_eq!(r.code(), 0, "{}\n{}", r.describe(), std::fs::read_to_string(work.path().join("lt.log")).unwrap());
    assert!(
        r.stderr.contains("file 3 \"sub/b.bin\" is stored as \"sub/b.1.bin\" (another file has the same path)"),
        "{}",
        r.stderr
    );
    for (name, d) in lt_lines[1..].iter().zip(&data) {
        assert_eq!(&std::fs::read(out.join(name)).unwrap(), d, "{name}");
    }
    // Nothing but the torrent's files and our resume data in the directory,
    // nothing new outside it.
    let inside: Vec<String> = all_entries(&out).into_iter().filter(|e| !e.starts_with(".torrent-get")).collect();
    assert_eq!(inside, ["quirky", "quirky/a.bin", "quirky/sub", "quirky/sub/b.1.bin", "quirky/sub/b.bin"]);
    let after: Vec<String> = all_entries(work.path()).into_iter().filter(|e| !e.starts_with("out")).collect();
    let new: Vec<&String> = after.iter().filter(|e| !before.contains(e)).collect();
    assert!(new.iter().all(|e| e.as_str() == "lt.log" || e.starts_with("seed/")), "{new:?}");
}

/// BEP 47 padding files are never written and cannot be selected.
#[test]
fn padding_files_cannot_be_selected() {
    let d = tempfile::tempdir().unwrap();
    let file = |len: i64, path: Option<&[&str]>, pad: bool| {
        let mut f = O::dict().with("length", O::Int(len));
        if let Some(p) = path {
            f.insert("path", O::List(p.iter().map(|c| O::from(*c)).collect()));
        }
        if pad {
            f.insert("attr", "p".into());
        }
        f
    };
    let info = O::dict()
        .with("files", O::List(vec![file(10, Some(&["a"]), false), file(16374, None, true), file(5, Some(&["b"]), false)]))
        .with("name", "p".into())
        .with("piece length", O::Int(16384))
        .with("pieces", O::Bytes(vec![0; 40]));
    let t = d.path().join("p.torrent");
    std::fs::write(&t, O::dict().with("info", info).encode()).unwrap();
    // Padding has no number: file 2 is "b", and there is no file 3.
    let mut c = cmd(1);
    c.args(["--no-listen", "--select", "3", "-o"]).arg(d.path()).arg(&t);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.contains("\"3\": the torrent has 2 files"), "{}", r.stderr);
    assert!(!d.path().join("p").exists());
    let mut c = cmd(1);
    c.args(["--no-listen", "--json", "--select", "2", "-o"]).arg(d.path()).arg(&t);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 1, "{}", r.describe());
    // Piece 1 (the last, 5 bytes) holds only b: that is all that is wanted.
    assert_eq!(r.last_event("stopped")["total_bytes"], 5, "{}", r.describe());
}

/// BEP 47 symlinks (issue 12): one pointing at a file of the torrent is
/// made, relative; one whose target is not in the torrent is skipped with
/// a warning; nothing appears outside the download directory.
#[test]
fn symlinks_are_made_only_inside() {
    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("seed");
    let out = work.path().join("out");
    std::fs::create_dir_all(seed.join("s/real")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let mut data = vec![0u8; 50_000];
    test_fixtures::payload::fill_pseudo_random(5, &mut data);
    std::fs::write(seed.join("s/real/f.bin"), &data).unwrap();
    let plen = 16 * 1024;
    let pieces: Vec<u8> = data.chunks(plen).flat_map(|c| <[u8; 20]>::from(Sha1::digest(c))).collect();
    let list = |v: &[&str]| O::List(v.iter().map(|c| O::from(*c)).collect());
    let link = |path: &[&str], target: &[&str]| {
        O::dict().with("attr", "l".into()).with("path", list(path)).with("symlink path", list(target))
    };
    let info = O::dict()
        .with(
            "files",
            O::List(vec![
                O::dict().with("length", O::Int(data.len() as i64)).with("path", list(&["real", "f.bin"])),
                link(&["links", "to-f"], &["real", "f.bin"]),
                link(&["escape"], &["..", "..", "..", "etc", "passwd"]),
            ]),
        )
        .with("name", "s".into())
        .with("piece length", O::Int(plen as i64))
        .with("pieces", O::Bytes(pieces));
    let tpath = work.path().join("s.torrent");
    std::fs::write(&tpath, O::dict().with("info", info).encode()).unwrap();
    let meta = torrent_core::Metainfo::from_bytes(&std::fs::read(&tpath).unwrap()).unwrap();
    let s = Seeder::start(&meta, &seed, SeederOptions::default()).unwrap();
    let mut c = cmd(30);
    c.args(["--no-listen", "--peer", &s.addr().to_string(), "-o"]).arg(&out).arg(&tpath);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_eq!(std::fs::read(out.join("s/real/f.bin")).unwrap(), data);
    assert_eq!(std::fs::read_link(out.join("s/links/to-f")).unwrap(), Path::new("../real/f.bin"));
    assert_eq!(std::fs::read(out.join("s/links/to-f")).unwrap(), data);
    assert!(std::fs::symlink_metadata(out.join("s/escape")).is_err());
    assert!(
        r.stderr.contains("symlink escape -> etc/passwd: the target is not a file or directory of the torrent; not created"),
        "{}",
        r.stderr
    );
    let entries = all_entries(work.path());
    assert!(entries.iter().all(|e| e.starts_with("out") || e.starts_with("seed") || e == "s.torrent"), "{entries:?}");
}

/// Issue 18: a torrent named `.torrent-get` (our resume directory) with a
/// file `<victim>.resume` cannot plant resume data for another torrent: the
/// name is reserved, so the file lands in `_.torrent-get/`.
#[test]
fn a_torrent_named_like_our_resume_directory_cannot_plant_resume_data() {
    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("seed");
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let victim = "ab".repeat(20);
    // A forged resume file: every piece of the victim "verified".
    let forged = O::dict()
        .with("files", O::List(vec![O::List(vec![])]))
        .with("info-hash", O::Bytes(vec![0xab; 20]))
        .with("pieces", O::Bytes(vec![0xff; 4]))
        .encode();
    std::fs::create_dir_all(seed.join("_.torrent-get")).unwrap();
    std::fs::write(seed.join(format!("_.torrent-get/{victim}.resume")), &forged).unwrap();
    let info = O::dict()
        .with(
            "files",
            O::List(vec![O::dict()
                .with("length", O::Int(forged.len() as i64))
                .with("path", O::List(vec![O::from(format!("{victim}.resume"))]))]),
        )
        .with("name", ".torrent-get".into())
        .with("piece length", O::Int(16384))
        .with("pieces", O::Bytes(Sha1::digest(&forged).to_vec()));
    let tpath = work.path().join("evil.torrent");
    std::fs::write(&tpath, O::dict().with("info", info).encode()).unwrap();
    let meta = torrent_core::Metainfo::from_bytes(&std::fs::read(&tpath).unwrap()).unwrap();
    assert_eq!(meta.info.name, "_.torrent-get");
    let s = Seeder::start(&meta, &seed, SeederOptions::default()).unwrap();
    let mut c = cmd_loud(30);
    c.args(["--no-listen", "--peer", &s.addr().to_string(), "-o"]).arg(&out).arg(&tpath);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert!(r.stderr.contains("reserved for torrent-get's resume data"), "{}", r.stderr);
    assert_eq!(std::fs::read(out.join(format!("_.torrent-get/{victim}.resume"))).unwrap(), forged);
    assert!(!out.join(format!(".torrent-get/{victim}.resume")).exists());
}
