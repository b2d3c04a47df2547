use super::*;
use crate::bencode::OwnedValue as O;

fn single(name: &str, len: i64, plen: i64, npieces: usize) -> O {
    O::dict()
        .with("length", O::Int(len))
        .with("name", name.into())
        .with("piece length", O::Int(plen))
        .with("pieces", O::Bytes(vec![7u8; 20 * npieces]))
}

fn torrent(info: O) -> Vec<u8> {
    O::dict()
        .with("announce", "http://127.0.0.1:1/announce".into())
        .with("info", info)
        .encode()
}

#[test]
fn from_vec_keeps_the_buffer_as_the_info_bytes() {
    let buf = torrent(single("a.bin", 100, 32, 4));
    let a = Metainfo::from_bytes(&buf).unwrap();
    let b = Metainfo::from_vec(buf.clone()).unwrap();
    assert_eq!(b.info_bytes, a.info_bytes);
    assert_eq!(b.info_hash, a.info_hash);
    assert!(b.info_bytes.starts_with(b"d6:length") && b.info_bytes.len() < buf.len());
    assert_eq!(b.info.pieces, a.info.pieces);
    let (e, back) = Metainfo::from_vec(buf[..buf.len() - 3].to_vec()).unwrap_err();
    assert!(matches!(e, MetainfoError::Bencode(_)), "{e}");
    assert_eq!(back, buf[..buf.len() - 3]);
}

#[test]
fn single_file() {
    let buf = torrent(single("a.bin", 100, 32, 4));
    let m = Metainfo::from_bytes(&buf).unwrap();
    assert_eq!(m.info.total_length, 100);
    assert_eq!(m.info.piece_count(), 4);
    assert_eq!(m.info.piece_len(3), 4);
    assert_eq!(m.info.files[0].path, vec!["a.bin"]);
    assert!(!m.info.multi_file);
    let raw_info = single("a.bin", 100, 32, 4).encode();
    assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(&raw_info)));
    assert_eq!(m.tracker_tiers(), vec![vec!["http://127.0.0.1:1/announce".to_string()]]);
    // Re-wrapping keeps the info bytes verbatim.
    let again = Metainfo::from_bytes(&m.to_torrent_bytes()).unwrap();
    assert_eq!(again.info_hash, m.info_hash);
}

#[test]
fn wrong_piece_count() {
    let buf = torrent(single("a", 100, 32, 3));
    let e = Metainfo::from_bytes(&buf).unwrap_err().to_string();
    assert!(e.contains("info.pieces"), "{e}");
}

fn multi(paths: Vec<Vec<&str>>) -> O {
    let files = paths
        .into_iter()
        .map(|p| {
            O::dict()
                .with("length", O::Int(10))
                .with("path", O::List(p.into_iter().map(O::from).collect()))
        })
        .collect::<Vec<_>>();
    let n = files.len() as i64;
    O::dict()
        .with("files", O::List(files))
        .with("name", "root".into())
        .with("piece length", O::Int(16))
        .with("pieces", O::Bytes(vec![0; 20 * ((n * 10 + 15) / 16) as usize]))
}

#[test]
fn multi_file_offsets() {
    let m = Metainfo::from_bytes(&torrent(multi(vec![vec!["a"], vec!["d", "b"]]))).unwrap();
    assert!(m.info.multi_file);
    assert_eq!(m.info.files[1].offset, 10);
    assert_eq!(m.info.files[1].path_string(), "d/b");
    assert_eq!(m.info.total_length, 20);
}

fn paths(m: &Metainfo) -> Vec<String> {
    m.info.files.iter().map(|f| f.path_string()).collect()
}

