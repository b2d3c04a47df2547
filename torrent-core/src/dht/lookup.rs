//! Iterative lookup (BEP 5 / Kademlia): keep the candidates sorted by XOR
//! distance to the target, keep up to α queries in flight to the closest
//! candidates not yet asked, and stop when the k closest live candidates have
//! all answered (or nothing is left to ask).
//!
//! Bootstrap addresses have no known id; they are asked first and sorted in
//! once they answer. The lookup is bounded: at most [`MAX_CANDIDATES`]
//! candidates are kept and at most [`MAX_QUERIES`] queries are sent.

use super::krpc::NodeInfo;
use super::{NodeId, K};
use std::net::SocketAddrV4;

/// Candidates kept (the farthest unasked ones are dropped beyond this).
pub const MAX_CANDIDATES: usize = 128;
/// Queries one lookup may send in total.
pub const MAX_QUERIES: usize = 256;

/// Identifies a lookup in [`super::DhtEvent`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateState {
    Fresh,
    InFlight,
    Answered,
    Failed,
}

#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: Option<NodeId>,
    pub addr: SocketAddrV4,
    pub state: CandidateState,
    /// Token from a `get_peers` answer.
    pub token: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct Lookup {
    pub target: NodeId,
    own: NodeId,
    candidates: Vec<Candidate>,
    in_flight: usize,
    queries: usize,
}

impl Lookup {
    /// `seeds` are known nodes (from the routing table), `bootstrap` are
    /// addresses of nodes whose id we do not know yet.
    pub fn new(
        own: NodeId,
        target: NodeId,
        seeds: &[NodeInfo],
        bootstrap: &[SocketAddrV4],
    ) -> Lookup {
        let mut l = Lookup {
            target,
            own,
            candidates: Vec::new(),
            in_flight: 0,
            queries: 0,
        };
        for b in bootstrap {
            // Like nodes from answers: nothing listens on port 0 or 0.0.0.0.
            if b.port() == 0 || b.ip().is_unspecified() {
                continue;
            }
            if !l.candidates.iter().any(|c| c.addr == *b) {
                l.candidates.push(Candidate {
                    id: None,
                    addr: *b,
                    state: CandidateState::Fresh,
                    token: None,
                });
            }
        }
        l.add_nodes(seeds);
        l
    }

    fn sort(&mut self) {
        let t = self.target;
        // Unknown ids (bootstrap addresses) first, then by distance.
        self.candidates
            .sort_by_key(|c| (c.id.is_some(), c.id.map(|i| i.distance(&t))));
    }

    /// Add nodes learned from an answer.
    pub fn add_nodes(&mut self, nodes: &[NodeInfo]) {
        for n in nodes {
            if n.id == self.own || n.addr.port() == 0 || n.addr.ip().is_unspecified() {
                continue;
            }
            if self
                .candidates
                .iter()
                .any(|c| c.addr == n.addr || c.id == Some(n.id))
            {
                continue;
            }
            self.candidates.push(Candidate {
                id: Some(n.id),
                addr: n.addr,
                state: CandidateState::Fresh,
                token: None,
            });
        }
        self.sort();
        // Drop the farthest candidates not yet asked beyond the cap.
        while self.candidates.len() > MAX_CANDIDATES {
            match self
                .candidates
                .iter()
                .rposition(|c| c.state == CandidateState::Fresh)
            {
                Some(i) => {
                    self.candidates.remove(i);
                }
                None => break,
            }
        }
    }

    /// The next candidate to ask (marked in flight), if the lookup wants one
    /// more query now with `alpha` allowed in flight.
    pub fn next_query(&mut self, alpha: usize) -> Option<(SocketAddrV4, Option<NodeId>)> {
        if self.in_flight >= alpha || self.queries >= MAX_QUERIES {
            return None;
        }
        let i = self.next_index()?;
        let c = &mut self.candidates[i];
        c.state = CandidateState::InFlight;
        self.in_flight += 1;
        self.queries += 1;
        Some((c.addr, c.id))
    }

    /// Index of the closest fresh candidate among the k closest live ones.
    fn next_index(&self) -> Option<usize> {
        let mut live = 0;
        for (i, c) in self.candidates.iter().enumerate() {
            match c.state {
                CandidateState::Failed => continue,
                CandidateState::Fresh => return Some(i),
                CandidateState::InFlight | CandidateState::Answered => {
                    live += 1;
                    if live >= K {
                        return None;
                    }
                }
            }
        }
        None
    }

    pub fn is_done(&self) -> bool {
        self.in_flight == 0 && (self.queries >= MAX_QUERIES || self.next_index().is_none())
    }

    fn find(&mut self, addr: SocketAddrV4) -> Option<&mut Candidate> {
        self.candidates
            .iter_mut()
            .find(|c| c.addr == addr && c.state == CandidateState::InFlight)
    }

    /// An answer from `addr`: record its id and token, add the nodes it named.
    pub fn on_answer(
        &mut self,
        addr: SocketAddrV4,
        id: NodeId,
        token: Option<Vec<u8>>,
        nodes: &[NodeInfo],
    ) {
        if let Some(c) = self.find(addr) {
            c.state = CandidateState::Answered;
            c.id = Some(id);
            c.token = token;
            self.in_flight -= 1;
        } else {
            return;
        }
        // A bootstrap node's id is now known; another candidate may already
        // carry that id (learned from someone else): keep one of them.
        if let Some(dup) = self
            .candidates
            .iter()
            .position(|c| c.id == Some(id) && c.addr != addr && c.state == CandidateState::Fresh)
        {
            self.candidates.remove(dup);
        }
        if id == self.own {
            // Answering with our own id: do not treat it as a result.
            if let Some(c) = self.candidates.iter_mut().find(|c| c.addr == addr) {
                c.state = CandidateState::Failed;
            }
        }
        self.add_nodes(nodes);
    }

