//! What the hash and disk threads have released of the in-flight budget:
//! each adds the `charge` of every job it finishes to its total, whoever
//! else holds the job's bytes, and wakes the loop if the engine waits for
//! room. The loop reports the totals to the engine
//! ([`Input::Released`](crate::engine::Input::Released)), which decides
//! what is still counted ([`crate::engine::budget`]).

use crate::engine::budget::Released;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Releases(Arc<Inner>);

#[derive(Default)]
struct Inner {
    hashed: AtomicU64,
    written: AtomicU64,
    /// The engine holds requests back for the budget: the next release
    /// wakes the loop (else it would wait for its next timeout).
    waiting: AtomicBool,
}

impl Releases {
    /// The hash thread is done with a job charged `n` bytes.
    pub fn hashed(&self, n: u64, waker: &mio::Waker) {
        self.release(&self.0.hashed, n, waker);
    }

    /// The disk thread is done with a job charged `n` bytes.
    pub fn written(&self, n: u64, waker: &mio::Waker) {
        self.release(&self.0.written, n, waker);
    }

    fn release(&self, total: &AtomicU64, n: u64, waker: &mio::Waker) {
        if n == 0 {
            return;
        }
        // SeqCst with `wait_for_release`: either the loop sees the new
        // total before it sleeps or this sees it waiting.
        total.fetch_add(n, Ordering::SeqCst);
        if self.0.waiting.swap(false, Ordering::SeqCst) {
            let _ = waker.wake();
        }
    }

    pub fn get(&self) -> Released {
        Released { hashed: self.0.hashed.load(Ordering::SeqCst), written: self.0.written.load(Ordering::SeqCst) }
    }

    /// Before the loop sleeps: `held` is [`crate::engine::Engine::held_back`]
    /// and `seen` the totals the engine knows ([`crate::engine::Engine::released`]).
    /// Arms the wake-up; true if a release came already (then the loop
    /// must not sleep on it).
    pub fn wait_for_release(&self, held: bool, seen: Released) -> bool {
        self.0.waiting.store(held, Ordering::SeqCst);
        held && self.get() != seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_wakes_a_waiting_loop_once() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(7)).unwrap();
        let r = Releases::default();
        let mut events = mio::Events::with_capacity(4);
        let woken = |poll: &mut mio::Poll, events: &mut mio::Events| {
            poll.poll(events, Some(std::time::Duration::ZERO)).unwrap();
            events.iter().any(|e| e.token() == mio::Token(7))
        };
        // Not waiting: counted, no wake-up.
        r.hashed(10, &waker);
        assert!(!woken(&mut poll, &mut events));
        assert_eq!(r.get(), Released { hashed: 10, written: 0 });
        // Waiting on what the engine saw: nothing new yet.
        assert!(!r.wait_for_release(true, r.get()));
        r.written(5, &waker);
        assert!(woken(&mut poll, &mut events));
        r.written(5, &waker);
        assert!(!woken(&mut poll, &mut events), "woken twice for one wait");
        // A release the engine has not seen: no sleeping.
        assert!(r.wait_for_release(true, Released { hashed: 10, written: 5 }));
        assert!(!r.wait_for_release(false, Released::default()));
    }
}
