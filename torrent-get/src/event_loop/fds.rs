//! File descriptors: how many connections the process can afford
//! (`RLIMIT_NOFILE` less a reserve for files, the DHT and tracker sockets,
//! the poll and the workers), and what happens when accepting fails for
//! lack of them (`EMFILE`, `ENFILE`): said once per interval, tried again
//! after a pause, never a busy loop. The engine counts connections against
//! the budget (`engine::slots`); this is only the loop's side.

use super::EventLoop;
use std::io;
use std::time::{Duration, Instant};

/// Descriptors kept for everything but peer connections: at least this...
const RESERVE_MIN: usize = 64;
/// ...or this fraction of the limit (1/8), whichever is more; never more
/// than half the limit.
const RESERVE_DIV: usize = 8;
/// How long to wait before accepting again after a failure.
pub(super) const ACCEPT_RETRY: Duration = Duration::from_millis(500);
/// At most one message about failing accepts per this interval.
pub(super) const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(30);

/// The soft `RLIMIT_NOFILE`, raised to the hard limit first (as the Go
/// runtime does: the soft default of 1,024 is a relic of `select`, and
/// the loop uses epoll).
pub fn open_file_limit() -> Option<usize> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit write/read the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    if lim.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    usize::try_from(lim.rlim_cur).ok()
}

/// Descriptors left for peer connections out of `limit`.
pub fn budget_of(limit: usize) -> usize {
    let reserve = RESERVE_MIN.max(limit / RESERVE_DIV).min(limit / 2);
    limit - reserve
}

/// How many connections (of every phase) the process may hold.
pub fn connection_budget() -> usize {
    open_file_limit().map_or(usize::MAX, budget_of)
}

impl EventLoop {
    /// `accept` failed for another reason than "nothing waiting": out of
    /// descriptors (ours or the system's), or memory. The connection stays
    /// in the listen queue; readiness is edge-triggered and will not say
    /// so again, so try again after [`ACCEPT_RETRY`] (not at once: that
    /// would spin). Said once per [`ACCEPT_WARN_EVERY`].
    pub(super) fn accept_failed(&mut self, e: io::Error, now: Instant) {
        self.accept_retry = Some(now + ACCEPT_RETRY);
        if self.accept_warned.is_some_and(|t| now < t + ACCEPT_WARN_EVERY) {
            return;
        }
        self.accept_warned = Some(now);
        let open = self.conns.iter().flatten().count();
        let hint = match e.raw_os_error() {
            Some(libc::EMFILE) => " (the open-file limit; raise it with ulimit -n)",
            Some(libc::ENFILE) => " (the system's open-file limit)",
            _ => "",
        };
        self.reporter.log(&format!("cannot accept connections: {e}{hint}; {open} open, trying again"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_kept_out_of_every_limit() {
        assert_eq!(budget_of(1024), 1024 - 128);
        assert_eq!(budget_of(256), 256 - 64);
        assert_eq!(budget_of(100), 50);
        assert_eq!(budget_of(65536), 65536 - 8192);
    }
}
