//! Peer wire: the incremental [`Decoder`], [`PeerState`] fed decoded
//! messages, and the extension payloads (ut_metadata, extended handshake,
//! ut_pex) with the [`MetadataAssembler`].

use std::collections::HashSet;

use sha1::{Digest, Sha1};
use torrent_core::infohash::InfoHash;
use torrent_core::peer::codec::Decoder;
use torrent_core::peer::connection::MAX_REQUEST_LEN;
use torrent_core::peer::extension::{MAX_METADATA_SIZE, METADATA_PIECE_SIZE};
use torrent_core::peer::pex::{PexMessage, MAX_PEX_PEERS};
use torrent_core::peer::{
    BlockRef, Event, ExtendedHandshake, Frame, Handshake, Message, MetadataAssembler,
    MetadataMessage, PeerState, ProtocolError,
};

use crate::input::Input;

fn decoder(after_handshake: bool, small: bool) -> Decoder {
    let d = if after_handshake {
        Decoder::after_handshake()
    } else {
        Decoder::new()
    };
    if small {
        d.with_max_message_len(64).with_max_block_len(32)
    } else {
        d
    }
}

/// A decoded message re-encodes to bytes that decode to the same message.
fn check_message_round_trip(m: &Message, small: bool) {
    let mut v = Vec::new();
    m.encode_into(&mut v);
    assert_eq!(v.len(), m.encoded_len(), "encoded_len of {m:?}");
    assert_eq!(v, m.encode());
    let mut d = decoder(true, small);
    d.feed(&v).expect("one message fits");
    assert_eq!(d.next_message().expect("re-encoded message decodes").as_ref(), Some(m));
    assert_eq!(d.buffered(), 0);
}

/// Byte 0: bit 0 start after the handshake, bit 1 read through
/// `spare`/`advance` instead of `feed`, bit 2 use `next_frame`, bit 3 small
/// limits. Byte 1: how the rest is cut into chunks.
pub fn check_peer_codec(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.u8();
    let chunking = inp.u8();
    let small = flags & 8 != 0;
    let mut dec = decoder(flags & 1 != 0, small);
    let stream = inp.rest();
    let mut pos = 0;
    let mut step = 0usize;
    'stream: while pos < stream.len() {
        step += 1;
        let chunk = match chunking % 4 {
            0 => 1,
            1 => 1 + (chunking >> 2) as usize,
            2 => 1 + (step * 7 + chunking as usize) % 64,
            _ => stream.len(),
        };
        let piece = &stream[pos..(pos + chunk).min(stream.len())];
        pos += piece.len();
        if flags & 2 != 0 {
            // The space grows with what arrives: it may come in parts,
            // and is empty only when the buffer is full.
            let mut rest = piece;
            while !rest.is_empty() {
                let spare = dec.spare(rest.len());
                let n = spare.len();
                if n == 0 {
                    break;
                }
                spare.copy_from_slice(&rest[..n]);
                dec.advance(n);
                rest = &rest[n..];
            }
            if !rest.is_empty() {
                assert_eq!(dec.buffered(), dec.buffer_limit(), "spare empty before full");
                break;
            }
        } else {
            match dec.feed(piece) {
                Ok(()) => {}
                Err(ProtocolError::BufferFull { len, max }) => {
                    assert_eq!(max, dec.buffer_limit());
                    assert!(len > max);
                    break;
                }
                Err(e) => panic!("feed failed with {e}"),
            }
        }
        assert!(dec.buffered() <= dec.buffer_limit());
        loop {
            if !dec.handshake_done() {
                match dec.next_handshake() {
                    Ok(Some(h)) => {
                        assert!(dec.handshake_done());
                        assert_eq!(Handshake::parse(&h.encode()).expect("own handshake"), h);
                    }
                    Ok(None) => break,
                    Err(_) => break 'stream,
                }
                continue;
            }
            let before = dec.buffered();
            let got = if flags & 4 != 0 {
                match dec.next_frame() {
                    Ok(Some(Frame::Piece { index, begin, data })) => {
                        assert!(data.len() <= if small { 32 } else { 16384 });
                        Ok(Some(Message::Piece {
                            index,
                            begin,
                            data: data.to_vec(),
                        }))
                    }
                    Ok(Some(Frame::Other(m))) => {
                        assert!(!matches!(m, Message::Piece { .. }));
                        Ok(Some(m))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                }
            } else {
                dec.next_message()
            };
            match got {
                Ok(Some(m)) => {
                    assert_eq!(dec.buffered() + m.encoded_len(), before);
                    check_message_round_trip(&m, small);
                }
                Ok(None) => break,
                Err(_) => break 'stream,
            }
            assert!(dec.buffered() <= dec.buffer_limit());
        }
    }
}

