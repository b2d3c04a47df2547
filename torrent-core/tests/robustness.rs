//! Robustness of the parsers against hostile input: random bytes, mutations
//! of valid torrents, bencode and magnet links, and hand-picked nasty cases.
//!
//! Every parser must return an error instead of panicking, and what the
//! strict bencode decoder accepts must re-encode to exactly the same bytes.
//! The random cases come from a seeded xorshift generator, so a failure
//! reproduces: the assertion message names the seed and iteration.

use std::path::Path;
use std::str::FromStr;

use sha1::{Digest, Sha1};
use torrent_core::bencode::{self, ErrorKind, OwnedValue as O};
use torrent_core::create::{create_torrent, CreateOptions};
use torrent_core::infohash::InfoHash;
use torrent_core::magnet::{Magnet, MAX_MAGNET_LEN};
use torrent_core::metainfo::{Info, Metainfo};
use torrent_core::path::{escape_bytes, safe_join, MAX_COMPONENT_BYTES};
use torrent_core::source::Source;

// ---------------------------------------------------------------------------
// A small deterministic PRNG and mutator.

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// xorshift64*
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Bytes that matter to bencode and magnet parsers.
const INTERESTING: &[u8] = b"ilde:-0123456789e&=%+?.x/\\\x00\xff\x80";

fn interesting_byte(rng: &mut Rng) -> u8 {
    if rng.chance(2) {
        *rng.pick(INTERESTING)
    } else {
        rng.next() as u8
    }
}

/// One to four random edits: bit flips, byte changes, truncation,
/// insertion, duplication of a slice, deletion, digit runs.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(8) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = interesting_byte(rng);
            }
            2 => {
                let n = rng.below(b.len() + 1);
                b.truncate(n);
            }
            3 => {
                let at = rng.below(b.len() + 1);
                let n = 1 + rng.below(8);
                let ins: Vec<u8> = (0..n).map(|_| interesting_byte(rng)).collect();
                b.splice(at..at, ins);
            }
            4 if !b.is_empty() => {
                let start = rng.below(b.len());
                let end = start + 1 + rng.below((b.len() - start).min(64));
                let copy = b[start..end].to_vec();
                let at = rng.below(b.len() + 1);
                b.splice(at..at, copy);
            }
            5 if !b.is_empty() => {
                let start = rng.below(b.len());
                let end = start + 1 + rng.below((b.len() - start).min(16));
                b.drain(start..end);
            }
            6 => {
                // A run of digits: long lengths and integers.
                let at = rng.below(b.len() + 1);
                let n = 1 + rng.below(25);
                let digits: Vec<u8> = (0..n).map(|_| b'0' + rng.below(10) as u8).collect();
                b.splice(at..at, digits);
            }
            _ if b.len() >= 2 => {
                let i = rng.below(b.len());
                let j = rng.below(b.len());
                b.swap(i, j);
            }
            _ => b.push(interesting_byte(rng)),
        }
    }
    b
}

// ---------------------------------------------------------------------------
// Checks applied to every input.

/// Strict decoding: accepted input re-encodes to the same bytes; errors
/// point inside the buffer; prefix and whole decoding agree.
fn check_bencode(data: &[u8], ctx: &str) -> bool {
    let whole = bencode::decode(data);
    match &whole {
        Ok(v) => {
            assert_eq!(v.raw, data, "{ctx}");
            assert_eq!(v.to_owned_value().encode(), data, "{ctx}: not an identity");
        }
        Err(e) => assert!(
            e.offset <= data.len(),
            "{ctx}: offset {} > {}",
            e.offset,
            data.len()
        ),
    }
    match bencode::decode_prefix(data) {
        Ok((v, end)) => {
            assert_eq!(v.raw, &data[..end], "{ctx}");
            assert_eq!(
                v.to_owned_value().encode(),
                v.raw,
                "{ctx}: prefix not an identity"
            );
            assert_eq!(whole.is_ok(), end == data.len(), "{ctx}");
        }
        Err(e) => {
            assert!(whole.is_err(), "{ctx}");
            assert_eq!(
                Some(&e),
                whole.as_ref().err(),
                "{ctx}: prefix and whole disagree"
            );
        }
    }
    whole.is_ok()
}

/// A component as named on disk (bytes; the text forms are checked
/// against them in `check_info`).
fn check_component(c: impl AsRef<[u8]>, ctx: &str) {
    let c = c.as_ref();
    assert!(
        !c.is_empty() && c != b"." && c != b"..",
        "{ctx}: component {c:?}"
    );
    assert!(!c.iter().any(|b| matches!(b, b'/' | b'\\' | 0)), "{ctx}: component {c:?}");
    assert!(c.len() <= MAX_COMPONENT_BYTES, "{ctx}: component {c:?}");
}

