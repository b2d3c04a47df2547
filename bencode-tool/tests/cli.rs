//! End-to-end tests of the bencode-tool binary.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use test_fixtures::harness;

use torrent_core::bencode::{self, OwnedValue as O};
use torrent_core::create::{create_torrent, CreateOptions};

const BIN: &str = env!("CARGO_BIN_EXE_bencode-tool");

/// Run the tool with `stdin` as standard input (at most a minute).
fn run(args: &[&str], stdin: &[u8]) -> Output {
    harness::run_bounded(Command::new(BIN).args(args), Some(stdin), Duration::from_secs(60)).output()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn make_torrent(dir: &Path) -> Vec<u8> {
    let root = dir.join("payload");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let big: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(root.join("sub/ünïcode name.txt"), b"hello\n").unwrap();
    let opts = CreateOptions {
        piece_length: Some(16 * 1024),
        trackers: vec![
            vec!["http://127.0.0.1:6969/announce".into()],
            vec!["udp://127.0.0.1:6969".into()],
        ],
        web_seeds: vec!["http://127.0.0.1:8080/".into()],
        comment: Some("made by the bencode-tool tests".into()),
        created_by: Some("bencode-tool tests".into()),
        creation_date: Some(1_700_000_000),
        ..Default::default()
    };
    create_torrent(&root, &opts).unwrap()
}

#[test]
fn torrent_round_trips_through_json() {
    let dir = tempfile::tempdir().unwrap();
    let torrent = make_torrent(dir.path());
    let path = dir.path().join("t.torrent");
    std::fs::write(&path, &torrent).unwrap();
    let p = path.to_str().unwrap();

    for pretty in [false, true] {
        let mut args = vec!["decode", p];
        if pretty {
            args.push("--pretty");
        }
        let json = run(&args, b"");
        assert!(json.status.success(), "{}", stderr(&json));
        let text = String::from_utf8(json.stdout.clone()).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["info"]["piece length"], 16384);
        assert_eq!(parsed["info"]["files"][1]["path"][1], "ünïcode name.txt");
        assert_eq!(parsed["creation date"], 1_700_000_000);
        // 100_006 bytes in pieces of 16 KiB: 7 SHA-1s, as "hex:" + 280 digits.
        let pieces = parsed["info"]["pieces"].as_str().unwrap();
        assert_eq!(pieces.len(), 4 + 7 * 40, "{pieces}");
        assert!(pieces.starts_with("hex:"));

        // encode from stdin ("-") gives the exact original bytes.
        let back = run(&["encode", "-"], &json.stdout);
        assert!(back.status.success(), "{}", stderr(&back));
        assert_eq!(back.stdout, torrent);
    }

    let v = run(&["validate", "--torrent", p], b"");
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    assert_eq!(v.stdout, b"ok\n");

    let pretty = run(&["pretty", p], b"");
    assert!(pretty.status.success());
    let text = String::from_utf8(pretty.stdout).unwrap();
    assert!(
        text.contains("pieces: <pieces: 140 bytes, sha1 list of 7>"),
        "{text}"
    );
    assert!(text.contains("piece length: 16384"), "{text}");
    assert!(
        text.contains("comment: \"made by the bencode-tool tests\""),
        "{text}"
    );

    // --full lists every piece hash, one a line.
    let full = run(&["pretty", "--full", p], b"");
    let text = String::from_utf8(full.stdout).unwrap();
    let m = torrent_core::Metainfo::from_bytes(&torrent).unwrap();
    for h in m.info.pieces.iter() {
        assert!(
            text.contains(&format!("\n      {}\n", hex::encode(h))),
            "{text}"
        );
    }
}