/// A message built from the script, with fields that often hit the
/// interesting values (real piece indexes, block sizes, limits).
fn message(inp: &mut Input) -> Message {
    let index = |inp: &mut Input| inp.small_u32(48);
    let begin = |inp: &mut Input| match inp.u8() % 4 {
        0 => 0,
        1 => 16384,
        2 => inp.u8() as u32 * 256,
        _ => inp.u32(),
    };
    let length = |inp: &mut Input| match inp.u8() % 6 {
        0 | 1 => 16384,
        2 => 0,
        3 => MAX_REQUEST_LEN,
        4 => MAX_REQUEST_LEN + 1,
        _ => inp.u16() as u32,
    };
    match inp.u8() % 18 {
        0 => Message::KeepAlive,
        1 => Message::Choke,
        2 => Message::Unchoke,
        3 => Message::Interested,
        4 => Message::NotInterested,
        5 => Message::Have(index(inp)),
        6 => {
            let n = inp.u8() as usize % 16;
            Message::Bitfield(inp.bytes(n).to_vec())
        }
        7 | 8 => Message::Request {
            index: index(inp),
            begin: begin(inp),
            length: length(inp),
        },
        9 | 10 => {
            let index = index(inp);
            let begin = begin(inp);
            let len = (length(inp) as usize).min(MAX_REQUEST_LEN as usize + 1);
            Message::Piece {
                index,
                begin,
                data: vec![0xab; len],
            }
        }
        11 => Message::Cancel {
            index: index(inp),
            begin: begin(inp),
            length: length(inp),
        },
        12 => Message::Port(inp.u16()),
        13 => Message::SuggestPiece(index(inp)),
        14 => {
            if inp.bool() {
                Message::HaveAll
            } else {
                Message::HaveNone
            }
        }
        15 => Message::RejectRequest {
            index: index(inp),
            begin: begin(inp),
            length: length(inp),
        },
        16 => Message::AllowedFast(index(inp)),
        _ => Message::Extended {
            id: inp.u8() % 3,
            payload: inp.short_bytes().to_vec(),
        },
    }
}

