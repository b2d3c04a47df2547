use super::super::layout::LayoutFile;
use super::*;

/// Two files "a" (10 bytes) and "b" (6 bytes), pieces of 4 bytes.
fn layout() -> Layout {
    let f = |p: &str, offset, length| LayoutFile { path: vec![p.as_bytes().to_vec()], offset, length, padding: false };
    Layout {
        piece_length: 4,
        total_length: 16,
        num_pieces: 4,
        multi_file: true,
        name: b"t".to_vec(),
        files: vec![f("a", 0, 10), f("b", 10, 6)],
    }
}

fn cfg() -> Config {
    Config {
        requests_per_mirror: 1,
        run_bytes: 8,
        max_errors: 3,
        max_hash_failures: 1,
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(60),
        max_retry_after: Duration::from_secs(100),
        stall_timeout: Duration::from_secs(10),
        max_duplicates: 2,
        give_up_after: Duration::from_secs(5),
    }
}

fn actions(s: &mut Scheduler) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}
fn events(s: &mut Scheduler) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}
fn fetches(s: &mut Scheduler) -> Vec<Job> {
    actions(s)
        .into_iter()
        .filter_map(|a| match a {
            Action::Fetch(j) => Some(j),
            Action::Cancel(_) => None,
        })
        .collect()
}
/// Answer a job with `len` bytes of `byte`, in one chunk, then Done.
fn answer(s: &mut Scheduler, now: Instant, j: &Job, byte: u8) {
    s.handle_fetch(now, FetchEvent::Data { job: j.id, data: vec![byte; j.len as usize] });
    s.handle_fetch(now, FetchEvent::Done { job: j.id });
}

#[test]
fn runs_are_split_per_file_and_pieces_reported() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(layout(), cfg());
    let a = s.add_mirror("http://a/").unwrap();
    let b = s.add_mirror("http://b/x/").unwrap();
    assert!(s.add_mirror("http://a/").is_none());
    assert!(s.add_mirror("ftp://c/").is_none());
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let jobs = fetches(&mut s);
    // One run of two pieces per mirror (one request each at a time).
    assert_eq!(jobs.len(), 2);
    assert_eq!((jobs[0].mirror, jobs[0].url.as_str(), jobs[0].file_offset, jobs[0].len), (a, "http://a/t/a", 0, 8));
    assert_eq!((jobs[1].mirror, jobs[1].url.as_str(), jobs[1].file_offset, jobs[1].len), (b, "http://b/x/t/a", 8, 2));
    assert_eq!(s.mirrors()[0].state, MirrorState::Busy(1));

    // Mirror b's run (pieces 2..4) spans a/8..10 and b/0..6.
    answer(&mut s, t0, &jobs[1], 7);
    let next = fetches(&mut s);
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].url.as_str(), next[0].file_offset, next[0].len, next[0].offset), ("http://b/x/t/b", 0, 6, 10));
    // Data split at the piece boundary (torrent offset 12).
    s.handle_fetch(t0, FetchEvent::Data { job: next[0].id, data: vec![1, 2, 3, 4, 5, 6] });
    s.handle_fetch(t0, FetchEvent::Done { job: next[0].id });
    let ev = events(&mut s);
    assert_eq!(
        ev,
        vec![
            Event::Data { mirror: b, piece: 2, begin: 0, data: vec![7, 7] },
            Event::Data { mirror: b, piece: 2, begin: 2, data: vec![1, 2] },
            Event::PieceReceived { mirror: b, piece: 2 },
            Event::Data { mirror: b, piece: 3, begin: 0, data: vec![3, 4, 5, 6] },
            Event::PieceReceived { mirror: b, piece: 3 },
        ]
    );
    s.piece_hashed(2, true);
    s.piece_hashed(3, true);
    assert_eq!(s.mirrors()[1].state, MirrorState::Idle);
    assert_eq!(s.mirrors()[1].stats.pieces_ok, 2);
    assert_eq!(s.mirrors()[1].stats.bytes, 8);
    // Nothing left to assign.
    s.fill(t0, |_, max| picker.next_run(max));
    assert!(fetches(&mut s).is_empty());
    answer(&mut s, t0, &jobs[0], 9);
    assert_eq!(events(&mut s).iter().filter(|e| matches!(e, Event::PieceReceived { .. })).count(), 2);
    s.piece_hashed(0, true);
    s.piece_hashed(1, true);
    assert!(s.is_quiet());
}

