//! The routing table: buckets of at most [`K`] nodes over the 160-bit XOR
//! metric.
//!
//! Bucket `i` (for `i` below the last) holds nodes whose id shares exactly
//! `i` leading bits with ours; the last bucket holds every node sharing at
//! least that many bits, so it is the one that contains our own id and the
//! only one that splits. A full bucket that cannot split takes a new node only
//! in place of a bad one; otherwise, if it has a questionable node, the new
//! node waits in a small replacement cache while the oldest questionable node
//! is pinged ([`Insert::PingFirst`]) and replaces it if that ping fails.
//!
//! Only nodes that answered one of our queries are inserted (a query from an
//! unknown node proves little: its source address could be spoofed).

use super::krpc::NodeInfo;
use super::{NodeId, K};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

/// A node is good for this long after its last answer (BEP 5: 15 minutes).
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// Consecutive failed queries after which a node is bad.
pub const MAX_FAILURES: u32 = 2;
/// Replacement candidates kept per bucket.
const REPLACEMENTS: usize = K;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Good,
    Questionable,
    Bad,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub info: NodeInfo,
    /// Last answer to one of our queries.
    pub last_response: Instant,
    /// Last datagram of any kind (answers and queries).
    pub last_seen: Instant,
    /// Consecutive unanswered queries.
    pub failures: u32,
}

