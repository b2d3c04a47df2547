//! Tests of the tolerant policy of the peer protocol state machine.

use super::*;

fn tolerant(fast: bool) -> PeerState {
    let mut s = PeerState::new(fast, true)
        .with_policy(Policy::Tolerant {
            max_unrequested: 2 * 16384,
        })
        .with_max_peer_requests(1);
    s.set_geometry(10, 32768, 10 * 32768).unwrap();
    s
}

#[test]
fn tolerant_accepts_what_real_clients_do() {
    let mut s = tolerant(true);
    assert_eq!(
        s.on_receive(Message::Bitfield(vec![0x80, 0])).unwrap(),
        Event::PiecesKnown
    );
    // A second bitfield replaces the first.
    match s.on_receive(Message::Bitfield(vec![0xff, 0xc0])).unwrap() {
        Event::PiecesReplaced { old } => assert_eq!(old.count(), 1),
        e => panic!("{e:?}"),
    }
    assert_eq!(s.peer_pieces().unwrap().count(), 10);
    assert!(matches!(
        s.on_receive(Message::HaveAll).unwrap(),
        Event::PiecesReplaced { .. }
    ));
    // Unrequested blocks: dropped, counted, bounded.
    let piece = |begin| Message::Piece {
        index: 0,
        begin,
        data: vec![0; 16384],
    };
    assert!(matches!(
        s.on_receive(piece(0)).unwrap(),
        Event::UnrequestedBlock { .. }
    ));
    assert!(matches!(
        s.on_receive(piece(16384)).unwrap(),
        Event::UnrequestedBlock { .. }
    ));
    assert_eq!(s.unrequested_bytes(), 32768);
    assert!(matches!(
        s.on_receive(piece(0)).unwrap_err(),
        ProtocolError::UnrequestedBlock { .. }
    ));
}

#[test]
fn tolerant_choke_drops_requests_and_late_blocks_are_late() {
    let mut s = tolerant(true);
    s.on_receive(Message::HaveAll).unwrap();
    s.on_send(&Message::Request {
        index: 1,
        begin: 0,
        length: 16384,
    });
    let b = BlockRef {
        index: 1,
        begin: 0,
        length: 16384,
    };
    assert!(s.is_requested(&b));
    assert_eq!(
        s.on_receive(Message::Choke).unwrap(),
        Event::Choked { dropped: vec![b] }
    );
    assert_eq!(s.outstanding(), 0);
    // The reject for it, then the block anyway: neither is fatal.
    assert_eq!(
        s.on_receive(Message::RejectRequest {
            index: 1,
            begin: 0,
            length: 16384
        })
        .unwrap(),
        Event::Rejected(b)
    );
    assert_eq!(
        s.on_receive(Message::RejectRequest {
            index: 1,
            begin: 0,
            length: 16384
        })
        .unwrap(),
        Event::None
    );
    // Over-long request queues are refused, not fatal.
    s.on_send(&Message::Unchoke);
    let req = Message::Request {
        index: 2,
        begin: 0,
        length: 16384,
    };
    assert!(matches!(s.on_receive(req.clone()).unwrap(), Event::Request(_)));
    assert!(matches!(
        s.on_receive(req).unwrap(),
        Event::RequestRefused(_)
    ));
    assert_eq!(s.take_peer_requests().len(), 1);
}

#[test]
fn strict_keeps_the_rules() {
    let mut s = PeerState::new(false, false);
    s.set_geometry(10, 32768, 10 * 32768).unwrap();
    s.on_receive(Message::Bitfield(vec![0x80, 0])).unwrap();
    assert!(s.on_receive(Message::Bitfield(vec![0x80, 0])).is_err());
    assert!(s.on_receive(Message::AllowedFast(1)).is_err());
    assert!(s
        .on_receive(Message::Extended {
            id: 1,
            payload: vec![]
        })
        .is_err());
    // Tolerant ignores the last two.
    let mut t = PeerState::new(false, false).with_policy(Policy::Tolerant { max_unrequested: 0 });
    assert_eq!(t.on_receive(Message::AllowedFast(1)).unwrap(), Event::None);
    assert_eq!(
        t.on_receive(Message::Extended {
            id: 1,
            payload: vec![]
        })
        .unwrap(),
        Event::None
    );
}