#[test]
fn retry_after_is_respected_then_the_mirror_is_used_again() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(layout(), cfg());
    let a = s.add_mirror("http://a/").unwrap();
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let j = fetches(&mut s).remove(0);
    s.handle_fetch(t0, FetchEvent::Failed { job: j.id, error: FetchError::Status { code: 503, retry_after: Some(Duration::from_secs(30)) } });
    let ev = events(&mut s);
    assert_eq!(ev[0], Event::Released { mirror: a, pieces: 0..2 });
    assert!(matches!(&ev[1], Event::Backoff { until, .. } if *until == t0 + Duration::from_secs(30)));
    picker.release(0..2);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    // Still backing off a second before.
    s.handle_timeout(t0 + Duration::from_secs(29));
    s.fill(t0 + Duration::from_secs(29), |_, max| picker.next_run(max));
    assert!(fetches(&mut s).is_empty());
    s.handle_timeout(t0 + Duration::from_secs(30));
    s.fill(t0 + Duration::from_secs(30), |_, max| picker.next_run(max));
    let j = fetches(&mut s);
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].file_offset, 0);
    // A Retry-After beyond the limit is cut to it.
    s.handle_fetch(t0, FetchEvent::Failed { job: j[0].id, error: FetchError::Status { code: 429, retry_after: Some(Duration::from_secs(99_999)) } });
    let ev = events(&mut s);
    assert!(matches!(&ev[1], Event::Backoff { until, .. } if *until == t0 + Duration::from_secs(100)), "{ev:?}");
}

#[test]
fn backoff_doubles_and_the_mirror_is_dropped_after_max_errors() {
    let mut now = Instant::now();
    let mut s = Scheduler::new(layout(), cfg());
    let a = s.add_mirror("http://a/").unwrap();
    let mut picker = RunPicker::new(4);
    let mut delays = Vec::new();
    for _ in 0..3 {
        s.handle_timeout(now);
        s.fill(now, |_, max| picker.next_run(max));
        let j = fetches(&mut s).remove(0);
        s.handle_fetch(now, FetchEvent::Failed { job: j.id, error: FetchError::Status { code: 404, retry_after: None } });
        for e in events(&mut s) {
            match e {
                Event::Released { pieces, .. } => picker.release(pieces),
                Event::Backoff { until, .. } => {
                    delays.push(until - now);
                    now = until;
                }
                Event::Dropped { mirror, reason } => {
                    assert_eq!(mirror, a);
                    assert!(reason.contains("3 errors in a row"), "{reason}");
                }
                e => panic!("unexpected {e:?}"),
            }
        }
    }
    assert_eq!(delays, vec![Duration::from_secs(1), Duration::from_secs(2)]);
    assert!(matches!(s.mirrors()[0].state, MirrorState::Dropped { .. }));
    assert!(s.all_dropped());
    s.handle_timeout(now + Duration::from_secs(1000));
    s.fill(now, |_, max| picker.next_run(max));
    assert!(fetches(&mut s).is_empty());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn requests_failing_together_count_as_one_error() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(layout(), Config { requests_per_mirror: 2, run_bytes: 4, ..cfg() });
    let a = s.add_mirror("http://a/").unwrap();
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let jobs = fetches(&mut s);
    assert_eq!(jobs.len(), 2);
    for j in &jobs {
        s.handle_fetch(t0, FetchEvent::Failed { job: j.id, error: FetchError::Transport("refused".into()) });
    }
    let ev = events(&mut s);
    assert_eq!(ev.iter().filter(|e| matches!(e, Event::Backoff { .. })).count(), 1);
    assert!(ev.contains(&Event::Released { mirror: a, pieces: 1..2 }));
    assert_eq!(s.mirrors()[0].stats.errors, 2);
    // One round of backoff: the first delay, not the second.
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(1)));
}

