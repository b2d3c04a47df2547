//! The loop's side of web seeds: a `torrent_core::webseed::Fetcher` (ureq
//! on worker threads) per torrent, woken through the loop's `mio::Waker`.

use std::collections::BTreeMap;
use std::sync::Arc;
use torrent_core::webseed::{Action, FetchConfig, FetchEvent, Fetcher};

/// Reports taken from one pool per call of [`Pools::drain`], so a fast
/// mirror does not starve the peers.
const MAX_PER_DRAIN: usize = 64;

#[derive(Default)]
pub struct Pools {
    pools: BTreeMap<usize, Fetcher>,
    waker: Option<Arc<mio::Waker>>,
}

impl Pools {
    pub fn apply(&mut self, torrent: usize, action: Action, waker: &Arc<mio::Waker>) {
        self.waker.get_or_insert_with(|| waker.clone());
        let pool = self.pools.entry(torrent).or_insert_with(|| {
            let w = waker.clone();
            Fetcher::new(FetchConfig::default(), move || {
                let _ = w.wake();
            })
        });
        pool.apply(action);
    }

    /// A removed torrent's pool: its workers end (a request in progress
    /// at its next read; the engine cancelled them all before).
    pub fn close(&mut self, torrent: usize) {
        self.pools.remove(&torrent);
    }

    /// What the workers reported since the last call.
    pub fn drain(&mut self) -> Vec<(usize, FetchEvent)> {
        let mut out = Vec::new();
        for (&t, pool) in &self.pools {
            for _ in 0..MAX_PER_DRAIN {
                match pool.try_recv() {
                    Some(ev) => out.push((t, ev)),
                    None => break,
                }
            }
        }
        if out.len() >= MAX_PER_DRAIN {
            // More may be waiting: come back at once, not at the poll timeout.
            if let Some(w) = &self.waker {
                let _ = w.wake();
            }
        }
        out
    }

    /// Stop every worker (requests in progress end at their next chunk).
    pub fn stop(&mut self) {
        self.pools.clear();
    }
}
