//! `torrent-get daemon`: the client controller. One event loop runs the
//! engine with no torrents on the command line; torrents come and go
//! through the control API ([`crate::control`]) and a watch directory, and
//! the session ([`session`]) remembers them across restarts and crashes.
//!
//! - [`server`]: the HTTP side of the API (its own thread), requests to
//!   the loop as [`Call`]s over a channel, woken by the loop's waker;
//! - [`controller`]: the loop side ([`crate::event_loop::Controller`]):
//!   carries out calls with engine commands and queries, keeps the session,
//!   saves resume data periodically, streams events, runs `--on-done`;
//! - [`stream`]: a file's verified bytes to a response as they arrive;
//! - [`session`]: the state directory's torrents, written crash-safely;
//! - [`watch`]: the `--watch` directory poller (its own thread).

pub mod controller;
pub mod server;
pub mod session;
pub mod stream;
pub mod watch;

use crate::args::{parse_peer, parse_rate};
use crate::control::{self, Limits};
use crate::engine::Config;
use crate::event_loop::EventLoop;
use clap::Parser;
use cli_support::Fail;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::Arc;
use std::time::Duration;
use torrent_core::source::Source;
use torrent_core::InfoHash;

const HELP: &str = "\
The state directory (--state, default $XDG_STATE_HOME/torrent-get, else
~/.local/state/torrent-get) holds the session: torrents/<info-hash>.json for
each torrent (and its .torrent), the API address (`api`, written once the
API listens) and the API token (`token`, mode 0600, new at every start).
Verified pieces are recorded next to the data as usual
(DIR/.torrent-get/<info-hash>.resume), every few seconds while
downloading: a daemon killed (even with SIGKILL) and started again goes on
where it was, without hashing the data again.

The control API: JSON over HTTP on loopback, every request with
`Authorization: Bearer TOKEN`; see `torrent-get remote --help`.

--watch DIR: .torrent files and files holding a magnet link (or an
info-hash) put there are added to the default download directory and
renamed NAME.added (NAME.invalid when they cannot be read).
--on-done CMD: run with `sh -c CMD` when a torrent completes, with
TORRENT_GET_INFO_HASH, TORRENT_GET_NAME and TORRENT_GET_PATH set.

Exit codes: 0 stopped by SIGINT/SIGTERM; 2 usage error (bad option, state
directory in use by another daemon, API address not usable).";

