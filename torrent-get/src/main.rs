//! torrent-get: download (and seed) torrents and magnet links from the shell.

use clap::Parser;
use torrent_get::engine::{Config, Job, Outcome};
use torrent_get::event_loop::EventLoop;
use torrent_get::{demo, dht};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use torrent_core::source::Source;

const EXIT_HELP: &str = "\
Output:
  stdout: one line per torrent at the end: <info-hash> TAB <done|incomplete|failed> TAB <path>
          (with --json: one JSON object per line: added, metadata, checked, announce,
          progress (every second), error, done/stopped events)
  stderr: progress bars (only on a terminal), messages and a summary per torrent

Resume: run the same command again. Verified pieces are recorded in
DIR/.torrent-get/<info-hash>.resume; if the files changed since, the data is re-checked.

Exit codes:
  0  every torrent is complete
  1  stopped (Ctrl-C, --timeout) before completion; run again to resume
  2  usage or input error (bad torrent, magnet, option, download directory
     that cannot be created or written)
  3  a torrent failed while running (disk full, write error); verified
     pieces are kept: free space and run again to resume";

#[derive(Parser, Debug)]
#[command(name = "torrent-get", version, about = "Download torrents and magnet links with one event loop over many peers", after_help = EXIT_HELP)]
struct Cli {
    /// .torrent files, magnet links or info-hashes (with --peer or trackers)
    #[arg(required_unless_present = "demo")]
    sources: Vec<String>,
    /// Download directory
    #[arg(short, long, default_value = ".")]
    output: PathBuf,
    /// A peer to connect to (repeatable), e.g. 127.0.0.1:6881
    #[arg(long = "peer", value_name = "IP:PORT")]
    peers: Vec<SocketAddr>,
    /// Most connections per torrent
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Address to accept incoming peers on (port 0: any free port). Default:
    /// [::]:6881 (IPv6 and IPv4), else 0.0.0.0:6881, else any free port
    #[arg(long, value_name = "IP:PORT")]
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
    /// Files to download, 1-based as listed by `torrent-info`: e.g. 1,3-5
    #[arg(long, alias = "only", value_name = "LIST")]
    select: Option<String>,
    /// Download rate limit, bytes/s (suffixes K, M, G)
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    max_download_rate: u64,
    /// Upload rate limit, bytes/s (suffixes K, M, G)
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    max_upload_rate: u64,
    /// Upload slots (peers unchoked by tit-for-tat, plus one optimistic)
    #[arg(long, default_value_t = 4)]
    upload_slots: usize,
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
    #[arg(long)]
    no_dht: bool,
    /// DHT bootstrap node (repeatable); default: the well-known public routers
    #[arg(long, value_name = "HOST:PORT")]
    dht_bootstrap: Vec<String>,
    /// File that keeps the DHT node table between runs
    /// (default: ~/.cache/torrent-get/dht.dat)
    #[arg(long, value_name = "FILE")]
    dht_state: Option<PathBuf>,
    /// JSON events on stdout, one per line
    #[arg(long)]
    json: bool,
    /// No progress display
    #[arg(short, long)]
    quiet: bool,
    /// Hash all data on disk first, ignoring the resume file (e.g. after a
    /// power failure or files changed by hand)
    #[arg(long)]
    recheck: bool,
    /// MSE/PE encryption: prefer (dial encrypted, fall back to plaintext,
    /// accept both), require (RC4 only, both ways) or off (plaintext only)
    #[arg(long, alias = "encryption", value_name = "POLICY", default_value = "prefer")]
    encrypt: torrent_core::mse::Policy,
    /// Transports to dial and accept: tcp, utp (BEP 29, on a UDP socket
    /// on the listen port) or both (dial uTP first, fall back to TCP)
    #[arg(long, value_name = "KIND", default_value = "tcp")]
    transport: torrent_get::engine::Transports,
    /// Log every peer connection and why it ended (stderr)
    #[arg(short, long)]
    verbose: bool,
    /// Start an embedded local swarm (tracker + seeders + generated payload)
    /// and download from it: a demo that needs no setup
    #[arg(long)]
    demo: bool,
    /// Payload size for --demo, bytes (suffixes K, M, G)
    #[arg(long, value_parser = parse_rate, default_value = "64M")]
    demo_size: u64,
}

