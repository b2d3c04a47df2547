//! Mainline DHT (BEP 5), sans-IO.
//!
//! - [`krpc`]: KRPC messages (bencoded dictionaries over UDP): strict,
//!   bounded parsing and canonical encoding, compact node info and peers.
//! - [`routing`]: the 160-bit XOR-metric routing table (k = 8 buckets,
//!   splitting the bucket that holds our own id; good / questionable / bad
//!   nodes; ping the oldest questionable node before replacing it).
//! - [`lookup`]: the iterative lookup state machine (α = 3 queries in flight,
//!   converging on the k closest nodes).
//! - [`token`] and [`store`]: announce tokens (SHA-1 of a rotating secret and
//!   the requester's IP) and the bounded store of announced peers.
//! - [`node`]: [`DhtNode`], which ties them together. It never owns a socket:
//!   feed it datagrams with `handle_datagram`, send what `poll_transmit`
//!   returns, call `handle_timeout` at `next_timeout`, read `poll_event`.
//! - [`persist`]: saving our id and routing table between runs.
//! - [`blocking`]: a tiny blocking driver over `std::net::UdpSocket` for CLIs
//!   and tests.
//!
//! Only IPv4 is spoken (BEP 5's compact formats); datagrams from IPv6
//! addresses other than IPv4-mapped ones are ignored.

pub mod blocking;
pub mod krpc;
pub mod lookup;
pub mod node;
pub mod persist;
pub mod routing;
pub mod store;
pub mod token;

pub use krpc::NodeInfo;
pub use lookup::LookupId;
pub use node::{Config, DhtError, DhtEvent, DhtNode};

use crate::InfoHash;
use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};

/// Well-known public bootstrap routers, as `host:port` (resolve them with
/// `ToSocketAddrs`). For real use only; tests must never contact them.
pub const DEFAULT_BOOTSTRAP: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
];

/// Bucket size and result size of lookups.
pub const K: usize = 8;

/// A 160-bit DHT node id (also used for lookup targets and info-hashes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 20]);

/// XOR distance between two ids; compares as a 160-bit big-endian number.
pub type Distance = [u8; 20];

impl NodeId {
    pub fn random() -> NodeId {
        NodeId(rand::random())
    }

    pub fn distance(&self, other: &NodeId) -> Distance {
        let mut d = [0u8; 20];
        for (i, b) in d.iter_mut().enumerate() {
            *b = self.0[i] ^ other.0[i];
        }
        d
    }

    /// Number of leading bits shared with `other` (160 when equal).
    pub fn common_prefix_len(&self, other: &NodeId) -> usize {
        for i in 0..20 {
            let x = self.0[i] ^ other.0[i];
            if x != 0 {
                return i * 8 + x.leading_zeros() as usize;
            }
        }
        160
    }

    /// Bit `i` (0 = most significant).
    pub fn bit(&self, i: usize) -> bool {
        self.0[i / 8] & (0x80 >> (i % 8)) != 0
    }

    /// A random id sharing exactly the first `prefix_len` bits with `self`
    /// and differing at bit `prefix_len` (if `flip`), random afterwards.
    pub fn random_in_range(&self, prefix_len: usize, flip: bool) -> NodeId {
        let mut out = NodeId::random();
        for i in 0..prefix_len.min(160) {
            set_bit(&mut out.0, i, self.bit(i));
        }
        if flip && prefix_len < 160 {
            set_bit(&mut out.0, prefix_len, !self.bit(prefix_len));
        }
        out
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

fn set_bit(b: &mut [u8; 20], i: usize, v: bool) {
    let mask = 0x80u8 >> (i % 8);
    if v {
        b[i / 8] |= mask;
    } else {
        b[i / 8] &= !mask;
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.to_hex())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl From<InfoHash> for NodeId {
    fn from(h: InfoHash) -> NodeId {
        NodeId(h.0)
    }
}

impl From<NodeId> for InfoHash {
    fn from(n: NodeId) -> InfoHash {
        InfoHash(n.0)
    }
}

/// The IPv4 form of an address (IPv4-mapped IPv6 included), if it has one.
pub fn to_v4(addr: SocketAddr) -> Option<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(a) => a
            .ip()
            .to_ipv4_mapped()
            .map(|ip| SocketAddrV4::new(ip, a.port())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_distance() {
        let a = NodeId([0u8; 20]);
        let mut b = [0u8; 20];
        b[1] = 0b0010_0000;
        let b = NodeId(b);
        assert_eq!(a.common_prefix_len(&b), 10);
        assert_eq!(a.common_prefix_len(&a), 160);
        assert_eq!(a.distance(&b), b.0);
        assert!(b.bit(10) && !b.bit(9) && !b.bit(11));
    }

    #[test]
    fn random_in_range_keeps_prefix() {
        let own = NodeId::random();
        for p in [0usize, 1, 7, 8, 63, 158, 159] {
            let r = own.random_in_range(p, true);
            assert_eq!(own.common_prefix_len(&r), p, "prefix {p}");
            let r = own.random_in_range(p, false);
            assert!(own.common_prefix_len(&r) >= p);
        }
    }
}
