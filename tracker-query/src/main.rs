//! tracker-query: announce to or scrape the trackers of a torrent, magnet
//! link or info-hash, over HTTP(S) and UDP. Peers go to stdout one per
//! line, ready for `peer-fetch`; per-tracker details go to stderr.

mod dht_cmd;

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use torrent_core::tracker::client::{self, Options};
use torrent_core::tracker::udp::RetryPolicy;
use torrent_core::tracker::{
    format_peer, AnnounceRequest, AnnounceResponse, Event, ScrapeStats, TrackerError,
};
use torrent_core::InfoHash;

const AFTER_HELP: &str = "\
Exit codes:
  0  at least one tracker answered
  1  no tracker answered
  2  usage error or bad input (unreadable torrent, bad magnet link, no trackers)

SOURCE is a .torrent file (`-` reads stdin), a magnet link, or a bare info-hash
(40 hex or 32 base32 characters); a bare info-hash needs --tracker.

Trackers are tried in BEP 12 order: tier by tier, shuffled within each tier,
stopping at the first that answers. --tracker URLs replace the source's
trackers and are tried in the order given. --all asks every tracker (in
parallel) and reports each one.

Output: `announce` prints one peer per line on stdout, `IP:PORT` (IPv6 as
`[ADDR]:PORT`), without duplicates. `scrape` prints one line per tracker that
answered: `SEEDERS LEECHERS COMPLETED TRACKER-URL`. Details (interval, counts,
warnings, errors) go to stderr. With --json, stdout carries JSON Lines instead:
one object per tracker asked, {\"tracker\", \"ok\", ...response fields or
\"error\"}.

`announce` without --event is a query: it announces with no event, then
sends `stopped` to each tracker that answered, so that no tracker keeps us
(our --port) as a peer to hand out. `--event started` registers us and
leaves us registered. A torrent the tracker does not know scrapes as 0 0 0.

Environment: TRACKER_QUERY_TIMEOUT (--timeout), TRACKER_QUERY_PORT (--port).
Shell completions: `tracker-query completions bash|zsh|fish`; man pages:
`tracker-query man` (`man --dir DIR` writes one per command).

UDP trackers (BEP 15) are retried after BASE·2^n seconds, at most
--udp-retries times; --timeout bounds the total time spent on each tracker.";

#[derive(Parser, Debug)]
#[command(
    name = "tracker-query",
    version,
    about = "Announce to or scrape BitTorrent trackers (HTTP and UDP)",
    after_help = AFTER_HELP,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Announce and print the peers the tracker returns
    #[command(after_help = AFTER_HELP)]
    Announce(AnnounceArgs),
    /// Ask trackers for seeders, leechers and completed downloads
    #[command(after_help = AFTER_HELP)]
    Scrape(Common),
    /// Find peers through the Mainline DHT (BEP 5)
    #[command(after_help = dht_cmd::DHT_AFTER_HELP)]
    Dht(dht_cmd::DhtArgs),
}

#[derive(Args, Debug)]
struct Common {
    /// .torrent file (`-` for stdin), magnet link or info-hash
    source: String,
    /// Tracker URL to use instead of the source's (repeatable)
    #[arg(long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// Ask every tracker and report each result
    #[arg(long)]
    all: bool,
    /// Seconds allowed per tracker, all retries included
    #[arg(long, value_name = "SECS", default_value_t = 20.0, value_parser = parse_secs, env = "TRACKER_QUERY_TIMEOUT")]
    timeout: f64,
    /// UDP retransmissions before giving up on a tracker
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(0..=8))]
    udp_retries: u32,
    /// First UDP retransmission delay (BEP 15: 15 s, doubling each time)
    #[arg(long, value_name = "SECS", default_value_t = 15.0, value_parser = parse_secs)]
    udp_retry_base: f64,
    /// JSON Lines on stdout: one object per tracker
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct AnnounceArgs {
    #[command(flatten)]
    common: Common,
    /// Event to announce: none (a query: we are removed again right after,
    /// see below), started (stay registered as a peer), completed or stopped
    #[arg(long, default_value = "none", value_parser = parse_event)]
    event: Event,
    /// Port we claim to accept peers on
    #[arg(long, default_value_t = 6881, env = "TRACKER_QUERY_PORT")]
    port: u16,
    /// Number of peers to ask for
    #[arg(long, default_value_t = 50)]
    numwant: u32,
    /// Bytes left to download (default: the torrent's size; 1 for a magnet
    /// link or info-hash, so trackers count us as a leecher)
    #[arg(long)]
    left: Option<u64>,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(v > 0.0 && v <= 3600.0) {
        return Err("must be more than 0 and at most 3600 seconds".into());
    }
    Ok(v)
}

