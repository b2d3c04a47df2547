//! Tests of the peer protocol state machine (strict policy).

use super::*;

fn state(fast: bool) -> PeerState {
    let mut s = PeerState::new(fast, true);
    s.set_geometry(10, 32768, 9 * 32768 + 100).unwrap();
    s
}

#[test]
fn choke_and_requests_without_fast() {
    let mut s = state(false);
    assert_eq!(
        s.on_receive(Message::Bitfield(vec![0xff, 0xc0])).unwrap(),
        Event::PiecesKnown
    );
    assert!(!s.can_request(0));
    assert_eq!(s.on_receive(Message::Unchoke).unwrap(), Event::Unchoked);
    assert!(s.can_request(9));
    let r = Message::Request {
        index: 1,
        begin: 0,
        length: 16384,
    };
    s.on_send(&r);
    assert_eq!(s.outstanding(), 1);
    // A piece never requested is a violation.
    assert_eq!(
        s.on_receive(Message::Piece {
            index: 1,
            begin: 16384,
            data: vec![0; 16384]
        })
        .unwrap_err(),
        ProtocolError::UnrequestedBlock {
            index: 1,
            begin: 16384,
            length: 16384
        }
    );
    // Wrong length too.
    assert!(s
        .on_receive(Message::Piece {
            index: 1,
            begin: 0,
            data: vec![0; 10]
        })
        .is_err());
    assert!(matches!(
        s.on_receive(Message::Piece {
            index: 1,
            begin: 0,
            data: vec![0; 16384]
        })
        .unwrap(),
        Event::Block {
            index: 1,
            begin: 0,
            ..
        }
    ));
    s.on_send(&Message::Request {
        index: 2,
        begin: 0,
        length: 16384,
    });
    s.on_send(&Message::Request {
        index: 2,
        begin: 16384,
        length: 16384,
    });
    let ev = s.on_receive(Message::Choke).unwrap();
    assert_eq!(
        ev,
        Event::Choked {
            dropped: vec![
                BlockRef {
                    index: 2,
                    begin: 0,
                    length: 16384
                },
                BlockRef {
                    index: 2,
                    begin: 16384,
                    length: 16384
                }
            ]
        }
    );
    assert_eq!(s.outstanding(), 0);
    // Fast messages without the fast extension.
    assert_eq!(
        s.on_receive(Message::AllowedFast(1)).unwrap_err(),
        ProtocolError::FastNotNegotiated {
            msg: "allowed fast"
        }
    );
    assert!(s.on_receive(Message::HaveAll).is_err());
    // Second bitfield.
    assert_eq!(
        s.on_receive(Message::Bitfield(vec![0xff, 0xc0]))
            .unwrap_err(),
        ProtocolError::NotFirstMessage { msg: "bitfield" }
    );
    assert_eq!(
        s.on_receive(Message::Have(10)).unwrap_err().to_string(),
        "have: piece index 10 out of range (torrent has 10 pieces)"
    );
}

#[test]
fn fast_extension() {
    let mut s = state(true);
    assert_eq!(s.on_receive(Message::HaveNone).unwrap(), Event::PiecesKnown);
    assert_eq!(s.peer_pieces().unwrap().count(), 0);
    assert_eq!(s.on_receive(Message::Have(3)).unwrap(), Event::Have(3));
    assert_eq!(
        s.on_receive(Message::AllowedFast(3)).unwrap(),
        Event::AllowedFast(3)
    );
    assert!(s.can_request(3), "allowed fast while choked");
    assert!(!s.can_request(4));
    let b = BlockRef {
        index: 3,
        begin: 0,
        length: 16384,
    };
    s.on_send(&Message::Request {
        index: 3,
        begin: 0,
        length: 16384,
    });
    assert_eq!(
        s.on_receive(Message::Choke).unwrap(),
        Event::Choked { dropped: vec![] }
    );
    assert_eq!(s.outstanding(), 1, "fast: requests survive a choke");
    assert_eq!(
        s.on_receive(Message::RejectRequest {
            index: 3,
            begin: 0,
            length: 16384
        })
        .unwrap(),
        Event::Rejected(b)
    );
    assert_eq!(
        s.on_receive(Message::RejectRequest {
            index: 3,
            begin: 0,
            length: 16384
        })
        .unwrap_err(),
        ProtocolError::UnrequestedReject {
            index: 3,
            begin: 0,
            length: 16384
        }
    );
    // Cancelled then arrives: late, not an error.
    s.on_send(&Message::Request {
        index: 3,
        begin: 16384,
        length: 16384,
    });
    s.on_send(&Message::Cancel {
        index: 3,
        begin: 16384,
        length: 16384,
    });
    assert!(matches!(
        s.on_receive(Message::Piece {
            index: 3,
            begin: 16384,
            data: vec![0; 16384]
        })
        .unwrap(),
        Event::LateBlock { .. }
    ));
}