#[test]
fn success_resets_the_error_count() {
    let mut now = Instant::now();
    let mut s = Scheduler::new(layout(), cfg());
    s.add_mirror("http://a/").unwrap();
    let mut picker = RunPicker::new(4);
    for round in 0..6 {
        s.handle_timeout(now);
        s.fill(now, |_, max| picker.next_run(max));
        let j = fetches(&mut s).remove(0);
        if round % 2 == 0 {
            s.handle_fetch(now, FetchEvent::Failed { job: j.id, error: FetchError::Timeout });
        } else {
            answer(&mut s, now, &j, 0);
        }
        for e in events(&mut s) {
            match e {
                Event::Released { pieces, .. } => picker.release(pieces),
                Event::Backoff { until, .. } => now = until,
                Event::Dropped { .. } => panic!("dropped although errors were not consecutive"),
                Event::PieceReceived { piece, .. } => {
                    s.piece_hashed(piece, true);
                    picker.set_have(piece);
                }
                _ => {}
            }
        }
    }
    assert_eq!(s.mirrors()[0].stats.errors, 3);
}

#[test]
fn bad_data_drops_the_mirror_and_only_it() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(layout(), cfg());
    let bad = s.add_mirror("http://bad/").unwrap();
    let good = s.add_mirror("http://good/").unwrap();
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let jobs = fetches(&mut s);
    assert_eq!(jobs[0].mirror, bad);
    // The bad mirror delivers its first piece and part of the second.
    s.handle_fetch(t0, FetchEvent::Data { job: jobs[0].id, data: vec![0; 6] });
    let ev = events(&mut s);
    assert!(ev.contains(&Event::PieceReceived { mirror: bad, piece: 0 }));
    s.piece_hashed(0, false);
    let ev = events(&mut s);
    assert_eq!(
        ev,
        vec![
            Event::Released { mirror: bad, pieces: 0..1 },
            Event::Released { mirror: bad, pieces: 1..2 },
            Event::Dropped { mirror: bad, reason: "served 1 piece(s) that failed the hash check (last: piece 0)".into() },
        ]
    );
    // Its request is cancelled; late reports are ignored.
    assert_eq!(actions(&mut s), vec![Action::Cancel(jobs[0].id)]);
    s.handle_fetch(t0, FetchEvent::Data { job: jobs[0].id, data: vec![0; 2] });
    s.handle_fetch(t0, FetchEvent::Done { job: jobs[0].id });
    assert!(events(&mut s).is_empty());
    let st = &s.mirrors()[0].stats;
    assert_eq!((st.pieces_bad, st.wasted, st.bytes), (1, 6, 6));
    // The released pieces go to the good mirror once it is free.
    picker.release(0..2);
    answer(&mut s, t0, &jobs[1], 1);
    let rest = fetches(&mut s).remove(0);
    answer(&mut s, t0, &rest, 1);
    s.fill(t0, |_, max| picker.next_run(max));
    let j = fetches(&mut s);
    assert_eq!((j.len(), j[0].mirror, j[0].offset), (1, good, 0));
    assert!(!s.all_dropped());
}

#[test]
fn stalled_request_is_cancelled_and_backs_off() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(layout(), cfg());
    let a = s.add_mirror("http://a/").unwrap();
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let j = fetches(&mut s).remove(0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    // Progress at t0+5 pushes the deadline.
    s.handle_fetch(t0 + Duration::from_secs(5), FetchEvent::Data { job: j.id, data: vec![0; 1] });
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(15)));
    s.handle_timeout(t0 + Duration::from_secs(14));
    assert!(actions(&mut s).is_empty());
    s.handle_timeout(t0 + Duration::from_secs(15));
    assert_eq!(actions(&mut s), vec![Action::Cancel(j.id)]);
    let ev: Vec<Event> = events(&mut s).into_iter().filter(|e| !matches!(e, Event::Data { .. })).collect();
    assert_eq!(ev[0], Event::Released { mirror: a, pieces: 0..2 });
    assert!(matches!(&ev[1], Event::Backoff { error, .. } if error.contains("no data for 10.0 s")));
}