/// Feed [`PeerState`] a fuzzed conversation: messages from the peer
/// (built, or decoded from raw bytes), messages we send, the torrent's
/// geometry arriving at some point, and request queue pops.
pub fn check_peer_state(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.u8();
    let max_requests = if flags & 4 != 0 {
        1 + inp.u8() as usize % 8
    } else {
        torrent_core::peer::connection::DEFAULT_MAX_PEER_REQUESTS
    };
    // Bit 3: torrent-get's tolerant policy instead of the strict one.
    let policy = if flags & 8 != 0 {
        torrent_core::peer::connection::Policy::Tolerant { max_unrequested: 65536 }
    } else {
        torrent_core::peer::connection::Policy::Strict
    };
    let mut st = PeerState::new(flags & 1 != 0, flags & 2 != 0)
        .with_max_peer_requests(max_requests)
        .with_policy(policy);
    let mut geometry: Option<(usize, u64, u64)> = None;
    let mut sent_requests: HashSet<BlockRef> = HashSet::new();
    let mut steps = 0;
    while !inp.is_empty() && steps < 2000 {
        steps += 1;
        match inp.u8() % 8 {
            0 => {
                if geometry.is_none() {
                    let n = if inp.u8() < 250 {
                        1 + inp.u8() as usize % 64
                    } else {
                        1 + inp.u32() as usize % 200_000
                    };
                    let plen = 16384u64 << (inp.u8() % 4);
                    let total = (n as u64 - 1) * plen + 1 + inp.u16() as u64 % plen;
                    geometry = Some((n, plen, total));
                    let _ = st.set_geometry(n, plen, total);
                    assert_eq!(st.num_pieces(), Some(n));
                }
            }
            1..=3 => {
                let m = message(&mut inp);
                receive(&mut st, m, geometry, &sent_requests);
            }
            4 => {
                let body = inp.short_bytes();
                if let Ok(m) = Message::decode_body(body) {
                    receive(&mut st, m, geometry, &sent_requests);
                }
            }
            5 => {
                let m = message(&mut inp);
                if let Message::Request {
                    index,
                    begin,
                    length,
                } = m
                {
                    sent_requests.insert(BlockRef {
                        index,
                        begin,
                        length,
                    });
                }
                st.on_send(&m);
            }
            6 => {
                if let Some(b) = st.pop_peer_request() {
                    check_peer_request(b, geometry);
                }
            }
            _ => {
                let i = inp.small_u32(64);
                if st.can_request(i) {
                    assert!(st.peer_has(i));
                }
                if st.peer_has(i) {
                    assert!(geometry.is_some_and(|g| (i as usize) < g.0));
                }
            }
        }
        assert!(st.peer_request_count() <= max_requests);
        assert!(st.unrequested_bytes() <= 65536);
        if flags & 16 != 0 && steps % 64 == 0 {
            // Dropping requests makes late blocks late, never fatal.
            for b in st.drop_requests() {
                sent_requests.remove(&b);
            }
            assert_eq!(st.outstanding(), 0);
        }
        assert!(st.allowed_fast.len() <= 256 && st.suggested.len() <= 256);
        assert!(st.we_allow_fast.len() <= 256);
        if let Some(b) = st.peer_pieces() {
            assert_eq!(Some(b.num_pieces()), geometry.map(|g| g.0));
        }
    }
}

fn check_peer_request(b: BlockRef, geometry: Option<(usize, u64, u64)>) {
    assert!(b.length >= 1 && b.length <= MAX_REQUEST_LEN);
    let _ = geometry;
}

fn receive(
    st: &mut PeerState,
    m: Message,
    geometry: Option<(usize, u64, u64)>,
    sent: &HashSet<BlockRef>,
) {
    let Ok(ev) = st.on_receive(m) else {
        return;
    };
    match ev {
        Event::Request(b) => {
            check_peer_request(b, geometry);
            if let Some((n, plen, total)) = geometry {
                assert!((b.index as usize) < n);
                let this = plen.min(total - b.index as u64 * plen);
                assert!(b.begin as u64 + b.length as u64 <= this);
            }
        }
        Event::Block { index, begin, data } => {
            assert!(sent.contains(&BlockRef {
                index,
                begin,
                length: data.len() as u32
            }));
        }
        Event::Have(i) => assert!(geometry.is_none_or(|g| (i as usize) < g.0)),
        Event::Choked { dropped } => {
            assert!(dropped.iter().all(|b| sent.contains(b)));
        }
        Event::PiecesReplaced { old } => {
            assert!(st.policy() != torrent_core::peer::connection::Policy::Strict);
            assert_eq!(Some(old.num_pieces()), geometry.map(|g| g.0));
        }
        Event::UnrequestedBlock { .. } | Event::RequestRefused(_) => {
            assert!(st.policy() != torrent_core::peer::connection::Policy::Strict);
        }
        _ => {}
    }
}

