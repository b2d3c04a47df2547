//! The engine's interface: what goes in ([`Input`], [`Command`], the
//! [`Config`] and the torrents to add, [`Job`]) and what comes out
//! ([`Action`], [`CloseReason`], [`Report`], [`Outcome`], [`Summary`]).

use crate::announce::AnnounceResult;
use crate::disk::{DiskEvent, DiskJob};
use crate::hasher::HashJob;
use crate::progress::Snapshot;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use torrent_core::dht::node::DhtEvent;
use torrent_core::tracker::AnnounceRequest;
use torrent_core::Metainfo;

/// The engine's handle for a connection (the loop chooses it).
pub type PeerKey = usize;
/// Index of a torrent, in the order added.
pub type TorrentId = usize;

/// What carries a connection's bytes (TCP or uTP) and how they are
/// encrypted (MSE/PE): the loop does both, the engine sees plaintext bytes
/// either way. In [`Action::Dial`] the method is the attempt to make
/// ([`Method::Plain`]: a plaintext handshake, anything else: MSE offering
/// what [`Config::encryption`] provides); in [`Input::Accepted`] and
/// [`Input::Negotiated`] it is what the connection ended up with.
pub use torrent_core::mse::{Method, Policy};
pub use torrent_core::transport::{ConnKind, TransportKind};

/// Everything the command line decides.
#[derive(Debug, Clone)]
pub struct Config {
    pub out_dir: PathBuf,
    pub max_peers: usize,
    /// Connections per IP address (`--max-peers-per-ip`); None: the
    /// default of [`super::slots::DEFAULT_PER_IP`], none on loopback; 0:
    /// no limit. See [`Config::per_ip_limit`].
    pub max_per_ip: Option<usize>,
    /// Every connection together, any phase (the loop lowers it to what
    /// `RLIMIT_NOFILE` allows, keeping descriptors in reserve).
    pub max_connections: usize,
    /// How often resume data is written while downloading, when pieces
    /// were verified since (a crash costs at most that much downloading).
    pub resume_every: Duration,
    /// Addresses to try, in order, for accepting peers (first that binds);
    /// empty: do not listen. (The loop's.)
    pub listen: Vec<SocketAddr>,
    pub extra_peers: Vec<SocketAddr>,
    pub seed: bool,
    pub seed_only: bool,
    pub seed_ratio: Option<f64>,
    pub seed_time: Option<Duration>,
    pub timeout: Option<Duration>,
    pub max_download_rate: u64,
    pub max_upload_rate: u64,
    pub upload_slots: usize,
    /// Hold the upload slots at `upload_slots`; otherwise that is the
    /// least, and more open while each unchoked peer takes a good rate
    /// (`choke::slots_for`).
    pub fixed_upload_slots: bool,
    pub json: bool,
    pub quiet: bool,
    pub tracker_timeout: Duration,
    pub announce_interval_min: Duration,
    /// Peer exchange (BEP 11), never for private torrents.
    pub pex: bool,
    /// Log peer connections and why they ended.
    pub verbose: bool,
    /// Ignore resume data: hash everything on disk first.
    pub recheck: bool,
    /// The DHT (BEP 5), never for private torrents.
    pub dht: bool,
    pub dht_bootstrap: Vec<String>,
    pub dht_state: Option<PathBuf>,
    /// Mirrors added to every torrent's url-list (`--web-seed`).
    pub web_seeds: Vec<String>,
    /// Ignore url-lists and `--web-seed` (`--no-web-seeds`).
    pub no_web_seeds: bool,
    /// MSE/PE: what to dial with, what to fall back to, what to accept.
    pub encryption: Policy,
    /// TCP, uTP or both (uTP first), dialling and accepting.
    pub transports: super::Transports,
}

/// A torrent to add: a parsed .torrent, a magnet link or a bare info-hash
/// (a magnet without trackers).
pub enum Job {
    Torrent { meta: Box<Metainfo>, select: Option<Vec<usize>> },
    Magnet { magnet: torrent_core::Magnet, select: Option<Vec<usize>> },
}