fn check_info(info: &Info, ctx: &str) {
    assert!(info.piece_length > 0, "{ctx}");
    let total: u64 = info.files.iter().map(|f| f.length).sum();
    assert_eq!(total, info.total_length, "{ctx}");
    assert_eq!(
        info.pieces.len() as u64,
        total.div_ceil(info.piece_length),
        "{ctx}"
    );
    check_component(&info.name_disk, ctx);
    assert_eq!(info.name, escape_bytes(&info.name_disk), "{ctx}");
    let root = Path::new("/robustness-root");
    let mut offset = 0;
    for f in &info.files {
        assert_eq!(f.offset, offset, "{ctx}");
        offset += f.length;
        assert_eq!(f.path.len(), f.disk.len(), "{ctx}");
        for (c, d) in f.path.iter().zip(&f.disk) {
            check_component(d, ctx);
            assert_eq!(c, &escape_bytes(d), "{ctx}");
        }
        let p = safe_join(root, &f.disk).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert!(p.starts_with(root) && p != root, "{ctx}: {p:?}");
    }
}

/// Metainfo and Info parsers: no panic, and what they accept is coherent.
fn check_metainfo(data: &[u8], ctx: &str) -> bool {
    if let Ok(info) = Info::from_bytes(data) {
        check_info(&info, ctx);
    }
    let Ok(m) = Metainfo::from_bytes(data) else {
        return false;
    };
    check_info(&m.info, ctx);
    assert_eq!(
        m.info_hash.0,
        <[u8; 20]>::from(Sha1::digest(&m.info_bytes[..])),
        "{ctx}"
    );
    let again =
        Metainfo::from_bytes(&m.to_torrent_bytes()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert_eq!(again.info_hash, m.info_hash, "{ctx}");
    assert_eq!(again.info.files, m.info.files, "{ctx}");
    assert_eq!(again.announce_list, m.announce_list, "{ctx}");
    assert_eq!(again.url_list, m.url_list, "{ctx}");
    true
}

fn check_magnet(s: &str, ctx: &str) -> bool {
    if let Ok(h) = InfoHash::from_str(s) {
        assert_eq!(InfoHash::from_str(&h.to_hex()), Ok(h), "{ctx}");
    }
    let Ok(m) = Magnet::parse(s) else {
        return false;
    };
    let uri = m.to_uri();
    if uri.len() <= MAX_MAGNET_LEN {
        assert_eq!(
            Magnet::parse(&uri).as_ref(),
            Ok(&m),
            "{ctx}: round trip via {uri}"
        );
    }
    true
}

/// Lenient decoding (the same checks as the `bencode_lenient` fuzz
/// target): a superset of strict decoding with the same values; what it
/// accepts re-encodes canonically to the same value; prefix and whole
/// agree. Returns whether it accepted a non-canonical input.
fn check_bencode_lenient(data: &[u8], ctx: &str) -> bool {
    let strict = bencode::decode(data);
    let lenient = bencode::decode_lenient(data);
    match (&strict, &lenient) {
        (Ok(s), Ok(l)) => assert_eq!(s, l, "{ctx}"),
        (Ok(_), Err(e)) => panic!("{ctx}: lenient refuses what strict accepts: {e}"),
        (Err(e), _) => assert!(e.offset <= data.len(), "{ctx}"),
    }
    if let Ok(v) = &lenient {
        assert_eq!(v.raw, data, "{ctx}");
        let owned = v.to_owned_value();
        let enc = owned.encode();
        let again = bencode::decode(&enc).unwrap_or_else(|e| panic!("{ctx}: not canonical: {e}"));
        assert_eq!(again.to_owned_value(), owned, "{ctx}");
        assert!(enc.len() <= data.len(), "{ctx}");
    }
    match bencode::decode_lenient_prefix(data) {
        Ok((v, end)) => {
            assert_eq!(v.raw, &data[..end], "{ctx}");
            assert_eq!(lenient.is_ok(), end == data.len(), "{ctx}");
        }
        Err(e) => {
            assert!(e.offset <= data.len(), "{ctx}");
            assert!(lenient.is_err(), "{ctx}");
        }
    }
    lenient.is_ok() && strict.is_err()
}

/// Every parser on one input.
fn check_all(data: &[u8], ctx: &str) {
    check_bencode(data, ctx);
    check_bencode_lenient(data, ctx);
    check_metainfo(data, ctx);
    check_magnet(&String::from_utf8_lossy(data), ctx);
}

// ---------------------------------------------------------------------------
// Seeds.

fn single(name: &str, len: i64, plen: i64) -> O {
    let n = (len + plen - 1) / plen;
    O::dict()
        .with("length", O::Int(len))
        .with("name", name.into())
        .with("piece length", O::Int(plen))
        .with("pieces", O::Bytes(vec![7u8; 20 * n as usize]))
}

fn multi_info() -> O {
    let file = |len: i64, path: &[&str]| {
        O::dict()
            .with("length", O::Int(len))
            .with("path", O::List(path.iter().map(|c| O::from(*c)).collect()))
    };
    O::dict()
        .with(
            "files",
            O::List(vec![
                file(10, &["a.txt"]),
                file(6, &[".pad", "6"]).with("attr", "p".into()),
                file(20, &["dir", "b.bin"]),
            ]),
        )
        .with("name", "root".into())
        .with("piece length", O::Int(16))
        .with("pieces", O::Bytes(vec![1u8; 20 * 3]))
        .with("private", O::Int(1))
}

fn wrap(info: O) -> O {
    O::dict()
        .with("announce", "http://127.0.0.1:6969/announce".into())
        .with(
            "announce-list",
            O::List(vec![
                O::List(vec!["http://127.0.0.1:6969/announce".into()]),
                O::List(vec!["udp://127.0.0.1:6969".into(), "".into()]),
            ]),
        )
        .with("comment", "robustness seed".into())
        .with("creation date", O::Int(1_700_000_000))
        .with("info", info)
        .with("url-list", "http://127.0.0.1:8000/".into())
}

fn seed_torrents() -> Vec<Vec<u8>> {
    let mut out = vec![
        wrap(single("a.bin", 100, 32)).encode(),
        wrap(multi_info()).encode(),
        wrap(
            single("hybrid", 20, 16384)
                .with("meta version", O::Int(2))
                .with(
                    "file tree",
                    O::dict().with(
                        "hybrid",
                        O::dict().with(
                            "",
                            O::dict()
                                .with("length", O::Int(20))
                                .with("pieces root", O::Bytes(vec![1; 32])),
                        ),
                    ),
                ),
        )
        .encode(),
        O::dict().with("info", single("x", 1, 16)).encode(),
    ];
    // Real torrents made by the crate's own creator.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("payload");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("one"), vec![1u8; 20_000]).unwrap();
    std::fs::write(root.join("sub/two"), b"two").unwrap();
    let opts = CreateOptions {
        piece_length: Some(16 * 1024),
        trackers: vec![vec![
            "http://127.0.0.1:1/a".into(),
            "udp://127.0.0.1:2".into(),
        ]],
        web_seeds: vec!["http://127.0.0.1:3/".into()],
        private: true,
        comment: Some("c".into()),
        ..Default::default()
    };
    out.push(create_torrent(&root, &opts).unwrap());
    out.push(create_torrent(&root.join("one"), &CreateOptions::default()).unwrap());
    for t in &out {
        assert!(check_metainfo(t, "seed"), "seed torrent does not parse");
    }
    out
}

fn seed_bencode() -> Vec<Vec<u8>> {
    [
        &b"i0e"[..],
        b"i-9223372036854775808e",
        b"i9223372036854775807e",
        b"0:",
        b"4:spam",
        b"le",
        b"de",
        b"l4:spami42eli-1eed0:0:ee",
        b"d3:bar4:spam3:fooi42e4:infod1:ai1eee",
        b"d1:ad1:bd1:cl1:xi1eeeee",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect()
}

fn seed_magnets() -> Vec<String> {
    vec![
        "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a".into(),
        "magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK&dn=My+File%20x&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=udp://127.0.0.1:1&x.pe=127.0.0.1:6881&ws=http://127.0.0.1/f".into(),
        "magnet:?dn=%C3%A9t%C3%A9&xt.1=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&xt.2=urn:btmh:1220aa&tr.1=x".into(),
        "c12fe1c06bba254a9dc9f519b335aa7c1367a88a".into(),
        "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK".into(),
    ]
}

// ---------------------------------------------------------------------------
// Random and mutation-based tests.

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(1);
    for i in 0..3000 {
        let max = if rng.chance(10) { 2000 } else { 64 };
        let len = rng.below(max);
        let data: Vec<u8> = (0..len).map(|_| interesting_byte(&mut rng)).collect();
        check_all(&data, &format!("random #{i}"));
    }
}

#[test]
fn mutated_torrents() {
    let seeds = seed_torrents();
    let mut rng = Rng::new(2);
    let (mut decoded, mut parsed) = (0, 0);
    for i in 0..4000 {
        let seed = rng.pick(&seeds);
        let data = mutate(&mut rng, seed);
        let ctx = format!("torrent mutation #{i}");
        decoded += check_bencode(&data, &ctx) as usize;
        check_bencode_lenient(&data, &ctx);
        parsed += check_metainfo(&data, &ctx) as usize;
    }
    // The mutator must exercise the accepting paths too, not only errors.
    assert!(decoded > 100, "only {decoded} mutations decoded");
    assert!(parsed > 20, "only {parsed} mutations parsed as torrents");
}

/// Dictionaries with shuffled and repeated keys: the lenient decoder's own
/// paths, plus the committed fuzz corpora of both bencode targets.
#[test]
fn mutated_non_canonical_bencode() {
    let mut rng = Rng::new(12);
    let mut lenient_only = 0;
    for i in 0..4000 {
        let mut d = b"d".to_vec();
        for _ in 0..rng.below(8) {
            let k = [b'a' + rng.below(4) as u8];
            d.extend_from_slice(b"1:");
            d.extend_from_slice(&k);
            match rng.below(3) {
                0 => d.extend_from_slice(format!("i{}e", rng.below(100)).as_bytes()),
                1 => d.extend_from_slice(b"d1:bi1e1:ai2ee"),
                _ => d.extend_from_slice(b"l1:xe"),
            }
        }
        d.push(b'e');
        let data = if rng.chance(3) { mutate(&mut rng, &d) } else { d };
        lenient_only += check_bencode_lenient(&data, &format!("shuffled #{i}")) as usize;
    }
    assert!(lenient_only > 1000, "only {lenient_only} non-canonical inputs accepted");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut n = 0;
    for target in ["bencode", "bencode_lenient"] {
        for e in std::fs::read_dir(root.join(target)).unwrap() {
            let p = e.unwrap().path();
            check_bencode_lenient(&std::fs::read(&p).unwrap(), &p.display().to_string());
            n += 1;
        }
    }
    assert!(n > 200, "{n} corpus files");
}

#[test]
fn mutated_bencode() {
    let seeds = seed_bencode();
    let mut rng = Rng::new(3);
    let mut decoded = 0;
    for i in 0..4000 {
        let mut data = rng.pick(&seeds).clone();
        // Stack several rounds so mutations build on each other.
        let rounds = if rng.chance(4) { 2 + rng.below(2) } else { 1 };
        for _ in 0..rounds {
            data = mutate(&mut rng, &data);
        }
        let ctx = format!(
            "bencode mutation #{i}: {:?}",
            String::from_utf8_lossy(&data)
        );
        decoded += check_bencode(&data, &ctx) as usize;
        check_metainfo(&data, &ctx);
    }
    // Most edits break such short inputs; 154 of these 4000 survive.
    assert!(decoded > 100, "only {decoded} mutations decoded");
}

/// A random bencode tree (bounded in size).
fn random_value(rng: &mut Rng, depth: usize) -> O {
    match rng.below(if depth >= 6 { 2 } else { 4 }) {
        0 => O::Int(match rng.below(4) {
            0 => rng.next() as i64,
            1 => i64::MIN + rng.below(3) as i64,
            2 => i64::MAX - rng.below(3) as i64,
            _ => rng.below(200) as i64 - 100,
        }),
        1 => O::Bytes((0..rng.below(30)).map(|_| interesting_byte(rng)).collect()),
        2 => O::List(
            (0..rng.below(5))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => O::Dict(
            (0..rng.below(5))
                .map(|_| {
                    let k = (0..rng.below(6)).map(|_| interesting_byte(rng)).collect();
                    (k, random_value(rng, depth + 1))
                })
                .collect(),
        ),
    }
}

#[test]
fn random_trees_round_trip() {
    let mut rng = Rng::new(4);
    for i in 0..3000 {
        let v = random_value(&mut rng, 0);
        let enc = v.encode();
        let ctx = format!("tree #{i}");
        assert!(
            check_bencode(&enc, &ctx),
            "{ctx}: canonical encoding rejected"
        );
        assert_eq!(bencode::decode(&enc).unwrap().to_owned_value(), v, "{ctx}");
        check_metainfo(&enc, &ctx);
        // A random tree placed where the info dictionary's fields go.
        let t = wrap(single("n", 1, 1).with("files", v.clone())).encode();
        assert!(
            Metainfo::from_bytes(&t).is_err(),
            "{ctx}: both length and files accepted"
        );
        let info = match v {
            O::Dict(d) => O::Dict(d).with("name", "n".into()),
            other => other,
        };
        check_metainfo(&wrap(info).encode(), &ctx);
    }
}

#[test]
fn mutated_magnets_and_hashes() {
    let seeds = seed_magnets();
    let mut rng = Rng::new(5);
    let mut parsed = 0;
    for i in 0..4000 {
        let seed = rng.pick(&seeds).clone();
        let data = mutate(&mut rng, seed.as_bytes());
        let s = String::from_utf8_lossy(&data);
        let ctx = format!("magnet mutation #{i}: {s}");
        parsed += check_magnet(&s, &ctx) as usize;
        // Bencode and metainfo parsers see the same bytes.
        check_bencode(&data, &ctx);
    }
    assert!(parsed > 200, "only {parsed} mutated magnets parsed");
    // Overlong input is refused before any work.
    let long = format!(
        "magnet:?xt=urn:btih:{}&dn={}",
        "a".repeat(40),
        "x".repeat(MAX_MAGNET_LEN)
    );
    assert!(Magnet::parse(&long).is_err());
}

#[test]
fn source_load_on_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = seed_torrents();
    let mut rng = Rng::new(6);
    for i in 0..300 {
        let data = if i % 10 == 0 {
            rng.pick(&seeds).clone()
        } else {
            let seed = rng.pick(&seeds).clone();
            mutate(&mut rng, &seed)
        };
        let path = dir.path().join(format!("t{i}.torrent"));
        std::fs::write(&path, &data).unwrap();
        let arg = path.to_str().unwrap();
        let loaded = Source::load(arg);
        let direct = Metainfo::from_bytes(&data);
        assert_eq!(loaded.is_ok(), direct.is_ok(), "#{i}");
        match (loaded, direct) {
            (Ok(s), Ok(m)) => assert_eq!(s.info_hash(), m.info_hash),
            (Err(e), Err(d)) => {
                assert!(e.contains(arg), "error {e:?} does not name the file");
                assert!(e.contains(&d.to_string()), "{e:?} vs {d}");
            }
            _ => unreachable!(),
        }
    }
    // Arguments that are not files.
    let missing = dir.path().join("missing.torrent");
    assert!(Source::load(missing.to_str().unwrap()).is_err());
    assert!(
        Source::load(dir.path().to_str().unwrap()).is_err(),
        "a directory is not a torrent"
    );
    let h = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
    assert_eq!(Source::load(h).unwrap().info_hash().to_hex(), h);
    for bad in [
        "magnet:?dn=x",
        "magnet:",
        "c12fe1c06bba254a9dc9f519b335aa7c1367a88",
    ] {
        assert!(Source::load(bad).is_err(), "{bad}");
    }
    for seed in seed_magnets() {
        let mut rng = Rng::new(seed.len() as u64);
        for _ in 0..50 {
            let s = String::from_utf8_lossy(&mutate(&mut rng, seed.as_bytes())).into_owned();
            if s.starts_with("magnet:") {
                assert_eq!(Source::load(&s).is_ok(), Magnet::parse(&s).is_ok(), "{s}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Explicit nasty cases.

#[test]
fn truncated_at_every_offset() {
    for t in seed_torrents() {
        for n in 0..t.len() {
            let e = bencode::decode(&t[..n]).unwrap_err();
            assert!(
                matches!(
                    e.kind,
                    ErrorKind::UnexpectedEnd | ErrorKind::LengthPastEnd { .. }
                ),
                "prefix of {n} bytes: {e}"
            );
            assert!(e.offset <= n);
            assert!(Metainfo::from_bytes(&t[..n]).is_err());
            assert!(Info::from_bytes(&t[..n]).is_err());
            // A cut value followed by more bytes is still an error.
            let mut longer = t[..n].to_vec();
            longer.extend_from_slice(b"xx");
            check_all(&longer, &format!("cut at {n} plus junk"));
        }
    }
}

#[test]
fn overlong_integers_and_lengths() {
    let cases: Vec<(String, ErrorKind)> = vec![
        ("i9223372036854775808e".into(), ErrorKind::IntegerOverflow),
        ("i-9223372036854775809e".into(), ErrorKind::IntegerOverflow),
        (format!("i{}e", "9".repeat(100)), ErrorKind::IntegerOverflow),
        (
            format!("i-{}e", "1".repeat(10_000)),
            ErrorKind::IntegerOverflow,
        ),
        (
            format!("i1{}", "0".repeat(10_000)),
            ErrorKind::IntegerOverflow,
        ),
        ("18446744073709551616:x".into(), ErrorKind::IntegerOverflow),
        (format!("{}:", "9".repeat(50)), ErrorKind::IntegerOverflow),
        (
            "9223372036854775807:abc".into(),
            ErrorKind::LengthPastEnd {
                len: i64::MAX as u64,
                available: 3,
            },
        ),
        ("i00e".into(), ErrorKind::LeadingZero),
        ("i-0e".into(), ErrorKind::NegativeZero),
        ("00:".into(), ErrorKind::LeadingZero),
        ("i+1e".into(), ErrorKind::UnexpectedByte(b'+')),
        ("i 1e".into(), ErrorKind::UnexpectedByte(b' ')),
        ("i1.5e".into(), ErrorKind::UnexpectedByte(b'.')),
    ];
    for (input, want) in cases {
        let e = bencode::decode(input.as_bytes()).unwrap_err();
        assert_eq!(e.kind, want, "{}", &input[..input.len().min(40)]);
    }
    // The same inside a torrent field: an error, never a panic.
    let t = format!("d4:infod6:lengthi{}e4:name1:aee", "9".repeat(30));
    let e = Metainfo::from_bytes(t.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("integer does not fit"), "{e}");
}

#[test]
fn deep_nesting_is_bounded() {
    let n = 100_000;
    let inputs: Vec<Vec<u8>> = vec![
        vec![b'l'; n],
        [vec![b'l'; n], vec![b'e'; n]].concat(),
        b"d1:a".repeat(n),
        [b"d4:info".repeat(n), vec![b'e'; n]].concat(),
        b"ld1:xl".repeat(n / 3),
    ];
    for input in inputs {
        let e = bencode::decode(&input).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooDeep(bencode::DEFAULT_MAX_DEPTH));
        assert!(e.offset < 500, "offset {}", e.offset);
        assert!(Metainfo::from_bytes(&input).is_err());
        assert!(Info::from_bytes(&input).is_err());
    }
    // Exactly at the limit is fine.
    let ok = [vec![b'l'; 64], vec![b'e'; 64]].concat();
    assert!(check_bencode(&ok, "64 levels"));
}

/// The error of parsing `t`, as text.
fn torrent_error(t: &O) -> String {
    match Metainfo::from_bytes(&t.encode()) {
        Ok(m) => panic!("accepted: {:?}", m.info.files),
        Err(e) => e.to_string(),
    }
}

fn others_than(kind: &str) -> Vec<O> {
    let all = [
        ("integer", O::Int(1)),
        ("byte string", O::bytes("x")),
        ("list", O::List(vec![O::Int(1)])),
        ("dictionary", O::dict().with("k", O::Int(1))),
    ];
    all.into_iter()
        .filter(|(k, _)| *k != kind)
        .map(|(_, v)| v)
        .collect()
}

/// Replace the value at `path` (dictionary keys and list indexes) in `v`.
fn replace(v: &O, path: &[&str], new: O) -> O {
    let Some((first, rest)) = path.split_first() else {
        return new;
    };
    match v {
        O::Dict(d) => {
            let mut d = d.clone();
            let old = d.get(first.as_bytes()).cloned().unwrap_or_else(O::dict);
            d.insert(first.as_bytes().to_vec(), replace(&old, rest, new));
            O::Dict(d)
        }
        O::List(l) => {
            let mut l = l.clone();
            let i: usize = first.parse().unwrap();
            l[i] = replace(&l[i], rest, new);
            O::List(l)
        }
        other => panic!("cannot descend into {other:?}"),
    }
}

#[test]
fn wrong_types_in_every_required_field() {
    let multi = wrap(multi_info());
    let single_t = wrap(single("a.bin", 100, 32));
    assert!(Metainfo::from_bytes(&multi.encode()).is_ok());
    assert!(Metainfo::from_bytes(&single_t.encode()).is_ok());
    // (torrent, path to the field, expected type, name in the error)
    let fields: &[(&O, &[&str], &str, &str)] = &[
        (&multi, &["info"], "dictionary", "info"),
        (&multi, &["info", "name"], "byte string", "info.name"),
        (
            &multi,
            &["info", "piece length"],
            "integer",
            "info.piece length",
        ),
        (&multi, &["info", "pieces"], "byte string", "info.pieces"),
        (&multi, &["info", "files"], "list", "info.files"),
        (
            &multi,
            &["info", "files", "2"],
            "dictionary",
            "info.files[2]",
        ),
        (
            &multi,
            &["info", "files", "2", "length"],
            "integer",
            "info.files[2].length",
        ),
        (
            &multi,
            &["info", "files", "2", "path"],
            "list",
            "info.files[2].path",
        ),
        (
            &multi,
            &["info", "files", "2", "path", "1"],
            "byte string",
            "info.files[2].path[1]",
        ),
        (&single_t, &["info", "length"], "integer", "info.length"),
        (&single_t, &["info", "name"], "byte string", "info.name"),
    ];
    for (t, path, expected, name) in fields {
        for wrong in others_than(expected) {
            let bad = replace(t, path, wrong.clone());
            let e = torrent_error(&bad);
            assert!(
                e.starts_with(&format!("{name}: expected {expected}")),
                "{path:?} = {wrong:?}: {e}"
            );
        }
    }
    // The root itself.
    for wrong in others_than("dictionary") {
        let e = Metainfo::from_bytes(&wrong.encode())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("torrent: expected dictionary"), "{e}");
    }
    // Values of the right type but out of range.
    let ranges: &[(&O, &[&str], O, &str)] = &[
        (
            &multi,
            &["info", "piece length"],
            O::Int(0),
            "info.piece length",
        ),
        (
            &multi,
            &["info", "piece length"],
            O::Int(-16),
            "info.piece length",
        ),
        (
            &multi,
            &["info", "piece length"],
            O::Int(i64::MAX),
            "info.piece length",
        ),
        (
            &multi,
            &["info", "pieces"],
            O::Bytes(vec![0; 59]),
            "info.pieces",
        ),
        (
            &multi,
            &["info", "pieces"],
            O::Bytes(vec![0; 40]),
            "info.pieces",
        ),
        (&multi, &["info", "files"], O::List(vec![]), "info.files"),
        (
            &multi,
            &["info", "files", "0", "length"],
            O::Int(-1),
            "info.files[0].length",
        ),
        (
            &multi,
            &["info", "files", "0", "length"],
            O::Int(i64::MAX),
            "info.pieces: has 3 hashes",
        ),
        (
            &multi,
            &["info", "files", "0", "path"],
            O::List(vec![]),
            "info.files[0].path",
        ),
        (&single_t, &["info", "length"], O::Int(-100), "info.length"),
        (
            &single_t,
            &["info", "files"],
            O::List(vec![]),
            "info: has both",
        ),
    ];
    for (t, path, v, name) in ranges {
        let e = torrent_error(&replace(t, path, v.clone()));
        assert!(e.starts_with(name), "{path:?} = {v:?}: {e}");
    }
    // File lengths whose sum does not fit in 64 bits.
    let huge = replace(&multi, &["info", "files", "0", "length"], O::Int(i64::MAX));
    let huge = replace(&huge, &["info", "files", "2", "length"], O::Int(i64::MAX));
    let e = torrent_error(&huge);
    assert!(e.starts_with("info.files: total length overflows"), "{e}");
    // Missing required fields.
    for (t, key, name) in [
        (&multi, "name", "info.name: missing"),
        (&multi, "piece length", "info.piece length: missing"),
        (&multi, "pieces", "info.pieces: missing"),
        (&multi, "files", "info: has neither"),
        (&single_t, "length", "info: has neither"),
    ] {
        let mut bad = t.clone();
        if let O::Dict(d) = &mut bad {
            if let Some(O::Dict(info)) = d.get_mut(&b"info"[..]) {
                info.remove(key.as_bytes());
            }
        }
        let e = torrent_error(&bad);
        assert!(e.starts_with(name), "without {key}: {e}");
    }
    let e = Metainfo::from_bytes(b"d8:announce1:xe")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("info: missing"), "{e}");
}

#[test]
fn optional_fields_of_the_wrong_type_are_ignored() {
    // Informational outer fields are read leniently (as other clients do):
    // a wrong type drops the field instead of refusing the torrent.
    let base = wrap(single("a.bin", 100, 32));
    let good = Metainfo::from_bytes(&base.encode()).unwrap();
    assert!(good.announce.is_some() && good.comment.is_some() && good.creation_date.is_some());
    for (key, wrong) in [
        ("announce", O::Int(1)),
        ("announce-list", O::bytes("x")),
        ("url-list", O::Int(1)),
        ("creation date", O::bytes("yesterday")),
        ("comment", O::List(vec![])),
        ("created by", O::dict()),
    ] {
        let m = Metainfo::from_bytes(&replace(&base, &[key], wrong.clone()).encode())
            .unwrap_or_else(|e| panic!("{key} = {wrong:?}: {e}"));
        assert_eq!(m.info_hash, good.info_hash);
        match key {
            "announce" => assert_eq!(m.announce, None),
            "announce-list" => assert!(m.announce_list.is_empty()),
            "url-list" => assert!(m.url_list.is_empty()),
            "creation date" => assert_eq!(m.creation_date, None),
            "comment" => assert_eq!(m.comment, None),
            _ => assert_eq!(m.created_by, None),
        }
    }
    // Tiers and URLs of the wrong type inside the lists are skipped.
    let mixed = replace(
        &base,
        &["announce-list"],
        O::List(vec![
            O::Int(1),
            O::List(vec![O::Int(2), "udp://127.0.0.1:1".into()]),
            O::List(vec![]),
        ]),
    );
    let m = Metainfo::from_bytes(&mixed.encode()).unwrap();
    assert_eq!(m.announce_list, vec![vec!["udp://127.0.0.1:1".to_string()]]);
    // `private` of another type or value is "not private".
    for p in [O::bytes("1"), O::Int(2), O::List(vec![])] {
        let t = wrap(single("a.bin", 100, 32).with("private", p));
        assert!(!Metainfo::from_bytes(&t.encode()).unwrap().info.private);
    }
}

/// A dictionary written in the given order, without sorting (to build
/// non-canonical input).
fn raw_dict(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = vec![b'd'];
    for (k, v) in entries {
        out.extend_from_slice(format!("{}:", k.len()).as_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(v);
    }
    out.push(b'e');
    out
}

#[test]
fn unsorted_and_duplicate_keys() {
    let info = single("a.bin", 100, 32).encode();
    let ann = O::bytes("http://127.0.0.1:1/a").encode();
    let ok = raw_dict(&[(b"announce", &ann), (b"info", &info)]);
    assert!(Metainfo::from_bytes(&ok).is_ok());

    let swapped = raw_dict(&[(b"info", &info), (b"announce", &ann)]);
    let e = bencode::decode(&swapped).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnsortedKey);
    assert_eq!(e.offset, 1 + 6 + info.len(), "points at the second key");
    // Readers are lenient: the torrent loads, hashed over the raw info span.
    let m = Metainfo::from_bytes(&swapped).unwrap();
    assert_eq!(m.info_hash.0, <[u8; 20]>::from(sha1::Sha1::digest(&info)));
    assert_eq!(m.announce.as_deref(), Some("http://127.0.0.1:1/a"));

    let dup = raw_dict(&[(b"announce", &ann), (b"info", &info), (b"info", &info)]);
    let e = bencode::decode(&dup).unwrap_err();
    assert_eq!(e.kind, ErrorKind::DuplicateKey);
    assert_eq!(
        e.offset,
        1 + 10 + ann.len() + 6 + info.len(),
        "points at the second info"
    );

    // Inside the info dictionary a duplicate could hide a second `pieces`
    // or `length`: the first one counts (libtorrent's rule), everywhere.
    let p = O::Bytes(vec![7; 80]).encode();
    let p2 = O::Bytes(vec![8; 60]).encode();
    let inner = raw_dict(&[
        (b"length", b"i100e"),
        (b"name", b"5:a.bin"),
        (b"piece length", b"i32e"),
        (b"pieces", &p),
        (b"pieces", &p2),
        (b"length", b"i80e"),
    ]);
    let t = raw_dict(&[(b"info", &inner)]);
    assert!(bencode::decode(&t).unwrap_err().to_string().contains("duplicate dictionary key"));
    let m = Metainfo::from_bytes(&t).unwrap();
    assert_eq!((m.info.total_length, m.info.pieces[0]), (100, [7; 20]));
    assert_eq!(m.info_hash.0, <[u8; 20]>::from(sha1::Sha1::digest(&inner)));
    assert_eq!(Info::from_bytes(&inner).unwrap().total_length, 100);
    let inner = raw_dict(&[(b"name", b"5:a.bin"), (b"length", b"i100e")]);
    let e = bencode::decode(&raw_dict(&[(b"info", &inner)])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnsortedKey);
    // Keys compare as bytes, not as text: "\xff" sorts after "z".
    assert!(bencode::decode(b"d1:zi1e1:\xffi2ee").is_ok());
    assert_eq!(
        bencode::decode(b"d1:\xffi1e1:zi2ee").unwrap_err().kind,
        ErrorKind::UnsortedKey
    );
    // A shorter key sorts before its extensions.
    assert!(bencode::decode(b"d1:ai1e2:aai2ee").is_ok());
    assert_eq!(
        bencode::decode(b"d2:aai1e1:ai2ee").unwrap_err().kind,
        ErrorKind::UnsortedKey
    );
    // Bytes after the top-level dictionary are ignored by the reader.
    let mut nl = ok.clone();
    nl.extend_from_slice(b"\n\0junk");
    assert_eq!(Metainfo::from_bytes(&nl).unwrap().info_hash, m_ok(&ok));
}

fn m_ok(t: &[u8]) -> torrent_core::InfoHash {
    Metainfo::from_bytes(t).unwrap().info_hash
}

#[test]
fn path_traversal_components_are_made_safe() {
    let bad: &[&[u8]] = &[
        b"..", b".", b"/abs", b"/", b"a/b", b"", b"a\\b", b"..\\x", b"a\0b", b"/../..",
    ];
    let root = Path::new("/robustness-root");
    let inside = |m: &Metainfo| {
        for f in &m.info.files {
            let mut comps = vec![m.info.name.clone()];
            comps.extend(f.path.iter().cloned());
            let p = safe_join(root, &comps).unwrap();
            assert!(p.starts_with(root.join(&m.info.name)), "{p:?}");
        }
    };
    for comp in bad {
        // As a file path component (second file, second component).
        let t = replace(
            &wrap(multi_info()),
            &["info", "files", "2", "path", "1"],
            O::bytes(comp),
        );
        let m = Metainfo::from_bytes(&t.encode()).unwrap();
        let safe = &m.info.files[2].path[1];
        check_component(safe, "made safe");
        assert_eq!(m.info.path_changes.len(), 1, "{comp:?}");
        assert_eq!(m.info.path_changes[0].file, Some(2));
        inside(&m);
        // As the only component.
        let t = replace(
            &wrap(multi_info()),
            &["info", "files", "0", "path"],
            O::List(vec![O::bytes(comp)]),
        );
        let m = Metainfo::from_bytes(&t.encode()).unwrap();
        check_component(&m.info.files[0].path[0], "only");
        inside(&m);
        // As the torrent's name, single- and multi-file: made safe, or the
        // info-hash when nothing is left.
        // A single file whose name has nothing left is refused (as by
        // libtorrent).
        let empty = torrent_core::path::sanitize_path_element(comp, false).is_none();
        for (info, single_file) in [(single("x", 100, 32), true), (multi_info(), false)] {
            let r = Metainfo::from_bytes(&wrap(info.with("name", O::bytes(comp))).encode());
            if empty && single_file {
                let e = r.unwrap_err().to_string();
                assert!(e.starts_with("info.name: "), "{comp:?}: {e}");
                continue;
            }
            let m = r.unwrap();
            check_component(&m.info.name, "name");
            assert_eq!(m.info.path_changes[0].file, None);
            inside(&m);
        }
        // name.utf-8 takes precedence over name, and is made safe the same way.
        let r = Metainfo::from_bytes(
            &wrap(multi_info().with("name.utf-8", O::bytes(comp))).encode(),
        );
        let m = r.unwrap();
        assert_ne!(m.info.name, "root");
        check_component(&m.info.name, "name.utf-8");
        let t = replace(
            &wrap(multi_info()),
            &["info", "files", "1", "path.utf-8"],
            O::List(vec![O::bytes("ok"), O::bytes(comp)]),
        );
        let m = Metainfo::from_bytes(&t.encode()).unwrap();
        check_component(&m.info.files[1].path[1], "path.utf-8");
        assert_eq!(m.info.files[1].path[0], "ok");
    }
    // Names that merely look odd are kept, made safe.
    let t = replace(
        &wrap(multi_info()),
        &["info", "files", "2", "path", "1"],
        O::bytes("...\n\x01"),
    );
    let m = Metainfo::from_bytes(&t.encode()).unwrap();
    assert_eq!(m.info.files[2].path, vec!["dir", "...__"]);
}
