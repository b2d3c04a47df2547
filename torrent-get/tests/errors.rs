//! Bad inputs end with exit code 2 and a message naming the problem, and
//! never write outside the download directory.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;
use torrent_core::bencode::OwnedValue as O;

const LIMIT: Duration = Duration::from_secs(30);

fn run_args(args: &[&str]) -> Run {
    let mut c = cmd(10);
    c.arg("--no-listen").args(args);
    run(c, LIMIT)
}

#[test]
fn missing_torrent_file() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope.torrent");
    let r = run_args(&["-o", d.path().to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.contains("nope.torrent"), "the message does not name the file: {}", r.stderr);
    assert!(r.stdout.is_empty(), "stdout is for results: {:?}", r.stdout);
}

#[test]
fn garbage_torrent_and_bad_arguments() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.torrent");
    std::fs::write(&bad, b"d4:infod6:lengthi-5eee").unwrap();
    let r = run_args(&["-o", d.path().to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.contains("bad.torrent"), "{}", r.stderr);

    std::fs::write(&bad, b"this is not bencode").unwrap();
    let r = run_args(&[bad.to_str().unwrap()]);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.contains("bencode"), "{}", r.stderr);

    // A magnet link without any way to find peers.
    let r = run_args(&["magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"]);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.contains("peer"), "{}", r.stderr);

    let r = run_args(&["magnet:?xt=urn:btih:12345"]);
    assert_eq!(r.code(), 2, "{}", r.describe());

    let r = run_args(&["--max-download-rate", "fast", "x.torrent"]);
    assert_eq!(r.code(), 2, "{}", r.describe());

    // No source at all.
    let r = run_args(&[]);
    assert_eq!(r.code(), 2, "{}", r.describe());
}

#[test]
fn help_documents_exit_codes() {
    let r = run(
        {
            let mut c = std::process::Command::new(bin());
            c.arg("--help");
            c
        },
        LIMIT,
    );
    assert_eq!(r.code(), 0);
    for s in ["Exit codes", "0 ", "1 ", "2 ", "--json", "--peer"] {
        assert!(r.stdout.contains(s), "--help lacks {s:?}");
    }
}

/// A small valid torrent (made from real files).
fn small_torrent(dir: &Path) -> test_fixtures::payload::Payload {
    test_fixtures::payload::make_payload(dir, "ok", &[("f", 1000)], 16384, &[], 41).unwrap()
}

#[test]
fn unwritable_download_directory() {
    let d = tempfile::tempdir().unwrap();
    let p = small_torrent(&d.path().join("src"));
    // As root a chmod-ed directory stays writable; sysfs is not writable by
    // anyone, so use that when the chmod does not bite.
    let ro = d.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let privileged = std::fs::write(ro.join("probe"), b"").is_ok();
    let target = if privileged { Path::new("/sys/kernel").to_path_buf() } else { ro.clone() };
    let r = run_args(&["-o", target.to_str().unwrap(), p.torrent_path.to_str().unwrap()]);
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.contains("not writable"), "unclear message: {}", r.stderr);
    assert!(r.stderr.contains(target.to_str().unwrap()), "the message does not name the directory: {}", r.stderr);
    assert!(!target.join("ok").exists());

    // A download directory that cannot be created.
    let r = run_args(&["-o", "/sys/kernel/torrent-get-test/x", p.torrent_path.to_str().unwrap()]);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr.contains("cannot create"), "{}", r.stderr);
}

/// A hand-made torrent whose file list holds `path` (valid otherwise).
fn torrent_with_path(name: &str, path: &[&str]) -> Vec<u8> {
    let file = O::dict()
        .with("length", O::Int(10))
        .with("path", O::List(path.iter().map(|c| O::bytes(c.as_bytes())).collect()));
    let info = O::dict()
        .with("files", O::List(vec![file]))
        .with("name", O::bytes(name.as_bytes()))
        .with("piece length", O::Int(16384))
        .with("pieces", O::bytes([0u8; 20]));
    O::dict().with("info", info).encode()
}

fn all_entries(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Unsafe names are made safe (issue 12), so these torrents load; what
/// matters is that nothing is ever written outside the download directory.
#[test]
fn path_traversal_stays_inside() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("a/b");
    std::fs::create_dir_all(&out).unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("evil", &["..", "..", "escaped"]),
        ("evil", &["sub", "..", "..", "escaped"]),
        ("evil", &["/etc/escaped"]),
        ("..", &["escaped"]),
        ("../escaped", &["f"]),
        (".torrent-get", &["x.resume"]),
    ];
    for (i, (name, path)) in cases.iter().enumerate() {
        let t = d.path().join(format!("evil{i}.torrent"));
        std::fs::write(&t, torrent_with_path(name, path)).unwrap();
    }
    let outside = |d: &Path| -> Vec<String> {
        all_entries(d).into_iter().filter(|e| !e.starts_with("a/b/")).collect()
    };
    let before = outside(d.path());
    for i in 0..cases.len() {
        let t = d.path().join(format!("evil{i}.torrent"));
        let mut c = cmd(1);
        c.args(["--no-listen", "-o", out.to_str().unwrap(), "--peer", "127.0.0.1:9", t.to_str().unwrap()]);
        let r = run(c, LIMIT);
        assert_eq!(r.code(), 1, "case {:?}: {}", cases[i], r.describe());
        assert_eq!(outside(d.path()), before, "case {:?} wrote outside", cases[i]);
    }
    assert!(!Path::new("/etc/escaped").exists());
    // The reserved name never reaches the resume directory.
    assert!(!out.join(".torrent-get/x.resume").exists());

    // Control: the same hand-made torrent with a harmless path is accepted
    // (it then times out: the peer does not exist), so the refusals above
    // are about the paths.
    let t = d.path().join("fine.torrent");
    std::fs::write(&t, torrent_with_path("fine", &["sub", "file"])).unwrap();
    let mut c = cmd(2);
    c.args(["--no-listen", "-o", out.to_str().unwrap(), "--peer", "127.0.0.1:9", t.to_str().unwrap()]);
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 1, "{}", r.describe());
}