/// Run-time control of torrents.
pub enum Command {
    Add(Job),
    Pause(TorrentId),
    Resume(TorrentId),
    Remove(TorrentId),
    /// Remove, and delete the torrent's files and state files from disk.
    RemoveWithData(TorrentId),
    /// Files to download, 0-based (None: all).
    SelectFiles(TorrentId, Option<Vec<usize>>),
    /// Bytes per second, 0: unlimited.
    SetRateLimits { download: u64, upload: u64 },
    /// The torrent's own seeding limits (see [`SeedLimits`]).
    SetSeedLimits(TorrentId, SeedLimits),
}

/// A torrent's own seeding limits: once complete, it seeds until its
/// upload ratio reaches `ratio` or it has seeded `time`, then it is done.
/// [`SeedLimit::Default`]: the [`Config`]'s (`--seed-ratio`/`--seed-time`;
/// None there: unlimited); [`SeedLimit::Unlimited`]: no limit whatever the
/// configuration says. See [`super::seeding`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SeedLimits {
    pub ratio: SeedLimit<f64>,
    pub time: SeedLimit<Duration>,
}

pub use crate::control::SeedLimit;

/// The seeding limits in force for a torrent (its own, else the
/// configuration's); None: no such limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AppliedSeedLimits {
    pub ratio: Option<f64>,
    pub time: Option<Duration>,
}

pub enum Input {
    /// The loop started connecting to an address we asked it to dial.
    Dialing { peer: PeerKey, torrent: TorrentId, addr: SocketAddr, kind: ConnKind },
    /// The connect of a dialled peer completed.
    Connected { peer: PeerKey, local: Option<SocketAddr> },
    /// Could not even start connecting (Dial failed at once).
    DialFailed { torrent: TorrentId, addr: SocketAddr },
    Accepted { peer: PeerKey, addr: SocketAddr, kind: ConnKind },
    /// A dialled connection's transport is up and its encryption handshake
    /// starts ([`Input::Connected`] follows it): the head-start race
    /// ([`super::eyeballs`]) is decided at the transport.
    TransportUp { peer: PeerKey },
    /// A dialled connection's encryption handshake finished with `kind`
    /// (before [`Input::Connected`]).
    Negotiated { peer: PeerKey, kind: ConnKind },
    /// `n` bytes were read into [`Engine::recv_buffer`].
    Received { peer: PeerKey, n: usize },
    /// The loop still holds `pending` bytes for the peer after writing.
    Sent { peer: PeerKey, pending: usize },
    /// The connection ended (read/write error, EOF, connect failure).
    Closed { peer: PeerKey, reason: CloseReason },
    Disk(DiskEvent),
    /// The charges the hash and disk threads have released so far
    /// ([`super::budget`]).
    Released(super::budget::Released),
    Announced(AnnounceResult),
    Dht(DhtEvent),
    /// A DHT lookup could not be started.
    DhtLookupFailed { torrent: TorrentId },
    Tick,
    Command(Command),
    /// Streamed bytes ([`Action::StreamData`]) not yet written to stdout.
    StreamBacklog(u64),
    /// A reader's owner still holds `bytes` of its data ([`super::readers`]).
    ReaderBacklog { reader: super::readers::ReaderId, bytes: u64 },
    /// A reader's client went away.
    ReaderClosed(super::readers::ReaderId),
    /// What the web-seed worker pool reported for a torrent's mirror.
    WebSeed { torrent: TorrentId, event: torrent_core::webseed::FetchEvent },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The transport failed (connect, read, write), as the loop saw it.
    Io(String),
    PeerClosed,
    Protocol(String),
    BadHandshake(String),
    WrongTorrent,
    UnknownTorrent,
    SelfConnection,
    Banned,
    BannedNow,
    BothSeeds,
    Timeout(&'static str),
    Idle,
    TorrentDone,
    TorrentFailed,
    TorrentPaused,
    TorrentRemoved,
    SeedingFinished,
    MetadataMismatch,
    /// The MSE/PE handshake failed (or the peer closed during it).
    Encryption(String),
    /// Refused or dropped by a connection limit (`slots`).
    Limit(&'static str),
    /// Its slot went to a newcomer: it had been of no use for a while.
    Evicted,
    /// Another attempt at the same address over the other transport came
    /// up first ([`super::eyeballs`]): no failure of the peer.
    Superseded,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Io(e) => write!(f, "{e}"),
            CloseReason::PeerClosed => f.write_str("peer closed the connection"),
            CloseReason::Protocol(e) => write!(f, "protocol error: {e}"),
            CloseReason::BadHandshake(e) => write!(f, "bad handshake: {e}"),
            CloseReason::WrongTorrent => f.write_str("handshake for another torrent"),
            CloseReason::UnknownTorrent => f.write_str("handshake for a torrent we do not have"),
            CloseReason::SelfConnection => f.write_str("connected to ourselves"),
            CloseReason::Banned => f.write_str("banned peer"),
            CloseReason::BannedNow => f.write_str("banned: sent data that failed the hash check"),
            CloseReason::BothSeeds => f.write_str("both are seeds"),
            CloseReason::Timeout(what) => write!(f, "{what} timed out"),
            CloseReason::Idle => f.write_str("idle"),
            CloseReason::TorrentDone => f.write_str("download complete"),
            CloseReason::TorrentFailed => f.write_str("torrent failed"),
            CloseReason::TorrentPaused => f.write_str("torrent paused"),
            CloseReason::TorrentRemoved => f.write_str("torrent removed"),
            CloseReason::SeedingFinished => f.write_str("seeding finished"),
            CloseReason::MetadataMismatch => f.write_str("sent metadata that does not match the info-hash"),
            CloseReason::Encryption(e) => write!(f, "encryption handshake: {e}"),
            CloseReason::Limit(why) => f.write_str(why),
            CloseReason::Evicted => f.write_str("evicted: idle while the peer table was full"),
            CloseReason::Superseded => f.write_str("superseded: the other transport connected first"),
        }
    }
}