#[derive(Parser, Debug)]
#[command(name = "torrent-get daemon", version, about = "Run torrent-get as a daemon: a persistent session of torrents behind a control API on loopback", after_help = HELP)]
pub struct DaemonArgs {
    /// State directory (session, API address and token)
    #[arg(long, value_name = "DIR", env = "TORRENT_GET_STATE")]
    pub state: Option<PathBuf>,
    /// Address of the control API (loopback only; port 0: any free port)
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:0")]
    pub api: SocketAddr,
    /// Default download directory of added torrents
    #[arg(short, long, default_value = ".", env = "TORRENT_GET_OUTPUT")]
    pub output: PathBuf,
    /// Add torrents dropped in this directory (.torrent files, files holding a magnet link)
    #[arg(long, value_name = "DIR")]
    pub watch: Option<PathBuf>,
    /// Run this shell command when a torrent completes (env: TORRENT_GET_INFO_HASH, TORRENT_GET_NAME, TORRENT_GET_PATH)
    #[arg(long, value_name = "CMD")]
    pub on_done: Option<String>,
    /// A peer to connect to for every torrent (repeatable)
    #[arg(long = "peer", value_name = "HOST:PORT", value_parser = parse_peer)]
    pub peers: Vec<SocketAddr>,
    /// Most connections per torrent
    #[arg(long, default_value_t = 50)]
    pub max_peers: usize,
    /// Most connections with one IP address (0: no limit). Default: 8, and
    /// no limit for loopback addresses
    #[arg(long, value_name = "N")]
    pub max_peers_per_ip: Option<usize>,
    /// Address to accept incoming peers on (port 0: any free port). Default:
    /// [::]:6881, else 0.0.0.0:6881, else any free port
    #[arg(long, value_name = "IP:PORT", env = "TORRENT_GET_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Do not accept incoming connections
    #[arg(long)]
    pub no_listen: bool,
    /// Stop seeding a complete torrent at this upload ratio (it becomes
    /// `done`); the default of torrents without a limit of their own
    #[arg(long, value_name = "RATIO", value_parser = crate::args::parse_ratio)]
    pub seed_ratio: Option<f64>,
    /// Stop seeding a complete torrent after this many seconds of seeding
    /// (not while done or paused); the default of torrents without a limit
    /// of their own
    #[arg(long, value_name = "SECS")]
    pub seed_time: Option<u64>,
    /// Download rate limit per second (K/M/G = KiB/MiB/GiB; 0: none)
    #[arg(long, value_parser = parse_rate, default_value = "0", env = "TORRENT_GET_MAX_DOWNLOAD_RATE")]
    pub max_download_rate: u64,
    /// Upload rate limit per second (K/M/G = KiB/MiB/GiB; 0: none)
    #[arg(long, value_parser = parse_rate, default_value = "0", env = "TORRENT_GET_MAX_UPLOAD_RATE")]
    pub max_upload_rate: u64,
    /// Upload slots: at least this many; more open while every unchoked peer takes a good rate
    #[arg(long, default_value_t = 4)]
    pub upload_slots: usize,
    /// Exactly --upload-slots upload slots, never more
    #[arg(long)]
    pub fixed_upload_slots: bool,
    /// Timeout for one tracker request, seconds
    #[arg(long, default_value_t = 15, value_name = "SECS")]
    pub tracker_timeout: u64,
    /// Do not exchange peers with peers (PEX)
    #[arg(long)]
    pub no_pex: bool,
    /// Do not use the DHT
    #[arg(long, env = "TORRENT_GET_NO_DHT", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0, default_missing_value = "true", default_value = "false")]
    pub no_dht: bool,
    /// DHT bootstrap node (repeatable)
    #[arg(long, value_name = "HOST:PORT")]
    pub dht_bootstrap: Vec<String>,
    /// File that keeps the DHT node table (default: STATE/dht.dat)
    #[arg(long, value_name = "FILE")]
    pub dht_state: Option<PathBuf>,
    /// MSE/PE encryption: prefer, require or off
    #[arg(long, alias = "encryption", value_name = "POLICY", default_value = "prefer")]
    pub encrypt: torrent_core::mse::Policy,
    /// Transports: both (uTP dialled first, then TCP), tcp or utp
    #[arg(long, value_name = "KIND", default_value = "both")]
    pub transport: crate::engine::Transports,
    /// TCP only (the same as --transport tcp)
    #[arg(long, conflicts_with = "transport")]
    pub no_utp: bool,
    /// Seconds between periodic saves of verified pieces and totals
    #[arg(long, value_name = "SECS", default_value_t = 5, hide = true)]
    pub save_interval: u64,
    /// Errors only on stderr
    #[arg(short, long)]
    pub quiet: bool,
    /// Log every peer connection and why it ended
    #[arg(short, long)]
    pub verbose: bool,
}

/// A request from the API (or the watch directory) for the loop.
pub struct Call {
    pub op: Op,
    /// Where the answer goes (None: nobody waits).
    pub reply: Option<Sender<Reply>>,
}

pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
}

pub enum Op {
    List,
    Detail(InfoHash),
    Add(Box<AddOp>),
    Pause(InfoHash),
    Resume(InfoHash),
    Remove(InfoHash, bool),
    Select(InfoHash, Option<String>),
    /// A torrent's own seeding limits (fields left out: unchanged).
    SeedLimits(InfoHash, control::SeedLimitsRequest),
    GetLimits,
    SetLimits(Limits),
    /// Events to this channel from now on (None only inside the server).
    Subscribe(Option<SyncSender<String>>),
    /// A file's verified bytes to a response ([`stream`]).
    Stream(stream::StreamOp),
}

/// A torrent to add, its source already loaded.
pub struct AddOp {
    pub source: Source,
    /// The magnet link or info-hash it came as (kept in the session).
    pub magnet: Option<String>,
    pub save_dir: Option<PathBuf>,
    pub paused: bool,
    pub select: Option<String>,
    /// Its own seeding limits.
    pub seed_ratio: crate::control::SeedLimit<f64>,
    pub seed_time: crate::control::SeedLimit<u64>,
}

/// A full 40-hex info-hash.
pub fn parse_hash(s: &str) -> Option<InfoHash> {
    if s.len() != 40 {
        return None;
    }
    let b = data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).ok()?;
    Some(InfoHash(b.try_into().ok()?))
}

