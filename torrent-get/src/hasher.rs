//! The hash worker: SHA-1 of pieces as their blocks arrive, off the event
//! loop and off the disk thread.
//!
//! The loop hands each accepted block to both the disk thread (to write) and
//! this thread (the same bytes, shared, no copy). Blocks that arrive in
//! order extend the piece's running hash. When the piece is complete the
//! loop sends `Finish`: if every byte was hashed in order the verdict goes
//! straight back to the loop; otherwise the hash state goes on to the disk
//! thread, which reads the rest back from the file (its writes of that piece
//! are queued before, so they are done). Either way the hash covers exactly
//! the bytes written.

use crate::disk::{DiskEvent, DiskJob, TorrentId};
use crate::releases::Releases;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

pub enum HashJob {
    Block {
        torrent: TorrentId,
        piece: u32,
        begin: u32,
        data: Arc<Vec<u8>>,
        /// Bytes this job counts against the in-flight budget, released
        /// once hashed ([`crate::engine::budget`]), whoever else holds
        /// `data`.
        charge: u64,
    },
    Finish {
        torrent: TorrentId,
        piece: u32,
        piece_len: u64,
        expected: [u8; 20],
    },
    /// Drop the running hash of a piece (a web seed's partial delivery).
    Forget {
        torrent: TorrentId,
        piece: u32,
    },
    Shutdown,
}

pub fn spawn(
    jobs: Receiver<HashJob>,
    events: Sender<DiskEvent>,
    disk: Sender<DiskJob>,
    waker: Arc<mio::Waker>,
    releases: Releases,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("hash".into())
        .spawn(move || run(jobs, events, disk, waker, releases))
        .expect("spawn hash thread")
}

fn run(jobs: Receiver<HashJob>, events: Sender<DiskEvent>, disk: Sender<DiskJob>, waker: Arc<mio::Waker>, releases: Releases) {
    // Running hash and bytes hashed, per piece in progress.
    let mut running: HashMap<(TorrentId, u32), (Sha1, u64)> = HashMap::new();
    while let Ok(job) = jobs.recv() {
        match job {
            HashJob::Block { torrent, piece, begin, data, charge } => {
                let (h, next) = running.entry((torrent, piece)).or_insert_with(|| (Sha1::new(), 0));
                if begin as u64 == *next {
                    h.update(&data[..]);
                    *next += data.len() as u64;
                }
                drop(data);
                releases.hashed(charge, &waker);
            }
            HashJob::Finish { torrent, piece, piece_len, expected } => {
                let (h, next) = running.remove(&(torrent, piece)).unwrap_or_else(|| (Sha1::new(), 0));
                if next == piece_len {
                    let got: [u8; 20] = h.finalize().into();
                    let _ = events.send(DiskEvent::Verified { torrent, piece, ok: got == expected });
                    let _ = waker.wake();
                } else {
                    let _ = disk.send(DiskJob::Verify { torrent, piece, hashed: Some(Box::new((h, next))) });
                }
            }
            HashJob::Forget { torrent, piece } => {
                running.remove(&(torrent, piece));
            }
            HashJob::Shutdown => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn in_order_pieces_are_judged_here_others_go_to_disk() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (tx, rx) = channel();
        let (ev_tx, ev_rx) = channel();
        let (disk_tx, disk_rx) = channel();
        let releases = Releases::default();
        let t = spawn(rx, ev_tx, disk_tx, waker, releases.clone());
        let a = Arc::new(vec![1u8; 10]);
        let b = Arc::new(vec![2u8; 6]);
        let mut whole = Sha1::new();
        whole.update(&a[..]);
        whole.update(&b[..]);
        let expected: [u8; 20] = whole.finalize().into();
        // Piece 0 in order: judged here.
        tx.send(HashJob::Block { torrent: 0, piece: 0, begin: 0, data: a.clone(), charge: 10 }).unwrap();
        tx.send(HashJob::Block { torrent: 0, piece: 0, begin: 10, data: b.clone(), charge: 6 }).unwrap();
        tx.send(HashJob::Finish { torrent: 0, piece: 0, piece_len: 16, expected }).unwrap();
        // Piece 1 out of order: only the part before the gap is hashed here.
        tx.send(HashJob::Block { torrent: 0, piece: 1, begin: 10, data: b, charge: 6 }).unwrap();
        tx.send(HashJob::Block { torrent: 0, piece: 1, begin: 0, data: a, charge: 0 }).unwrap();
        tx.send(HashJob::Finish { torrent: 0, piece: 1, piece_len: 16, expected }).unwrap();
        tx.send(HashJob::Shutdown).unwrap();
        t.join().unwrap();
        // Each block's charge released once hashed; the uncharged one not.
        assert_eq!(releases.get().hashed, 22);
        match ev_rx.try_recv().unwrap() {
            DiskEvent::Verified { piece: 0, ok: true, .. } => {}
            _ => panic!("piece 0 not verified here"),
        }
        match disk_rx.try_recv().unwrap() {
            DiskJob::Verify { piece: 1, hashed: Some(h), .. } => assert_eq!(h.1, 10),
            _ => panic!("piece 1 not handed to the disk thread"),
        }
    }
}