#[test]
fn fatal_errors_and_overlong_bodies_drop_at_once() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(layout(), Config { requests_per_mirror: 1, ..cfg() });
    s.add_mirror("http://a/").unwrap();
    s.add_mirror("http://b/").unwrap();
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let jobs = fetches(&mut s);
    s.handle_fetch(t0, FetchEvent::Failed { job: jobs[0].id, error: FetchError::RangeIgnored });
    s.handle_fetch(t0, FetchEvent::Data { job: jobs[1].id, data: vec![0; 3] });
    assert!(matches!(s.mirrors()[0].state, MirrorState::Dropped { .. }));
    assert!(matches!(s.mirrors()[1].state, MirrorState::Dropped { ref reason } if reason.contains("longer")));
    assert!(s.all_dropped());
}

#[test]
fn short_body_is_an_error() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(layout(), cfg());
    let a = s.add_mirror("http://a/").unwrap();
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let j = fetches(&mut s).remove(0);
    s.handle_fetch(t0, FetchEvent::Data { job: j.id, data: vec![0; 5] });
    s.handle_fetch(t0, FetchEvent::Done { job: j.id });
    let ev = events(&mut s);
    assert!(ev.contains(&Event::PieceReceived { mirror: a, piece: 0 }));
    assert!(ev.contains(&Event::Released { mirror: a, pieces: 1..2 }));
    assert!(ev.iter().any(|e| matches!(e, Event::Backoff { error, .. } if error.contains("after 5 of 8"))));
}

#[test]
fn padding_becomes_zeros_and_is_not_fetched() {
    let t0 = Instant::now();
    let mut l = layout();
    l.files = vec![
        LayoutFile { path: vec![b"a".to_vec()], offset: 0, length: 3, padding: false },
        LayoutFile { path: vec![b".pad".to_vec()], offset: 3, length: 5, padding: true },
        LayoutFile { path: vec![b"b".to_vec()], offset: 8, length: 8, padding: false },
    ];
    let mut s = Scheduler::new(l, Config { run_bytes: 16, ..cfg() });
    let a = s.add_mirror("http://a/").unwrap();
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let j = fetches(&mut s).remove(0);
    assert_eq!((j.url.as_str(), j.len), ("http://a/t/a", 3));
    answer(&mut s, t0, &j, 5);
    let j2 = fetches(&mut s).remove(0);
    assert_eq!((j2.url.as_str(), j2.offset, j2.len), ("http://a/t/b", 8, 8));
    let ev = events(&mut s);
    assert_eq!(
        ev,
        vec![
            Event::Data { mirror: a, piece: 0, begin: 0, data: vec![5; 3] },
            Event::Data { mirror: a, piece: 0, begin: 3, data: vec![0] },
            Event::PieceReceived { mirror: a, piece: 0 },
            Event::Data { mirror: a, piece: 1, begin: 0, data: vec![0; 4] },
            Event::PieceReceived { mirror: a, piece: 1 },
        ]
    );
    assert_eq!(s.mirrors()[0].stats.bytes, 3);
}

#[test]
fn pieces_had_elsewhere_cancel_the_request() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(layout(), cfg());
    let a = s.add_mirror("http://a/").unwrap();
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let j = fetches(&mut s).remove(0);
    s.piece_have(1);
    assert!(actions(&mut s).is_empty(), "piece 0 still wanted");
    s.handle_fetch(t0, FetchEvent::Data { job: j.id, data: vec![0; 6] });
    let ev = events(&mut s);
    assert_eq!(
        ev,
        vec![
            Event::Data { mirror: a, piece: 0, begin: 0, data: vec![0; 4] },
            Event::PieceReceived { mirror: a, piece: 0 },
        ]
    );
    s.piece_have(0);
    assert_eq!(actions(&mut s), vec![Action::Cancel(j.id)]);
    assert_eq!(s.mirrors()[0].state, MirrorState::Idle);
    assert_eq!(s.mirrors()[0].stats.wasted, 2);
}

