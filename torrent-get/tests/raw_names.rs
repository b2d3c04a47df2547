//! File names that are not UTF-8 (Latin-1 `caf\xe9.txt`): a torrent made
//! from such a tree (`torrent_core::create`, as `torrent-info create`
//! does) is seeded by `--seed-only` from that same tree (every piece found,
//! nothing to download), and a second torrent-get downloading from it
//! writes the files under the same byte names.

mod common;

use common::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

fn write(path: &Path, size: u64, seed: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    test_fixtures::payload::write_pseudo_random_file(path, size, seed).unwrap();
}

#[test]
fn seed_only_and_download_keep_latin1_names() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let root = src.join(os(b"r\xe9p"));
    write(&root.join(os(b"caf\xe9.txt")), 70_000, 1);
    write(&root.join(os(b"sub\xff")).join(os(b"na\xefve.bin")), 50_000, 2);
    write(&root.join("ok.txt"), 10, 3);
    let opts = torrent_core::create::CreateOptions { piece_length: Some(16384), ..Default::default() };
    let bytes = torrent_core::create::create_torrent(&root, &opts).unwrap();
    let torrent = work.path().join("t.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let meta = torrent_core::Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(meta.info.name_disk, b"r\xe9p");
    let pieces = meta.info.piece_count() as u64;

    // The seeder finds every piece in the tree the torrent was made from.
    let mut seeder = Command::new(bin());
    seeder.args(["--seed-only", "--json", "-v", "--no-dht", "--timeout", "60", "--listen", "127.0.0.1:0", "-o"]);
    seeder.arg(&src).arg(&torrent).env("XDG_CACHE_HOME", work.path().join("cache")).stdin(Stdio::null());
    let mut seeder = Live::spawn(seeder);
    let port = seeder.wait_event(LIMIT, |e| e["event"] == "listening").expect("listening")["port"].as_u64().unwrap();
    let checked = seeder.wait_event(LIMIT, |e| e["event"] == "checked").expect("checked");
    assert_eq!((checked["have_pieces"].as_u64(), checked["pieces"].as_u64()), (Some(pieces), Some(pieces)), "{checked}");

    // A second torrent-get downloads it all from that seeder alone.
    let out = work.path().join("out");
    let mut c = cmd(45);
    c.args(["--peer", &format!("127.0.0.1:{port}"), "-o"]).arg(&out).arg(&torrent);
    c.env("XDG_CACHE_HOME", work.path().join("cache2"));
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    // The result line shows the path escaped.
    assert_eq!(r.stdout.trim(), format!("{}\tdone\t{}/r\\xe9p", meta.info_hash.to_hex(), out.display()));
    // Same byte names, same bytes, and nothing under a replacement name.
    assert_same_tree(&root, &out.join(os(b"r\xe9p")));
    let got = list_files(&out.join(os(b"r\xe9p")));
    let names: Vec<&[u8]> = got.iter().map(|p| p.as_os_str().as_bytes()).collect();
    assert_eq!(names, [&b"caf\xe9.txt"[..], b"ok.txt", b"sub\xff/na\xefve.bin"]);
    drop(seeder);

    // The downloaded tree seeds too (a restart finds its files by their bytes).
    let mut again = Command::new(bin());
    again.args(["--seed-only", "--json", "--no-dht", "--timeout", "2", "--listen", "127.0.0.1:0", "-o"]);
    again.arg(&out).arg(&torrent).env("XDG_CACHE_HOME", work.path().join("cache3"));
    let r = run(again, LIMIT);
    let checked = r.last_event("checked");
    assert_eq!(checked["have_pieces"].as_u64(), Some(pieces), "{}", r.describe());
}

/// `--seed-only` without the data says where it looked, escaped.
#[test]
fn seed_only_without_the_data_shows_the_name_escaped() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join(os(b"caf\xe9"));
    write(&root.join("a"), 20_000, 4);
    let bytes = torrent_core::create::create_torrent(&root, &Default::default()).unwrap();
    let torrent = work.path().join("t.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mut c = cmd(5);
    c.arg("--seed-only").arg("-o").arg(&empty).arg(&torrent);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.contains(&format!("no data found under {}/caf\\xe9", empty.display())), "{}", r.stderr);
}

