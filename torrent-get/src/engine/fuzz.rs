//! Driving the engine with arbitrary peer input: the body of the `engine`
//! fuzz target (fuzz/fuzz_targets/engine.rs) and of a unit test that feeds
//! it random inputs on stable. One torrent, up to three peers whose bytes
//! come from the input (after a valid handshake, or not), interleaved with
//! ticks, hash verdicts, disk reads, commands and disconnects. Checked: no
//! panic, and the engine's bounds hold (requests per peer, bytes queued).

use super::peer::{MAX_PEER_REQUESTS, MAX_PIPELINE};
use super::{Action, Command, Config, ConnKind, Engine, Input, Job};
use crate::disk::{DiskEvent, DiskJob};
use crate::hasher::HashJob;
use sha1::{Digest, Sha1};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use torrent_core::peer::handshake::Handshake;
use torrent_core::peer::message::Message;
use torrent_core::Metainfo;

/// A single-file torrent of `len` pseudo-random bytes in pieces of `plen`
/// (tests and fuzzing: no files).
pub fn make_torrent(len: usize, plen: usize, seed: u64) -> (Metainfo, Vec<u8>) {
    let mut data = vec![0u8; len];
    test_fixtures::payload::fill_pseudo_random(seed, &mut data);
    let mut pieces = Vec::new();
    for c in data.chunks(plen) {
        pieces.extend_from_slice(&Sha1::digest(c));
    }
    let mut info = Vec::new();
    let name = format!("sim{seed}");
    info.extend_from_slice(format!("d6:lengthi{len}e4:name{}:{name}12:piece lengthi{plen}e6:pieces{}:", name.len(), pieces.len()).as_bytes());
    info.extend_from_slice(&pieces);
    info.push(b'e');
    let mut t = b"d4:info".to_vec();
    t.extend_from_slice(&info);
    t.push(b'e');
    (Metainfo::from_bytes(&t).expect("valid torrent"), data)
}

pub fn fuzz_config() -> Config {
    Config {
        out_dir: PathBuf::from("/nonexistent-fuzz"),
        max_peers: 8,
        max_per_ip: None,
        max_connections: usize::MAX,
        resume_every: crate::engine::lifecycle::RESUME_EVERY,
        listen: Vec::new(),
        extra_peers: Vec::new(),
        seed: true,
        seed_only: false,
        seed_ratio: None,
        seed_time: None,
        timeout: None,
        max_download_rate: 0,
        max_upload_rate: 0,
        upload_slots: 2,
        fixed_upload_slots: false,
        json: false,
        quiet: true,
        tracker_timeout: Duration::from_secs(5),
        announce_interval_min: Duration::from_secs(5),
        pex: true,
        verbose: false,
        recheck: false,
        dht: false,
        dht_bootstrap: Vec::new(),
        dht_state: None,
        web_seeds: Vec::new(),
        no_web_seeds: false,
        encryption: super::Policy::Off,
        transports: super::Transports::Tcp,
    }
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
}

/// Carry out the engine's actions as a world that answers at once.
fn drain(e: &mut Engine, data: &[u8], plen: u64, verdict: bool, now: Instant) {
    let mut rounds = 0;
    while let Some(a) = e.poll_action() {
        rounds += 1;
        assert!(rounds < 1_000_000, "the engine keeps producing actions");
        match a {
            Action::Send { data, .. } => assert!(data.len() <= 64 * 1024 * 1024),
            Action::Disk(DiskJob::Open { torrent, info, .. }) => {
                // Every other piece is on disk.
                let have = (0..info.pieces.len()).map(|i| i % 2 == 0).collect();
                e.handle(Input::Disk(DiskEvent::Opened { torrent, have, rechecked: true }), now);
            }
            Action::Disk(DiskJob::Read { torrent, peer, conn, piece, begin, len }) => {
                let start = (piece as u64 * plen + begin as u64) as usize;
                let end = (start + len as usize).min(data.len());
                let bytes = data.get(start..end).unwrap_or_default().to_vec();
                e.handle(Input::Disk(DiskEvent::ReadDone { torrent, peer, conn, piece, begin, data: bytes }), now);
            }
            Action::Hash(HashJob::Finish { torrent, piece, .. }) => {
                e.handle(Input::Disk(DiskEvent::Verified { torrent, piece, ok: verdict }), now);
            }
            _ => {}
        }
    }
}

