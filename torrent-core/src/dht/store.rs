//! Peers announced to us (`announce_peer`), per info-hash, with expiry and
//! bounds on both the number of info-hashes and of peers per info-hash.

use super::NodeId;
use rand::seq::SliceRandom;
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct PeerStore {
    map: HashMap<NodeId, Vec<(SocketAddrV4, Instant)>>,
    max_torrents: usize,
    max_peers: usize,
    ttl: Duration,
}

impl PeerStore {
    pub fn new(max_torrents: usize, max_peers: usize, ttl: Duration) -> PeerStore {
        PeerStore {
            map: HashMap::new(),
            max_torrents,
            max_peers,
            ttl,
        }
    }

    /// Store (or refresh) a peer. Returns false when the store is full.
    pub fn insert(&mut self, info_hash: NodeId, peer: SocketAddrV4, now: Instant) -> bool {
        let expires = now + self.ttl;
        if !self.map.contains_key(&info_hash) {
            if self.map.len() >= self.max_torrents {
                self.expire(now);
                if self.map.len() >= self.max_torrents {
                    return false;
                }
            }
            self.map.insert(info_hash, Vec::new());
        }
        let peers = self.map.get_mut(&info_hash).expect("inserted above");
        if let Some(p) = peers.iter_mut().find(|(a, _)| *a == peer) {
            p.1 = expires;
            return true;
        }
        if peers.len() >= self.max_peers {
            // Replace the entry closest to expiry.
            if let Some(i) = (0..peers.len()).min_by_key(|&i| peers[i].1) {
                peers[i] = (peer, expires);
            }
            return true;
        }
        peers.push((peer, expires));
        true
    }

    /// Up to `max` unexpired peers, a random sample when there are more.
    pub fn get(&self, info_hash: &NodeId, max: usize, now: Instant) -> Vec<SocketAddrV4> {
        let Some(peers) = self.map.get(info_hash) else {
            return Vec::new();
        };
        let mut live: Vec<SocketAddrV4> = peers
            .iter()
            .filter(|(_, e)| *e > now)
            .map(|(a, _)| *a)
            .collect();
        if live.len() > max {
            live.shuffle(&mut rand::thread_rng());
            live.truncate(max);
        }
        live
    }

    pub fn expire(&mut self, now: Instant) {
        self.map.retain(|_, peers| {
            peers.retain(|(_, e)| *e > now);
            !peers.is_empty()
        });
    }

    /// Number of info-hashes with peers.
    pub fn torrents(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_expiry() {
        let t0 = Instant::now();
        let mut s = PeerStore::new(2, 3, Duration::from_secs(60));
        let h1 = NodeId([1; 20]);
        let h2 = NodeId([2; 20]);
        let h3 = NodeId([3; 20]);
        let p = |n: u16| SocketAddrV4::new([127, 0, 0, 1].into(), n);
        for n in 1..=5 {
            assert!(s.insert(h1, p(n), t0 + Duration::from_secs(n as u64)));
        }
        assert_eq!(s.get(&h1, 10, t0).len(), 3);
        assert!(s.insert(h2, p(1), t0));
        assert!(!s.insert(h3, p(1), t0), "torrent limit");
        assert_eq!(s.get(&h1, 2, t0).len(), 2);
        // h2 expires at t0+60; h1's newest entries live longer.
        s.expire(t0 + Duration::from_secs(61));
        assert_eq!(s.torrents(), 1);
        assert!(s.insert(h3, p(1), t0 + Duration::from_secs(61)));
        assert!(s.get(&h1, 10, t0 + Duration::from_secs(100)).is_empty());
    }
}