/// For people and scripts (the reporter).
#[derive(Debug, Clone)]
pub enum Report {
    Log(String),
    Json(serde_json::Value),
    Progress { torrent: TorrentId, snap: Snapshot },
}

pub enum Action {
    Send { peer: PeerKey, data: Vec<u8> },
    /// Drop the connection (after writing what was sent before).
    Close { peer: PeerKey, reason: CloseReason },
    Dial { torrent: TorrentId, addr: SocketAddr, kind: ConnKind },
    Disk(DiskJob),
    Hash(HashJob),
    Announce { torrent: TorrentId, tiers: Vec<Vec<String>>, request: AnnounceRequest, timeout: Duration },
    /// get_peers (+ announce_peer with a port) for the torrent.
    DhtLookup { torrent: TorrentId, info_hash: torrent_core::InfoHash, port: Option<u16> },
    /// Ping a node a peer named in its BEP 5 `port` message.
    DhtPing { addr: SocketAddr },
    Report(Report),
    /// Verified bytes of the streamed file, in order: `data[range]` are the
    /// file's bytes from torrent offset `offset` (see [`super::stream`]).
    StreamData { torrent: TorrentId, offset: u64, data: std::sync::Arc<Vec<u8>>, range: std::ops::Range<usize> },
    /// Start or cancel an HTTP range request of a torrent's mirror (on
    /// the loop's web-seed worker pool; reports come back as
    /// [`Input::WebSeed`]).
    WebSeed { torrent: TorrentId, action: torrent_core::webseed::Action },
    /// The torrent is removed: stop its mirrors' worker pool.
    WebSeedClose { torrent: TorrentId },
    /// Bytes for a reader of a file, or its end ([`super::readers`]).
    Reader(super::readers::ReaderOut),
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Partial,
    Failed,
    /// A torrent turned out to be unusable (metadata from peers that
    /// matches the info-hash but does not load): exit 2, an input error.
    Invalid,
}

/// One torrent at the end of a run.
pub struct Summary {
    pub status: &'static str,
    pub snap: Snapshot,
    pub path: PathBuf,
    pub downloaded: u64,
    pub uploaded: u64,
    pub hash_failures: u32,
    pub error: Option<String>,
    pub secs: f64,
}