impl Entry {
    pub fn state(&self, now: Instant) -> NodeState {
        if self.failures >= MAX_FAILURES {
            NodeState::Bad
        } else if self.failures == 0 && now.saturating_duration_since(self.last_response) < GOOD_FOR
        {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    nodes: Vec<Entry>,
    /// Nodes that answered us while the bucket was full, newest last.
    replacements: Vec<NodeInfo>,
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Bucket {
        Bucket {
            nodes: Vec::new(),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

/// What [`RoutingTable::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// New node added.
    Added,
    /// Known node refreshed.
    Updated,
    /// Bucket full of questionable nodes: the new node waits in the
    /// replacement cache; ping this (the oldest questionable) node, and
    /// report the outcome with `heard_from` or `failed`.
    PingFirst(NodeInfo),
    /// Bucket full of good nodes: not added.
    Full,
    /// Our own id, or an id already known at another address.
    Rejected,
}

#[derive(Debug, Clone)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Bucket>,
}

impl RoutingTable {
    pub fn new(own: NodeId, now: Instant) -> RoutingTable {
        RoutingTable {
            own,
            buckets: vec![Bucket::new(now)],
        }
    }

    pub fn own_id(&self) -> NodeId {
        self.own
    }

    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    fn index(&self, id: &NodeId) -> usize {
        self.own.common_prefix_len(id).min(self.buckets.len() - 1)
    }

    /// All entries (bucket by bucket).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    pub fn get(&self, id: &NodeId) -> Option<&Entry> {
        let b = &self.buckets[self.index(id)];
        b.nodes.iter().find(|e| e.info.id == *id)
    }

    /// Record that a node answered one of our queries: refresh it, or insert
    /// it (splitting or evicting as the rules allow).
    pub fn insert(&mut self, info: NodeInfo, now: Instant) -> Insert {
        if info.id == self.own {
            return Insert::Rejected;
        }
        loop {
            let last = self.buckets.len() - 1;
            let i = self.index(&info.id);
            let b = &mut self.buckets[i];
            if let Some(e) = b.nodes.iter_mut().find(|e| e.info.id == info.id) {
                if e.info.addr != info.addr {
                    // Keep the address we know unless it stopped answering.
                    if e.state(now) != NodeState::Bad {
                        return Insert::Rejected;
                    }
                    e.info.addr = info.addr;
                }
                e.last_response = now;
                e.last_seen = now;
                e.failures = 0;
                return Insert::Updated;
            }
            if b.nodes.len() < K {
                b.nodes.push(Entry {
                    info,
                    last_response: now,
                    last_seen: now,
                    failures: 0,
                });
                b.last_changed = now;
                b.replacements.retain(|r| r.id != info.id);
                return Insert::Added;
            }
            if i == last && last < 159 {
                self.split();
                continue;
            }
            if let Some(pos) = b.nodes.iter().position(|e| e.state(now) == NodeState::Bad) {
                b.nodes[pos] = Entry {
                    info,
                    last_response: now,
                    last_seen: now,
                    failures: 0,
                };
                b.last_changed = now;
                return Insert::Added;
            }
            let oldest_questionable = b
                .nodes
                .iter()
                .filter(|e| e.state(now) == NodeState::Questionable)
                .min_by_key(|e| e.last_seen)
                .map(|e| e.info);
            return match oldest_questionable {
                Some(q) => {
                    b.replacements
                        .retain(|r| r.id != info.id && r.addr != info.addr);
                    if b.replacements.len() >= REPLACEMENTS {
                        b.replacements.remove(0);
                    }
                    b.replacements.push(info);
                    Insert::PingFirst(q)
                }
                None => Insert::Full,
            };
        }
    }

    /// Would a node with this id be inserted (room, a split, or a bad node
    /// to replace)? Used to decide whether to verify an unknown querier.
    pub fn has_room_for(&self, id: &NodeId, now: Instant) -> bool {
        if *id == self.own {
            return false;
        }
        let i = self.index(id);
        let b = &self.buckets[i];
        if b.nodes.iter().any(|e| e.info.id == *id) {
            return false;
        }
        b.nodes.len() < K
            || (i == self.buckets.len() - 1 && i < 159)
            || b.nodes.iter().any(|e| e.state(now) == NodeState::Bad)
    }

    /// A known node sent us a query: it is alive, though that alone does not
    /// make it good.
    pub fn seen(&mut self, id: &NodeId, addr: SocketAddrV4, now: Instant) {
        let i = self.index(id);
        if let Some(e) = self.buckets[i]
            .nodes
            .iter_mut()
            .find(|e| e.info.id == *id && e.info.addr == addr)
        {
            e.last_seen = now;
        }
    }

    /// A query to this node went unanswered. When the node turns bad and a
    /// replacement is waiting, the replacement takes its place.
    pub fn failed(&mut self, addr: SocketAddrV4, id: Option<NodeId>, now: Instant) {
        let bi = match id {
            Some(id) => Some(self.index(&id)),
            None => self
                .buckets
                .iter()
                .position(|b| b.nodes.iter().any(|e| e.info.addr == addr)),
        };
        let Some(bi) = bi else { return };
        let b = &mut self.buckets[bi];
        let Some(pos) = b.nodes.iter().position(|e| e.info.addr == addr) else {
            return;
        };
        b.nodes[pos].failures += 1;
        if b.nodes[pos].state(now) == NodeState::Bad {
            if let Some(r) = b.replacements.pop() {
                b.nodes[pos] = Entry {
                    info: r,
                    last_response: now,
                    last_seen: now,
                    failures: 0,
                };
                b.last_changed = now;
            }
        }
    }

    /// Remove a node (e.g. one that answered with a different id).
    pub fn remove(&mut self, id: &NodeId) {
        let i = self.index(id);
        self.buckets[i].nodes.retain(|e| e.info.id != *id);
    }

    fn split(&mut self) {
        let last = self.buckets.len() - 1;
        let own = self.own;
        let now_changed = self.buckets[last].last_changed;
        let mut nb = Bucket::new(now_changed);
        let b = &mut self.buckets[last];
        let (stay, go): (Vec<Entry>, Vec<Entry>) = b
            .nodes
            .drain(..)
            .partition(|e| own.common_prefix_len(&e.info.id) == last);
        b.nodes = stay;
        nb.nodes = go;
        let (stay, go): (Vec<NodeInfo>, Vec<NodeInfo>) = b
            .replacements
            .drain(..)
            .partition(|r| own.common_prefix_len(&r.id) == last);
        b.replacements = stay;
        nb.replacements = go;
        self.buckets.push(nb);
    }

    /// Up to `n` non-bad nodes closest to `target`, closest first.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<NodeInfo> {
        let mut all: Vec<&Entry> = self
            .entries()
            .filter(|e| e.failures < MAX_FAILURES)
            .collect();
        all.sort_by_key(|e| e.info.id.distance(target));
        all.into_iter().take(n).map(|e| e.info).collect()
    }

    /// Questionable nodes, least recently seen first (for maintenance pings).
    pub fn questionable(&self, now: Instant, max: usize) -> Vec<NodeInfo> {
        let mut q: Vec<&Entry> = self
            .entries()
            .filter(|e| e.state(now) == NodeState::Questionable)
            .collect();
        q.sort_by_key(|e| e.last_seen);
        q.into_iter().take(max).map(|e| e.info).collect()
    }

    /// Random targets inside each bucket unchanged for `age`, marking those
    /// buckets as refreshed (BEP 5: refresh buckets idle for 15 minutes).
    pub fn refresh_targets(&mut self, now: Instant, age: Duration) -> Vec<NodeId> {
        let last = self.buckets.len() - 1;
        let own = self.own;
        let mut out = Vec::new();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if now.saturating_duration_since(b.last_changed) >= age {
                b.last_changed = now;
                out.push(own.random_in_range(i, i != last));
            }
        }
        out
    }

    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.entries().map(|e| e.info).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn info(id: NodeId, port: u16) -> NodeInfo {
        NodeInfo {
            id,
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
        }
    }

    /// An id sharing exactly `prefix` bits with `own`.
    fn at(own: &NodeId, prefix: usize) -> NodeId {
        own.random_in_range(prefix, true)
    }