#[test]
fn unsafe_paths_are_made_safe() {
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["..", "x"], "_/x"),
        (vec!["a", ""], "a/_"),
        (vec!["/etc"], "etc"),
        (vec!["a/b"], "ab"),
        (vec!["."], "_"),
        (vec!["a\\..\\..\\b"], "a....b"),
    ];
    for (bad, safe) in cases {
        let m = Metainfo::from_bytes(&torrent(multi(vec![bad.clone()]))).unwrap();
        assert_eq!(paths(&m), vec![safe], "{bad:?}");
        let c = &m.info.path_changes;
        assert_eq!(c.len(), 1, "{bad:?}");
        assert_eq!(c[0].file, Some(0));
        let esc: Vec<String> = bad.iter().map(|b| crate::path::escape_bytes(b.as_bytes())).collect();
        assert_eq!(c[0].original, esc);
        assert_eq!(c[0].safe, safe);
        assert_eq!(c[0].reasons, vec![ChangeReason::Unsafe]);
    }
    // A name with nothing left is the info-hash in hex for a
    // multi-file torrent (the directory); a single file needs a name
    // (libtorrent does the same).
    let mut info = multi(vec![vec!["a"]]);
    info.insert("name", "..".into());
    let m = Metainfo::from_bytes(&torrent(info)).unwrap();
    assert_eq!(m.info.name, m.info_hash.to_hex());
    assert_eq!(paths(&m), vec!["a"]);
    assert_eq!(m.info.path_changes[0].reasons, vec![ChangeReason::EmptyName]);
    assert!(m.info.path_change_warnings()[0].contains("torrent name \"..\""));
    let e = Metainfo::from_bytes(&torrent(single("..", 1, 1, 1))).unwrap_err().to_string();
    assert!(e.contains("info.name: \"..\" has nothing left"), "{e}");
    // Safe torrents report nothing.
    let m = Metainfo::from_bytes(&torrent(multi(vec![vec!["a"], vec!["d", "b"]]))).unwrap();
    assert!(m.info.path_changes.is_empty());
}

#[test]
fn reserved_name() {
    for n in [".torrent-get", ".Torrent-Get", ".torrent-get.resume"] {
        let m = Metainfo::from_bytes(&torrent(single(n, 1, 1, 1))).unwrap();
        assert_eq!(m.info.name, format!("_{n}"));
        assert_eq!(paths(&m), vec![format!("_{n}")]);
        assert_eq!(m.info.path_changes[0].reasons, vec![ChangeReason::Reserved]);
    }
    let mut info = multi(vec![vec!["x.resume"]]);
    info.insert("name", ".torrent-get".into());
    let m = Metainfo::from_bytes(&torrent(info)).unwrap();
    assert_eq!(m.info.name, "_.torrent-get");
    // Inside the torrent's own directory the name is harmless.
    let m = Metainfo::from_bytes(&torrent(multi(vec![vec![".torrent-get", "x"]]))).unwrap();
    assert_eq!(paths(&m), vec![".torrent-get/x"]);
}

#[test]
fn duplicate_paths_renamed() {
    let m = Metainfo::from_bytes(&torrent(multi(vec![
        vec!["foo", "bar.txt"],
        vec!["foo", "bar.txt"],
        vec!["foo", "BAR.txt"],
        vec!["d"],
        vec!["d", "e"],
        vec!["/", "x"],
        vec!["\\", "x"],
    ])))
    .unwrap();
    assert_eq!(
        paths(&m),
        vec!["foo/bar.txt", "foo/bar.1.txt", "foo/BAR.2.txt", "d.1", "d/e", "_/x", "_/x.1"]
    );
    let c: Vec<_> = m.info.path_changes.iter().map(|c| (c.file, c.reasons.clone())).collect();
    assert_eq!(
        c,
        vec![
            (Some(1), vec![ChangeReason::Duplicate]),
            (Some(2), vec![ChangeReason::Duplicate]),
            (Some(3), vec![ChangeReason::Duplicate]),
            (Some(5), vec![ChangeReason::Unsafe]),
            (Some(6), vec![ChangeReason::Unsafe, ChangeReason::Duplicate]),
        ]
    );
    assert_eq!(m.info.path_changes[4].original, vec!["\\\\", "x"]);
    // Beyond the rename budget the torrent is refused.
    let many = vec![vec!["a"]; 40];
    let e = Metainfo::from_bytes(&torrent(multi(many))).unwrap_err().to_string();
    assert!(e.contains("too many duplicate"), "{e}");
    // A rename never takes a later file's own name.
    let m = Metainfo::from_bytes(&torrent(multi(vec![vec!["a.txt"], vec!["a.txt"], vec!["a.1.txt"]]))).unwrap();
    assert_eq!(paths(&m), vec!["a.txt", "a.2.txt", "a.1.txt"]);
    // Warnings are capped.
    let names: Vec<String> = (0..30).map(|i| format!("x/{i}")).collect();
    let m = Metainfo::from_bytes(&torrent(multi(names.iter().map(|n| vec![n.as_str()]).collect()))).unwrap();
    let w = m.info.path_change_warnings();
    assert_eq!(w.len(), MAX_WARNINGS + 1);
    assert!(w[MAX_WARNINGS].starts_with("10 more names"), "{}", w[MAX_WARNINGS]);
}

