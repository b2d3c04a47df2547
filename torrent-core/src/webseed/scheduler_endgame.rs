//! The web-seed endgame (part of [`super::Scheduler`]): requests trimmed to
//! the piece they are on, duplicates of the last pieces on idle mirrors
//! (the first whole copy wins), pieces given up to idle peers; and
//! `cancel_all` for pause and remove.

use super::{Action, Event, Mirror, MirrorId, Part, Scheduler, Slot, State};
use std::collections::VecDeque;
use std::time::Instant;

impl Scheduler {
    /// Duplicate slot `s` of mirror `m` has its whole piece first: the
    /// mirror that was on it stops, the caller drops that mirror's part and
    /// gets this copy.
    pub(super) fn dup_done(&mut self, m: usize, s: usize) {
        let slot = self.mirrors[m].slots.remove(s);
        if let Some((id, _, _)) = slot.job {
            if self.jobs.remove(&id).is_some() {
                self.actions.push_back(Action::Cancel(id));
            }
        }
        self.mirrors[m].errors = 0;
        let piece = slot.run.start;
        let mut buf = slot.dup.unwrap_or_default();
        if self.had[piece as usize] || self.awaiting.contains_key(&piece) {
            self.mirrors[m].stats.wasted += buf.len() as u64;
            return;
        }
        let mut discarded = 0;
        for pm in 0..self.mirrors.len() {
            let mut i = 0;
            while i < self.mirrors[pm].slots.len() {
                let mirror = &mut self.mirrors[pm];
                let sl = &mut mirror.slots[i];
                if sl.dup.is_none() && sl.next_piece == piece && sl.run.contains(&piece) {
                    discarded += sl.partial_bytes;
                    mirror.stats.wasted += sl.partial_bytes;
                    sl.partial_bytes = 0;
                    sl.next_piece += 1;
                    if sl.next_piece >= sl.run.end {
                        self.release_slot(pm, i);
                        continue;
                    }
                }
                i += 1;
            }
        }
        buf.truncate(self.layout.piece_len(piece) as usize);
        let mid = MirrorId(m as u32);
        self.events.push_back(Event::Discard { piece, bytes: discarded });
        self.events.push_back(Event::Data { mirror: mid, piece, begin: 0, data: buf });
        self.awaiting.insert(piece, mid);
        self.events.push_back(Event::PieceReceived { mirror: mid, piece });
    }

    /// Stop the duplicate requests of `piece` (it is in, or given back).
    pub(super) fn drop_dups(&mut self, piece: u32) {
        for m in 0..self.mirrors.len() {
            let mut i = 0;
            while i < self.mirrors[m].slots.len() {
                let sl = &self.mirrors[m].slots[i];
                if sl.dup.is_some() && sl.run.start == piece {
                    self.release_slot(m, i);
                } else {
                    i += 1;
                }
            }
        }
    }

    /// Duplicate requests in flight.
    pub fn duplicates(&self) -> usize {
        self.mirrors.iter().flat_map(|m| &m.slots).filter(|s| s.dup.is_some()).count()
    }

    /// Endgame: the caller has no piece left to hand out. A request
    /// holding pieces it has not started keeps only the piece it is on and
    /// gives the rest back (for peers or other mirrors) when some other
    /// source could take them: `others_idle` (the caller's peers) or a
    /// mirror with a free request; with `others_idle`, a piece a mirror has
    /// been on for [`super::Config::give_up_after`] since is given back too. When
    /// nothing was given back, idle
    /// mirrors duplicate the pieces other mirrors are on (at most
    /// [`super::Config::max_duplicates`] at once, one per piece): the first whole
    /// copy wins, the other request is cancelled.
    pub fn endgame(&mut self, now: Instant, others_idle: bool) {
        let mut released = false;
        // Linear in mirrors and requests: an Arch-style url-list has hundreds.
        let free = |o: &Mirror| matches!(o.state, State::Active) && o.slots.len() < self.cfg.requests_per_mirror;
        let is_free: Vec<bool> = self.mirrors.iter().map(free).collect();
        let n_free = is_free.iter().filter(|f| **f).count();
        for m in 0..self.mirrors.len() {
            let other_mirror = n_free > usize::from(is_free[m]);
            if !(others_idle || other_mirror) {
                continue;
            }
            for s in 0..self.mirrors[m].slots.len() {
                released |= self.trim(now, m, s);
            }
            if others_idle {
                // Pieces a mirror has been on too long go to the idle peers.
                let mut s = 0;
                while s < self.mirrors[m].slots.len() {
                    let sl = &self.mirrors[m].slots[s];
                    let stale = sl.dup.is_none() && sl.trimmed_at.is_some_and(|t| t + self.cfg.give_up_after <= now);
                    if stale {
                        self.release_slot(m, s);
                        released = true;
                    } else {
                        s += 1;
                    }
                }
            }
        }
        if !released {
            self.duplicate(now);
        }
    }