/// The fuzz target's body. Returns the payload bytes the engine took in
/// (so tests can see the input reached the download path).
pub fn drive(input: &[u8]) -> u64 {
    let mut inp = Cursor(input);
    let (meta, data) = make_torrent(8 * 32 * 1024 - 100, 32 * 1024, 1);
    let plen = meta.info.piece_length;
    let start = Instant::now();
    let mut now = start;
    let mut e = Engine::new(fuzz_config(), *b"-FZ0001-fuzzfuzzfuzz", 6881, Some(0), now);
    let tid = e.add(Job::Torrent { meta: Box::new(meta.clone()), select: None }, now);
    drain(&mut e, &data, plen, true, now);
    let mut steps = 0;
    while !inp.0.is_empty() && steps < 4000 {
        steps += 1;
        let op = inp.u8();
        let peer = (op >> 5) as usize % 3;
        match op % 13 {
            0..=4 => {
                let n = inp.u8() as usize;
                let bytes = inp.bytes(n);
                e.feed(peer, &bytes, now);
            }
            5 => {
                // A new connection, with a valid handshake (or not).
                e.handle(Input::Closed { peer, reason: super::CloseReason::PeerClosed }, now);
                let addr = format!("127.0.0.{}:{}", peer + 2, 1000 + inp.u8() as u16).parse().expect("valid");
                e.handle(Input::Accepted { peer, addr, kind: ConnKind::Tcp }, now);
                let flags = inp.u8();
                if flags & 1 != 0 {
                    let mut hs = Handshake::new(meta.info_hash, [flags; 20]);
                    hs.set_fast(flags & 2 != 0);
                    hs.set_extended(flags & 4 != 0);
                    e.feed(peer, &hs.encode(), now);
                }
            }
            6 => {
                now += Duration::from_millis(inp.u8() as u64 * 200);
                e.handle(Input::Tick, now);
            }
            7 => {
                let piece = inp.u8() as u32 % 8;
                e.handle(Input::Disk(DiskEvent::Verified { torrent: tid, piece, ok: inp.u8() & 1 == 0 }), now);
            }
            8 => {
                let pending = inp.u8() as usize * 65536;
                e.handle(Input::Sent { peer, pending }, now);
            }
            9 => e.handle(Input::Closed { peer, reason: super::CloseReason::PeerClosed }, now),
            10 => {
                let c = match inp.u8() % 6 {
                    0 => Command::Pause(tid),
                    1 => Command::Resume(tid),
                    2 => Command::SelectFiles(tid, Some(vec![inp.u8() as usize % 2])),
                    3 => Command::SelectFiles(tid, None),
                    4 => {
                        use super::SeedLimit;
                        let ratio = match inp.u8() % 4 {
                            0 => SeedLimit::Default,
                            1 => SeedLimit::Unlimited,
                            _ => SeedLimit::Value(inp.u8() as f64 / 64.0),
                        };
                        let time = match inp.u8() % 4 {
                            0 => SeedLimit::Default,
                            1 => SeedLimit::Unlimited,
                            _ => SeedLimit::Value(std::time::Duration::from_secs(inp.u8() as u64)),
                        };
                        Command::SetSeedLimits(tid, super::SeedLimits { ratio, time })
                    }
                    _ => Command::SetRateLimits { download: inp.u8() as u64 * 1024, upload: inp.u8() as u64 * 1024 },
                };
                e.handle(Input::Command(c), now);
            }
            11 => e.handle(Input::Released(super::budget::Released { hashed: inp.u8() as u64 * 1024 * 1024, written: inp.u8() as u64 * 1024 * 1024 }), now),
            _ => {
                // The peer answers some of our requests, with the right
                // bytes or wrong ones.
                let corrupt = inp.u8();
                let n = 1 + inp.u8() as usize % 16;
                let asked: Vec<_> = e.peer(peer).map(|p| p.st.requests().take(n).copied().collect()).unwrap_or_default();
                let mut bytes = Vec::new();
                for b in asked {
                    let start = (b.index as u64 * plen + b.begin as u64) as usize;
                    let mut block = data[start..start + b.length as usize].to_vec();
                    if corrupt & 1 != 0 {
                        block[0] ^= corrupt;
                    }
                    Message::Piece { index: b.index, begin: b.begin, data: block }.encode_into(&mut bytes);
                }
                e.feed(peer, &bytes, now);
            }
        }
        let verdict = op & 0x10 == 0;
        drain(&mut e, &data, plen, verdict, now);
        for k in 0..3 {
            if let Some(p) = e.peer(k) {
                assert!(p.st.outstanding() <= MAX_PIPELINE);
                assert!(p.st.peer_request_count() <= MAX_PEER_REQUESTS);
                assert!(p.outbox.is_empty(), "everything queued was handed out");
            }
        }
    }
    e.torrent(tid).map(|t| t.downloaded).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngCore, SeedableRng};

    #[test]
    fn random_inputs() {
        // ENGINE_FUZZ_ROUNDS=N for a longer run (and ENGINE_FUZZ_SEED).
        let rounds = std::env::var("ENGINE_FUZZ_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
        let seed = std::env::var("ENGINE_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(42);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut downloading = 0;
        for round in 0..rounds {
            let len = rng.gen_range(0..4096);
            let mut buf = vec![0u8; len];
            rng.fill_bytes(&mut buf);
            if round % 2 == 0 {
                // Mostly well-formed: a connection with a handshake first,
                // then messages with plausible lengths.
                // HaveAll (0x0e) and Unchoke (1) from peer 0, then answers.
                let mut v = vec![5u8, 1, 7, 0, 5, 0, 0, 0, 1, 0x0e, 0, 5, 0, 0, 0, 1, 1, 6, 10, 12, 0, 15];
                for _ in 0..rng.gen_range(1..40) {
                    let id = rng.gen_range(0..21u8);
                    let body_len = rng.gen_range(0..20u8);
                    v.extend_from_slice(&[0, 5 + body_len]);
                    v.extend_from_slice(&[0, 0, 0, 1 + body_len as u32 as u8, id]);
                    v.extend((0..body_len).map(|_| rng.gen::<u8>() % 4));
                    v.push(6);
                    v.push(rng.gen());
                    if rng.gen_bool(0.5) {
                        v.extend_from_slice(&[12, rng.gen::<u8>() & 0x0f, rng.gen()]);
                    }
                }
                buf.splice(0..0, v);
            }
            if super::drive(&buf) > 0 {
                downloading += 1;
            }
        }
        assert!(downloading >= rounds / 10, "only {downloading} of {rounds} inputs reached the download path");
    }
}
