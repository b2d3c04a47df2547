//! Web seeds in the engine on a simulated clock: mirrors answered by hand
//! (as the loop's worker pool would), hash verdicts by comparing with the
//! source, one tick a simulated second when nothing else happens.

use crate::disk::{DiskEvent, DiskJob};
use crate::engine::fuzz::{fuzz_config, make_torrent};
use crate::engine::{Action, Command, Engine, Input, Job, Lifecycle};
use crate::hasher::HashJob;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use torrent_core::webseed::{Action as WsAction, FetchEvent, JobId};

const PLEN: usize = 16384;
const SLOW: &str = "http://127.0.0.1:9/slow/";
const FAST: &str = "http://127.0.0.1:9/fast/";

/// How a mirror answers a request.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// All of it at once.
    Whole,
    /// Its first 1000 bytes, then nothing (the request stays open).
    Stall,
}

struct Rig {
    e: Engine,
    data: Vec<u8>,
    disk: Vec<u8>,
    now: Instant,
    /// Requests started, per mirror URL prefix.
    started: Vec<(String, JobId)>,
    /// Requests cancelled or answered whole.
    cancelled: HashSet<JobId>,
    fetched: u64,
    closed: bool,
}

impl Rig {
    fn new(pieces: usize, mirrors: &[&str]) -> Rig {
        let (meta, data) = make_torrent(pieces * PLEN, PLEN, 3);
        let now = Instant::now();
        let mut cfg = fuzz_config();
        cfg.seed = false;
        cfg.web_seeds = mirrors.iter().map(|s| s.to_string()).collect();
        let mut e = Engine::new(cfg, *b"-TE0001-testtesttest", 0, Some(1), now);
        e.add(Job::Torrent { meta: Box::new(meta), select: None }, now);
        let disk = vec![0; data.len()];
        Rig { e, data, disk, now, started: Vec::new(), cancelled: HashSet::new(), fetched: 0, closed: false }
    }

    /// Carry out actions until none produce input; `answer` decides per URL.
    fn settle(&mut self, answer: impl Fn(&str) -> Answer) {
        loop {
            let mut inputs = Vec::new();
            while let Some(a) = self.e.poll_action() {
                match a {
                    Action::Disk(DiskJob::Open { torrent, info, .. }) => inputs.push(Input::Disk(DiskEvent::Opened {
                        torrent,
                        have: vec![false; info.pieces.len()],
                        rechecked: true,
                    })),
                    Action::Disk(DiskJob::Write { offset, data, .. }) => {
                        self.disk[offset as usize..offset as usize + data.len()].copy_from_slice(&data);
                    }
                    Action::Hash(HashJob::Finish { torrent, piece, piece_len, .. }) => {
                        let s = piece as usize * PLEN;
                        let ok = self.disk[s..s + piece_len as usize] == self.data[s..s + piece_len as usize];
                        inputs.push(Input::Disk(DiskEvent::Verified { torrent, piece, ok }));
                    }
                    Action::WebSeed { torrent, action: WsAction::Fetch(job) } => {
                        self.started.push((job.url.clone(), job.id));
                        let len = match answer(&job.url) {
                            Answer::Whole => job.len,
                            Answer::Stall => job.len.min(1000),
                        };
                        let body = self.data[job.offset as usize..(job.offset + len) as usize].to_vec();
                        self.fetched += len;
                        inputs.push(Input::WebSeed { torrent, event: FetchEvent::Data { job: job.id, data: body } });
                        if len == job.len {
                            self.cancelled.insert(job.id);
                            inputs.push(Input::WebSeed { torrent, event: FetchEvent::Done { job: job.id } });
                        }
                    }
                    Action::WebSeed { action: WsAction::Cancel(id), .. } => {
                        self.cancelled.insert(id);
                    }
                    Action::WebSeedClose { .. } => self.closed = true,
                    _ => {}
                }
            }
            if inputs.is_empty() {
                return;
            }
            for i in inputs {
                self.e.handle(i, self.now);
            }
        }
    }