fn parse_event(s: &str) -> Result<Event, String> {
    s.parse()
}

/// Write a line to stdout; a closed pipe ends the program quietly (0), any
/// other write error with `error: ...` (2).
fn out(line: &str) {
    if let Err(f) = cli_support::outln(line) {
        let code = f.code();
        cli_support::finish(Err(f));
        std::process::exit(code.into());
    }
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    cli_support::error(msg);
    ExitCode::from(cli_support::EXIT_USAGE)
}

struct Plan {
    info_hash: InfoHash,
    tiers: Vec<Vec<String>>,
    opts: Options,
    total_length: Option<u64>,
}

fn plan(c: &Common) -> Result<Plan, String> {
    let source = torrent_core::load::load(&c.source).map_err(|e| e.to_string())?;
    let mut tiers = if c.trackers.is_empty() {
        let mut t: Vec<Vec<String>> = source
            .tracker_tiers()
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect();
        client::shuffle_tiers(&mut t);
        t
    } else {
        for t in &c.trackers {
            client::scheme_of(t).map_err(|e| format!("--tracker {t}: {e}"))?;
        }
        c.trackers.iter().map(|t| vec![t.clone()]).collect()
    };
    // The same URL in two tiers is asked once.
    let mut seen = HashSet::new();
    for t in tiers.iter_mut() {
        t.retain(|u| seen.insert(u.clone()));
    }
    tiers.retain(|t| !t.is_empty());
    if tiers.is_empty() {
        return Err(format!(
            "{}: no trackers (the source names none; give --tracker URL)",
            c.source
        ));
    }
    let opts = Options {
        timeout: Duration::from_secs_f64(c.timeout),
        udp_retry: RetryPolicy {
            base: Duration::from_secs_f64(c.udp_retry_base),
            max_retries: c.udp_retries,
        },
        ..Options::default()
    };
    Ok(Plan {
        info_hash: source.info_hash(),
        tiers,
        opts,
        total_length: source.metainfo().map(|m| m.info.total_length),
    })
}

/// Run `f` on every tracker in parallel (a few at a time); results in
/// tracker order.
fn for_all<T: Send>(
    urls: &[String],
    f: impl Fn(&str) -> Result<T, TrackerError> + Sync,
) -> Vec<(String, Result<T, TrackerError>)> {
    const PARALLEL: usize = 16;
    let mut results = Vec::with_capacity(urls.len());
    for chunk in urls.chunks(PARALLEL) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|u| {
                    let f = &f;
                    s.spawn(move || f(u))
                })
                .collect();
            for (u, h) in chunk.iter().zip(handles) {
                let r = h.join().unwrap_or_else(|_| {
                    Err(TrackerError::new(
                        u.clone(),
                        torrent_core::tracker::ErrorKind::Transport("query panicked".into()),
                    ))
                });
                results.push((u.clone(), r));
            }
        });
    }
    results
}

fn announce_json(url: &str, r: &AnnounceResponse) -> Value {
    json!({
        "tracker": url,
        "ok": true,
        "interval": r.interval,
        "min_interval": r.min_interval,
        "complete": r.complete,
        "incomplete": r.incomplete,
        "warning": r.warning,
        "tracker_id": r.tracker_id,
        "peers": r.peers.iter().map(format_peer).collect::<Vec<_>>(),
    })
}

fn error_json(e: &TrackerError) -> Value {
    json!({ "tracker": e.url, "ok": false, "error": e.kind.to_string() })
}

fn opt(v: Option<u32>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "?".into())
}

fn report_announce(url: &str, r: &AnnounceResponse) {
    let mut line = format!(
        "{url}: {} peers, {} seeders, {} leechers, interval {}s",
        r.peers.len(),
        opt(r.complete),
        opt(r.incomplete),
        r.interval
    );
    if let Some(mi) = r.min_interval {
        line.push_str(&format!(", min interval {mi}s"));
    }
    cli_support::note(line);
    if let Some(w) = &r.warning {
        cli_support::note(format_args!("{url}: warning: {w}"));
    }
}

