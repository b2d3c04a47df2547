//! The received side of the in-flight budget ([`MAX_IN_FLIGHT`]): block
//! bytes handed to the hash and disk threads and not yet hashed and
//! written.
//!
//! The engine decides what counts: every job that hands received bytes
//! over (`HashJob::Block`, `DiskJob::Write`) carries a `charge`, the bytes
//! it counts against the budget (0: none). The thread that finishes a
//! charged job releases exactly that charge, once, whoever else still
//! holds the buffer (a streamed piece stays with the stream), by adding it
//! to its running total ([`Released`]); the owner reports those totals
//! ([`Input::Released`](super::Input::Released)). A hand-over is uncounted
//! when every thread it went to is past it: each thread does its jobs in
//! the order they were sent, so a thread's total passing the total charged
//! to it up to and including the hand-over means that job is done. A block
//! going to both threads is counted once and released by the later of the
//! two, as its bytes stay in memory until then.
//!
//! [`MAX_IN_FLIGHT`]: super::download::MAX_IN_FLIGHT

use std::collections::VecDeque;

/// Charged bytes the hash thread and the disk thread have finished with,
/// since the start: what they report, and what was charged to each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    pub hashed: u64,
    pub written: u64,
}

impl Released {
    /// Both totals reach those of `other`.
    fn covers(&self, other: &Released) -> bool {
        self.hashed >= other.hashed && self.written >= other.written
    }
}

/// One hand-over still counted: its bytes, and the totals the threads must
/// report for it to be released.
struct Held {
    bytes: u64,
    until: Released,
}

#[derive(Default)]
pub struct Budget {
    /// Oldest first.
    held: VecDeque<Held>,
    /// Bytes charged to each thread's jobs so far.
    charged: Released,
    /// What the threads reported last.
    released: Released,
    /// The bytes of `held`.
    bytes: u64,
}

impl Budget {
    /// Received bytes handed over to the hash thread (`hash`), the disk
    /// thread (`write`) or both: counted until every one of them is done.
    /// Returns the charge each of those jobs carries.
    pub fn charge(&mut self, bytes: u64, hash: bool, write: bool) -> u64 {
        if bytes == 0 || !(hash || write) {
            return 0;
        }
        if hash {
            self.charged.hashed += bytes;
        }
        if write {
            self.charged.written += bytes;
        }
        // A thread not given this hand-over need not pass it.
        let until = Released {
            hashed: if hash { self.charged.hashed } else { 0 },
            written: if write { self.charged.written } else { 0 },
        };
        self.held.push_back(Held { bytes, until });
        self.bytes += bytes;
        bytes
    }

    /// The threads' totals as of now; true if bytes were released. Hand-
    /// overs go oldest first: one done behind one that is not (only when
    /// some go to one thread and some to both) waits for it.
    pub fn report(&mut self, r: Released) -> bool {
        self.released = r;
        let before = self.bytes;
        while let Some(h) = self.held.front().filter(|h| r.covers(&h.until)) {
            self.bytes -= h.bytes;
            self.held.pop_front();
        }
        self.bytes < before
    }

    /// Bytes counted now.
    pub fn held(&self) -> u64 {
        self.bytes
    }

    /// The totals last reported.
    pub fn released(&self) -> Released {
        self.released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_given_to_both_threads_goes_when_the_later_is_done() {
        let mut b = Budget::default();
        assert_eq!(b.charge(100, true, true), 100);
        assert_eq!(b.charge(50, true, true), 50);
        assert_eq!(b.held(), 150);
        // Hashed, not written: still in memory.
        assert!(!b.report(Released { hashed: 150, written: 0 }));
        assert_eq!(b.held(), 150);
        assert!(b.report(Released { hashed: 150, written: 100 }));
        assert_eq!(b.held(), 50);
        assert!(b.report(Released { hashed: 150, written: 150 }));
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn a_hash_only_charge_needs_no_write() {
        let mut b = Budget::default();
        b.charge(10, true, true);
        b.charge(1000, true, false);
        assert!(b.report(Released { hashed: 1010, written: 10 }));
        assert_eq!(b.held(), 0);
        // Nothing to hand over, nothing counted.
        assert_eq!(b.charge(0, true, true), 0);
        assert_eq!(b.charge(7, false, false), 0);
        assert_eq!(b.held(), 0);
        assert!(!b.report(Released { hashed: 1010, written: 10 }));
    }

    #[test]
    fn a_partial_release_uncounts_nothing() {
        let mut b = Budget::default();
        b.charge(100, true, false);
        b.charge(100, true, false);
        assert!(!b.report(Released { hashed: 99, written: 0 }));
        assert!(b.report(Released { hashed: 150, written: 0 }));
        assert_eq!(b.held(), 100);
        assert_eq!(b.released(), Released { hashed: 150, written: 0 });
    }
}