    /// Settle, then tick once a simulated second until `done` or `limit`.
    fn run(&mut self, limit: Duration, answer: impl Fn(&str) -> Answer, done: impl Fn(&Engine) -> bool) -> Duration {
        let t0 = self.now;
        loop {
            self.settle(&answer);
            if done(&self.e) || self.now - t0 >= limit {
                return self.now - t0;
            }
            self.now += Duration::from_secs(1);
            self.e.handle(Input::Tick, self.now);
        }
    }

    fn open_requests(&self, prefix: &str) -> usize {
        self.started.iter().filter(|(u, id)| u.starts_with(prefix) && !self.cancelled.contains(id)).count()
    }
}

fn done(e: &Engine) -> bool {
    matches!(e.lifecycle(0), Some(Lifecycle::Done(_)))
}

#[test]
fn a_stalled_mirror_holding_the_last_pieces_does_not_stall_the_download() {
    // 64 pieces: each mirror request holds 4 of them. The slow mirror sends
    // 1000 bytes of each request, then nothing (its stall timeout is 30 s).
    let mut r = Rig::new(64, &[SLOW, FAST]);
    let answer = |u: &str| if u.starts_with(SLOW) { Answer::Stall } else { Answer::Whole };
    let took = r.run(Duration::from_secs(25), answer, done);
    assert!(done(&r.e), "not done after {took:?}: {:?}", r.e.torrent(0).unwrap().webseeds.report());
    assert!(took < Duration::from_secs(5), "took {took:?} (the stall timeout would be 30 s)");
    assert_eq!(r.disk, r.data);
    let t = r.e.torrent(0).unwrap();
    let m = t.webseeds.report();
    let (slow, fast) = (&m[0], &m[1]);
    assert_eq!(slow["dropped"], false, "the slow mirror is not blamed: {m:?}");
    assert_eq!(slow["pieces_ok"], 0, "{m:?} took {took:?} fetched {} started {:?}", r.fetched, r.started);
    assert_eq!(fast["pieces_ok"], 64, "{m:?}");
    // Over-download: what the slow mirror sent of the pieces the fast one
    // fetched again, reported at the mirror and in the torrent's total.
    assert!(slow["wasted"].as_u64().unwrap() > 0, "{m:?}");
    assert_eq!(slow["wasted"], slow["bytes"], "{m:?}");
    assert!(t.wasted > 0 && t.wasted <= slow["bytes"].as_u64().unwrap(), "torrent wasted {}", t.wasted);
    // Every slow request was cancelled; nothing is left open anywhere.
    assert_eq!(r.open_requests(SLOW), 0, "{:?} {:?}", r.started, r.cancelled);
    assert_eq!(r.open_requests(FAST), 0);
    // Bounded duplicates: the fast mirror fetched each piece at most twice
    // in part (1000 bytes of slow per request).
    assert!(r.fetched <= r.data.len() as u64 + 8 * 1000 + 2 * PLEN as u64, "fetched {}", r.fetched);
}

#[test]
fn pause_cancels_the_mirror_requests_and_resume_starts_them_again() {
    let mut r = Rig::new(64, &[SLOW]);
    let stall = |_: &str| Answer::Stall;
    r.run(Duration::from_secs(1), stall, |_| false);
    assert!(r.open_requests(SLOW) > 0);
    r.e.handle(Input::Command(Command::Pause(0)), r.now);
    r.settle(stall);
    assert_eq!(r.open_requests(SLOW), 0, "pause cancels every request");
    let n = r.started.len();
    r.run(Duration::from_secs(5), stall, |_| false);
    assert_eq!(r.started.len(), n, "no request while paused");
    let t = r.e.torrent(0).unwrap();
    assert!(t.webseeds.claimed.is_empty(), "the pieces went back: {:?}", t.webseeds.claimed);
    assert_eq!(t.webseeds.report()[0]["errors"], 0, "pausing is not the mirror's fault");
    r.e.handle(Input::Command(Command::Resume(0)), r.now);
    r.settle(stall);
    assert!(r.open_requests(SLOW) > 0, "resume asks again");
    r.e.handle(Input::Command(Command::Remove(0)), r.now);
    r.settle(stall);
    assert_eq!(r.open_requests(SLOW), 0, "remove cancels every request");
    assert!(r.closed, "remove closes the torrent's pool");
}
