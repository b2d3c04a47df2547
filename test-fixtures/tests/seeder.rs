//! The embedded seeder speaks the real protocol: driven here by a minimal
//! blocking client built on torrent-core's codec.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use test_fixtures::payload::make_payload;
use test_fixtures::seeder::{Behaviour, Seeder, SeederOptions, SEEDER_UT_METADATA_ID};
use torrent_core::peer::extension::{ExtendedHandshake, MetadataMessage, UT_METADATA};
use torrent_core::peer::{Decoder, Handshake, Message};

struct Client {
    s: TcpStream,
    dec: Decoder,
}

impl Client {
    fn connect(seeder: &Seeder, ih: torrent_core::InfoHash) -> (Client, Handshake) {
        let s = TcpStream::connect(seeder.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut c = Client {
            s,
            dec: Decoder::new(),
        };
        c.s.write_all(&Handshake::new(ih, *b"-TK0001-testclient00").encode())
            .unwrap();
        let h = loop {
            if let Some(h) = c.dec.next_handshake().unwrap() {
                break h;
            }
            c.fill();
        };
        (c, h)
    }
    fn fill(&mut self) {
        let buf = self.dec.spare(65536);
        let n = self.s.read(buf).expect("read within 5 s");
        assert!(n > 0, "seeder closed the connection");
        self.dec.advance(n);
    }
    fn next(&mut self) -> Message {
        loop {
            if let Some(m) = self.dec.next_message().unwrap() {
                return m;
            }
            self.fill();
        }
    }
    fn send(&mut self, m: Message) {
        self.s.write_all(&m.encode()).unwrap();
    }
}

#[test]
fn serves_blocks_metadata_and_stops_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let p = make_payload(dir.path(), "f.bin", &[("", 100_000)], 32768, &[], 7).unwrap();
    let seeder = Seeder::start(&p.meta, &p.dir, SeederOptions::default()).unwrap();
    let addr = seeder.addr();
    assert!(addr.ip().is_loopback());
    let (mut c, h) = Client::connect(&seeder, p.meta.info_hash);
    assert_eq!(h.info_hash, p.meta.info_hash);
    assert_eq!(h.peer_id, seeder.peer_id());
    assert!(h.supports_extended() && h.supports_fast());

    // Extended handshake then have-all.
    let Message::Extended { id: 0, payload } = c.next() else {
        panic!("expected extended handshake")
    };
    let eh = ExtendedHandshake::parse(&payload).unwrap();
    assert_eq!(eh.extension_id(UT_METADATA), Some(SEEDER_UT_METADATA_ID));
    assert_eq!(eh.metadata_size, Some(p.meta.info_bytes.len() as i64));
    assert_eq!(c.next(), Message::HaveAll);

    // Request while choked: rejected (fast extension).
    c.send(Message::Request {
        index: 0,
        begin: 0,
        length: 16384,
    });
    assert_eq!(
        c.next(),
        Message::RejectRequest {
            index: 0,
            begin: 0,
            length: 16384
        }
    );
    c.send(Message::Interested);
    assert_eq!(c.next(), Message::Unchoke);
    // Last piece is short: 100000 - 3*32768 = 1696 bytes.
    c.send(Message::Request {
        index: 3,
        begin: 0,
        length: 1696,
    });
    let Message::Piece {
        index: 3,
        begin: 0,
        data,
    } = c.next()
    else {
        panic!("expected piece")
    };
    let file = std::fs::read(dir.path().join("f.bin")).unwrap();
    assert_eq!(data, &file[3 * 32768..]);
    assert_eq!(seeder.bytes_uploaded(), 1696);

    // Metadata: we advertise ut_metadata on id 9, the seeder must answer there.
    let ours = ExtendedHandshake::ours(9, None, None);
    c.send(Message::Extended {
        id: 0,
        payload: ours.encode(),
    });
    c.send(Message::Extended {
        id: SEEDER_UT_METADATA_ID,
        payload: MetadataMessage::Request { piece: 0 }.encode(),
    });
    let Message::Extended { id: 9, payload } = c.next() else {
        panic!("expected ut_metadata data")
    };
    match MetadataMessage::parse(&payload).unwrap() {
        MetadataMessage::Data {
            piece: 0,
            total_size,
            data,
        } => {
            assert_eq!(total_size, p.meta.info_bytes.len() as u64);
            assert_eq!(data, *p.meta.info_bytes);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seeder.connections(), 1);
    assert_eq!(seeder.metadata_pieces_sent(), 1);
    drop(seeder);
    // The listener is gone and the connection was shut down.
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    let mut b = [0u8; 16];
    assert_eq!(c.s.read(&mut b).unwrap_or(0), 0);
}

#[test]
fn partial_bitfield_and_wrong_info_hash() {
    let dir = tempfile::tempdir().unwrap();
    let p = make_payload(
        dir.path(),
        "m",
        &[("a", 50_000), ("b/c", 30_000)],
        16384,
        &[],
        1,
    )
    .unwrap();
    let n = p.meta.info.piece_count();
    let have: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
    let opts = SeederOptions {
        have: Some(have),
        fast: false,
        ..Default::default()
    };
    let seeder = Seeder::start(&p.meta, &p.dir, opts).unwrap();
    let (mut c, h) = Client::connect(&seeder, p.meta.info_hash);
    assert!(!h.supports_fast());
    assert!(matches!(c.next(), Message::Extended { id: 0, .. }));
    assert_eq!(c.next(), Message::Bitfield(vec![0b1010_1000]));

    // A wrong info-hash gets the connection closed without a handshake.
    let mut s = TcpStream::connect(seeder.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&Handshake::new(torrent_core::InfoHash([9; 20]), [1; 20]).encode())
        .unwrap();
    let mut b = [0u8; 68];
    assert_eq!(s.read(&mut b).unwrap_or(0), 0);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        seeder.last_error().unwrap().contains("info-hash"),
        "{:?}",
        seeder.last_error()
    );
    assert!(Seeder::start(
        &p.meta,
        &p.dir,
        SeederOptions {
            have: Some(vec![true]),
            ..Default::default()
        }
    )
    .is_err());
}

#[test]
fn wrong_data_flips_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = make_payload(dir.path(), "w.bin", &[("", 16384)], 16384, &[], 3).unwrap();
    let seeder = Seeder::start(
        &p.meta,
        &p.dir,
        SeederOptions::behaviour(Behaviour::WrongData),
    )
    .unwrap();
    let (mut c, _) = Client::connect(&seeder, p.meta.info_hash);
    c.send(Message::Interested);
    loop {
        if c.next() == Message::Unchoke {
            break;
        }
    }
    c.send(Message::Request {
        index: 0,
        begin: 0,
        length: 16384,
    });
    let Message::Piece { data, .. } = c.next() else {
        panic!()
    };
    let file = std::fs::read(dir.path().join("w.bin")).unwrap();
    assert_eq!(data.len(), file.len());
    assert_ne!(data, file);
}
