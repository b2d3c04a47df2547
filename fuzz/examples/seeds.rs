//! Writes the seed inputs of the structured targets into `corpus/<target>/`
//! (valid messages made with torrent-core's own encoders, and scripts in
//! the formats the checks in `src/` read). Run from `fuzz/`:
//!
//! ```sh
//! cargo run --example seeds
//! ```
//!
//! Existing files are kept; seeds are named `seed-<n>`.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use torrent_core::bencode::OwnedValue;
use torrent_core::dht::krpc::{Message as Krpc, NodeInfo, Query, Response};
use torrent_core::dht::NodeId;
use torrent_core::infohash::InfoHash;
use torrent_core::metainfo::Metainfo;
use torrent_core::peer::extension::ExtendedHandshake;
use torrent_core::peer::pex::PexMessage;
use torrent_core::peer::{Handshake, Message, MetadataMessage};
use torrent_core::tracker::encode_compact;

fn write(target: &str, seeds: &[Vec<u8>]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    for (i, s) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i}")), s).unwrap();
    }
    println!("{target}: {} seeds", seeds.len());
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn peers() -> Vec<SocketAddr> {
    vec![
        "127.0.0.1:6881".parse().unwrap(),
        "10.1.2.3:51413".parse().unwrap(),
        "[::1]:6881".parse().unwrap(),
    ]
}

fn tracker_http() {
    let (v4, v6) = encode_compact(&peers());
    let compact = OwnedValue::dict()
        .with("complete", OwnedValue::Int(3))
        .with("incomplete", OwnedValue::Int(1))
        .with("interval", OwnedValue::Int(1800))
        .with("min interval", OwnedValue::Int(60))
        .with("peers", OwnedValue::Bytes(v4))
        .with("peers6", OwnedValue::Bytes(v6))
        .with("tracker id", OwnedValue::bytes("abc"))
        .with("warning message", OwnedValue::bytes("slow down"))
        .encode();
    let dict_peer = |ip: &str, port: i64| {
        OwnedValue::dict()
            .with("ip", OwnedValue::bytes(ip))
            .with("peer id", OwnedValue::bytes([1u8; 20]))
            .with("port", OwnedValue::Int(port))
    };
    let dicts = OwnedValue::dict()
        .with("interval", OwnedValue::Int(900))
        .with(
            "peers",
            OwnedValue::List(vec![dict_peer("1.2.3.4", 80), dict_peer("::1", 6881)]),
        )
        .encode();
    let failure = OwnedValue::dict()
        .with("failure reason", OwnedValue::bytes("unregistered torrent"))
        .encode();
    let mut files = std::collections::BTreeMap::new();
    for h in [[1u8; 20], [2u8; 20]] {
        files.insert(
            h.to_vec(),
            OwnedValue::dict()
                .with("complete", OwnedValue::Int(5))
                .with("downloaded", OwnedValue::Int(50))
                .with("incomplete", OwnedValue::Int(2)),
        );
    }
    let scrape = OwnedValue::dict().with("files", OwnedValue::Dict(files)).encode();
    write(
        "tracker_http",
        &[
            cat(&[&[255], &compact]),
            cat(&[&[1], &compact]),
            cat(&[&[255], &dicts]),
            cat(&[&[255], &failure]),
            cat(&[&[255], &scrape]),
        ],
    );
}

fn tracker_udp() {
    let be = |v: u32| v.to_be_bytes();
    let connect = cat(&[&be(0), &be(7), &0x1122u64.to_be_bytes()]);
    let (v4, v6) = encode_compact(&peers());
    let announce4 = cat(&[&be(1), &be(7), &be(1800), &be(2), &be(3), &v4]);
    let announce6 = cat(&[&be(1), &be(7), &be(1800), &be(2), &be(3), &v6]);
    let scrape = cat(&[&be(2), &be(7), &be(1), &be(2), &be(3)]);
    let error = cat(&[&be(3), &be(7), b"denied\0"]);
    // Scripts: header (flags, base, max peers[, hashes][, cache age]),
    // then ops (see run_transaction in src/tracker.rs).
    // Announce: connect answered, announce answered with two peers.
    let happy = cat(&[
        &[20],
        &[0x10, 4, 20],
        &[1, 0, 10, 0, 0], &0xabcdu64.to_be_bytes(),
        &[1, 0, 10, 0, 1], &be(1800), &be(1), &be(2), &[2, 0],
    ]);
    // Scrape of 3 hashes with a cached connection, one timeout first.
    let scrape_script = cat(&[
        &[20],
        &[0x16, 2, 20, 3, 10],
        &[0, 5],
        &[1, 0, 10, 0, 2, 3],
    ]);
    // Connect answered, then the id expires while the announce goes
    // unanswered: the transaction reconnects.
    let expiry = cat(&[
        &[20],
        &[0x28, 30, 20],
        &[1, 0, 10, 0, 0], &0x99u64.to_be_bytes(),
        &[0, 0], &[0, 0], &[0, 0],
        &[1, 0, 10, 0, 0], &0x98u64.to_be_bytes(),
        &[0, 0], &[0, 0],
    ]);
    let error_script = cat(&[&[20], &[0x08, 1, 5], &[1, 0, 1, 0, 3, 4], b"nope"]);
    write(
        "tracker_udp",
        &[
            cat(&[&[10], &connect]),
            cat(&[&[10], &announce4]),
            cat(&[&[10], &announce6]),
            cat(&[&[10], &scrape]),
            cat(&[&[10], &error]),
            happy,
            scrape_script,
            expiry,
            error_script,
        ],
    );
}