#[test]
fn many_directories_stay_cheap() {
    // 5,000 files 100 levels deep, every directory distinct: the
    // duplicate check must not store half a million prefixes.
    let files: Vec<O> = (0..5_000)
        .map(|i| {
            let mut p: Vec<O> = vec![format!("d{i}").into()];
            p.extend((0..99).map(|j| O::from(format!("{j}"))));
            O::dict().with("length", O::Int(1)).with("path", O::List(p))
        })
        .collect();
    let info = O::dict()
        .with("files", O::List(files))
        .with("name", "root".into())
        .with("piece length", O::Int(1 << 20))
        .with("pieces", O::Bytes(vec![0; 20]));
    let t0 = std::time::Instant::now();
    let m = Metainfo::from_bytes(&torrent(info)).unwrap();
    assert_eq!(m.info.files.len(), 5_000);
    assert!(t0.elapsed() < std::time::Duration::from_secs(5), "{:?}", t0.elapsed());
}

fn file(path: Option<Vec<&str>>, len: Option<i64>, attr: Option<&str>) -> O {
    let mut f = O::dict();
    if let Some(p) = path {
        f.insert("path", O::List(p.into_iter().map(O::from).collect()));
    }
    if let Some(l) = len {
        f.insert("length", O::Int(l));
    }
    if let Some(a) = attr {
        f.insert("attr", a.into());
    }
    f
}

fn with_files(files: Vec<O>, total: u64, plen: i64) -> O {
    O::dict()
        .with("files", O::List(files))
        .with("name", "root".into())
        .with("piece length", O::Int(plen))
        .with("pieces", O::Bytes(vec![0; 20 * total.div_ceil(plen as u64) as usize]))
}

#[test]
fn padding_and_symlinks() {
    let link = file(Some(vec!["l"]), None, Some("l"))
        .with("symlink path", O::List(vec!["..".into(), "d".into(), "a".into()]));
    let files = vec![
        file(Some(vec!["a"]), Some(10), None),
        file(None, Some(6), Some("p")),
        file(Some(vec!["_____padding_file_0"]), Some(16), None),
        file(Some(vec!["d", "a"]), Some(4), Some("x")),
        link,
        file(Some(vec!["plain"]), None, Some("l")),
    ];
    let m = Metainfo::from_bytes(&torrent(with_files(files, 36, 16))).unwrap();
    let f = &m.info.files;
    assert_eq!(paths(&m), vec!["a", ".pad/6", "_____padding_file_0", "d/a", "l", "plain"]);
    assert_eq!(f.iter().map(|f| f.padding).collect::<Vec<_>>(), [false, true, true, false, false, false]);
    assert_eq!(f[4].symlink, Some(vec!["d".to_string(), "a".to_string()]));
    assert_eq!((f[4].length, f[5].length, f[5].symlink.clone()), (0, 0, None));
    assert_eq!(f[3].offset, 32);
    assert_eq!(m.info.total_length, 36);
    assert!(m.info.path_changes.is_empty());
}

#[test]
fn zero_length_rejected() {
    let e = Metainfo::from_bytes(&torrent(single("a", 0, 16, 0))).unwrap_err().to_string();
    assert!(e.contains("total length is 0"), "{e}");
    let files = vec![file(Some(vec!["a"]), Some(0), None), file(Some(vec!["b"]), Some(0), None)];
    let e = Metainfo::from_bytes(&torrent(with_files(files, 0, 16))).unwrap_err().to_string();
    assert!(e.contains("total length is 0"), "{e}");
}