fn parse_rate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        Some('g' | 'G') => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| format!("{s:?} is not a size (examples: 500K, 2M)"))
}

/// Parse "1,3-5" (1-based) into 0-based file indices.
fn parse_select(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: usize = a.trim().parse().map_err(|_| format!("--select: bad number in {part:?}"))?;
        let b: usize = b.trim().parse().map_err(|_| format!("--select: bad number in {part:?}"))?;
        if a == 0 || b < a {
            return Err(format!("--select: bad range {part:?} (files are numbered from 1)"));
        }
        out.extend((a - 1)..b);
    }
    if out.is_empty() {
        return Err("--select: no files given".into());
    }
    Ok(out)
}

fn main() {
    let cli = Cli::parse();
    std::process::exit(match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("torrent-get: {e:#}");
            2
        }
    });
}

fn run(mut cli: Cli) -> anyhow::Result<i32> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;

    let _demo_swarm;
    if cli.demo {
        let swarm = demo::start(&cli.output, cli.demo_size)?;
        cli.sources = vec![swarm.torrent_path.display().to_string()];
        cli.output = swarm.download_dir.clone();
        cli.listen = Some("127.0.0.1:0".parse().expect("valid address"));
        _demo_swarm = Some(swarm);
    }

    let select = cli.select.as_deref().map(parse_select).transpose().map_err(anyhow::Error::msg)?;
    let mut jobs = Vec::new();
    for s in &cli.sources {
        match Source::load(s).map_err(anyhow::Error::msg)? {
            Source::Torrent(meta) => {
                for w in meta.info.path_change_warnings() {
                    eprintln!("torrent-get: warning: {s}: {w}");
                }
                if let Some(sel) = &select {
                    if let Some(bad) = sel.iter().find(|&&i| i >= meta.info.files.len()) {
                        anyhow::bail!("--select {}: {s} has {} files", bad + 1, meta.info.files.len());
                    }
                    if let Some(pad) = sel.iter().find(|&&i| meta.info.files[i].padding) {
                        anyhow::bail!("--select {}: {s}: that file is padding (BEP 47), not data", pad + 1);
                    }
                }
                jobs.push(Job::Torrent { meta, select: select.clone() });
            }
            Source::Magnet(m) => {
                if m.trackers.is_empty() && m.peers.is_empty() && cli.peers.is_empty() && (cli.no_dht || cli.demo) {
                    anyhow::bail!("{s}: no trackers, no peers and no DHT to ask (add --peer IP:PORT)");
                }
                jobs.push(Job::Magnet { magnet: m, select: select.clone() });
            }
        }
    }
    std::fs::create_dir_all(&cli.output)
        .map_err(|e| anyhow::anyhow!("{}: cannot create the download directory: {e}", cli.output.display()))?;
    check_writable(&cli.output)?;

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
        encryption: cli.encrypt,
        transports: cli.transport,
    };
    let mut event_loop = EventLoop::new(cfg, jobs, stop)?;
    Ok(match event_loop.run() {
        Outcome::Done => 0,
        Outcome::Partial => 1,
        Outcome::Failed => 3,
    })
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
        assert_eq!(parse_select("1,3-5").unwrap(), vec![0, 2, 3, 4]);
        assert!(parse_select("0").is_err());
        assert!(parse_select("3-1").is_err());
        assert_eq!(parse_rate("2M").unwrap(), 2 * 1024 * 1024);
        assert_eq!(parse_rate("100").unwrap(), 100);
        assert!(parse_rate("fast").is_err());
    }
}
