//! A simple picker for web-seed-only downloads and tests.

use std::ops::Range;

/// A simple picker for web-seed-only downloads (and tests): hands out runs
/// of consecutive missing pieces from the start of the torrent.
#[derive(Debug, Clone)]
pub struct RunPicker {
    /// 0 missing, 1 assigned, 2 have.
    state: Vec<u8>,
    have: usize,
    /// No missing piece below this index.
    low: usize,
}

impl RunPicker {
    pub fn new(num_pieces: u32) -> RunPicker {
        RunPicker { state: vec![0; num_pieces as usize], have: 0, low: 0 }
    }

    /// Mark pieces already verified (resume data).
    pub fn set_have(&mut self, piece: u32) {
        if self.state[piece as usize] != 2 {
            self.state[piece as usize] = 2;
            self.have += 1;
        }
    }

    /// Next run of at most `max` consecutive missing pieces, now assigned.
    pub fn next_run(&mut self, max: u32) -> Option<Range<u32>> {
        while self.low < self.state.len() && self.state[self.low] != 0 {
            self.low += 1;
        }
        let start = self.low;
        if start >= self.state.len() {
            return None;
        }
        let mut end = start;
        while end < self.state.len() && self.state[end] == 0 && end - start < max as usize {
            self.state[end] = 1;
            end += 1;
        }
        Some(start as u32..end as u32)
    }

    /// Assigned pieces given back (an [`Event::Released`]).
    pub fn release(&mut self, pieces: Range<u32>) {
        for p in pieces {
            if self.state[p as usize] == 1 {
                self.state[p as usize] = 0;
                self.low = self.low.min(p as usize);
            }
        }
    }

    pub fn is_complete(&self) -> bool {
        self.have == self.state.len()
    }

    pub fn have_count(&self) -> usize {
        self.have
    }
}