#[test]
fn piece_length_limits() {
    let big = 32767 * 16384;
    assert!(Metainfo::from_bytes(&torrent(single("a", big, big, 1))).is_ok());
    let max = MAX_PIECE_LENGTH as i64;
    assert!(Metainfo::from_bytes(&torrent(single("a", max, max, 1))).is_ok());
    assert!(Metainfo::from_bytes(&torrent(single("a", max + 1, max + 1, 1))).is_err());
}

fn v2_file(len: i64) -> O {
    O::dict().with(
        "",
        O::dict()
            .with("length", O::Int(len))
            .with("pieces root", O::Bytes(vec![1; 32])),
    )
}

fn hybrid(v1: Vec<O>, tree: O, total: u64) -> O {
    with_files(v1, total, 16384)
        .with("meta version", O::Int(2))
        .with("file tree", tree)
}

#[test]
fn hybrid_files_must_agree() {
    let v1 = || {
        vec![
            file(Some(vec!["a"]), Some(100), None),
            file(Some(vec![".pad", "16284"]), Some(16284), Some("p")),
            file(Some(vec!["b"]), Some(5), None),
        ]
    };
    let tree = O::dict().with("a", v2_file(100)).with("b", v2_file(5));
    let m = Metainfo::from_bytes(&torrent(hybrid(v1(), tree.clone(), 16389))).unwrap();
    assert_eq!(m.info.version, Version::Hybrid);
    assert!(m.info_hash_v2.is_some());
    // A different name, length or order in v2.
    for bad in [
        O::dict().with("a", v2_file(100)).with("c", v2_file(5)),
        O::dict().with("a", v2_file(100)).with("b", v2_file(6)),
        O::dict().with("a", v2_file(100)),
    ] {
        let e = Metainfo::from_bytes(&torrent(hybrid(v1(), bad, 16389))).unwrap_err().to_string();
        assert!(e.contains("v1 and v2 file lists disagree"), "{e}");
    }
    // v1 without the padding: b is not where v2 puts it.
    let v1_unpadded = vec![file(Some(vec!["a"]), Some(100), None), file(Some(vec!["b"]), Some(5), None)];
    let e = Metainfo::from_bytes(&torrent(hybrid(v1_unpadded, tree, 105))).unwrap_err().to_string();
    assert!(e.contains("disagree"), "{e}");
    // Invalid v2 trees.
    let no_root = O::dict().with(
        "a",
        O::dict().with("", O::dict().with("length", O::Int(100))),
    );
    let single_v1 = || vec![file(Some(vec!["a"]), Some(100), None)];
    let e = Metainfo::from_bytes(&torrent(hybrid(single_v1(), no_root, 100))).unwrap_err().to_string();
    assert!(e.contains("pieces root"), "{e}");
    let e = Metainfo::from_bytes(&torrent(with_files(single_v1(), 100, 16384).with("meta version", O::Int(2))))
        .unwrap_err()
        .to_string();
    assert!(e.contains("file tree: missing"), "{e}");
    let e = Metainfo::from_bytes(&torrent(hybrid(single_v1(), O::dict().with("a", O::dict()), 100)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty directory"), "{e}");
}

#[test]
fn lenient_torrent_file() {
    // Unsorted keys outside and inside info, a duplicate, a newline after.
    let info = b"d6:lengthi100e4:name5:a.bin12:piece lengthi32e6:pieces80:01234567890123456789012345678901234567890123456789012345678901234567890123456789e";
    let mut t = b"d4:info".to_vec();
    t.extend_from_slice(info);
    t.extend_from_slice(b"8:announce9:http://x/8:announce9:http://y/e\n");
    let m = Metainfo::from_bytes(&t).unwrap();
    assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(&info[..])));
    assert_eq!(*m.info_bytes, info);
    assert_eq!(m.announce.as_deref(), Some("http://x/"));
    assert_eq!(m.info.name, "a.bin");
    // The strict scanner still tells what is not canonical.
    assert_eq!(bencode::decode(&t).unwrap_err().kind, bencode::ErrorKind::UnsortedKey);
}

