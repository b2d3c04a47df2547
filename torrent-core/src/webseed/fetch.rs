//! The blocking HTTP side of web seeds: a small pool of worker threads
//! running `ureq` range requests for [`Job`]s and reporting
//! [`FetchEvent`]s through a bounded channel, with a callback after each
//! report (an event loop passes a `mio::Waker::wake` there).
//!
//! Each worker does one request at a time. Redirects are followed here,
//! at most [`FetchConfig::max_redirects`] of them (ureq's own redirect
//! handling is off so a loop is seen, the Range header is sent again, and
//! only http(s) targets are followed). URLs are sent exactly as the
//! scheduler built them. A body is read in chunks that never cross a piece
//! boundary and never beyond the `len` bytes asked for, so memory is
//! bounded by `workers × (channel_depth + 1) × chunk`.

use super::scheduler::{FetchError, FetchEvent, Job, JobId};
use std::collections::{HashSet, VecDeque};
use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Fetcher settings.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub workers: usize,
    pub max_redirects: u32,
    pub connect_timeout: Duration,
    /// Longest wait for the response head, and for any one read.
    pub read_timeout: Duration,
    /// Largest body chunk reported at once.
    pub chunk: usize,
    /// Chunks waiting in the channel before workers block.
    pub channel_depth: usize,
    pub user_agent: String,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            workers: 4,
            max_redirects: 5,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(20),
            chunk: 256 << 10,
            channel_depth: 16,
            user_agent: concat!("torrent-toolkit/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

struct Queue {
    jobs: VecDeque<Job>,
    /// Jobs a worker is running, and those of them cancelled.
    running: HashSet<JobId>,
    cancelled: HashSet<JobId>,
    shutdown: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    cv: Condvar,
}

impl Shared {
    fn is_cancelled(&self, id: JobId) -> bool {
        let q = self.queue.lock().unwrap();
        q.shutdown || q.cancelled.contains(&id)
    }
}

/// The worker pool. Dropping it stops the workers (requests in progress
/// end at their next read).
pub struct Fetcher {
    shared: Arc<Shared>,
    rx: Receiver<FetchEvent>,
    threads: Vec<JoinHandle<()>>,
}

impl Fetcher {
    /// Start `cfg.workers` threads; `notify` is called after every event
    /// put in the channel.
    pub fn new(cfg: FetchConfig, notify: impl Fn() + Send + Sync + 'static) -> Fetcher {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { jobs: VecDeque::new(), running: HashSet::new(), cancelled: HashSet::new(), shutdown: false }),
            cv: Condvar::new(),
        });
        let (tx, rx) = sync_channel(cfg.channel_depth.max(1));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(cfg.connect_timeout))
            .timeout_recv_response(Some(cfg.read_timeout))
            .timeout_per_read(Some(cfg.read_timeout))
            .user_agent(cfg.user_agent.as_str())
            .build()
            .into();
        let notify: Arc<dyn Fn() + Send + Sync> = Arc::new(notify);
        let threads = (0..cfg.workers.max(1))
            .map(|i| {
                let w = Worker {
                    shared: shared.clone(),
                    tx: tx.clone(),
                    notify: notify.clone(),
                    agent: agent.clone(),
                    cfg: cfg.clone(),
                };
                std::thread::Builder::new()
                    .name(format!("webseed-{i}"))
                    .spawn(move || w.run())
                    .expect("spawn web-seed worker")
            })
            .collect();
        Fetcher { shared, rx, threads }
    }

    /// Queue a request.
    pub fn submit(&self, job: Job) {
        self.shared.queue.lock().unwrap().jobs.push_back(job);
        self.shared.cv.notify_one();
    }

    /// Stop a request (queued or running); it reports nothing more, or at
    /// most what was already in the channel.
    pub fn cancel(&self, id: JobId) {
        let mut q = self.shared.queue.lock().unwrap();
        let before = q.jobs.len();
        q.jobs.retain(|j| j.id != id);
        if q.jobs.len() == before && q.running.contains(&id) {
            q.cancelled.insert(id);
        }
    }

    /// Apply a scheduler action.
    pub fn apply(&self, a: super::scheduler::Action) {
        match a {
            super::scheduler::Action::Fetch(j) => self.submit(j),
            super::scheduler::Action::Cancel(id) => self.cancel(id),
        }
    }

    /// A report, if one is waiting.
    pub fn try_recv(&self) -> Option<FetchEvent> {
        self.rx.try_recv().ok()
    }

    /// Wait up to `timeout` for a report.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<FetchEvent> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.shared.queue.lock().unwrap().shutdown = true;
        self.shared.cv.notify_all();
        // Unblock workers waiting on a full channel.
        while self.rx.try_recv().is_ok() {}
        for t in self.threads.drain(..) {
            // A worker blocked in a read ends at its read timeout; don't
            // wait for that.
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    tx: SyncSender<FetchEvent>,
    notify: Arc<dyn Fn() + Send + Sync>,
    agent: ureq::Agent,
    cfg: FetchConfig,
}