#[test]
fn non_utf8_and_escape_round_trip() {
    // Keys and values that are not UTF-8, and texts that start with the
    // escape prefix, in canonical (sorted) order.
    let v = O::Dict(
        [
            (b"hex:".to_vec(), O::bytes("hex:plain text")),
            (b"name".to_vec(), O::bytes(b"caf\xe9")),
            (
                b"ok".to_vec(),
                O::List(vec![
                    O::bytes(""),
                    O::bytes(b"\x00\x01"),
                    O::bytes(b"\x80"),
                    O::Int(-12),
                ]),
            ),
            (b"\xff\xfe".to_vec(), O::Int(7)),
        ]
        .into_iter()
        .collect(),
    );
    let bytes = v.encode();
    let out = run(&["decode"], &bytes);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    let obj = j.as_object().unwrap();
    assert_eq!(obj["hex:6865783a"], "hex:6865783a706c61696e2074657874");
    assert_eq!(obj["name"], "hex:636166e9");
    assert_eq!(
        obj["ok"],
        serde_json::json!(["", "\u{0}\u{1}", "hex:80", -12])
    );
    assert_eq!(obj["hex:fffe"], 7);
    assert_eq!(obj.len(), 4);

    let back = run(&["encode"], &out.stdout);
    assert!(back.status.success(), "{}", stderr(&back));
    assert_eq!(back.stdout, bytes);

    // Hand-written JSON in any key order encodes canonically.
    let back = run(&["encode"], br#"{"ok": 1, "hex:41": "x", "B": "hex:00FF"}"#);
    assert!(back.status.success(), "{}", stderr(&back));
    assert_eq!(back.stdout, b"d1:A1:x1:B2:\x00\xff2:oki1ee");
}

#[test]
fn encode_errors_name_the_json_path() {
    let cases: &[(&[u8], &str)] = &[
        (
            br#"{"info":{"files":[{"length":1},{"length":2},{"length":3.5}]}}"#,
            "$.info.files[2].length: number 3.5",
        ),
        (
            br#"{"info":{"private":true}}"#,
            "$.info.private: true has no bencode form",
        ),
        (br#"[1,[null]]"#, "$[1][0]: null has no bencode form"),
        (
            br#"{"piece length":1e3}"#,
            "$[\"piece length\"]: number 1000.0",
        ),
        (br#"{"a":"hex:xyz"}"#, "$.a: string starts with \"hex:\""),
        (br#"{"a":1,"hex:61":2}"#, "duplicate key"),
        (br#"{"a":1"#, "invalid JSON"),
    ];
    for (input, want) in cases {
        let out = run(&["encode"], input);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(input)
        );
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert!(err.contains(want), "{err:?} should contain {want:?}");
        assert!(err.starts_with("error: <stdin>: "), "{err}");
    }
}

#[test]
fn validate_reports_offsets_and_exit_codes() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "error: <stdin>: at byte 0: unexpected end of input"),
        (
            b"i03e",
            "error: <stdin>: at byte 1: integer or length has a leading zero",
        ),
        (b"i-0e", "error: <stdin>: at byte 1: integer is -0"),
        (
            b"d1:bi1e1:ai2ee",
            "error: <stdin>: at byte 7: dictionary keys are not sorted",
        ),
        (
            b"d1:ai1e1:ai2ee",
            "error: <stdin>: at byte 7: duplicate dictionary key",
        ),
        (
            b"di1ei2ee",
            "error: <stdin>: at byte 1: dictionary key is not a byte string",
        ),
        (
            b"l5:abce",
            "error: <stdin>: at byte 1: byte string of length 5 runs past the end",
        ),
        (b"i1ei2e", "error: <stdin>: at byte 3: trailing data after the value"),
        (
            b"d3:fooi99999999999999999999ee",
            "error: <stdin>: at byte 7: integer does not fit in 64 bits",
        ),
        (b"li1ex", "error: <stdin>: at byte 4: unexpected byte 'x'"),
    ];
    for (input, want) in cases {
        let out = run(&["validate"], input);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(input)
        );
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert!(err.starts_with(want), "{err:?} should start with {want:?}");
    }
    let deep = "l".repeat(100_000);
    let out = run(&["validate"], deep.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: <stdin>: at byte 64: nesting deeper than 64 levels"),
        "{}",
        stderr(&out)
    );

    // Valid bencode that is not a torrent: ok without --torrent, 1 with it.
    let ok = run(&["validate"], b"d4:infod4:name1:xee");
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(ok.stdout, b"ok\n");
    let bad = run(&["validate", "--torrent"], b"d4:infod4:name1:xee");
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("info.piece length: missing"),
        "{}",
        stderr(&bad)
    );

    // Unreadable input and bad usage: 2.
    let missing = run(&["validate", "/nonexistent/file.torrent"], b"");
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/file.torrent"));
    let usage = run(&["validate", "--no-such-flag"], b"");
    assert_eq!(usage.status.code(), Some(2));
    let usage = run(&[], b"");
    assert_eq!(usage.status.code(), Some(2));

    // decode and pretty refuse invalid input with 2 and the offset; a
    // merely non-canonical one they show, noting where it is not canonical.
    for cmd in ["decode", "pretty"] {
        let out = run(&[cmd], b"d1:ai01ee");
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        assert!(out.stdout.is_empty());
        assert!(
            stderr(&out).contains("error: <stdin>: at byte 5: integer or length has a leading zero"),
            "{}",
            stderr(&out)
        );
        let out = run(&[cmd], b"d1:ai1e1:ai2ee");
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        assert!(!out.stdout.is_empty());
        assert!(
            stderr(&out).contains("<stdin>: not canonical bencode (at byte 7: duplicate dictionary key)"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn help_documents_exit_codes_and_mapping() {
    let out = run(&["--help"], b"");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "Exit codes:",
        "0  success",
        "1  validate",
        "2  usage error",
        "\"hex:\"",
    ] {
        assert!(text.contains(want), "{want:?} missing from help:\n{text}");
    }
}

#[test]
fn input_size_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(64 * 1024 * 1024 + 1).unwrap(); // sparse: costs no disk
    let out = run(&["validate", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("larger than 67108864 bytes"),
        "{}",
        stderr(&out)
    );
}

/// A value whose JSON is several megabytes: far more than a pipe buffers.
fn big_bencode() -> Vec<u8> {
    O::List(
        (0..50_000)
            .map(|i| O::bytes(format!("item number {i:>40}")))
            .collect(),
    )
    .encode()
}

#[test]
fn closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bencode");
    std::fs::write(&path, big_bencode()).unwrap();
    let p = path.to_str().unwrap();
    for args in [
        vec!["decode", p],
        vec!["decode", "--pretty", p],
        vec!["pretty", "--full", p],
    ] {
        let mut child = Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut one = [0u8; 1];
        stdout.read_exact(&mut one).unwrap();
        assert!(one[0] == b'[', "{args:?}");
        drop(stdout); // like `| head -c 1`
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
    }

    // The same through a real shell pipeline.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{BIN}' decode '{p}' | head -c 1; echo \" status=${{?}}\""
        ))
        .output()
        .unwrap();
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[ status=0\n");
}