/// A web seed (BEP 19) is asked for the raw bytes, percent-encoded
/// (`caf%E9.txt`): the mirror has the files under their real names.
#[test]
fn web_seed_urls_carry_the_raw_bytes() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let root = src.join(os(b"r\xe9p"));
    write(&root.join(os(b"caf\xe9.txt")), 90_000, 5);
    write(&root.join(os(b"d\xff")).join("b"), 40_000, 6);
    let ws = test_fixtures::webseed::WebSeedServer::start(&src, Default::default()).unwrap();
    let opts = torrent_core::create::CreateOptions { web_seeds: vec![ws.url()], ..Default::default() };
    let torrent = work.path().join("t.torrent");
    std::fs::write(&torrent, torrent_core::create::create_torrent(&root, &opts).unwrap()).unwrap();
    let out = work.path().join("out");
    let mut c = cmd(45);
    c.arg("-o").arg(&out).arg(&torrent).env("XDG_CACHE_HOME", work.path().join("cache"));
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&root, &out.join(os(b"r\xe9p")));
    // Both files were asked for (a U+FFFD name would not be found).
    let asked: Vec<String> = ws.ranges().into_iter().map(|(p, _, _)| p).collect();
    assert!(asked.iter().any(|p| p.ends_with("/caf\u{fffd}.txt")) && asked.iter().any(|p| p.ends_with("\u{fffd}/b")), "{asked:?}");
}

/// libtorrent (python3-libtorrent) as the seeder. It names such files its
/// own way (each bad UTF-8 sequence becomes `_`: `caf\xe9.txt` is
/// `caf_xt` in 2.0.8), so its copy of the data is laid out under the names
/// it asks for; torrent-get, downloading from it, writes the raw names.
#[test]
fn download_from_libtorrent_writes_the_raw_names() {
    use std::io::BufRead;
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("src").join(os(b"r\xe9p"));
    write(&root.join(os(b"caf\xe9.txt")), 80_000, 7);
    write(&root.join("ok.txt"), 30_000, 8);
    let bytes = torrent_core::create::create_torrent(&root, &Default::default()).unwrap();
    let torrent = work.path().join("t.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let meta = torrent_core::Metainfo::from_bytes(&bytes).unwrap();
    // libtorrent's names for the files, in the torrent's order.
    let ask = "import libtorrent as lt, sys\nfs = lt.torrent_info(sys.argv[1]).files()\nfor i in range(fs.num_files()): print(fs.file_path(i))";
    let o = Command::new("/usr/bin/python3").args(["-c", ask]).arg(&torrent).output();
    let Ok(o) = o.as_ref().map_err(|e| e.to_string()).and_then(|o| if o.status.success() { Ok(o) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) }) else {
        test_fixtures::harness::skip(false, &format!("python3-libtorrent not usable: {o:?}"));
        return;
    };
    let lt_names: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(lt_names.len(), meta.info.files.len());
    let lt_dir = work.path().join("lt");
    for (i, name) in lt_names.iter().enumerate() {
        assert!(!name.as_bytes().contains(&0xe9), "{name}");
        let to = lt_dir.join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(meta.info.file_in(&work.path().join("src"), i), to).unwrap();
    }
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lt_peer.py");
    let mut lt = Command::new("/usr/bin/python3");
    lt.arg(script).arg("seed").arg(&torrent).arg(&lt_dir).args(["--port", &port.to_string(), "--check", "--timeout", "60"]);
    lt.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut lt = lt.spawn().unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let lines = std::io::BufReader::new(lt.stdout.take().unwrap());
    let _lt = Kill(lt);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let seeding = std::iter::from_fn(|| rx.recv_timeout(LIMIT).ok()).any(|l| l == "SEEDING");
    assert!(seeding, "libtorrent never had every piece of its copy");
    let out = work.path().join("out");
    let mut c = cmd(45);
    c.args(["--peer", &format!("127.0.0.1:{port}"), "-o"]).arg(&out).arg(&torrent);
    c.env("XDG_CACHE_HOME", work.path().join("cache"));
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.describe());
    assert_same_tree(&root, &out.join(os(b"r\xe9p")));
}
