//! The choking algorithm (BEP 3 practice), as a pure function so it can be
//! tested without sockets: the `slots` interested peers with the best rate
//! are unchoked (rate: what they give us while downloading, what they take
//! while seeding), plus one optimistic unchoke that rotates among the rest so
//! new peers get a chance to prove themselves.

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub key: usize,
    pub interested: bool,
    pub rate: f64,
}

#[derive(Debug, Default)]
pub struct Decision {
    /// (peer, unchoke?) for every candidate.
    pub states: Vec<(usize, bool)>,
    pub optimistic: Option<usize>,
}

pub fn decide(cands: &[Candidate], slots: usize, optimistic: Option<usize>, rotate: bool, rng: &mut impl Rng) -> Decision {
    let mut interested: Vec<&Candidate> = cands.iter().filter(|c| c.interested).collect();
    interested.sort_by(|a, b| b.rate.partial_cmp(&a.rate).unwrap_or(std::cmp::Ordering::Equal));
    let regular: Vec<usize> = interested.iter().take(slots).map(|c| c.key).collect();
    let rest: Vec<usize> = interested.iter().skip(slots).map(|c| c.key).collect();
    let mut opt = optimistic.filter(|k| rest.contains(k));
    if (rotate || opt.is_none()) && !rest.is_empty() {
        opt = Some(rest[rng.gen_range(0..rest.len())]);
    }
    if rest.is_empty() {
        opt = None;
    }
    let states = cands
        .iter()
        .map(|c| (c.key, regular.contains(&c.key) || opt == Some(c.key)))
        .collect();
    Decision { states, optimistic: opt }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn c(key: usize, interested: bool, rate: f64) -> Candidate {
        Candidate { key, interested, rate }
    }

    #[test]
    fn best_rates_plus_one_optimistic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let cands = [c(0, true, 10.0), c(1, true, 50.0), c(2, false, 99.0), c(3, true, 30.0), c(4, true, 1.0), c(5, true, 2.0)];
        let d = decide(&cands, 2, None, true, &mut rng);
        let on: Vec<usize> = d.states.iter().filter(|s| s.1).map(|s| s.0).collect();
        assert!(on.contains(&1) && on.contains(&3));
        assert!(!on.contains(&2), "not interested stays choked");
        assert_eq!(on.len(), 3);
        let opt = d.optimistic.unwrap();
        assert!([0, 4, 5].contains(&opt));
        // Without rotation the optimistic peer stays.
        let d2 = decide(&cands, 2, Some(opt), false, &mut rng);
        assert_eq!(d2.optimistic, Some(opt));
    }

    #[test]
    fn few_peers_all_unchoked() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let d = decide(&[c(7, true, 0.0)], 4, None, true, &mut rng);
        assert_eq!(d.states, vec![(7, true)]);
        assert_eq!(d.optimistic, None);
    }
}
