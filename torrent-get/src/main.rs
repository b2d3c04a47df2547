//! torrent-get: download (and seed) torrents and magnet links from the shell.

use clap::Parser;
use cli_support::Fail;
use torrent_get::engine::{Config, Job, Outcome};
use torrent_get::event_loop::EventLoop;
use torrent_get::{demo, dht};
use std::collections::HashSet;
use std::net::SocketAddr;
use torrent_get::args::{parse_number_select, parse_peer, parse_rate};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use torrent_core::source::Source;

const EXIT_HELP: &str = "\
Sources: a .torrent file (- for stdin), an http(s):// URL of a .torrent, a
magnet link, or an info-hash (40 hex or 32 base32 characters).

Files (--select): numbered from 1 as `torrent-info` lists them (padding files
have no number); by number or range (1,3-5), path or name (dir/b.bin, b.bin)
or glob (*.iso). With a magnet link, numbers only (names need the file list).

Output:
  stdout: one line per torrent at the end: <info-hash> TAB <done|incomplete|failed> TAB <path>
          (with --json: one JSON object per line: added, metadata, checked, announce,
          tracker_error, peer_error, progress (every second), error, done/stopped events)
  stderr: progress bars on a terminal, else a status line every --status-interval
          seconds; messages and a summary per torrent; with -q errors only.
  Sizes and rates are binary: KiB, MiB, GiB (1 MiB = 1048576 bytes).

Resume: run the same command again. Verified pieces are recorded in
DIR/.torrent-get/<info-hash>.resume (every 5 s while downloading, and at the end); after a
clean stop, files changed since are re-checked; after a crash the record is used as it is.
With --seed-only and a read-only DIR: in ~/.cache/torrent-get/resume/ instead.

Environment: TORRENT_GET_OUTPUT (-o), TORRENT_GET_LISTEN (--listen),
TORRENT_GET_MAX_DOWNLOAD_RATE, TORRENT_GET_MAX_UPLOAD_RATE, TORRENT_GET_NO_DHT=1.

Exit codes:
  0  every torrent is complete
  1  stopped (Ctrl-C, --timeout) before completion; run again to resume
  2  usage or input error (bad torrent, magnet, option, download directory
     that cannot be created or written, --seed-only without the data, a
     magnet whose metadata matches its info-hash but is invalid)
  3  a torrent failed while running (disk full, write error); verified
     pieces are kept: free space and run again to resume
A closed standard output (`| head`) ends the program quietly with 0.
Shell completions: `torrent-get completions bash|zsh|fish`; man page: `torrent-get man [--dir DIR]`
(--dir: also torrent-get-daemon.1, torrent-get-remote.1 and one per remote command, torrent-get-top.1).

Client mode: `torrent-get daemon` keeps a session of torrents (added, paused,
resumed, removed while it runs, remembered across restarts) behind a control
API on loopback; `torrent-get remote` drives it and `torrent-get top` shows it
live (`torrent-get daemon --help`, `torrent-get remote --help`, `torrent-get top --help`).";