pub fn main(args: &[OsString]) -> std::process::ExitCode {
    let a: DaemonArgs = cli_support::parse_from(args.iter().cloned());
    cli_support::finish(run(a))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|c| c.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

/// A private directory (0700) for the state.
fn make_state_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// A fresh random token in `STATE/token`, mode 0600 from the start.
fn write_token(state: &Path) -> std::io::Result<String> {
    use rand::RngCore;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = data_encoding::HEXLOWER.encode(&raw);
    let path = state.join(control::TOKEN_FILE);
    let tmp = state.join(".token.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(token)
}

fn run(a: DaemonArgs) -> Result<u8, Fail> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| Fail::usage(format!("signal handler: {e}")))?;
    }
    let state = absolute(&a.state.clone().unwrap_or_else(control::default_state_dir));
    make_state_dir(&state).map_err(|e| Fail::usage(format!("{}: cannot create the state directory: {e}", state.display())))?;
    // One daemon per state directory.
    let _lock = crate::lock::acquire(&state.join("daemon.lock"))
        .map_err(|e| {
            if e.contains("already working") {
                Fail::usage(format!("another torrent-get daemon uses this state directory ({})", state.display()))
            } else {
                Fail::usage(format!("state directory {}: {e}", state.display()))
            }
        })?;
    let out = absolute(&a.output);
    std::fs::create_dir_all(&out).map_err(|e| Fail::usage(format!("{}: cannot create the download directory: {e}", out.display())))?;
    let session = session::Session::open(&state).map_err(|e| Fail::usage(format!("{}: {e}", state.display())))?;

    let limits = match (a.max_download_rate, a.max_upload_rate, session.load_limits()) {
        (0, 0, Some(l)) => l,
        (d, u, _) => Limits { download: d, upload: u },
    };
    let listen: Vec<SocketAddr> = match (a.no_listen, a.listen) {
        (true, _) => Vec::new(),
        (false, Some(l)) => vec![l],
        (false, None) => ["[::]:6881", "0.0.0.0:6881", "[::]:0", "0.0.0.0:0"].iter().map(|s| s.parse().expect("valid")).collect(),
    };
    let cfg = Config {
        out_dir: out.clone(),
        max_peers: a.max_peers.max(1),
        max_per_ip: a.max_peers_per_ip,
        max_connections: usize::MAX,
        resume_every: Duration::from_secs(a.save_interval.max(1)),
        listen,
        extra_peers: a.peers.clone(),
        seed: true,
        seed_only: false,
        seed_ratio: a.seed_ratio,
        seed_time: a.seed_time.map(Duration::from_secs),
        timeout: None,
        max_download_rate: limits.download,
        max_upload_rate: limits.upload,
        upload_slots: a.upload_slots.max(1),
        fixed_upload_slots: a.fixed_upload_slots,
        json: false,
        quiet: a.quiet,
        tracker_timeout: Duration::from_secs(a.tracker_timeout.max(1)),
        announce_interval_min: Duration::from_secs(5),
        pex: !a.no_pex,
        verbose: a.verbose,
        recheck: false,
        dht: !a.no_dht,
        dht_bootstrap: if a.dht_bootstrap.is_empty() {
            torrent_core::dht::DEFAULT_BOOTSTRAP.iter().map(|s| s.to_string()).collect()
        } else {
            a.dht_bootstrap.clone()
        },
        dht_state: Some(a.dht_state.clone().unwrap_or_else(|| state.join("dht.dat"))),
        web_seeds: Vec::new(),
        no_web_seeds: false,
        encryption: a.encrypt,
        transports: if a.no_utp { crate::engine::Transports::Tcp } else { a.transport },
    };
    // No periodic status lines: `remote list` and `top` show the state.
    crate::progress::set_status_interval(Duration::ZERO);
    let mut event_loop = EventLoop::new(cfg, Vec::new(), stop.clone()).map_err(|e| Fail::usage(format!("{e:#}")))?;

    let api = server::bind(a.api).map_err(|e| Fail::usage(format!("{e:#}")))?;
    let token = write_token(&state).map_err(|e| Fail::usage(format!("{}: cannot write the API token: {e}", state.display())))?;
    let (calls_tx, calls_rx) = std::sync::mpsc::channel();
    let waker = event_loop.waker();
    let ctl = controller::Daemon::new(session, calls_rx, out.clone(), limits, a.on_done.clone(), Duration::from_secs(a.save_interval.max(1)), a.quiet);
    let _server = server::spawn(&api, token, calls_tx.clone(), waker.clone());
    if let Some(dir) = &a.watch {
        let dir = absolute(dir);
        std::fs::create_dir_all(&dir).map_err(|e| Fail::usage(format!("--watch {}: {e}", dir.display())))?;
        watch::spawn(dir, calls_tx.clone(), waker.clone(), stop.clone());
    }
    let addr_path = state.join(control::ADDRESS_FILE);
    crate::resume::write_atomic(&addr_path, format!("{}\n", api.addr).as_bytes())
        .map_err(|e| Fail::usage(format!("{}: {e}", addr_path.display())))?;
    if !a.quiet {
        cli_support::note(format_args!("torrent-get daemon: control API on http://{} (state {})", api.addr, state.display()));
    }
    event_loop.set_controller(Box::new(ctl));
    event_loop.run();
    api.server.unblock();
    let _ = std::fs::remove_file(&addr_path);
    Ok(0)
}
