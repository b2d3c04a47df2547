//! Peer wire protocol (BEP 3, 6, 9, 10). (filled in by the peer wire work)