    /// The query to `addr` timed out or was answered with an error.
    pub fn on_failure(&mut self, addr: SocketAddrV4) {
        if let Some(c) = self.find(addr) {
            c.state = CandidateState::Failed;
            self.in_flight -= 1;
        }
    }

    /// The k closest nodes that answered, with their tokens.
    pub fn closest_answered(&self) -> Vec<(NodeInfo, Option<Vec<u8>>)> {
        self.candidates
            .iter()
            .filter(|c| c.state == CandidateState::Answered)
            .filter_map(|c| {
                c.id.map(|id| (NodeInfo { id, addr: c.addr }, c.token.clone()))
            })
            .take(K)
            .collect()
    }

    pub fn answered(&self) -> usize {
        self.candidates
            .iter()
            .filter(|c| c.state == CandidateState::Answered)
            .count()
    }

    pub fn queries_sent(&self) -> usize {
        self.queries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn node(b: u8, port: u16) -> NodeInfo {
        let mut id = [0u8; 20];
        id[0] = b;
        NodeInfo {
            id: NodeId(id),
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
        }
    }

    /// Found by the krpc fuzz target: a bootstrap address with port 0 (from
    /// the caller or a saved state) was queried, unlike such nodes in answers.
    #[test]
    fn unusable_bootstrap_addresses_are_skipped() {
        let own = NodeId([0xff; 20]);
        let good = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
        let bad = [
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 6881),
        ];
        let mut l = Lookup::new(own, NodeId([0; 20]), &[], &[bad[0], good, bad[1]]);
        assert_eq!(l.next_query(3), Some((good, None)));
        assert_eq!(l.next_query(3), None);
        let mut only_bad = Lookup::new(own, NodeId([0; 20]), &[], &bad);
        assert_eq!(only_bad.next_query(3), None);
        assert!(only_bad.is_done());
    }

    #[test]
    fn converges_on_closest() {
        let target = NodeId([0u8; 20]);
        let own = NodeId([0xff; 20]);
        let boot = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
        let mut l = Lookup::new(own, target, &[], &[boot]);
        // The bootstrap node goes first.
        assert_eq!(l.next_query(3), Some((boot, None)));
        assert_eq!(l.next_query(3), None);
        let far: Vec<NodeInfo> = (0..10).map(|i| node(0x80 + i, 100 + i as u16)).collect();
        l.on_answer(boot, NodeId([0x77; 20]), None, &far);
        // Three in flight, closest first.
        let q: Vec<_> = (0..4).filter_map(|_| l.next_query(3)).collect();
        assert_eq!(q.len(), 3);
        assert_eq!(q[0].0.port(), 100);
        assert_eq!(q[1].0.port(), 101);
        // The first answers with closer nodes: those are asked next.
        let near: Vec<NodeInfo> = (1..=9).map(|i| node(i, 200 + i as u16)).collect();
        l.on_answer(q[0].0, far[0].id, Some(b"tok".to_vec()), &near);
        assert_eq!(l.next_query(3).unwrap().0.port(), 201);
        l.on_failure(q[1].0);
        l.on_failure(q[2].0);
        assert!(!l.is_done());
        // Answer everything until done; the far nodes are never all asked.
        let mut guard = 0;
        while !l.is_done() {
            guard += 1;
            assert!(guard < 100);
            let mut asked = Vec::new();
            while let Some((a, _)) = l.next_query(3) {
                asked.push(a);
            }
            for a in asked {
                let id = near
                    .iter()
                    .chain(far.iter())
                    .find(|n| n.addr == a)
                    .unwrap()
                    .id;
                l.on_answer(a, id, Some(vec![a.port() as u8]), &[]);
            }
            // Also finish the one asked above.
            if let Some(c) = l
                .candidates
                .iter()
                .find(|c| c.state == CandidateState::InFlight)
            {
                let a = c.addr;
                let id = c.id.unwrap();
                l.on_answer(a, id, Some(vec![a.port() as u8]), &[]);
            }
        }
        let best = l.closest_answered();
        assert_eq!(best.len(), K);
        let ports: Vec<u16> = best.iter().map(|(n, _)| n.addr.port()).collect();
        assert_eq!(ports, vec![201, 202, 203, 204, 205, 206, 207, 208]);
        assert!(best.iter().all(|(_, t)| t.is_some()));
        assert!(l.queries_sent() < 1 + 10 + 9);
    }

    #[test]
    fn bounded_queries_and_candidates() {
        let mut l = Lookup::new(NodeId([0xff; 20]), NodeId([0; 20]), &[], &[]);
        assert!(l.is_done(), "nothing to ask");
        let many: Vec<NodeInfo> = (0..1000u32)
            .map(|i| {
                let mut id = [0x10u8; 20];
                id[..4].copy_from_slice(&i.to_be_bytes());
                NodeInfo {
                    id: NodeId(id),
                    addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, (i + 1) as u16),
                }
            })
            .collect();
        l.add_nodes(&many);
        assert_eq!(l.candidates.len(), MAX_CANDIDATES);
        let mut n = 0;
        while let Some((a, _)) = l.next_query(usize::MAX) {
            l.on_failure(a);
            n += 1;
        }
        assert_eq!(n, MAX_CANDIDATES);
        assert!(l.is_done());
    }
}