fn announce(a: &AnnounceArgs) -> ExitCode {
    let p = match plan(&a.common) {
        Ok(p) => p,
        Err(e) => return usage_error(e),
    };
    let req = AnnounceRequest {
        left: a.left.unwrap_or(p.total_length.unwrap_or(1)),
        event: a.event,
        numwant: Some(a.numwant),
        ..AnnounceRequest::new(p.info_hash, torrent_core::peer_id::generate(), a.port)
    };
    let json = a.common.json;
    let mut answers: Vec<(String, AnnounceResponse)> = Vec::new();
    if a.common.all {
        let urls: Vec<String> = p.tiers.concat();
        for (url, r) in for_all(&urls, |u| client::announce(u, &req, &p.opts)) {
            match r {
                Ok(resp) => {
                    if json {
                        out(&announce_json(&url, &resp).to_string());
                    }
                    report_announce(&url, &resp);
                    answers.push((url, resp));
                }
                Err(e) => {
                    if json {
                        out(&error_json(&e).to_string());
                    }
                    cli_support::note(&e);
                }
            }
        }
    } else {
        let mut tiers = p.tiers.clone();
        let (failures, answer) = match client::announce_tiers(&mut tiers, &req, &p.opts) {
            Ok(t) => (t.failures, Some((t.url, t.response))),
            Err(e) => (e.failures, None),
        };
        for e in &failures {
            if json {
                out(&error_json(e).to_string());
            }
            cli_support::note(&e);
        }
        if let Some((url, resp)) = answer {
            if json {
                out(&announce_json(&url, &resp).to_string());
            }
            report_announce(&url, &resp);
            answers.push((url, resp));
        }
    }
    if a.event == Event::None {
        // A query, not a registration: trackers add every announcing peer
        // (also without an event), so tell each one that answered that we
        // stopped; otherwise it hands our port to everyone after us.
        let stop = AnnounceRequest {
            event: Event::Stopped,
            numwant: Some(0),
            ..req.clone()
        };
        let urls: Vec<String> = answers.iter().map(|(u, _)| u.clone()).collect();
        for (url, r) in for_all(&urls, |u| client::announce(u, &stop, &p.opts)) {
            if let Err(e) = r {
                cli_support::warning(format_args!("{url}: could not unregister (event=stopped): {}", e.kind));
            }
        }
    }
    if !json {
        let mut seen: HashSet<SocketAddr> = HashSet::new();
        for (_, r) in &answers {
            for peer in &r.peers {
                if seen.insert(*peer) {
                    out(&format_peer(peer));
                }
            }
        }
    }
    if answers.is_empty() {
        cli_support::error("no tracker answered");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn scrape(c: &Common) -> ExitCode {
    let p = match plan(c) {
        Ok(p) => p,
        Err(e) => return usage_error(e),
    };
    let h = p.info_hash;
    let query = |u: &str| -> Result<ScrapeStats, TrackerError> {
        let r = client::scrape(u, &[h], &p.opts)?;
        // A tracker leaves out the torrents it does not know: nobody
        // seeds, leeches or has completed them.
        Ok(r.get(&h).unwrap_or_default())
    };
    let results: Vec<(String, Result<ScrapeStats, TrackerError>)> = if c.all {
        for_all(&p.tiers.concat(), query)
    } else {
        // BEP 12 order, stop at the first answer.
        let mut v = Vec::new();
        'tiers: for tier in &p.tiers {
            for u in tier {
                let r = query(u);
                let ok = r.is_ok();
                v.push((u.clone(), r));
                if ok {
                    break 'tiers;
                }
            }
        }
        v
    };
    let mut any = false;
    for (url, r) in results {
        match r {
            Ok(s) => {
                any = true;
                if c.json {
                    out(&json!({
                        "tracker": url,
                        "ok": true,
                        "info_hash": h.to_hex(),
                        "complete": s.complete,
                        "incomplete": s.incomplete,
                        "downloaded": s.downloaded,
                    })
                    .to_string());
                } else {
                    out(&format!(
                        "{} {} {} {url}",
                        s.complete, s.incomplete, s.downloaded
                    ));
                }
                eprintln!(
                    "{url}: {} seeders, {} leechers, {} completed",
                    s.complete, s.incomplete, s.downloaded
                );
            }
            Err(e) => {
                if c.json {
                    out(&error_json(&e).to_string());
                }
                cli_support::note(&e);
            }
        }
    }
    if any {
        ExitCode::SUCCESS
    } else {
        cli_support::error("no tracker answered");
        ExitCode::from(1)
    }
}

fn main() -> ExitCode {
    let cli: Cli = cli_support::parse();
    match &cli.cmd {
        Cmd::Announce(a) => announce(a),
        Cmd::Scrape(c) => scrape(c),
        Cmd::Dht(a) => dht_cmd::run(a),
    }
}