fn multi_raw(name: &[u8], paths: Vec<Vec<&[u8]>>) -> O {
    let mut info = multi(vec![vec!["x"]; paths.len()]);
    let files = paths
        .into_iter()
        .map(|p| O::dict().with("length", O::Int(10)).with("path", O::List(p.into_iter().map(O::bytes).collect())))
        .collect();
    info.insert("files", O::List(files));
    info.insert("name", O::bytes(name));
    info
}

#[test]
fn names_that_are_not_utf8_are_kept_as_bytes() {
    // Latin-1 names: the bytes name the files on disk, text shows them escaped.
    let info = multi_raw(b"r\xe9p", vec![vec![b"caf\xe9.txt"], vec![b"d\xff", b"../x\xe9"], vec![b"ok"]]);
    let raw_info = info.encode();
    let m = Metainfo::from_bytes(&torrent(info)).unwrap();
    assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(&raw_info)));
    assert_eq!(m.info.name_disk, b"r\xe9p");
    assert_eq!(m.info.name, "r\\xe9p");
    assert_eq!(m.info.files[0].disk, vec![b"caf\xe9.txt".to_vec()]);
    assert_eq!(m.info.files[0].path, vec!["caf\\xe9.txt"]);
    // Still made safe around the bytes kept.
    assert_eq!(m.info.files[1].disk, vec![b"d\xff".to_vec(), b"..x\xe9".to_vec()]);
    assert_eq!(paths(&m), ["caf\\xe9.txt", "d\\xff/..x\\xe9", "ok"]);
    // Noted: not UTF-8 (and unsafe where it was changed); the ok file not at all.
    let c = &m.info.path_changes;
    assert_eq!(c.len(), 3, "{c:?}");
    assert_eq!((c[0].file, c[0].reasons.clone()), (None, vec![ChangeReason::NotUtf8]));
    assert_eq!((c[1].file, c[1].reasons.clone()), (Some(0), vec![ChangeReason::NotUtf8]));
    assert_eq!(c[2].file, Some(1));
    assert_eq!(c[2].reasons, vec![ChangeReason::Unsafe, ChangeReason::NotUtf8]);
    assert_eq!(c[2].original, ["d\\xff", "../x\\xe9"]);
    let w = m.info.path_change_warnings();
    assert_eq!(w[1], "file 1 \"caf\\xe9.txt\" is not UTF-8: kept as bytes on disk, shown as \\xNN");
    // On disk under a download directory, byte for byte.
    use std::os::unix::ffi::OsStrExt;
    let p = m.info.file_in(std::path::Path::new("/dl"), 0);
    assert_eq!(p.as_os_str().as_bytes(), b"/dl/r\xe9p/caf\xe9.txt");
    // A single file too.
    let mut s = single("x", 100, 32, 4);
    s.insert("name", O::bytes(b"caf\xe9.iso"));
    let m = Metainfo::from_bytes(&torrent(s)).unwrap();
    assert_eq!(m.info.files[0].disk, vec![b"caf\xe9.iso".to_vec()]);
    assert_eq!(m.info.file_in(std::path::Path::new("/dl"), 0).as_os_str().as_bytes(), b"/dl/caf\xe9.iso");
}

#[test]
fn raw_duplicates_are_renamed_as_bytes() {
    // Same bytes twice, and the same name but for case: `.1` before the
    // extension, the Latin-1 byte kept.
    let m = Metainfo::from_bytes(&torrent(multi_raw(b"r", vec![vec![b"caf\xe9.txt"], vec![b"caf\xe9.txt"], vec![b"CAF\xe9.txt"]])))
        .unwrap();
    let disk: Vec<&[u8]> = m.info.files.iter().map(|f| f.disk[0].as_slice()).collect();
    assert_eq!(disk, [&b"caf\xe9.txt"[..], b"caf\xe9.1.txt", b"CAF\xe9.2.txt"]);
    assert_eq!(paths(&m), ["caf\\xe9.txt", "caf\\xe9.1.txt", "CAF\\xe9.2.txt"]);
    // Different bytes are different names.
    let m = Metainfo::from_bytes(&torrent(multi_raw(b"r", vec![vec![b"\xe9"], vec![b"\xc9"]]))).unwrap();
    assert_eq!(paths(&m), ["\\xe9", "\\xc9"]);
}