#[derive(Parser, Debug)]
#[command(name = "torrent-get", version, about = "Download torrents and magnet links with one event loop over many peers", after_help = EXIT_HELP, arg_required_else_help = true)]
struct Cli {
    /// .torrent files or http(s) URLs of them, magnet links or info-hashes
    #[arg(required_unless_present = "demo")]
    sources: Vec<String>,
    /// Download directory
    #[arg(short, long, default_value = ".", env = "TORRENT_GET_OUTPUT")]
    output: PathBuf,
    /// A peer to connect to (repeatable), e.g. 127.0.0.1:6881 or host.lan:6881
    #[arg(long = "peer", value_name = "HOST:PORT", value_parser = parse_peer)]
    peers: Vec<SocketAddr>,
    /// Most connections per torrent
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Most connections with one IP address (0: no limit). Default: 8, and
    /// no limit for loopback addresses (local swarms share 127.0.0.1)
    #[arg(long, value_name = "N")]
    max_peers_per_ip: Option<usize>,
    /// Address to accept incoming peers on (port 0: any free port). Default:
    /// [::]:6881 (IPv6 and IPv4), else 0.0.0.0:6881, else any free port
    #[arg(long, value_name = "IP:PORT", env = "TORRENT_GET_LISTEN")]
    listen: Option<SocketAddr>,
    /// Do not accept incoming connections
    #[arg(long)]
    no_listen: bool,
    /// Keep seeding after the download completes (until Ctrl-C or a limit)
    #[arg(long)]
    seed: bool,
    /// Stop seeding at this upload ratio (implies --seed)
    #[arg(long)]
    seed_ratio: Option<f64>,
    /// Stop seeding after this many seconds (implies --seed)
    #[arg(long, value_name = "SECS")]
    seed_time: Option<u64>,
    /// Only seed data already on disk (after verifying it); never download
    #[arg(long)]
    seed_only: bool,
    /// Files to download, numbered as `torrent-info` lists them: 1,3-5,
    /// names or globs (*.iso)
    #[arg(long, alias = "only", value_name = "LIST")]
    select: Option<String>,
    /// Download rate limit per second: bytes, or K/M/G = KiB/MiB/GiB (5M =
    /// 5 MiB/s); 0: none
    #[arg(long, value_parser = parse_rate, default_value = "0", env = "TORRENT_GET_MAX_DOWNLOAD_RATE")]
    max_download_rate: u64,
    /// Upload rate limit per second: bytes, or K/M/G = KiB/MiB/GiB; 0: none
    #[arg(long, value_parser = parse_rate, default_value = "0", env = "TORRENT_GET_MAX_UPLOAD_RATE")]
    max_upload_rate: u64,
    /// Upload slots (peers unchoked by tit-for-tat, plus one optimistic): at least this many; more open
    /// while every unchoked peer takes a good rate (upload bandwidth to spare)
    #[arg(long, default_value_t = 4)]
    upload_slots: usize,
    /// Exactly --upload-slots upload slots, never more
    #[arg(long)]
    fixed_upload_slots: bool,
    /// Give up after this many seconds (exit 1; progress is kept)
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Timeout for one tracker request, seconds
    #[arg(long, default_value_t = 15, value_name = "SECS")]
    tracker_timeout: u64,
    /// Do not exchange peers with peers (BEP 11 PEX; never used for private torrents)
    #[arg(long)]
    no_pex: bool,
    /// Do not use the DHT (BEP 5; never used for private torrents)
    #[arg(long, env = "TORRENT_GET_NO_DHT", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0, default_missing_value = "true", default_value = "false")]
    no_dht: bool,
    /// DHT bootstrap node (repeatable); default: the well-known public routers
    #[arg(long, value_name = "HOST:PORT")]
    dht_bootstrap: Vec<String>,
    /// Add an HTTP(S) web seed (BEP 19 mirror) to every torrent (repeatable)
    #[arg(long = "web-seed", value_name = "URL")]
    web_seed: Vec<String>,
    /// Ignore web seeds (the torrent's url-list, magnet ws=, --web-seed)
    #[arg(long)]
    no_web_seeds: bool,
    /// File that keeps the DHT node table between runs
    /// (default: ~/.cache/torrent-get/dht.dat)
    #[arg(long, value_name = "FILE")]
    dht_state: Option<PathBuf>,
    /// JSON events on stdout, one per line
    #[arg(long)]
    json: bool,
    /// Quiet: print errors only (and the stdout result lines)
    #[arg(short, long)]
    quiet: bool,
    /// Without a terminal: print a status line every SECS seconds (0: never)
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    status_interval: u64,
    /// Hash all data on disk first, ignoring the resume file (e.g. after a
    /// power failure or files changed by hand)
    #[arg(long)]
    recheck: bool,
    /// MSE/PE encryption: prefer (dial encrypted, fall back to plaintext,
    /// accept both), require (RC4 only, both ways) or off (plaintext only)
    #[arg(long, alias = "encryption", value_name = "POLICY", default_value = "prefer")]
    encrypt: torrent_core::mse::Policy,
    /// Transports to dial and accept: both (uTP, BEP 29, on a UDP socket on
    /// the listen port, dialled first; TCP too if uTP is not up within
    /// 250 ms, the first up is kept), tcp or utp (only that one)
    #[arg(long, value_name = "KIND", default_value = "both")]
    transport: torrent_get::engine::Transports,
    /// TCP only: no uTP, no UDP socket for it (the same as --transport tcp)
    #[arg(long, conflicts_with = "transport")]
    no_utp: bool,
    /// Log every peer connection and why it ended (stderr)
    #[arg(short, long)]
    verbose: bool,
    /// Start an embedded local swarm (tracker + seeders + generated payload)
    /// and download from it: a demo that needs no setup
    #[arg(long)]
    demo: bool,
    /// Payload size for --demo, bytes (K/M/G = KiB/MiB/GiB)
    #[arg(long, value_parser = parse_rate, default_value = "64M")]
    demo_size: u64,
    /// Keep the --demo payload and download in the temporary directory
    #[arg(long, requires = "demo")]
    keep: bool,
    /// Write one file's bytes to stdout, in order, as soon as they are
    /// verified (stream to a player or a pipe); messages stay on stderr
    #[arg(long, conflicts_with_all = ["json", "select", "demo"])]
    stdout: bool,
    /// With --stdout: the file to stream, by number (1-based, as listed by
    /// `torrent-info`) or by path/name; needed when the torrent has several
    #[arg(long, value_name = "N|NAME", requires = "stdout")]
    file: Option<String>,
    /// With --stdout: keep nothing on disk, only a bounded buffer (no resume,
    /// no seeding)
    #[arg(long, requires = "stdout", conflicts_with_all = ["seed", "seed_only", "seed_ratio", "seed_time"])]
    no_save: bool,
    /// With --stdout: bytes of pieces buffered ahead of the stream plus
    /// bytes waiting for stdout (suffixes K, M, G)
    #[arg(long, value_parser = parse_rate, default_value = "16M", value_name = "SIZE")]
    stream_buffer: u64,
}

