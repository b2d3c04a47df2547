//! Interoperability of the metainfo parser, `verify` and `create` with
//! real BitTorrent software from Debian: mktorrent, transmission-create /
//! transmission-show (3.x) and python3-libtorrent (2.x, via /usr/bin/python3).
//!
//! Torrents made by each tool are read by `torrent-info show --json` and
//! compared field by field with what transmission-show prints and what
//! libtorrent's `torrent_info` reports; `torrent-info verify` must accept the
//! data and, after one byte is flipped, name the right piece and file.
//! Torrents made by `torrent-info create` must be read the same way by both.
//!
//! These tests FAIL when a tool is missing: CI installs the packages
//! (`apt-get install mktorrent transmission-cli python3-libtorrent`).

mod common;

use common::{flip_byte, restore_byte, run, write_file};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const TRACKER: &str = "http://127.0.0.1:6969/announce";
const PYTHON: &str = "/usr/bin/python3";

// ---------------------------------------------------------------- tools --

/// The real tools these tests compare with; a missing one fails the test.
fn require_tools() {
    use test_fixtures::harness::{require_python_module, require_tool};
    require_tool("mktorrent", "mktorrent");
    require_tool("transmission-show", "transmission-cli");
    require_tool("transmission-create", "transmission-cli");
    require_python_module(PYTHON, "libtorrent", "python3-libtorrent");
}

fn sh(cmd: &mut Command) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

// -------------------------------------------------------------- payload --

/// A temporary directory with `payload/` (nested directories, sizes that
/// are not multiples of any piece length, a 3-byte file) and `single.bin`.
struct Data {
    tmp: tempfile::TempDir,
}

impl Data {
    fn new() -> Data {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_file(&d.join("payload/a.bin"), 300_000, 1);
        write_file(&d.join("payload/sub/deep/c.dat"), 150_001, 2);
        write_file(&d.join("payload/sub/small.txt"), 3, 3);
        write_file(&d.join("payload/z/last.bin"), 40_000, 4);
        write_file(&d.join("single.bin"), 70_001, 5);
        Data { tmp }
    }
    fn dir(&self) -> &Path {
        self.tmp.path()
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }
    fn s(&self, rel: &str) -> String {
        self.path(rel).to_str().unwrap().to_string()
    }
}

// ------------------------------------------------------------ libtorrent --

const LT_CREATE: &str = r#"
import sys, os, libtorrent as lt
src, out, plen, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fs = lt.file_storage()
lt.add_files(fs, src)
flags = getattr(lt.create_torrent, 'v1_only', 0) if mode == 'v1' else 0
ct = lt.create_torrent(fs, plen, flags=flags)
ct.add_tracker(sys.argv[5])
lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(src)))
with open(out, 'wb') as f:
    f.write(lt.bencode(ct.generate()))
"#;

const LT_INFO: &str = r#"
import sys, json, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
if hasattr(ti, 'info_hashes'):
    ih = ti.info_hashes()
    v1 = str(ih.v1)
    v2 = str(ih.v2) if ih.has_v2() else None
else:
    v1, v2 = str(ti.info_hash()), None
fs = ti.files()
pad = lt.file_storage.flag_pad_file
files = [{"path": fs.file_path(i), "size": fs.file_size(i), "offset": fs.file_offset(i),
          "pad": bool(fs.file_flags(i) & pad)} for i in range(fs.num_files())]
tiers = {}
for t in ti.trackers():
    tiers.setdefault(t.tier, []).append(t.url)
print(json.dumps({"v1": v1, "v2": v2, "num_pieces": ti.num_pieces(),
                  "piece_length": ti.piece_length(), "total_size": ti.total_size(),
                  "name": ti.name(), "private": ti.priv(), "files": files,
                  "trackers": [tiers[k] for k in sorted(tiers)],
                  "web_seeds": [w["url"] for w in ti.web_seeds()]}))
"#;

/// Make a torrent with libtorrent; `mode` "v1" (v1_only) or "default"
/// (hybrid v1+v2 in libtorrent 2.x).
fn lt_create(src: &Path, out: &Path, plen: u32, mode: &str) {
    sh(Command::new(PYTHON).args([
        "-c",
        LT_CREATE,
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        &plen.to_string(),
        mode,
        TRACKER,
    ]));
}

