//! The shared UDP socket's classifier (`torrent_core::demux`): total on any
//! bytes, and whatever a parser of the three formats accepts is classified
//! as that format (so demultiplexing never hides a valid datagram from the
//! parser that would take it).

use torrent_core::demux::{classify, tracker_transaction, Kind};

pub fn check_demux(data: &[u8]) {
    let k = classify(data);
    if torrent_core::utp::Packet::decode(data).is_ok() {
        assert_eq!(k, Kind::Utp);
    }
    if torrent_core::dht::krpc::parse(data).is_ok() {
        assert_eq!(k, Kind::Dht);
    }
    for v6 in [false, true] {
        if torrent_core::tracker::udp::parse_response(data, v6, 200).is_ok() {
            assert_eq!(k, Kind::Tracker);
        }
    }
    assert_eq!(tracker_transaction(data).is_some(), k == Kind::Tracker);
}
