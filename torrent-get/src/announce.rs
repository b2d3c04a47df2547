//! Tracker announces off the event loop: each announce runs the blocking
//! BEP 12 multi-tracker client from torrent-core on a short-lived thread and
//! sends the result back over a channel, waking the loop.

use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;
use torrent_core::tracker::client::{announce_tiers, AllTrackersFailed, Options, TierAnswer};
use torrent_core::tracker::AnnounceRequest;

pub struct AnnounceResult {
    pub torrent: usize,
    /// The tiers reordered by BEP 12 (the tracker that answered first).
    pub tiers: Option<Vec<Vec<String>>>,
    pub result: Result<TierAnswer, AllTrackersFailed>,
}

pub fn spawn(
    torrent: usize,
    mut tiers: Vec<Vec<String>>,
    req: AnnounceRequest,
    timeout: Duration,
    tx: Sender<AnnounceResult>,
    waker: Arc<mio::Waker>,
) {
    let _ = std::thread::Builder::new().name("announce".into()).spawn(move || {
        let opts = Options { timeout, ..Options::default() };
        let result = announce_tiers(&mut tiers, &req, &opts);
        let _ = tx.send(AnnounceResult { torrent, tiers: Some(tiers), result });
        let _ = waker.wake();
    });
}