impl Worker {
    fn run(self) {
        loop {
            let job = {
                let mut q = self.shared.queue.lock().unwrap();
                loop {
                    if q.shutdown {
                        return;
                    }
                    if let Some(j) = q.jobs.pop_front() {
                        q.running.insert(j.id);
                        break j;
                    }
                    q = self.shared.cv.wait(q).unwrap();
                }
            };
            let id = job.id;
            let last = match self.fetch(&job) {
                Ok(true) => Some(FetchEvent::Done { job: id }),
                Ok(false) => None,
                Err(error) => Some(FetchEvent::Failed { job: id, error }),
            };
            let cancelled = {
                let mut q = self.shared.queue.lock().unwrap();
                q.running.remove(&id);
                q.cancelled.remove(&id)
            };
            if let (Some(ev), false) = (last, cancelled) {
                if !self.send(ev) {
                    return;
                }
            }
        }
    }

    fn send(&self, ev: FetchEvent) -> bool {
        if self.tx.send(ev).is_err() {
            return false;
        }
        (self.notify)();
        true
    }

    /// Ok(true): all bytes sent; Ok(false): cancelled.
    fn fetch(&self, job: &Job) -> Result<bool, FetchError> {
        let range = format!("bytes={}-{}", job.file_offset, job.file_offset + job.len - 1);
        let mut url = job.url.clone();
        let mut redirects = 0;
        let resp = loop {
            let resp = self
                .agent
                .get(url.as_str())
                .header("Range", range.as_str())
                .call()
                .map_err(map_err)?;
            let code = resp.status().as_u16();
            if (300..400).contains(&code) && code != 304 {
                let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok()) else {
                    return Err(FetchError::Status { code, retry_after: None });
                };
                if redirects >= self.cfg.max_redirects {
                    return Err(FetchError::TooManyRedirects);
                }
                redirects += 1;
                url = resolve_location(&url, loc).ok_or_else(|| FetchError::BadRedirect(loc.to_string()))?;
                continue;
            }
            break resp;
        };
        let code = resp.status().as_u16();
        match code {
            206 => {
                let cr = resp
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                if parse_content_range(&cr) != Some((job.file_offset, job.file_offset + job.len - 1)) {
                    return Err(FetchError::WrongRange(if cr.is_empty() { "no Content-Range".into() } else { cr }));
                }
            }
            // The whole file: usable when the range starts at 0 (the rest
            // is not read).
            200 if job.file_offset == 0 => {}
            200 => return Err(FetchError::RangeIgnored),
            _ => {
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                return Err(FetchError::Status { code, retry_after });
            }
        }
        let mut body = resp.into_body().into_reader().take(job.len);
        let mut got = 0u64;
        let plen = job.piece_length.max(1);
        while got < job.len {
            let off = job.offset + got;
            let to_piece_end = plen - off % plen;
            let want = (job.len - got).min(to_piece_end).min(self.cfg.chunk as u64) as usize;
            let mut buf = vec![0u8; want];
            let mut filled = 0;
            while filled < want {
                match body.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    // A cancelled request (pause, remove, endgame) stops
                    // reading at once, not at the end of the chunk.
                    Ok(n) => {
                        filled += n;
                        if self.shared.is_cancelled(job.id) {
                            return Ok(false);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(if is_timeout(&e) { FetchError::Timeout } else { FetchError::Transport(e.to_string()) });
                    }
                }
            }
            if filled == 0 {
                return Err(FetchError::ShortBody { got, expected: job.len });
            }
            if self.shared.is_cancelled(job.id) {
                return Ok(false);
            }
            buf.truncate(filled);
            got += filled as u64;
            if !self.send(FetchEvent::Data { job: job.id, data: buf }) {
                return Ok(false);
            }
            if filled < want {
                return Err(FetchError::ShortBody { got, expected: job.len });
            }
        }
        Ok(true)
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
}