    /// True if pieces were given back.
    pub(super) fn trim(&mut self, now: Instant, m: usize, s: usize) -> bool {
        let slot = &mut self.mirrors[m].slots[s];
        if slot.trimmed || slot.dup.is_some() {
            return false;
        }
        slot.trimmed = true;
        slot.trimmed_at = Some(now);
        let keep = slot.next_piece + 1;
        if keep >= slot.run.end {
            return false;
        }
        let released = keep..slot.run.end;
        slot.run.end = keep;
        let end = (keep as u64 * self.layout.piece_length).min(self.layout.total_length);
        slot.parts.retain(|p| p.offset < end);
        for p in slot.parts.iter_mut() {
            p.len = p.len.min(end - p.offset);
        }
        self.events.push_back(Event::Released { mirror: MirrorId(m as u32), pieces: released });
        true
    }

    /// Give idle mirrors duplicates of the pieces trimmed requests are on,
    /// the piece whose request has gone longest without data first.
    pub(super) fn duplicate(&mut self, now: Instant) {
        let mut n = self.duplicates();
        if n >= self.cfg.max_duplicates {
            return;
        }
        let duplicated: std::collections::HashSet<u32> =
            self.mirrors.iter().flat_map(|x| &x.slots).filter(|x| x.dup.is_some()).map(|x| x.run.start).collect();
        let mut wanted: Vec<(Instant, u32, usize)> = Vec::new();
        for (j, o) in self.mirrors.iter().enumerate() {
            for sl in &o.slots {
                let p = sl.next_piece;
                if sl.dup.is_some() || !sl.trimmed || sl.job.is_none() || p >= sl.run.end {
                    continue;
                }
                if self.had[p as usize] || self.awaiting.contains_key(&p) || duplicated.contains(&p) {
                    continue;
                }
                wanted.push((sl.last_progress, p, j));
            }
        }
        wanted.sort();
        for i in 0..self.mirrors.len() {
            if n >= self.cfg.max_duplicates || wanted.is_empty() {
                return;
            }
            if !matches!(self.mirrors[i].state, State::Active) || self.mirrors[i].slots.len() >= self.cfg.requests_per_mirror {
                continue;
            }
            let Some(k) = wanted.iter().position(|w| w.2 != i) else { continue };
            let (_, p, _) = wanted.remove(k);
            let parts: VecDeque<Part> = self.layout.parts(&self.mirrors[i].url, p..p + 1).into();
            self.mirrors[i].slots.push(Slot {
                run: p..p + 1,
                next_piece: p,
                parts,
                job: None,
                last_progress: now,
                partial_bytes: 0,
                trimmed: true,
                trimmed_at: Some(now),
                dup: Some(Vec::new()),
            });
            let s = self.mirrors[i].slots.len() - 1;
            self.advance(now, i, s);
            n += 1;
        }
    }

    /// Pause or remove: cancel every request and give back every run; no
    /// mirror is blamed.
    pub fn cancel_all(&mut self) {
        for m in 0..self.mirrors.len() {
            while !self.mirrors[m].slots.is_empty() {
                self.release_slot(m, 0);
            }
        }
    }
}