#[test]
fn utf8_keys_are_preferred_when_valid() {
    // Valid `name.utf-8`/`path.utf-8`: they name the files (display and disk).
    let mut info = multi_raw(b"caf\xe9", vec![vec![b"a\xe9"], vec![b"b"]]);
    info.insert("name.utf-8", "café".into());
    if let O::Dict(d) = &mut info {
        if let Some(O::List(files)) = d.get_mut(&b"files"[..]) {
            files[0].insert("path.utf-8", O::List(vec!["aé".into()]));
            // Not UTF-8: ignored, `path` is used.
            files[1].insert("path.utf-8", O::List(vec![O::bytes(b"\xff")]));
        }
    }
    let m = Metainfo::from_bytes(&torrent(info.clone())).unwrap();
    assert_eq!((m.info.name.as_str(), m.info.name_disk.as_slice()), ("café", "café".as_bytes()));
    assert_eq!(paths(&m), ["aé", "b"]);
    assert!(m.info.path_changes.is_empty());
    // An invalid `name.utf-8` is ignored too.
    info.insert("name.utf-8", O::bytes(b"\xfe"));
    let m = Metainfo::from_bytes(&torrent(info)).unwrap();
    assert_eq!(m.info.name_disk, b"caf\xe9");
}

#[test]
fn padding_is_not_affected_by_raw_names() {
    let mut pad = O::dict().with("attr", "p".into()).with("length", O::Int(6));
    pad.insert("path", O::List(vec![O::bytes(b".pad"), O::bytes(b"6")]));
    let files = vec![
        O::dict().with("length", O::Int(10)).with("path", O::List(vec![O::bytes(b"\xe9")])),
        pad,
        O::dict().with("length", O::Int(16)).with("path", O::List(vec![O::bytes(b"b")])),
    ];
    let info = O::dict()
        .with("files", O::List(files))
        .with("name", O::bytes(b"r\xe9"))
        .with("piece length", O::Int(16))
        .with("pieces", O::Bytes(vec![0; 40]));
    let m = Metainfo::from_bytes(&torrent(info)).unwrap();
    assert!(m.info.files[1].padding);
    assert_eq!(m.info.files[1].path, [".pad", "6"]);
    assert_eq!(m.info.path_changes.iter().filter_map(|c| c.file).collect::<Vec<_>>(), [0]);
}

/// Distinct hashes: piece `i`'s is 20 bytes of `i + 1`.
fn hashes(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| [i as u8 + 1; 20]).collect()
}

/// The hashes are `info_bytes[range]`, in the same shared buffer.
fn assert_view(m: &Metainfo, n: usize) {
    let p = &m.info.pieces;
    assert!(Arc::ptr_eq(p.buffer(), &m.info_bytes), "a view into the info bytes, not a copy");
    assert_eq!(&m.info_bytes[p.range()], &hashes(n)[..]);
    assert_eq!(p.len(), n);
    for i in 0..n {
        assert_eq!(p[i], [i as u8 + 1; 20]);
    }
    assert_eq!(p.get(n), None);
    assert_eq!(p.iter().count(), n);
}