fn lt_info(torrent: &Path) -> Value {
    let out = sh(Command::new(PYTHON).args(["-c", LT_INFO, torrent.to_str().unwrap()]));
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("libtorrent output is not JSON ({e}): {out}"))
}

// ---------------------------------------------------------- transmission --

/// What transmission-show (3.x) prints, parsed.
#[derive(Debug, Default)]
struct TrShow {
    name: String,
    hash: String,
    piece_count: usize,
    piece_size: String,
    total_size: String,
    private: bool,
    tiers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    /// (path, formatted size) in torrent order (`--unsorted`).
    files: Vec<(String, String)>,
}

/// Run transmission-show; None if it cannot parse the torrent (3.x does
/// not read BEP 52 hybrid torrents).
fn tr_show(torrent: &Path) -> Option<TrShow> {
    let o = Command::new("transmission-show")
        .arg("--unsorted")
        .arg(torrent)
        .output()
        .expect("run transmission-show");
    if !o.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut t = TrShow::default();
    let mut section = "";
    for line in text.lines() {
        match line.trim_end() {
            "GENERAL" | "TRACKERS" | "WEBSEEDS" | "FILES" => {
                section = line.trim_end();
                continue;
            }
            "" => continue,
            _ => {}
        }
        let l = line.trim();
        match section {
            "GENERAL" => {
                let (k, v) = l.split_once(": ").unwrap_or((l.trim_end_matches(':'), ""));
                match k {
                    "Name" => t.name = v.to_string(),
                    "Hash" => t.hash = v.to_string(),
                    "Piece Count" => t.piece_count = v.parse().expect("piece count"),
                    "Piece Size" => t.piece_size = v.to_string(),
                    "Total Size" => t.total_size = v.to_string(),
                    "Privacy" => t.private = v.starts_with("Private"),
                    _ => {}
                }
            }
            "TRACKERS" => {
                if l.starts_with("Tier #") {
                    t.tiers.push(Vec::new());
                } else {
                    t.tiers
                        .last_mut()
                        .expect("tier header first")
                        .push(l.to_string());
                }
            }
            "WEBSEEDS" => t.web_seeds.push(l.to_string()),
            "FILES" => {
                let open = l.rfind(" (").unwrap_or_else(|| panic!("file line {l:?}"));
                t.files
                    .push((l[..open].to_string(), l[open + 2..l.len() - 1].to_string()));
            }
            _ => {}
        }
    }
    assert!(
        !t.hash.is_empty(),
        "no Hash line in transmission-show output:\n{text}"
    );
    Some(t)
}

/// Transmission 3.x's size formatter (libtransmission/utils.c), which
/// transmission-show uses: `base` 1000 with kB/MB/GB/TB for sizes, 1024 with
/// KiB/MiB/GiB/TiB for the piece size; at least the first unit; two decimals
/// below 100, else one.
fn tr_format(bytes: u64, base: f64, names: [&str; 4]) -> String {
    let mut unit = 0;
    while unit < 3 && bytes as f64 >= base.powi(unit as i32 + 2) {
        unit += 1;
    }
    let value = bytes as f64 / base.powi(unit as i32 + 1);
    let prec = if value < 100.0 { 2 } else { 1 };
    format!("{value:.prec$} {}", names[unit])
}

fn tr_size(bytes: u64) -> String {
    tr_format(bytes, 1000.0, ["kB", "MB", "GB", "TB"])
}

fn tr_mem(bytes: u64) -> String {
    tr_format(bytes, 1024.0, ["KiB", "MiB", "GiB", "TiB"])
}

#[test]
fn transmission_formatter_matches_known_output() {
    // Values seen from transmission-show 3.00.
    assert_eq!(tr_size(150_008), "150.0 kB");
    assert_eq!(tr_size(50_001), "50.00 kB");
    assert_eq!(tr_size(7), "0.01 kB");
    assert_eq!(tr_size(1_073_741_824), "1.07 GB");
    assert_eq!(tr_mem(32_768), "32.00 KiB");
    assert_eq!(tr_mem(1 << 20), "1.00 MiB");
}