/// The three extension payload parsers round-trip what they accept, then
/// the input drives a [`MetadataAssembler`].
pub fn check_ut_metadata(data: &[u8]) {
    if let Ok(m) = MetadataMessage::parse(data) {
        let again = MetadataMessage::parse(&m.encode()).expect("own metadata message parses");
        assert_eq!(again, m);
    }
    if let Ok(h) = ExtendedHandshake::parse(data) {
        assert!(h.metadata_size.is_none_or(|s| s >= 0));
        let _ = (h.client(), h.port(), h.your_ip(), h.extension_id("ut_metadata"));
        let again = ExtendedHandshake::parse(&h.encode()).expect("own extended handshake parses");
        assert_eq!(again, h);
    }
    if let Ok(p) = PexMessage::parse(data) {
        assert!(p.added.len() <= 2 * MAX_PEX_PEERS && p.dropped.len() <= 2 * MAX_PEX_PEERS);
        let again = PexMessage::parse(&p.encode()).expect("own pex parses");
        assert!(again.flags_given, "our messages give every peer's flags");
        assert_eq!(PexMessage { flags_given: p.flags_given, ..again }, p);
    }
    check_assembler(&mut Input::new(data));
}

/// Mode bit 0 set: the script carries an info dictionary and the assembler
/// expects its SHA-1 (pieces may arrive correct, corrupted or arbitrary);
/// clear: an arbitrary size and hash.
fn check_assembler(inp: &mut Input) {
    let mode = inp.u8();
    let (size, info): (i64, &[u8]) = if mode & 1 == 1 {
        let n = inp.u16() as usize;
        let info = inp.bytes(n);
        (info.len() as i64, info)
    } else {
        (inp.u32() as i32 as i64, &[])
    };
    let hash = InfoHash(Sha1::digest(info).into());
    let asm = MetadataAssembler::new(hash, size);
    assert_eq!(
        asm.is_ok(),
        size >= 1 && size <= MAX_METADATA_SIZE as i64,
        "size {size}"
    );
    let Ok(mut asm) = asm else { return };
    assert_eq!(asm.size() as i64, size);
    let n = asm.num_pieces();
    assert_eq!(n, (size as usize).div_ceil(METADATA_PIECE_SIZE));
    let mut corrupted = false;
    let mut steps = 0;
    while !inp.is_empty() && steps < 500 {
        steps += 1;
        match inp.u8() % 6 {
            0 => {
                if let Some(p) = asm.next_request() {
                    assert!((p as usize) < n);
                }
            }
            1 => asm.unrequest(inp.small_u32(n as u32 + 2)),
            2 => asm.unrequest_all(),
            3 | 4 => {
                let piece = inp.small_u32(n as u32 + 2);
                let total = if inp.u8() < 240 { size as u64 } else { inp.u64() };
                let i = piece as usize;
                let want = if i < n { asm.piece_len(i) } else { 0 };
                let buf: Vec<u8> = match inp.u8() % 4 {
                    // The right bytes, when we know them.
                    0 | 1 if !info.is_empty() && i < n => {
                        info[i * METADATA_PIECE_SIZE..i * METADATA_PIECE_SIZE + want].to_vec()
                    }
                    // The right length, wrong content.
                    2 => {
                        corrupted = true;
                        vec![inp.u8(); want]
                    }
                    _ => {
                        corrupted = true;
                        inp.short_bytes().to_vec()
                    }
                };
                let ok_shape = total == size as u64 && i < n && buf.len() == want;
                match asm.add_piece(piece, total, &buf) {
                    Ok(complete) => {
                        assert!(ok_shape);
                        assert_eq!(complete, asm.is_complete());
                    }
                    Err(_) => assert!(!ok_shape),
                }
            }
            _ => match asm.finish(Vec::new()) {
                Ok(m) => {
                    assert_eq!(m.info_hash, hash);
                    assert_eq!(*m.info_bytes, info);
                }
                Err(_) => {
                    let _ = corrupted;
                }
            },
        }
    }
}