/// Mirror a holds pieces 0..2 and stalls after 2 bytes; mirror b finishes
/// 2..4. Returns the scheduler, the picker and a's job.
fn slow_a_fast_b(t0: Instant) -> (Scheduler, RunPicker, Job) {
    let mut s = Scheduler::new(layout(), cfg());
    s.add_mirror("http://a/").unwrap();
    s.add_mirror("http://b/").unwrap();
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let jobs = fetches(&mut s);
    let (ja, jb) = (jobs[0].clone(), jobs[1].clone());
    s.handle_fetch(t0, FetchEvent::Data { job: ja.id, data: vec![9, 9] });
    answer(&mut s, t0, &jb, 7);
    let next = fetches(&mut s);
    answer(&mut s, t0, &next[0], 7);
    for e in events(&mut s) {
        if let Event::PieceReceived { piece, .. } = e {
            s.piece_hashed(piece, true);
            picker.set_have(piece);
        }
    }
    // b is idle and the picker has nothing: no duplicate of an untrimmed run.
    s.fill(t0, |_, max| picker.next_run(max));
    assert!(fetches(&mut s).is_empty());
    // Endgame: a keeps piece 0 (it is on it), piece 1 goes back.
    s.endgame(t0, false);
    assert_eq!(events(&mut s), vec![Event::Released { mirror: MirrorId(0), pieces: 1..2 }]);
    picker.release(1..2);
    s.fill(t0, |_, max| picker.next_run(max));
    let j1 = fetches(&mut s);
    assert_eq!((j1.len(), j1[0].mirror, j1[0].offset, j1[0].len), (1, MirrorId(1), 4, 4), "{j1:?}");
    answer(&mut s, t0, &j1[0], 7);
    assert_eq!(events(&mut s), vec![Event::Data { mirror: MirrorId(1), piece: 1, begin: 0, data: vec![7; 4] }, Event::PieceReceived { mirror: MirrorId(1), piece: 1 }]);
    s.piece_hashed(1, true);
    picker.set_have(1);
    (s, picker, ja)
}

#[test]
fn endgame_duplicate_wins_and_the_slow_request_is_cancelled() {
    let t0 = Instant::now();
    let (mut s, mut picker, ja) = slow_a_fast_b(t0);
    // b idle, nothing to pick: it duplicates piece 0.
    s.fill(t0, |_, max| picker.next_run(max));
    let dup = fetches(&mut s);
    assert_eq!((dup.len(), dup[0].mirror, dup[0].offset, dup[0].len), (1, MirrorId(1), 0, 4), "{dup:?}");
    assert_eq!(s.duplicates(), 1);
    // Bounded: no second duplicate of the same piece.
    s.endgame(t0, true);
    assert!(fetches(&mut s).is_empty());
    // The duplicate's bytes are held until the piece is whole.
    s.handle_fetch(t0, FetchEvent::Data { job: dup[0].id, data: vec![5, 5] });
    assert!(events(&mut s).is_empty());
    s.handle_fetch(t0, FetchEvent::Data { job: dup[0].id, data: vec![5, 5] });
    assert_eq!(
        events(&mut s),
        vec![
            Event::Discard { piece: 0, bytes: 2 },
            Event::Data { mirror: MirrorId(1), piece: 0, begin: 0, data: vec![5; 4] },
            Event::PieceReceived { mirror: MirrorId(1), piece: 0 },
        ]
    );
    assert!(actions(&mut s).contains(&Action::Cancel(ja.id)), "the slow request is cancelled");
    // a's late bytes are ignored.
    s.handle_fetch(t0, FetchEvent::Data { job: ja.id, data: vec![9, 9] });
    assert!(events(&mut s).is_empty());
    s.piece_hashed(0, true);
    assert!(s.is_quiet());
    let m = s.mirrors();
    assert_eq!(m[0].stats.wasted, 2, "over-download counted at the slow mirror");
    assert_eq!(m[1].stats.pieces_ok, 4);
    assert_eq!(m[0].state, MirrorState::Idle, "the slow mirror is not blamed");
}