// ------------------------------------------------------------ comparing --

/// Our `show --json` for a torrent.
fn ours(torrent: &Path) -> Value {
    run(&["show", "--json", torrent.to_str().unwrap()])
        .expect_code(0)
        .json()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn tiers(v: &Value) -> Vec<Vec<String>> {
    v.as_array()
        .expect("array of tiers")
        .iter()
        .map(strings)
        .collect()
}

/// Compare our reading of `torrent` with libtorrent's and (when it can read
/// it) transmission-show's. Returns our JSON.
fn compare_with_references(torrent: &Path, expect_transmission: bool) -> Value {
    let me = ours(torrent);
    let ctx = torrent.display();

    // libtorrent
    let lt = lt_info(torrent);
    assert_eq!(
        me["info_hash"], lt["v1"],
        "{ctx}: v1 info-hash vs libtorrent"
    );
    assert_eq!(
        me["info_hash_v2"], lt["v2"],
        "{ctx}: v2 info-hash vs libtorrent"
    );
    assert_eq!(
        me["piece_count"], lt["num_pieces"],
        "{ctx}: piece count vs libtorrent"
    );
    assert_eq!(
        me["piece_length"], lt["piece_length"],
        "{ctx}: piece length vs libtorrent"
    );
    assert_eq!(
        me["total_size"], lt["total_size"],
        "{ctx}: total size vs libtorrent"
    );
    assert_eq!(me["name"], lt["name"], "{ctx}: name vs libtorrent");
    assert_eq!(
        me["private"], lt["private"],
        "{ctx}: private flag vs libtorrent"
    );
    // libtorrent shuffles the URLs inside a tier (as BEP 12 asks).
    let sort_tiers = |t: Vec<Vec<String>>| -> Vec<Vec<String>> {
        t.into_iter()
            .map(|mut tier| {
                tier.sort();
                tier
            })
            .collect()
    };
    assert_eq!(
        sort_tiers(tiers(&me["trackers"])),
        sort_tiers(tiers(&lt["trackers"])),
        "{ctx}: trackers vs libtorrent"
    );
    // Both libtorrent and transmission add a '/' to a multi-file torrent's
    // web seeds (BEP 19: the URL names a directory then).
    let trim = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|w| w.trim_end_matches('/').to_string())
            .collect()
    };
    assert_eq!(
        trim(strings(&me["web_seeds"])),
        trim(strings(&lt["web_seeds"])),
        "{ctx}: web seeds vs libtorrent"
    );
    let my_files = me["files"].as_array().unwrap();
    let lt_files = lt["files"].as_array().unwrap();
    let mine: Vec<(&str, u64, u64, bool)> = my_files
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap(),
                f["length"].as_u64().unwrap(),
                f["offset"].as_u64().unwrap(),
                f["padding"].as_bool().unwrap(),
            )
        })
        .collect();
    let theirs: Vec<(&str, u64, u64, bool)> = lt_files
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap(),
                f["size"].as_u64().unwrap(),
                f["offset"].as_u64().unwrap(),
                f["pad"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mine, theirs,
        "{ctx}: files (path, size, offset, padding) vs libtorrent"
    );

    // transmission-show
    match tr_show(torrent) {
        None => assert!(
            !expect_transmission,
            "{ctx}: transmission-show could not read a torrent it should read"
        ),
        Some(tr) => {
            assert_eq!(
                me["info_hash"].as_str().unwrap(),
                tr.hash,
                "{ctx}: hash vs transmission-show"
            );
            assert_eq!(
                me["name"].as_str().unwrap(),
                tr.name,
                "{ctx}: name vs transmission-show"
            );
            assert_eq!(
                me["piece_count"].as_u64().unwrap() as usize,
                tr.piece_count,
                "{ctx}: piece count vs transmission-show"
            );
            assert_eq!(
                tr_mem(me["piece_length"].as_u64().unwrap()),
                tr.piece_size,
                "{ctx}: piece size vs transmission-show"
            );
            assert_eq!(
                tr_size(me["total_size"].as_u64().unwrap()),
                tr.total_size,
                "{ctx}: total size vs transmission-show"
            );
            assert_eq!(
                me["private"].as_bool().unwrap(),
                tr.private,
                "{ctx}: private vs transmission-show"
            );
            assert_eq!(
                tiers(&me["trackers"]),
                tr.tiers,
                "{ctx}: trackers vs transmission-show"
            );
            assert_eq!(
                trim(strings(&me["web_seeds"])),
                trim(tr.web_seeds.clone()),
                "{ctx}: web seeds vs transmission-show"
            );
            let mine: Vec<(String, String)> = my_files
                .iter()
                .filter(|f| !f["padding"].as_bool().unwrap())
                .map(|f| {
                    (
                        f["path"].as_str().unwrap().to_string(),
                        tr_size(f["length"].as_u64().unwrap()),
                    )
                })
                .collect();
            assert_eq!(mine, tr.files, "{ctx}: files vs transmission-show");
        }
    }
    me
}