#[test]
fn piece_hashes_are_a_view_into_the_info_bytes() {
    // `private` and an unknown key sort after `pieces`: the string is not
    // at the end of the info dictionary.
    let info = single("a.bin", 100, 32, 0)
        .with("pieces", O::Bytes(hashes(4)))
        .with("private", O::Int(1))
        .with("zzz", "after".into());
    let raw_info = info.encode();
    let buf = torrent(info);
    let a = Metainfo::from_bytes(&buf).unwrap();
    assert_view(&a, 4);
    assert!(a.info.pieces.range().end + 20 < a.info_bytes.len());
    let b = Metainfo::from_vec(buf.clone()).unwrap();
    assert_view(&b, 4);
    assert_eq!(b.info.pieces, a.info.pieces);
    let c = Metainfo::from_info_bytes(&raw_info, &a.info_hash, Vec::new()).unwrap();
    assert_view(&c, 4);
    // Info on its own: a view into its own copy of the bytes.
    let shared = Arc::new(raw_info.clone());
    let i = Info::from_shared(shared.clone()).unwrap();
    assert!(Arc::ptr_eq(i.pieces.buffer(), &shared));
    assert_eq!(i.pieces, a.info.pieces);
    assert_eq!(Info::from_bytes(&raw_info).unwrap().pieces, a.info.pieces);
    // Clones share the bytes.
    let m2 = a.clone();
    assert!(Arc::ptr_eq(m2.info.pieces.buffer(), &a.info_bytes));
    // Multi-file: `files` comes before `pieces` (and the name after it in
    // the file is irrelevant).
    let mut multi = with_files(vec![file(Some(vec!["x"]), Some(40), None), file(Some(vec!["y"]), Some(30), None)], 70, 16);
    multi.insert("pieces", O::Bytes(hashes(5)));
    multi.insert("source", "s".into());
    assert_view(&Metainfo::from_vec(torrent(multi)).unwrap(), 5);
}

#[test]
fn piece_hashes_of_a_lenient_dictionary_in_any_key_order() {
    // `pieces` first, then the other keys unsorted, a duplicate `pieces`
    // (the first is kept, as for every duplicate key) and a newline after.
    let mut info = b"d6:pieces40:".to_vec();
    info.extend_from_slice(&hashes(2));
    info.extend_from_slice(b"4:name1:a6:lengthi64e12:piece lengthi32e6:pieces40:");
    info.extend_from_slice(&[0xee; 40]);
    info.push(b'e');
    let mut t = b"d4:info".to_vec();
    t.extend_from_slice(&info);
    t.extend_from_slice(b"8:announce9:http://x/e\n");
    for m in [Metainfo::from_bytes(&t).unwrap(), Metainfo::from_vec(t.clone()).unwrap()] {
        assert_eq!(*m.info_bytes, info);
        assert_view(&m, 2);
        assert_eq!(m.info.pieces.range(), 12..52);
    }
    let m = Metainfo::from_info_bytes(&info, &Metainfo::from_bytes(&t).unwrap().info_hash, Vec::new()).unwrap();
    assert_view(&m, 2);
    // (The duplicate's 40 bytes of 0xee were not read.) Too few hashes,
    // first in the dictionary: refused.
    let mut short = b"d6:pieces20:".to_vec();
    short.extend_from_slice(&hashes(1));
    short.extend_from_slice(b"4:name1:a6:lengthi64e12:piece lengthi32ee");
    let e = Info::from_bytes(&short).unwrap_err().to_string();
    assert!(e.contains("has 1 hashes") && e.contains("need 2"), "{e}");
}

#[test]
fn piece_hashes_of_a_hybrid_torrent() {
    let v1 = vec![
        file(Some(vec!["a"]), Some(100), None),
        file(Some(vec![".pad", "16284"]), Some(16284), Some("p")),
        file(Some(vec!["b"]), Some(5), None),
    ];
    let tree = O::dict().with("a", v2_file(100)).with("b", v2_file(5));
    let mut info = hybrid(v1, tree, 16389);
    info.insert("pieces", O::Bytes(hashes(2)));
    let raw_info = info.encode();
    let m = Metainfo::from_vec(torrent(info)).unwrap();
    assert_eq!(m.info.version, Version::Hybrid);
    assert_view(&m, 2);
    assert_eq!(m.info_hash_v2, Some(<[u8; 32]>::from(Sha256::digest(&raw_info))));
    let back = Metainfo::from_info_bytes(&raw_info, &m.info_hash, Vec::new()).unwrap();
    assert_view(&back, 2);
    assert_eq!(back.info_hash_v2, m.info_hash_v2);
}