#[test]
fn decode_output_is_valid_for_any_value_shape() {
    // Sanity check across shapes: what decode prints, encode turns back.
    let samples: Vec<Vec<u8>> = vec![
        b"i-9223372036854775808e".to_vec(),
        b"0:".to_vec(),
        b"le".to_vec(),
        b"de".to_vec(),
        b"d0:i1ee".to_vec(),
        format!("{}{}", "l".repeat(64), "e".repeat(64)).into_bytes(),
        big_bencode(),
    ];
    for s in samples {
        assert!(bencode::decode(&s).is_ok());
        let j = run(&["decode"], &s);
        assert!(j.status.success(), "{}", stderr(&j));
        let back = run(&["encode"], &j.stdout);
        assert!(back.status.success(), "{}", stderr(&back));
        assert_eq!(back.stdout, s);
    }
}

/// Non-canonical input (issue 12): `decode` and `pretty` show it, read the
/// lenient way, with a note on stderr; `validate` still refuses it and
/// `encode` stays canonical.
#[test]
fn decode_and_pretty_show_non_canonical_input() {
    let input = b"d1:bi1e1:ai2e1:ai3ee\n";
    let out = run(&["decode"], input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"a": 2, "b": 1}));
    let err = stderr(&out);
    assert!(
        err.starts_with("bencode-tool: note: <stdin>: not canonical bencode (at byte 7: dictionary keys are not sorted)"),
        "{err}"
    );
    let out = run(&["pretty"], input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains('a') && text.contains('b'), "{text}");
    assert!(stderr(&out).contains("not canonical"));
    // Canonical input: no note.
    let out = run(&["decode"], b"d1:ai2e1:bi1ee");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    // Broken input is still an error, whatever the leniency.
    let out = run(&["decode"], b"d1:bi1e1:ai2e");
    assert_eq!(out.status.code(), Some(2));
    // validate stays strict.
    let out = run(&["validate"], input);
    assert_eq!(out.status.code(), Some(1));
    // encode of what decode showed is canonical.
    let out = run(&["encode"], br#"{"b":1,"a":2}"#);
    assert_eq!(out.stdout, b"d1:ai2e1:bi1ee");
}

#[test]
fn completions_man_pages_and_error_prefix() {
    harness::check_conventions(BIN, "bencode-tool", &["decode", "encode", "pretty", "validate"]);
}

#[test]
fn input_by_url() {
    let srv = harness::HttpFiles::start(vec![("/x.bencode".into(), b"d1:ai1ee".to_vec())]);
    let out = run(&["decode", &srv.url("/x.bencode")], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"{\"a\":1}\n");
    let out = run(&["validate", &srv.url("/nope")], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with(&format!("error: {}: HTTP status 404", srv.url("/nope"))), "{}", stderr(&out));
}