/// `verify` accepts the data; flipping byte `file_offset` of `file` (a path
/// below the data dir as in our JSON, e.g. "payload/a.bin") makes it exit 1
/// and name exactly that piece and file; restoring the byte makes it pass.
/// The expected piece comes from libtorrent's file offsets.
fn check_verify(torrent: &Path, data_dir: &Path, file: &str, file_offset: u64) {
    let t = torrent.to_str().unwrap();
    let d = data_dir.to_str().unwrap();
    let lt = lt_info(torrent);
    let n = lt["num_pieces"].as_u64().unwrap();
    let plen = lt["piece_length"].as_u64().unwrap();
    let r = run(&["verify", t, d]).expect_code(0);
    assert_eq!(
        r.stdout,
        format!("pieces ok: {n}/{n}\n"),
        "{}",
        torrent.display()
    );

    let file_start = lt["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == file)
        .unwrap_or_else(|| panic!("{file} not in libtorrent's file list: {lt}"))["offset"]
        .as_u64()
        .unwrap();
    let piece = (file_start + file_offset) / plen;
    // Pick offsets whose piece lies inside the one file.
    assert!(
        piece * plen >= file_start,
        "test offset too close to the file start"
    );
    let path = data_dir.join(file);
    let old = flip_byte(&path, file_offset);
    let r = run(&["verify", t, d]).expect_code(1);
    assert_eq!(
        r.stdout,
        format!(
            "pieces ok: {}/{n}\ndamaged: pieces {piece}  files: {file}\n",
            n - 1
        ),
        "{}",
        torrent.display()
    );
    let j = run(&["verify", "--json", t, d]).expect_code(1).json();
    assert_eq!(
        j["damaged_pieces"],
        serde_json::json!([{"first": piece, "last": piece}])
    );
    restore_byte(&path, file_offset, old);
    run(&["verify", t, d]).expect_code(0);
}

fn file_list(me: &Value) -> Vec<(String, u64)> {
    me["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["padding"].as_bool().unwrap())
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["length"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn sorted(mut v: Vec<(String, u64)>) -> Vec<(String, u64)> {
    v.sort();
    v
}

fn expected_multi() -> Vec<(String, u64)> {
    sorted(vec![
        ("payload/a.bin".into(), 300_000),
        ("payload/sub/deep/c.dat".into(), 150_001),
        ("payload/sub/small.txt".into(), 3),
        ("payload/z/last.bin".into(), 40_000),
    ])
}

// ---------------------------------------------------------------- tests --

#[test]
fn mktorrent_torrents() {
    require_tools();
    let data = Data::new();
    let multi = data.path("mk-multi.torrent");
    sh(Command::new("mktorrent")
        .args(["-l", "15", "-a", TRACKER, "-o"])
        .arg(&multi)
        .arg(data.path("payload")));
    let me = compare_with_references(&multi, true);
    assert_eq!(sorted(file_list(&me)), expected_multi());
    assert_eq!(me["piece_length"], 32_768);
    check_verify(&multi, data.dir(), "payload/a.bin", 150_000);
    check_verify(&multi, data.dir(), "payload/z/last.bin", 39_999);

    // Single file, private, two tiers (one with two URLs), a web seed.
    let single = data.path("mk-single.torrent");
    sh(Command::new("mktorrent")
        .args([
            "-l",
            "16",
            "-p",
            "-a",
            "http://127.0.0.1:6969/announce,http://127.0.0.1:6970/announce",
            "-a",
            "udp://127.0.0.1:6971",
            "-w",
            "http://127.0.0.1:8080/single.bin",
            "-o",
        ])
        .arg(&single)
        .arg(data.path("single.bin")));
    let me = compare_with_references(&single, true);
    assert_eq!(file_list(&me), vec![("single.bin".to_string(), 70_001)]);
    assert_eq!(me["private"], true);
    assert_eq!(me["trackers"].as_array().unwrap().len(), 2);
    check_verify(&single, data.dir(), "single.bin", 35_000);
}

#[test]
fn transmission_create_torrents() {
    require_tools();
    let data = Data::new();
    let multi = data.path("tr-multi.torrent");
    sh(Command::new("transmission-create")
        .args([
            "-s",
            "64",
            "-t",
            TRACKER,
            "-t",
            "udp://127.0.0.1:6971",
            "-o",
        ])
        .arg(&multi)
        .arg(data.path("payload")));
    let me = compare_with_references(&multi, true);
    assert_eq!(sorted(file_list(&me)), expected_multi());
    assert_eq!(me["piece_length"], 65_536);
    check_verify(&multi, data.dir(), "payload/a.bin", 150_000);

    let single = data.path("tr-single.torrent");
    sh(Command::new("transmission-create")
        .args(["-s", "16", "-p", "-c", "a comment", "-t", TRACKER, "-o"])
        .arg(&single)
        .arg(data.path("single.bin")));
    let me = compare_with_references(&single, true);
    assert_eq!(me["comment"], "a comment");
    assert_eq!(me["private"], true);
    check_verify(&single, data.dir(), "single.bin", 50_000);
}

#[test]
fn libtorrent_v1_only_torrents() {
    require_tools();
    let data = Data::new();
    let multi = data.path("lt-v1-multi.torrent");
    lt_create(&data.path("payload"), &multi, 16_384, "v1");
    let me = compare_with_references(&multi, true);
    assert_eq!(me["version"], "v1");
    assert_eq!(me["info_hash_v2"], Value::Null);
    assert_eq!(sorted(file_list(&me)), expected_multi());
    check_verify(&multi, data.dir(), "payload/a.bin", 150_000);
    check_verify(&multi, data.dir(), "payload/sub/deep/c.dat", 100_000);

    let single = data.path("lt-v1-single.torrent");
    lt_create(&data.path("single.bin"), &single, 32_768, "v1");
    compare_with_references(&single, true);
    check_verify(&single, data.dir(), "single.bin", 40_000);
}

#[test]
fn libtorrent_default_hybrid_torrents() {
    require_tools();
    let data = Data::new();
    let multi = data.path("lt-hybrid-multi.torrent");
    lt_create(&data.path("payload"), &multi, 32_768, "default");
    // transmission-show 3.x cannot read BEP 52 torrents; a newer one must
    // agree with us (compare_with_references checks it when it can).
    let me = compare_with_references(&multi, false);
    let lt = lt_info(&multi);
    if lt["v2"].is_null() {
        // libtorrent 1.x makes v1 torrents by default.
        assert_eq!(me["version"], "v1");
    } else {
        assert_eq!(me["version"], "hybrid");
        assert_eq!(me["info_hash_v2"], lt["v2"]);
        assert!(
            me["padding_size"].as_u64().unwrap() > 0,
            "hybrid multi-file torrents have padding"
        );
        let magnet = me["magnet"].as_str().unwrap();
        assert!(
            magnet.contains(&format!("xt=urn:btmh:1220{}", lt["v2"].as_str().unwrap())),
            "{magnet}"
        );
    }
    assert_eq!(sorted(file_list(&me)), expected_multi());
    // Padding files are not on disk; verify reads them as zeros.
    check_verify(&multi, data.dir(), "payload/a.bin", 150_000);
    check_verify(&multi, data.dir(), "payload/sub/small.txt", 1);

    let single = data.path("lt-hybrid-single.torrent");
    lt_create(&data.path("single.bin"), &single, 16_384, "default");
    compare_with_references(&single, false);
    check_verify(&single, data.dir(), "single.bin", 20_000);
}

#[test]
fn our_torrents_are_read_alike_by_transmission_and_libtorrent() {
    require_tools();
    let data = Data::new();
    let multi = data.path("ours-multi.torrent");
    let r = run(&[
        "create",
        &data.s("payload"),
        "-o",
        multi.to_str().unwrap(),
        "--piece-length",
        "32K",
        "--tracker",
        "http://127.0.0.1:6969/announce,http://127.0.0.1:6970/announce",
        "--tracker",
        "udp://127.0.0.1:6971",
        "--web-seed",
        "http://127.0.0.1:8080/files",
        "--comment",
        "made by the interop test",
        "--private",
    ])
    .expect_code(0);
    let me = compare_with_references(&multi, true);
    assert_eq!(r.stdout.trim(), me["info_hash"].as_str().unwrap());
    assert_eq!(sorted(file_list(&me)), expected_multi());
    assert_eq!(me["private"], true);
    check_verify(&multi, data.dir(), "payload/a.bin", 200_000);

    // Same data, piece length and flags as mktorrent: the same info
    // dictionary, hence the same info-hash.
    let ours_plain = data.path("ours-plain.torrent");
    let r = run(&[
        "create",
        &data.s("payload"),
        "-o",
        ours_plain.to_str().unwrap(),
        "-l",
        "32K",
        "--no-date",
    ])
    .expect_code(0);
    let mk = data.path("mk-plain.torrent");
    sh(Command::new("mktorrent")
        .args(["-l", "15", "-a", TRACKER, "-o"])
        .arg(&mk)
        .arg(data.path("payload")));
    let tr = tr_show(&mk).expect("transmission-show reads mktorrent's torrent");
    assert_eq!(
        r.stdout.trim(),
        tr.hash,
        "torrent-info create vs mktorrent info-hash"
    );

    // Single file with a custom name: the data must then be at DIR/<name>.
    let single = data.path("ours-single.torrent");
    run(&[
        "create",
        &data.s("single.bin"),
        "-o",
        single.to_str().unwrap(),
        "-l",
        "16384",
        "--name",
        "renamed.bin",
    ])
    .expect_code(0);
    let me = compare_with_references(&single, true);
    assert_eq!(me["name"], "renamed.bin");
    std::fs::create_dir(data.path("renamed")).unwrap();
    std::fs::copy(data.path("single.bin"), data.path("renamed/renamed.bin")).unwrap();
    check_verify(&single, &data.path("renamed"), "renamed.bin", 1000);
}

// ------------------------------------------------------- quirky torrents --

/// Bencode written in the order given (to make non-canonical input).
enum B<'a> {
    I(i64),
    S(&'a [u8]),
    L(Vec<B<'a>>),
    D(Vec<(&'a str, B<'a>)>),
}

fn enc(b: &B, out: &mut Vec<u8>) {
    match b {
        B::I(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
        B::S(s) => {
            out.extend_from_slice(format!("{}:", s.len()).as_bytes());
            out.extend_from_slice(s);
        }
        B::L(l) => {
            out.push(b'l');
            l.iter().for_each(|x| enc(x, out));
            out.push(b'e');
        }
        B::D(d) => {
            out.push(b'd');
            for (k, v) in d {
                enc(&B::S(k.as_bytes()), out);
                enc(v, out);
            }
            out.push(b'e');
        }
    }
}

/// Torrents with the quirks of issue 12, as real creators and trackers make
/// them: libtorrent reads each as we do (same info-hash, same files), and
/// transmission-show reads those it can. Where the three differ it is
/// stated: Transmission 3 hashes a re-encoding of the info dictionary, so
/// for unsorted info keys its info-hash is not the one peers use (we and
/// libtorrent hash the raw bytes); it refuses padding files without a path
/// and symlink entries without a length, which libtorrent and we load.
#[test]
fn quirky_torrents_are_read_alike() {
    require_tools();
    let d = Data::new();
    static PIECES: [u8; 20] = [1u8; 20];
    static PIECES2: [u8; 40] = [1u8; 40];
    let (pieces, pieces2): (&'static [u8], &'static [u8]) = (&PIECES, &PIECES2);
    let single = |rev: bool| {
        let mut v = vec![
            ("length", B::I(100)),
            ("name", B::S(b"q")),
            ("piece length", B::I(16384)),
            ("pieces", B::S(pieces)),
        ];
        if rev {
            v.reverse();
        }
        B::D(v)
    };
    let file = |n: i64, p: &[&'static str]| {
        B::D(vec![("length", B::I(n)), ("path", B::L(p.iter().map(|c| B::S(c.as_bytes())).collect()))])
    };
    let multi = |files: Vec<B<'static>>, p: &'static [u8]| {
        B::D(vec![
            ("files", B::L(files)),
            ("name", B::S(b"q")),
            ("piece length", B::I(16384)),
            ("pieces", B::S(p)),
        ])
    };
    let ann = || B::S(b"http://127.0.0.1:6969/announce");
    // (name, torrent, trailing bytes, transmission reads it, same hash in transmission)
    let cases: Vec<(&str, B, &[u8], bool, bool)> = vec![
        ("unsorted_top", B::D(vec![("info", single(false)), ("announce", ann())]), b"\n", true, true),
        ("unsorted_info", B::D(vec![("announce", ann()), ("info", single(true))]), b"", true, false),
        (
            "repeated_key",
            B::D(vec![("announce", ann()), ("comment", B::S(b"one")), ("comment", B::S(b"two")), ("info", single(false))]),
            b"",
            true,
            true,
        ),
        (
            "duplicate_paths",
            B::D(vec![("info", multi(vec![file(50, &["a", "b.txt"]), file(50, &["a", "b.txt"])], pieces))]),
            b"",
            true,
            true,
        ),
        (
            "pad_without_path",
            B::D(vec![(
                "info",
                multi(
                    vec![file(50, &["a"]), B::D(vec![("attr", B::S(b"p")), ("length", B::I(16334))]), file(50, &["b"])],
                    pieces2,
                ),
            )]),
            b"",
            false,
            false,
        ),
        (
            "symlink",
            B::D(vec![(
                "info",
                multi(
                    vec![
                        file(100, &["a"]),
                        B::D(vec![
                            ("attr", B::S(b"l")),
                            ("path", B::L(vec![B::S(b"l")])),
                            ("symlink path", B::L(vec![B::S(b"a")])),
                        ]),
                    ],
                    pieces,
                ),
            )]),
            b"",
            false,
            false,
        ),
    ];
    for (name, t, trailing, tr_reads, tr_same_hash) in cases {
        let mut bytes = Vec::new();
        enc(&t, &mut bytes);
        bytes.extend_from_slice(trailing);
        let path = d.path(&format!("{name}.torrent"));
        std::fs::write(&path, &bytes).unwrap();
        // Every one of them is non-canonical or quirky, yet loads.
        let me = ours(&path);
        let lt = lt_info(&path);
        assert_eq!(me["info_hash"], lt["v1"], "{name}: info-hash vs libtorrent");
        assert_eq!(me["total_size"], lt["total_size"], "{name}: size vs libtorrent");
        assert_eq!(me["piece_count"], lt["num_pieces"], "{name}: pieces vs libtorrent");
        let mine: Vec<String> = me["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect();
        let theirs: Vec<String> = lt["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect();
        if name == "pad_without_path" {
            // libtorrent 2.0 puts it at the top (.pad/N), we below the name.
            assert_eq!(mine, ["q/a", "q/.pad/16334", "q/b"], "{name}");
            assert_eq!(theirs, ["q/a", ".pad/16334", "q/b"], "{name}");
        } else {
            assert_eq!(mine, theirs, "{name}: files vs libtorrent");
        }
        match tr_show(&path) {
            Some(tr) => {
                assert!(tr_reads, "{name}: transmission-show now reads it");
                assert_eq!(me["info_hash"].as_str().unwrap() == tr.hash, tr_same_hash, "{name}: hash vs transmission-show");
                assert_eq!(tr.name, "q");
            }
            None => assert!(!tr_reads, "{name}: transmission-show could not read it"),
        }
    }
}