fn main() -> std::process::ExitCode {
    // Subcommands with options of their own (torrent_get::daemon,
    // torrent_get::remote, torrent_get::top); anything else is a source.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match args.get(1).and_then(|a| a.to_str()) {
        Some("daemon") => return torrent_get::daemon::main(&args[1..]),
        Some("remote") => return torrent_get::remote::main(&args[1..]),
        Some("top") => return torrent_get::top::main(&args[1..]),
        _ => {}
    }
    let cli: Cli = cli_support::parse_from_with_meta(args, full_command());
    cli_support::finish(run(cli))
}

/// `torrent-get` with the subcommands `main` dispatches by hand, for
/// `torrent-get completions` and `torrent-get man` (one page each with
/// `--dir`: torrent-get-daemon.1, torrent-get-remote-add.1, ...).
fn full_command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
        .subcommand(torrent_get::daemon::DaemonArgs::command().name("daemon").bin_name("torrent-get daemon"))
        .subcommand(torrent_get::remote::RemoteArgs::command().name("remote").bin_name("torrent-get remote"))
        .subcommand(torrent_get::top::command().name("top").bin_name("torrent-get top"))
}

fn run(mut cli: Cli) -> Result<u8, Fail> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| Fail::usage(format!("signal handler: {e}")))?;
    }

    let mut demo_swarm = None;
    if cli.demo {
        let swarm = demo::start(&cli.output, cli.demo_size, cli.quiet, cli.keep).map_err(|e| Fail::usage(format!("demo: {e:#}")))?;
        cli.sources = vec![swarm.torrent_path.display().to_string()];
        cli.output = swarm.download_dir.clone();
        cli.listen = Some("127.0.0.1:0".parse().expect("valid address"));
        demo_swarm = Some(swarm);
    }

    let (stream_spec, no_save_dir) = stream_setup(&mut cli).map_err(|e| Fail::usage(format!("{e:#}")))?;
    let mut jobs = Vec::new();
    let mut seen = HashSet::new();
    for s in &cli.sources {
        let source = torrent_core::load::load(s).map_err(Fail::usage)?;
        let hash = match &source {
            Source::Torrent(m) => m.info_hash,
            Source::Magnet(m) => m.info_hash,
        };
        if !seen.insert(hash) {
            if !cli.quiet {
                cli_support::warning(format_args!("{s}: info-hash {} was given before; downloading it once", hash.to_hex()));
            }
            continue;
        }
        match source {
            Source::Torrent(meta) => {
                if !cli.quiet {
                    for w in meta.info.path_change_warnings() {
                        cli_support::warning(format_args!("{s}: {w}"));
                    }
                }
                let select = match &cli.select {
                    Some(spec) => Some(
                        torrent_core::select::select(&meta.info, spec).map_err(|e| Fail::usage(format!("--select: {s}: {e}")))?,
                    ),
                    None => None,
                };
                jobs.push(Job::Torrent { meta, select });
            }
            Source::Magnet(m) => {
                if m.trackers.is_empty() && m.peers.is_empty() && cli.peers.is_empty() && (cli.no_dht || cli.demo) {
                    return Err(Fail::usage(format!("{s}: no trackers, no peers and no DHT to ask (add --peer HOST:PORT)")));
                }
                let select = cli.select.as_deref().map(parse_number_select).transpose().map_err(Fail::usage)?;
                jobs.push(Job::Magnet { magnet: m, select });
            }
        }
    }
    if cli.seed_only {
        for job in &jobs {
            if let Job::Torrent { meta, .. } = job {
                torrent_get::seed_check::check(meta, &cli.output).map_err(Fail::usage)?;
            }
        }
    }
    std::fs::create_dir_all(&cli.output)
        .map_err(|e| Fail::usage(format!("{}: cannot create the download directory: {e}", cli.output.display())))?;
    let mut state_dir = None;
    if let Err(e) = check_writable(&cli.output) {
        // Seeding needs no writes to the data: keep the resume data in the
        // user's cache directory instead.
        let state = cli.seed_only.then(torrent_get::resume::cache_state_dir).flatten();
        let Some(state) = state else { return Err(Fail::usage(format!("{e:#}"))) };
        std::fs::create_dir_all(&state).map_err(|e2| Fail::usage(format!("{e:#}; and {}: {e2}", state.display())))?;
        if !cli.quiet {
            cli_support::note(format_args!(
                "{} is not writable: resume data kept in {}",
                cli.output.display(),
                state.display()
            ));
        }
        torrent_get::resume::set_state_dir(state.clone());
        state_dir = Some(state);
    }
    // One run per torrent and directory (they would share the resume file).
    let mut _locks = Vec::new();
    for job in &jobs {
        let (hash, name) = match job {
            Job::Torrent { meta, .. } => (meta.info_hash, meta.info.name.clone()),
            Job::Magnet { magnet, .. } => (magnet.info_hash, magnet.display_name.clone().unwrap_or_else(|| magnet.info_hash.to_hex())),
        };
        let path = torrent_get::lock::lock_path(&cli.output, state_dir.as_deref(), &hash);
        _locks.push(torrent_get::lock::acquire(&path).map_err(|e| Fail::usage(format!("{name}: {e}")))?);
    }

    let listen: Vec<SocketAddr> = match (cli.no_listen, cli.listen) {
        (true, _) => Vec::new(),
        (false, Some(a)) => vec![a],
        (false, None) => ["[::]:6881", "0.0.0.0:6881", "[::]:0", "0.0.0.0:0"]
            .iter()
            .map(|a| a.parse().expect("valid address"))
            .collect(),
    };
    let seed = cli.seed || cli.seed_only || cli.seed_ratio.is_some() || cli.seed_time.is_some();
    let cfg = Config {
        out_dir: cli.output.clone(),
        max_peers: cli.max_peers.max(1),
        max_per_ip: cli.max_peers_per_ip,
        max_connections: usize::MAX,
        resume_every: torrent_get::engine::lifecycle::RESUME_EVERY,
        listen,
        extra_peers: cli.peers.clone(),
        seed,
        seed_only: cli.seed_only,
        seed_ratio: cli.seed_ratio,
        seed_time: cli.seed_time.map(Duration::from_secs),
        timeout: cli.timeout.map(Duration::from_secs),
        max_download_rate: cli.max_download_rate,
        max_upload_rate: cli.max_upload_rate,
        upload_slots: cli.upload_slots.max(1),
        fixed_upload_slots: cli.fixed_upload_slots,
        json: cli.json,
        quiet: cli.quiet,
        tracker_timeout: Duration::from_secs(cli.tracker_timeout.max(1)),
        // Follow the tracker's interval, but never more often than every 5 s.
        announce_interval_min: Duration::from_secs(5),
        pex: !cli.no_pex,
        verbose: cli.verbose,
        recheck: cli.recheck,
        dht: !cli.no_dht && !cli.demo,
        dht_bootstrap: if cli.dht_bootstrap.is_empty() {
            torrent_core::dht::DEFAULT_BOOTSTRAP.iter().map(|s| s.to_string()).collect()
        } else {
            cli.dht_bootstrap.clone()
        },
        dht_state: cli.dht_state.clone().or_else(dht::default_state_path),
        web_seeds: cli.web_seed.clone(),
        no_web_seeds: cli.no_web_seeds,
        encryption: cli.encrypt,
        transports: if cli.no_utp { torrent_get::engine::Transports::Tcp } else { cli.transport },
    };
    torrent_get::progress::set_status_interval(Duration::from_secs(cli.status_interval));
    let mut event_loop = EventLoop::new(cfg, jobs, stop).map_err(|e| Fail::usage(format!("{e:#}")))?;
    if let Some(spec) = stream_spec {
        event_loop.stream(spec).map_err(|e| Fail::usage(format!("{e:#}")))?;
    }
    let outcome = event_loop.run();
    if let Some(dir) = &no_save_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    let code = if event_loop.stream_closed() {
        0 // `| head -c`: the reader had enough
    } else {
        match outcome {
            Outcome::Done => 0,
            Outcome::Partial => 1,
            Outcome::Failed => 3,
            Outcome::Invalid => 2,
        }
    };
    drop(event_loop);
    if let Some(swarm) = demo_swarm {
        swarm.finish();
    }
    Ok(code)
}

