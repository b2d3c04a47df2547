//! `torrent-get remote`: the command-line client of a running daemon
//! ([`crate::control::client::Client`], address and token from the state
//! directory). Torrents are named by info-hash, an unambiguous prefix of
//! one, or their name. Data on stdout, messages on stderr.

use crate::control::client::Client;
use crate::control::{self, AddRequest, Limits, SeedLimit, SeedLimitMode, SeedLimitsRequest, TorrentStatus};
use crate::progress::{human_bytes, human_rate};
use clap::{Parser, Subcommand};
use cli_support::Fail;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

const HELP: &str = "\
Torrents are named by info-hash, an unambiguous prefix of one (4 hex digits
or more), or their exact name.

Output (stdout):
  add:            the info-hash of each torrent, one a line
  list:           a table; with --json one object per line (info_hash, name,
                  state, progress 0-1, downloaded, uploaded, peers, rates, eta_secs,
                  ratio, save_dir, error, stalled, ...). States: metadata, checking,
                  downloading, seeding, paused, done, failed
  show:           one torrent with peers, trackers, files, diagnosis (--json: one object)
  pause, resume, select: <info-hash> TAB <state> for each torrent
  remove:         the info-hash of each removed torrent
  limits:         download TAB upload (bytes per second, 0: none); with a
                  TORRENT: info-hash TAB seed ratio TAB seed time (seconds) in force,
                  each `-` when the daemon's default is none, `unlimited` when the
                  torrent's own is none
  watch:          the daemon's events, one JSON object per line, as they happen
  stream:         the file's bytes (verified ones only, in order, as they arrive);
                  exit 1 if the stream ends before the file does (torrent removed
                  or paused); a closed stdout (`| head -c N`) ends it quietly with 0