fn all_messages() -> Vec<Message> {
    vec![
        Message::KeepAlive,
        Message::Choke,
        Message::Unchoke,
        Message::Interested,
        Message::NotInterested,
        Message::Have(3),
        Message::Bitfield(vec![0xff, 0xc0]),
        Message::Request {
            index: 1,
            begin: 16384,
            length: 16384,
        },
        Message::Piece {
            index: 1,
            begin: 0,
            data: (0..40u8).collect(),
        },
        Message::Cancel {
            index: 1,
            begin: 16384,
            length: 16384,
        },
        Message::Port(6881),
        Message::SuggestPiece(2),
        Message::HaveAll,
        Message::HaveNone,
        Message::RejectRequest {
            index: 4,
            begin: 0,
            length: 100,
        },
        Message::AllowedFast(9),
        Message::Extended {
            id: 0,
            payload: ExtendedHandshake::ours(3, Some(31235), Some(6881)).encode(),
        },
    ]
}

fn peer_codec() {
    let hs = Handshake::new(InfoHash([9; 20]), *b"-TK0001-abcdefghijkl").encode();
    let mut stream = Vec::new();
    for m in all_messages() {
        m.encode_into(&mut stream);
    }
    write(
        "peer_codec",
        &[
            cat(&[&[0, 3], &hs, &stream]),
            cat(&[&[0, 0], &hs, &stream[..40]]),
            cat(&[&[1, 2], &stream]),
            cat(&[&[7, 13], &stream]),
            cat(&[&[9, 6], &stream]),
            cat(&[&[0x0c, 3], &hs, &stream]),
        ],
    );
}

fn peer_state() {
    // Ops (src/peer.rs check_peer_state): 0 geometry, 1-3 receive a built
    // message, 4 receive raw bytes, 5 send, 6 pop a peer request, 7 query.
    // Built messages: kind byte, then fields.
    let fast = cat(&[
        &[3],
        &[0, 0, 9, 1, 0, 0],        // 10 pieces of 32 KiB
        &[1, 14, 1],                // have all
        &[5, 2],                    // we unchoke
        &[1, 7, 2, 0, 0],           // peer requests piece 2, begin 0, 16 KiB
        &[6],                       // pop it
        &[5, 7, 3, 1, 0],           // we request piece 3 at 16384
        &[1, 9, 3, 1, 0],           // peer sends that block
        &[1, 16, 4],                // allowed fast 4
        &[5, 7, 4, 0, 0],
        &[1, 15, 4, 0, 0],          // reject
        &[1, 1],                    // choke
        &[7, 4],
    ]);
    let magnet = cat(&[
        &[2],
        &[1, 5, 3],                 // have 3 before the geometry
        &[4, 1, 2],                 // raw unchoke... (len 1, id 2 = interested)
        &[1, 17, 0, 0],             // extended handshake id 0, empty payload
        &[0, 0, 3, 0, 0, 5],        // geometry arrives
        &[7, 3],
    ]);
    let bitfield = cat(&[
        &[0],
        &[1, 6, 2, 0xff, 0xc0],
        &[0, 0, 9, 0, 0, 100],
        &[1, 2],
        &[5, 7, 1, 0, 0],
        &[1, 1],
    ]);
    write("peer_state", &[fast, magnet, bitfield]);
}

fn small_info_dicts() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = fs::read_dir("corpus/metainfo").unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(bytes) = fs::read(e.path()) else { continue };
        if let Ok(m) = Metainfo::from_bytes(&bytes) {
            let n = m.info_bytes.len();
            if n <= 40_000 && !out.iter().any(|o: &Vec<u8>| o.len() / 16384 == n / 16384) {
                out.push(m.info_bytes.to_vec());
            }
        }
        if out.len() >= 3 {
            break;
        }
    }
    out
}

