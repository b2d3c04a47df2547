//! File names that are not UTF-8 (Latin-1 `caf\xe9.txt`): `create` keeps
//! their bytes in the torrent, and `verify` finds the same files again by
//! those bytes (before, they became `_` and nothing verified).

mod common;

use common::{write_file, BIN};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use test_fixtures::harness::{run_bounded, Run};

fn run(args: &[&OsStr]) -> Run {
    run_bounded(Command::new(BIN).args(args), None, std::time::Duration::from_secs(120))
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// `PARENT/r\xe9p/{caf\xe9.txt, sub\xff/b.bin, ok.txt}`; returns the
/// content directory.
fn latin1_tree(parent: &Path) -> std::path::PathBuf {
    let root = parent.join(os(b"r\xe9p"));
    write_file(&root.join(os(b"caf\xe9.txt")), 40_000, 1);
    write_file(&root.join(os(b"sub\xff")).join("b.bin"), 30_000, 2);
    write_file(&root.join("ok.txt"), 5, 3);
    root
}

#[test]
fn create_then_verify_finds_latin1_names() {
    let d = tempfile::tempdir().unwrap();
    let root = latin1_tree(d.path());
    let t = d.path().join("t.torrent");
    run(&[os(b"create"), root.as_os_str(), os(b"-l"), os(b"16384"), os(b"-o"), t.as_os_str()]).expect_code(0);

    // The torrent has the bytes; show gives them escaped.
    let j = run(&[os(b"show"), os(b"--json"), t.as_os_str()]).expect_code(0).json();
    assert_eq!(j["name"], "r\\xe9p");
    let paths: Vec<&str> = j["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["r\\xe9p/caf\\xe9.txt", "r\\xe9p/ok.txt", "r\\xe9p/sub\\xff/b.bin"]);

    // Every piece verifies against the tree it was made from.
    let n = 70_005u64.div_ceil(16384);
    let r = run(&[os(b"verify"), t.as_os_str(), d.path().as_os_str()]).expect_code(0);
    assert_eq!(r.stdout, format!("pieces ok: {n}/{n}\n"), "{}", r.stderr);
    assert!(r.stderr.contains("looking for the data in ") && r.stderr.contains("/r\\xe9p\n"), "{}", r.stderr);
    // The note that names are not UTF-8, shown escaped (once per name).
    assert!(r.stderr.contains("file 1 \"caf\\xe9.txt\" is not UTF-8"), "{}", r.stderr);
    assert!(r.stderr.contains("torrent name \"r\\xe9p\" is not UTF-8"), "{}", r.stderr);

    // A missing raw-named file is named (escaped) and its pieces fail.
    std::fs::remove_file(root.join(os(b"caf\xe9.txt"))).unwrap();
    let r = run(&[os(b"verify"), t.as_os_str(), d.path().as_os_str()]).expect_code(1);
    assert!(r.stdout.contains("r\\xe9p/caf\\xe9.txt (missing)"), "{}", r.stdout);
    assert!(r.stdout.starts_with("pieces ok: 2/5\n"), "{}", r.stdout);

    // Nothing there at all: where it looked, escaped.
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = run(&[os(b"verify"), t.as_os_str(), empty.as_os_str()]);
    assert!(r.stderr.contains("empty/r\\xe9p"), "{}", r.stderr);
}

#[test]
fn single_latin1_file_round_trips() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join(os(b"\xe9t\xe9.iso"));
    write_file(&f, 50_000, 9);
    let t = d.path().join("t.torrent");
    run(&[os(b"create"), f.as_os_str(), os(b"-o"), t.as_os_str()]).expect_code(0);
    let r = run(&[os(b"verify"), t.as_os_str(), d.path().as_os_str()]).expect_code(0);
    assert_eq!(r.stdout, "pieces ok: 4/4\n");
    // The same bytes in another directory under the `_` name of old: not found.
    let other = d.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(&f, other.join("_t_.iso")).unwrap();
    run(&[os(b"verify"), t.as_os_str(), other.as_os_str()]).expect_code(1);
}