fn map_err(e: ureq::Error) -> FetchError {
    match e {
        ureq::Error::Timeout(_) => FetchError::Timeout,
        ureq::Error::Io(io) if is_timeout(&io) => FetchError::Timeout,
        e => FetchError::Transport(e.to_string()),
    }
}

/// `bytes a-b/total` (or `/*`) → (a, b).
pub fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, _total) = v.split_once('/')?;
    let (a, b) = range.trim().split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// `Retry-After`: delta-seconds, or an IMF-fixdate (`Sun, 06 Nov 1994
/// 08:49:37 GMT`) turned into a delay from now.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = parse_http_date(v)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// IMF-fixdate → seconds since the epoch.
pub fn parse_http_date(v: &str) -> Option<u64> {
    let mut it = v.split_whitespace();
    let _wday = it.next()?;
    let day: u64 = it.next()?.parse().ok()?;
    let mon_s = it.next()?;
    let mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m.eq_ignore_ascii_case(mon_s))? as u64
        + 1;
    let year: u64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|x| x.parse::<u64>().ok());
    let (h, mi, s) = (hms.next()??, hms.next()??, hms.next()??);
    if it.next()? != "GMT" || !(1..=31).contains(&day) || year < 1970 || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from civil date (Howard Hinnant's algorithm).
    let (y, m) = if mon <= 2 { (year - 1, mon + 9) } else { (year, mon - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

/// Resolve a `Location` against the URL it came from; None unless the
/// result is http(s).
pub fn resolve_location(base: &str, loc: &str) -> Option<String> {
    let loc = super::layout::encode_base(loc);
    if loc.is_empty() {
        return None;
    }
    let lower = loc.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return super::layout::is_http_url(&loc).then_some(loc);
    }
    if loc.contains("://") || lower.starts_with("javascript:") || lower.starts_with("file:") || lower.starts_with("data:") {
        return None;
    }
    let scheme_end = base.find("://")? + 3;
    let scheme = &base[..scheme_end - 3];
    if let Some(rest) = loc.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    let host_end = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
    let origin = &base[..host_end];
    if loc.starts_with('/') {
        return Some(format!("{origin}{loc}"));
    }
    // Relative: replace the last path segment (query/fragment dropped).
    let path = base[host_end..].split(['?', '#']).next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    Some(format!("{origin}{dir}{loc}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 0-99/1000"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9)));
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range("bytes */1000"), None);
    }

    #[test]
    fn retry_after() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn locations() {
        let b = "http://h:8/a/b/c.iso?x=1";
        assert_eq!(resolve_location(b, "https://o/x").as_deref(), Some("https://o/x"));
        assert_eq!(resolve_location(b, "/root").as_deref(), Some("http://h:8/root"));
        assert_eq!(resolve_location(b, "d.iso").as_deref(), Some("http://h:8/a/b/d.iso"));
        assert_eq!(resolve_location(b, "//m/y").as_deref(), Some("http://m/y"));
        assert_eq!(resolve_location(b, "ftp://m/y"), None);
        assert_eq!(resolve_location(b, "file:///etc/passwd"), None);
    }
}