fn ut_metadata() {
    let mut seeds = vec![
        MetadataMessage::Request { piece: 0 }.encode(),
        MetadataMessage::Reject { piece: 1 }.encode(),
        MetadataMessage::Data {
            piece: 0,
            total_size: 20,
            data: b"d4:name3:abce".to_vec(),
        }
        .encode(),
        ExtendedHandshake::ours(3, Some(31235), Some(6881)).encode(),
        {
            let mut h = ExtendedHandshake::ours(1, None, None);
            h.m.insert("ut_pex".into(), 2);
            h.yourip = Some(serde_bytes::ByteBuf::from(vec![127, 0, 0, 1]));
            h.upload_only = Some(1);
            h.encode()
        },
        PexMessage {
            added: vec![
                ("127.0.0.1:6881".parse().unwrap(), 2),
                ("[::1]:80".parse().unwrap(), 0x10),
            ],
            dropped: vec!["10.0.0.1:1".parse().unwrap()],
            ..Default::default()
        }
        .encode(),
    ];
    // Assembler scripts (src/peer.rs check_assembler): mode 1, info length,
    // info bytes, then ops: 0 next_request, 3 add_piece (piece, total
    // selector, data selector), 5 finish.
    for info in small_info_dicts() {
        let n = info.len().div_ceil(16384);
        let mut s = cat(&[&[1], &(info.len() as u16).to_be_bytes(), &info]);
        for i in 0..n {
            s.extend_from_slice(&[0, 3, i as u8, 0, 0]);
        }
        s.push(5);
        seeds.push(s);
    }
    // Arbitrary size, a wrong piece, then finish.
    seeds.push(cat(&[&[0], &40000u32.to_be_bytes(), &[0, 0, 3, 1, 0, 2, 7, 5]]));
    write("ut_metadata", &seeds);
}

fn krpc() {
    let id = NodeId([0x11; 20]);
    let node = |b: u8, p: u16| NodeInfo {
        id: NodeId([b; 20]),
        addr: format!("10.0.0.{b}:{p}").parse().unwrap(),
    };
    let msgs = [
        Krpc::query(b"aa".to_vec(), Query::Ping { id }),
        Krpc::query(
            b"ab".to_vec(),
            Query::FindNode {
                id,
                target: NodeId([0x22; 20]),
            },
        ),
        Krpc::query(
            b"ac".to_vec(),
            Query::GetPeers {
                id,
                info_hash: NodeId([0x33; 20]),
            },
        ),
        Krpc::query(
            b"ad".to_vec(),
            Query::AnnouncePeer {
                id,
                info_hash: NodeId([0x33; 20]),
                port: 6881,
                implied_port: true,
                token: b"tok".to_vec(),
            },
        ),
        Krpc::response(
            b"ae".to_vec(),
            Response {
                id,
                nodes: vec![node(1, 6881), node(2, 6882)],
                values: peers(),
                token: Some(b"tk".to_vec()),
            },
        ),
        Krpc::error(b"af".to_vec(), 203, "bad token"),
    ];
    let mut seeds: Vec<Vec<u8>> = msgs
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.version = Some(b"LT01".to_vec());
            m.encode()
        })
        .collect();
    // Scripts (src/dht.rs check_dht): header, then ops with a time step:
    // 1 answer a pending query (which, id kind, nodes, values, token),
    // 5 user lookup, 6 query to us, 3 timeout, 7 next timeout.
    let boot = cat(&[
        &[4],
        &[1, 1, 0, 2, 0x33, 3, 2, 1, 0x90, 1, 3, 1, 1, 0x44, 3, 1, 1, 0, 1],
        &[1, 1, 0, 2, 0x34, 0, 0, 0],
        &[5, 1, 2, 0x55, 0],                  // get_peers
        &[1, 1, 0, 2, 0x56, 1, 2, 0x57, 3, 1, 0, 2, 10, 0x1a, 0xe1, 1, 3, 1, 2, 3],
        &[5, 1, 2, 0x55, 1, 2, 0x1a, 0xe1],   // announce on 6881
        &[1, 1, 0, 2, 0x58, 0, 0, 1, 3, 9, 9, 9],
        &[7, 0], &[7, 0], &[3, 200],
    ]);
    let serve = cat(&[
        &[0],
        &[6, 1, 0, 2, 0x21, 2, 2, 0x33, 2, b'x', b'y'],   // get_peers from 10.0.0.1
        &[6, 1, 0, 2, 0x21, 3, 2, 0x33, 0, 1, 0, 0, 2, b'x', b'z'], // announce with its token
        &[6, 1, 1, 2, 0x22, 1, 2, 0x33, 1, b'q'],        // find_node
        &[6, 1, 8, 2, 0x23, 0, 1, b'r'],                 // ping from IPv6: ignored
        &[0, 1, 2, 0, 4], b"d1:t",
        &[4, 1, 40],
    ]);
    seeds.push(boot);
    seeds.push(serve);
    write("krpc", &seeds);
}

fn main() {
    tracker_http();
    tracker_udp();
    peer_codec();
    peer_state();
    ut_metadata();
    krpc();
    write("mse", &torrent_fuzz::mse::seeds());
}