#[test]
fn peer_requests() {
    let mut s = state(true).with_max_peer_requests(2);
    let req = |i, b, l| Message::Request {
        index: i,
        begin: b,
        length: l,
    };
    assert!(matches!(
        s.on_receive(req(0, 0, 16384)).unwrap(),
        Event::RequestWhileChoked(_)
    ));
    s.on_send(&Message::AllowedFast(0));
    assert!(matches!(
        s.on_receive(req(0, 0, 16384)).unwrap(),
        Event::Request(_)
    ));
    s.on_send(&Message::Unchoke);
    assert!(matches!(
        s.on_receive(req(9, 0, 100)).unwrap(),
        Event::Request(_)
    ));
    assert!(matches!(
        s.on_receive(req(9, 0, 100)).unwrap_err(),
        ProtocolError::TooManyRequests(3)
    ));
    assert_eq!(
        s.on_receive(Message::Cancel {
            index: 9,
            begin: 0,
            length: 100
        })
        .unwrap(),
        Event::Cancel(BlockRef {
            index: 9,
            begin: 0,
            length: 100
        })
    );
    assert_eq!(s.peer_request_count(), 1);
    assert_eq!(
        s.pop_peer_request(),
        Some(BlockRef {
            index: 0,
            begin: 0,
            length: 16384
        })
    );
    // Past the end of the (short) last piece.
    assert!(matches!(
        s.on_receive(req(9, 0, 101)).unwrap_err(),
        ProtocolError::BadRequest { .. }
    ));
    assert!(matches!(
        s.on_receive(req(0, 0, 0)).unwrap_err(),
        ProtocolError::BadRequest { .. }
    ));
    assert!(matches!(
        s.on_receive(req(10, 0, 1)).unwrap_err(),
        ProtocolError::PieceOutOfRange { .. }
    ));
}

#[test]
fn pieces_before_geometry_known() {
    let mut s = PeerState::new(true, true);
    s.on_receive(Message::Bitfield(vec![0xa0])).unwrap();
    s.on_receive(Message::Have(1)).unwrap();
    assert!(s.peer_pieces().is_none());
    s.set_geometry(3, 16384, 40000).unwrap();
    assert_eq!(s.peer_pieces().unwrap().count(), 3);
    // A have past the real piece count is caught once it is known.
    let mut s = PeerState::new(true, true);
    s.on_receive(Message::Have(20)).unwrap();
    assert!(matches!(
        s.set_geometry(10, 16384, 10 * 16384),
        Err(ProtocolError::PieceOutOfRange { index: 20, .. })
    ));
    let mut s = PeerState::new(true, true);
    s.on_receive(Message::HaveAll).unwrap();
    s.set_geometry(5, 16384, 5 * 16384).unwrap();
    assert!(s.peer_pieces().unwrap().is_complete());
    let mut s = PeerState::new(true, true);
    s.on_receive(Message::Bitfield(vec![0xff, 0xff])).unwrap();
    assert!(matches!(
        s.set_geometry(10, 1, 10),
        Err(ProtocolError::BitfieldSpareBits { .. })
    ));
}

#[test]
fn extended_messages() {
    let mut s = PeerState::new(false, false);
    assert_eq!(
        s.on_receive(Message::Extended {
            id: 0,
            payload: b"de".to_vec()
        })
        .unwrap_err(),
        ProtocolError::ExtendedNotNegotiated
    );
    let mut s = PeerState::new(false, true);
    assert_eq!(
        s.on_receive(Message::Extended {
            id: 0,
            payload: b"d1:md11:ut_metadatai2eee".to_vec()
        })
        .unwrap(),
        Event::ExtendedHandshake
    );
    assert_eq!(s.ext.as_ref().unwrap().extension_id("ut_metadata"), Some(2));
    assert!(s
        .on_receive(Message::Extended {
            id: 0,
            payload: b"junk".to_vec()
        })
        .is_err());
    assert_eq!(
        s.on_receive(Message::Extended {
            id: 2,
            payload: b"x".to_vec()
        })
        .unwrap(),
        Event::Extended {
            id: 2,
            payload: b"x".to_vec()
        }
    );
}