#[test]
fn endgame_original_wins_and_the_duplicate_is_cancelled() {
    let t0 = Instant::now();
    let (mut s, mut picker, ja) = slow_a_fast_b(t0);
    s.fill(t0, |_, max| picker.next_run(max));
    let dup = fetches(&mut s);
    assert_eq!(dup.len(), 1);
    s.handle_fetch(t0, FetchEvent::Data { job: dup[0].id, data: vec![5] });
    // a finishes piece 0 first: its request (trimmed to piece 0) and the
    // duplicate are both cancelled.
    s.handle_fetch(t0, FetchEvent::Data { job: ja.id, data: vec![9, 9] });
    assert_eq!(
        events(&mut s),
        vec![
            Event::Data { mirror: MirrorId(0), piece: 0, begin: 2, data: vec![9, 9] },
            Event::PieceReceived { mirror: MirrorId(0), piece: 0 },
        ]
    );
    let a = actions(&mut s);
    assert!(a.contains(&Action::Cancel(dup[0].id)) && a.contains(&Action::Cancel(ja.id)), "{a:?}");
    assert_eq!(s.duplicates(), 0);
    s.piece_hashed(0, true);
    assert!(s.is_quiet());
    assert_eq!(s.mirrors()[1].stats.wasted, 1);
}

/// One mirror "a", given the first run of pieces, has sent `bytes` of it
/// (the events so far consumed).
fn one_mirror_part_way(t0: Instant, bytes: usize) -> (Scheduler, Vec<Job>) {
    let mut s = Scheduler::new(layout(), cfg());
    s.add_mirror("http://a/").unwrap();
    let mut picker = RunPicker::new(4);
    s.fill(t0, |_, max| picker.next_run(max));
    let j = fetches(&mut s);
    s.handle_fetch(t0, FetchEvent::Data { job: j[0].id, data: vec![1; bytes] });
    events(&mut s);
    (s, j)
}

#[test]
fn cancel_all_gives_everything_back_without_blame() {
    let t0 = Instant::now();
    let (mut s, j) = one_mirror_part_way(t0, 5);
    s.cancel_all();
    assert_eq!(actions(&mut s), vec![Action::Cancel(j[0].id)]);
    assert_eq!(events(&mut s), vec![Event::Released { mirror: MirrorId(0), pieces: 1..2 }]);
    s.piece_hashed(0, true);
    assert!(s.is_quiet());
    assert_eq!(s.mirrors()[0].state, MirrorState::Idle);
    assert_eq!(s.mirrors()[0].stats.errors, 0);
}

#[test]
fn endgame_gives_a_stale_piece_to_idle_peers() {
    let t0 = Instant::now();
    let (mut s, j) = one_mirror_part_way(t0, 2);
    // Peers are idle: piece 1 goes back at once, piece 0 (started) stays ...
    s.endgame(t0, true);
    assert_eq!(events(&mut s), vec![Event::Released { mirror: MirrorId(0), pieces: 1..2 }]);
    s.endgame(t0 + Duration::from_secs(4), true);
    assert!(events(&mut s).is_empty());
    // ... until the mirror has been on it for 5 s.
    s.endgame(t0 + Duration::from_secs(5), true);
    assert_eq!(events(&mut s), vec![Event::Released { mirror: MirrorId(0), pieces: 0..1 }]);
    assert_eq!(actions(&mut s), vec![Action::Cancel(j[0].id)]);
    let m = &s.mirrors()[0];
    assert_eq!((m.stats.errors, m.stats.wasted, &m.state), (0, 2, &MirrorState::Idle));
}