    #[test]
    fn splits_bucket_with_own_id() {
        let now = Instant::now();
        let own = NodeId([0u8; 20]);
        let mut t = RoutingTable::new(own, now);
        // 8 nodes far away (prefix 0) fill the only bucket.
        for p in 0..K as u16 {
            assert_eq!(t.insert(info(at(&own, 0), 1000 + p), now), Insert::Added);
        }
        assert_eq!(t.bucket_count(), 1);
        // A close node forces a split: far nodes stay in bucket 0.
        assert_eq!(t.insert(info(at(&own, 5), 2000), now), Insert::Added);
        assert_eq!(t.bucket_count(), 2);
        assert_eq!(t.len(), K + 1);
        // Another far node: bucket 0 is full and not ours, so it is Full.
        assert_eq!(t.insert(info(at(&own, 0), 3000), now), Insert::Full);
        // Many close nodes keep splitting; nothing is lost.
        for p in 0..40u16 {
            let r = t.insert(info(at(&own, 20 + p as usize), 4000 + p), now);
            assert_eq!(r, Insert::Added);
        }
        assert_eq!(t.len(), K + 1 + 40);
        assert!(t.bucket_count() > 20);
        // Every bucket holds at most K and respects its prefix range.
        let last = t.bucket_count() - 1;
        for (i, b) in t.buckets.iter().enumerate() {
            assert!(b.nodes.len() <= K);
            for e in &b.nodes {
                let cpl = own.common_prefix_len(&e.info.id);
                if i == last {
                    assert!(cpl >= i);
                } else {
                    assert_eq!(cpl, i);
                }
            }
        }
        assert_eq!(t.insert(info(own, 9), now), Insert::Rejected);
    }

    #[test]
    fn closest_is_sorted_by_xor() {
        let now = Instant::now();
        let own = NodeId::random();
        let mut t = RoutingTable::new(own, now);
        let mut ids = Vec::new();
        for p in 0..200u16 {
            let id = NodeId::random();
            if t.insert(info(id, 1000 + p), now) == Insert::Added {
                ids.push(id);
            }
        }
        let target = NodeId::random();
        let got = t.closest(&target, K);
        assert_eq!(got.len(), K);
        for w in got.windows(2) {
            assert!(w[0].id.distance(&target) < w[1].id.distance(&target));
        }
        // Nothing in the table is closer than the last returned node.
        let worst = got.last().unwrap().id.distance(&target);
        let closer = ids.iter().filter(|i| i.distance(&target) < worst).count();
        assert_eq!(closer, K - 1);
        // Bucket counts stay bounded.
        assert!(t.len() <= t.bucket_count() * K);
    }

    #[test]
    fn eviction_pings_oldest_questionable_first() {
        let t0 = Instant::now();
        let own = NodeId([0u8; 20]);
        let mut t = RoutingTable::new(own, t0);
        // Fill the far bucket, then split so it can no longer split.
        let far: Vec<NodeInfo> = (0..K as u16).map(|p| info(at(&own, 0), 1000 + p)).collect();
        for (i, f) in far.iter().enumerate() {
            t.insert(*f, t0 + Duration::from_secs(i as u64));
        }
        t.insert(info(at(&own, 3), 2000), t0);
        // All good: a newcomer is refused.
        let newcomer = info(at(&own, 0), 3000);
        assert_eq!(
            t.insert(newcomer, t0 + Duration::from_secs(60)),
            Insert::Full
        );
        // 16 minutes later all are questionable: ping the oldest (far[0]).
        let later = t0 + GOOD_FOR + Duration::from_secs(60);
        assert_eq!(t.insert(newcomer, later), Insert::PingFirst(far[0]));
        // It answers: it stays, the newcomer does not get in.
        assert_eq!(t.insert(far[0], later), Insert::Updated);
        assert!(t.get(&newcomer.id).is_none());
        // Next time the oldest questionable is far[1]; it fails twice and the
        // waiting newcomer replaces it.
        assert_eq!(t.insert(newcomer, later), Insert::PingFirst(far[1]));
        t.failed(far[1].addr, Some(far[1].id), later);
        assert!(t.get(&far[1].id).is_some());
        t.failed(far[1].addr, Some(far[1].id), later);
        assert!(t.get(&far[1].id).is_none());
        assert!(t.get(&newcomer.id).is_some());
        assert_eq!(t.get(&newcomer.id).unwrap().state(later), NodeState::Good);
    }

    #[test]
    fn known_id_at_new_address_is_rejected() {
        let now = Instant::now();
        let mut t = RoutingTable::new(NodeId::random(), now);
        let id = NodeId::random();
        assert_eq!(t.insert(info(id, 1), now), Insert::Added);
        assert_eq!(t.insert(info(id, 2), now), Insert::Rejected);
        assert_eq!(t.get(&id).unwrap().info.addr.port(), 1);
    }

    #[test]
    fn refresh_targets_fall_in_their_buckets() {
        let t0 = Instant::now();
        let own = NodeId::random();
        let mut t = RoutingTable::new(own, t0);
        for p in 0..100u16 {
            t.insert(info(NodeId::random(), p + 1), t0);
        }
        let n = t.bucket_count();
        let targets = t.refresh_targets(t0 + GOOD_FOR, GOOD_FOR);
        assert_eq!(targets.len(), n);
        for (i, id) in targets.iter().enumerate() {
            if i == n - 1 {
                assert!(own.common_prefix_len(id) >= i);
            } else {
                assert_eq!(own.common_prefix_len(id), i);
            }
        }
        assert!(t.refresh_targets(t0 + GOOD_FOR, GOOD_FOR).is_empty());
    }
}