/// `--stdout`: what to stream; with `--no-save`, a private scratch
/// directory replaces the download directory (nothing is written in it but
/// state files, and it is removed at the end).
fn stream_setup(cli: &mut Cli) -> anyhow::Result<(Option<torrent_get::engine::stream::StreamSpec>, Option<PathBuf>)> {
    use torrent_get::engine::stream::{FileChoice, StreamSpec};
    if !cli.stdout {
        return Ok((None, None));
    }
    if cli.sources.len() != 1 {
        anyhow::bail!("--stdout streams one torrent: give exactly one source");
    }
    let file = match cli.file.as_deref() {
        None => FileChoice::Only,
        Some(f) => match f.parse::<usize>() {
            Ok(0) => anyhow::bail!("--file 0: files are numbered from 1"),
            Ok(n) => FileChoice::Index(n - 1),
            Err(_) => FileChoice::Name(f.to_string()),
        },
    };
    let mut dir = None;
    if cli.no_save {
        let d = std::env::temp_dir().join(format!("torrent-get-stream-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        cli.output = d.clone();
        dir = Some(d);
    }
    let buffer = cli.stream_buffer.max(256 * 1024);
    Ok((Some(StreamSpec { file, no_save: cli.no_save, buffer }), dir))
}

/// Fail early, with a clear message, on a read-only download directory.
fn check_writable(dir: &std::path::Path) -> anyhow::Result<()> {
    let probe = dir.join(format!(".torrent-get-probe-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => anyhow::bail!("{}: download directory is not writable: {e}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_and_rates() {
        assert_eq!(parse_number_select("1,3-5").unwrap(), vec![0, 2, 3, 4]);
        assert!(parse_number_select("0").is_err());
        assert!(parse_number_select("3-1").is_err());
        assert!(parse_number_select("*.iso").unwrap_err().contains("magnet"));
        assert_eq!(parse_rate("5MiB").unwrap(), 5 << 20);
        assert_eq!(parse_rate("1.5K").unwrap(), 1536);
        assert_eq!(parse_rate("500KiB/s").unwrap(), 500 << 10);
        assert_eq!(parse_peer("localhost:6881").unwrap().port(), 6881);
        assert!(parse_peer("localhost").is_err());
        assert!(parse_peer("no-such-host.invalid:1").unwrap_err().contains("cannot resolve"));
        assert_eq!(parse_rate("2M").unwrap(), 2 * 1024 * 1024);
        assert_eq!(parse_rate("100").unwrap(), 100);
        assert!(parse_rate("fast").is_err());
    }
}