Seeding limits: --seed-ratio/--seed-time take a number, `default` (follow the
daemon's --seed-ratio/--seed-time) or `unlimited` (seed without that limit
whatever the daemon's default). A torrent done because it reached its limit
seeds again (and announces to its trackers) when its new limit is not reached;
a seeding torrent past its new limit is done at once. The seeding time counts
time spent seeding since the daemon started, not while done or paused.

The control API underneath: JSON over HTTP on loopback, `Authorization:
Bearer TOKEN` on every request; the daemon writes its address to STATE/api
and the token to STATE/token. GET /v1/torrents, GET /v1/torrents/HASH,
POST /v1/torrents {\"source\": \"magnet:...\"} or {\"torrent_base64\": \"...\"}
(with \"save_dir\", \"paused\", \"select\"), POST /v1/torrents/HASH/pause,
/resume, /remove {\"delete_data\": true}, /select {\"select\": \"1,3\"},
/limits {\"seed_ratio\": R, \"seed_time\": SECS} (null: the daemon's default;
\"unlimited\": none whatever the default; also in the add request),
GET|POST /v1/limits {\"download\": N, \"upload\": N}, GET /v1/events (NDJSON),
POST /v1/torrents/HASH/files/N/stream?offset=BYTES (or /v1/torrents/HASH/stream
for a single-file torrent): the file's bytes, chunked, with the file's length
in X-Torrent-Get-File-Length.

Exit codes:
  0  success
  1  the daemon refused or failed the request (no such torrent, bad selection)
  2  usage error, no daemon running, or output that cannot be written";

#[derive(Parser, Debug)]
#[command(name = "torrent-get remote", version, about = "Control a running torrent-get daemon", after_help = HELP)]
pub struct RemoteArgs {
    /// State directory of the daemon (default: as `torrent-get daemon`)
    #[arg(long, value_name = "DIR", env = "TORRENT_GET_STATE", global = true)]
    state: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Add torrents: .torrent files (- for stdin), http(s) URLs, magnet links, info-hashes
    Add {
        #[arg(required = true)]
        sources: Vec<String>,
        /// Download directory (default: the daemon's)
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
        /// Add without starting
        #[arg(long)]
        paused: bool,
        /// Files to download: 1,3-5, names or globs (numbers only for a magnet link)
        #[arg(long, value_name = "LIST")]
        select: Option<String>,
        /// Stop seeding at this upload ratio (`unlimited`: never; default: the daemon's --seed-ratio)
        #[arg(long, value_name = "RATIO", value_parser = ratio_setting)]
        seed_ratio: Option<SeedLimit<f64>>,
        /// Stop seeding after this many seconds (`unlimited`: never; default: the daemon's --seed-time)
        #[arg(long, value_name = "SECS", value_parser = time_setting)]
        seed_time: Option<SeedLimit<u64>>,
    },
    /// List the torrents
    List {
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// One torrent in detail: peers, trackers, files, why it is not finishing
    Show {
        torrent: String,
        #[arg(long)]
        json: bool,
    },
    /// Pause torrents (connections closed, state kept)
    Pause {
        #[arg(required = true)]
        torrents: Vec<String>,
    },
    /// Resume paused torrents
    Resume {
        #[arg(required = true)]
        torrents: Vec<String>,
    },
    /// Remove torrents from the session (the data stays unless --delete-data)
    Remove {
        #[arg(required = true)]
        torrents: Vec<String>,
        /// Also delete the downloaded files
        #[arg(long)]
        delete_data: bool,
    },
    /// Change which files of a torrent are downloaded
    Select {
        torrent: String,
        /// 1,3-5, names or globs
        #[arg(required_unless_present = "all")]
        list: Option<String>,
        /// Every file
        #[arg(long, conflicts_with = "list")]
        all: bool,
    },
    /// Show or set the rate limits (K/M/G = KiB/MiB/GiB per second; 0: none),
    /// or a torrent's seeding limits
    Limits {
        /// Show or set this torrent's seeding limits (--seed-ratio, --seed-time)
        torrent: Option<String>,
        /// The daemon's download rate limit
        #[arg(long, value_name = "RATE", value_parser = crate::args::parse_rate, conflicts_with = "torrent")]
        download: Option<u64>,
        /// The daemon's upload rate limit
        #[arg(long, value_name = "RATE", value_parser = crate::args::parse_rate, conflicts_with = "torrent")]
        upload: Option<u64>,
        /// The torrent stops seeding at this upload ratio (`default`: the daemon's; `unlimited`: never)
        #[arg(long, value_name = "RATIO", requires = "torrent", value_parser = ratio_setting)]
        seed_ratio: Option<SeedLimit<f64>>,
        /// The torrent stops seeding after this many seconds (`default`: the daemon's; `unlimited`: never)
        #[arg(long, value_name = "SECS", requires = "torrent", value_parser = time_setting)]
        seed_time: Option<SeedLimit<u64>>,
    },
    /// Print the daemon's events (NDJSON) as they happen, until interrupted
    Watch,
    /// Write one file's bytes to stdout in order, each once its piece is verified, as it downloads
    Stream {
        torrent: String,
        /// The file: its number (as `show` lists them) or its path or name (default: the only file)
        #[arg(long, value_name = "N|NAME")]
        file: Option<String>,
        /// Start at this byte of the file
        #[arg(long, value_name = "BYTES", default_value_t = 0)]
        offset: u64,
    },
}

/// A seeding limit as `remote add|limits` take it: a number, `default`
/// (follow the daemon's) or `unlimited`.
fn ratio_setting(s: &str) -> Result<SeedLimit<f64>, String> {
    SeedLimit::parse(s, crate::args::parse_ratio).map_err(|e| format!("{e}, `unlimited` or `default`"))
}

fn time_setting(s: &str) -> Result<SeedLimit<u64>, String> {
    SeedLimit::parse(s, |s| s.parse::<u64>().map_err(|_| format!("{s:?} is not a number of seconds, `unlimited` or `default`")))
}

/// A limit in force for `remote limits`: the value, `unlimited` (the
/// torrent's own "no limit"), `-` (none by default).
fn limit_word<T: ToString>(v: Option<T>, mode: SeedLimitMode) -> String {
    match (v, mode) {
        (_, SeedLimitMode::Unlimited) => control::seed_limit::UNLIMITED.to_string(),
        (Some(v), _) => v.to_string(),
        (None, _) => "-".to_string(),
    }
}

/// `HASH TAB RATIO TAB SECS` (see [`limit_word`]).
fn seed_line(s: &TorrentStatus) -> String {
    format!("{}\t{}\t{}", s.info_hash, limit_word(s.seed_ratio, s.seed_ratio_mode), limit_word(s.seed_time, s.seed_time_mode))
}

/// `show`'s words for a limit in force and whose it is.
fn limit_text(v: Option<String>, mode: SeedLimitMode) -> String {
    match (v, mode) {
        (_, SeedLimitMode::Unlimited) => "unlimited (its own)".to_string(),
        (Some(v), SeedLimitMode::Own) => format!("{v} (its own)"),
        (Some(v), SeedLimitMode::Default) => format!("{v} (the daemon's)"),
        (None, _) => "none".to_string(),
    }
}

pub fn main(args: &[OsString]) -> std::process::ExitCode {
    let a: RemoteArgs = cli_support::parse_from(args.iter().cloned());
    cli_support::finish(run(a))
}

/// The daemon refused: exit 1 with its words.
fn refused(e: anyhow::Error) -> Fail {
    Fail::failed(format!("{e:#}"))
}

fn run(a: RemoteArgs) -> Result<u8, Fail> {
    let state = a.state.clone().unwrap_or_else(control::default_state_dir);
    let (addr, token) = control::read_endpoint(&state).map_err(|e| Fail::usage(format!("{e:#}")))?;
    let client = Client::new(&addr, &token);
    // No daemon behind the address (a stale file): a usage-class error.
    let reach = |e: anyhow::Error| {
        let msg = format!("{e:#}");
        if msg.contains("cannot reach the daemon") {
            Fail::usage(format!("{msg} (is `torrent-get daemon --state {}` running?)", state.display()))
        } else {
            refused(e)
        }
    };
    match a.cmd {
        Cmd::Add { sources, output, paused, select, seed_ratio, seed_time } => {
            let save_dir = output.map(|o| absolute(&o).display().to_string());
            let mut failed = false;
            for s in sources {
                let mut req = AddRequest {
                    save_dir: save_dir.clone(),
                    paused,
                    select: select.clone(),
                    seed_ratio: seed_ratio.unwrap_or_default(),
                    seed_time: seed_time.unwrap_or_default(),
                    ..Default::default()
                };
                let path = std::path::Path::new(&s);
                if s == "-" || (path.is_file() && !s.starts_with("magnet:")) {
                    let bytes = read_source(&s).map_err(|e| Fail::usage(format!("{s}: {e}")))?;
                    req.torrent_base64 = Some(data_encoding::BASE64.encode(&bytes));
                } else {
                    req.source = Some(s.clone());
                }
                match client.add(&req) {
                    Ok(added) => {
                        if !added.new {
                            cli_support::note(format_args!("{}: already in the session", added.name));
                        }
                        cli_support::outln(&added.info_hash)?;
                    }
                    Err(e) => {
                        let f = reach(e);
                        if let Fail::Usage(_) = f {
                            return Err(f);
                        }
                        if let Fail::Failed(m) = &f {
                            cli_support::error(format_args!("{s}: {m}"));
                        }
                        failed = true;
                    }
                }
            }
            Ok(if failed { 1 } else { 0 })
        }
        Cmd::List { json } => {
            let list = client.list().map_err(reach)?;
            if json {
                for t in &list {
                    cli_support::outln(&serde_json::to_string(t).expect("serialises"))?;
                }
            } else {
                cli_support::out(&table(&list))?;
            }
            Ok(0)
        }
        Cmd::Show { torrent, json } => {
            let list = client.list().map_err(reach)?;
            let hash = resolve(&list, &torrent)?;
            let d = client.detail(&hash).map_err(reach)?;
            if json {
                cli_support::outln(&serde_json::to_string(&d).expect("serialises"))?;
            } else {
                cli_support::out(&show(&d))?;
            }
            Ok(0)
        }
        Cmd::Pause { torrents } | Cmd::Resume { torrents } if torrents.is_empty() => Ok(0),
        Cmd::Pause { torrents } => each(&client, &torrents, |c, h| c.pause(h).map(|s| format!("{}\t{}", s.info_hash, s.state)), reach),
        Cmd::Resume { torrents } => each(&client, &torrents, |c, h| c.resume(h).map(|s| format!("{}\t{}", s.info_hash, s.state)), reach),
        Cmd::Remove { torrents, delete_data } => each(&client, &torrents, |c, h| c.remove(h, delete_data).map(|r| r.info_hash), reach),
        Cmd::Select { torrent, list, all } => {
            let spec = if all { None } else { list };
            each(&client, &[torrent], |c, h| c.select(h, spec.clone()).map(|s| format!("{}\t{}", s.info_hash, s.state)), reach)
        }
        Cmd::Limits { torrent: Some(torrent), seed_ratio, seed_time, .. } => {
            let req = SeedLimitsRequest { seed_ratio, seed_time };
            each(&client, &[torrent], |c, h| c.set_seed_limits(h, &req).map(|s| seed_line(&s)), reach)
        }
        Cmd::Limits { download, upload, .. } => {
            let l = if download.is_none() && upload.is_none() {
                client.get::<Limits>("/v1/limits").map_err(reach)?
            } else {
                let cur = client.get::<Limits>("/v1/limits").map_err(reach)?;
                client
                    .set_limits(Limits { download: download.unwrap_or(cur.download), upload: upload.unwrap_or(cur.upload) })
                    .map_err(reach)?
            };
            cli_support::outln(&format!("{}\t{}", l.download, l.upload))?;
            Ok(0)
        }
        Cmd::Watch => watch(&addr, &token),
        Cmd::Stream { torrent, file, offset } => {
            let list = client.list().map_err(reach)?;
            let hash = resolve(&list, &torrent)?;
            crate::remote_stream::run(&client, &addr, &token, &hash, file.as_deref(), offset).map_err(|f| match f {
                Fail::Failed(m) if m.contains("cannot reach the daemon") => reach(anyhow::anyhow!(m)),
                f => f,
            })
        }
    }
}

fn absolute(p: &std::path::Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|c| c.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

fn read_source(s: &str) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if s == "-" {
        std::io::stdin().lock().take(32 << 20).read_to_end(&mut buf)?;
    } else {
        std::fs::File::open(s)?.take(32 << 20).read_to_end(&mut buf)?;
    }
    Ok(buf)
}

/// Resolve each name, do `f`, print its line; exit 1 if any failed.
fn each(
    client: &Client,
    names: &[String],
    f: impl Fn(&Client, &str) -> anyhow::Result<String>,
    reach: impl Fn(anyhow::Error) -> Fail,
) -> Result<u8, Fail> {
    let list = client.list().map_err(&reach)?;
    let mut failed = false;
    for n in names {
        let hash = match resolve(&list, n) {
            Ok(h) => h,
            Err(Fail::Failed(m)) => {
                cli_support::error(m);
                failed = true;
                continue;
            }
            Err(f) => return Err(f),
        };
        match f(client, &hash) {
            Ok(line) => cli_support::outln(&line)?,
            Err(e) => match reach(e) {
                Fail::Failed(m) => {
                    cli_support::error(format_args!("{n}: {m}"));
                    failed = true;
                }
                other => return Err(other),
            },
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// An info-hash, an unambiguous prefix of one, or a name.
pub fn resolve(list: &[TorrentStatus], name: &str) -> Result<String, Fail> {
    let lower = name.to_ascii_lowercase();
    if let Some(t) = list.iter().find(|t| t.info_hash == lower) {
        return Ok(t.info_hash.clone());
    }
    let by_prefix: Vec<&TorrentStatus> = if lower.len() >= 4 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        list.iter().filter(|t| t.info_hash.starts_with(&lower)).collect()
    } else {
        Vec::new()
    };
    let by_name: Vec<&TorrentStatus> = list.iter().filter(|t| t.name == name).collect();
    let mut found: Vec<&TorrentStatus> = by_prefix;
    for t in by_name {
        if !found.iter().any(|f| f.info_hash == t.info_hash) {
            found.push(t);
        }
    }
    match found.as_slice() {
        [t] => Ok(t.info_hash.clone()),
        [] => Err(Fail::failed(format!("{name}: no such torrent in the session (`torrent-get remote list` shows them)"))),
        many => Err(Fail::failed(format!(
            "{name}: ambiguous, matches {}",
            many.iter().map(|t| format!("{} ({})", t.info_hash, t.name)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn table(list: &[TorrentStatus]) -> String {
    let mut out = format!("{:<10} {:<11} {:>6} {:>10} {:>12} {:>12} {:>5}  {}\n", "HASH", "STATE", "DONE", "SIZE", "DOWN", "UP", "PEERS", "NAME");
    for t in list {
        out.push_str(&format!(
            "{:<10} {:<11} {:>5.1}% {:>10} {:>12} {:>12} {:>5}  {}\n",
            &t.info_hash[..10.min(t.info_hash.len())],
            t.state,
            t.progress * 100.0,
            human_bytes(t.total_bytes),
            human_rate(t.download_rate as f64),
            human_rate(t.upload_rate as f64),
            t.peers,
            t.name
        ));
        if let Some(s) = &t.stalled {
            out.push_str(&format!("{:<10} not finishing: {s}\n", ""));
        }
        if let Some(e) = &t.error {
            out.push_str(&format!("{:<10} error: {e}\n", ""));
        }
    }
    out
}

fn show(d: &control::TorrentDetail) -> String {
    let s = &d.status;
    let mut out = format!(
        "{}\n  info-hash {}\n  state {}, {:.1}% of {}, downloaded {}, uploaded {} (ratio {:.2})\n  {} down, {} up, {} peers ({} connecting, {} known)\n  in {}\n",
        s.name,
        s.info_hash,
        s.state,
        s.progress * 100.0,
        human_bytes(s.total_bytes),
        human_bytes(s.downloaded),
        human_bytes(s.uploaded),
        s.ratio,
        human_rate(s.download_rate as f64),
        human_rate(s.upload_rate as f64),
        s.peers,
        s.connecting,
        s.known,
        s.save_dir
    );
    let own = s.seed_ratio_mode != SeedLimitMode::Default || s.seed_time_mode != SeedLimitMode::Default;
    if own || s.seed_ratio.is_some() || s.seed_time.is_some() {
        let ratio = limit_text(s.seed_ratio.map(|r| r.to_string()), s.seed_ratio_mode);
        let time = limit_text(s.seed_time.map(|t| format!("{t} s")), s.seed_time_mode);
        out.push_str(&format!("  seeding limits: ratio {ratio}, time {time}\n"));
    }
    for line in &d.diagnosis {
        out.push_str(&format!("  not finishing: {line}\n"));
    }
    for p in &d.peers_detail {
        let flags = format!(
            "{}{}{}{}",
            if p.am_interested { "i" } else { "-" },
            if p.peer_choking { "C" } else { "-" },
            if p.peer_interested { "I" } else { "-" },
            if p.am_choking { "c" } else { "-" }
        );
        out.push_str(&format!(
            "  peer {} {} {}{} {} {} down {} up {:.0}%\n",
            p.addr,
            if p.client.is_empty() { "?" } else { &p.client },
            p.transport,
            if p.encrypted { "+rc4" } else { "" },
            flags,
            human_rate(p.download_rate as f64),
            human_rate(p.upload_rate as f64),
            p.progress * 100.0
        ));
    }
    for t in &d.trackers {
        let err = t.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
        out.push_str(&format!("  tracker {} {}{err}{}\n", t.url, t.state_name(), t.counts()));
    }
    for f in &d.files {
        out.push_str(&format!("  file {} {} {} {:.0}%{}\n", f.index, f.path, human_bytes(f.length), f.progress * 100.0, if f.selected { "" } else { " (not selected)" }));
    }
    out
}

/// `GET /v1/events`, copied line by line to stdout.
fn watch(addr: &str, token: &str) -> Result<u8, Fail> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let resp = agent
        .get(&format!("http://{addr}/v1/events"))
        .header(control::AUTH_HEADER, &format!("Bearer {token}"))
        .call()
        .map_err(|e| Fail::usage(format!("cannot reach the daemon at {addr}: {e}")))?;
    if !resp.status().is_success() {
        return Err(Fail::failed(format!("events: HTTP {}", resp.status().as_u16())));
    }
    let mut body = resp.into_body();
    let reader = BufReader::new(body.as_reader());
    for line in reader.lines() {
        match line {
            Ok(l) if l.trim().is_empty() => {}
            Ok(l) => cli_support::outln(&l)?,
            Err(e) => return Err(Fail::failed(format!("the event stream ended: {e}"))),
        }
    }
    Ok(0)
}
