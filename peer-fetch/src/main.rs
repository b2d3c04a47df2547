//! peer-fetch: talk to one BitTorrent peer (or the first that works from a
//! list): show its handshake, fetch and SHA-1-verify pieces, or fetch a
//! magnet's metadata (BEP 9).

mod session;
mod stream;

use anyhow::anyhow;
use clap::{Parser, Subcommand};
use serde_json::json;
use session::{PiecesInfo, Session};
use std::fs::File;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use torrent_core::peer::client_id::{client_name, printable};
use torrent_core::source::Source;
use torrent_core::storage::Storage;
use torrent_core::Metainfo;

const AFTER_HELP: &str = "\
A magnet link or bare info-hash works for every command: the metadata is
fetched from the peer first. Piece data is only written after its SHA-1
check passed; binary data is not written to a terminal (use -o or a pipe).
With PEER `-`, peers are read from stdin (ip:port per line, e.g. from
`tracker-query announce`) and tried in order until one succeeds.

Encryption (--encrypt): `encryption:` in the handshake output says what the
connection used: plain, mse-plaintext (MSE handshake, payload in the clear)
or rc4.

Output: `handshake` prints `key: value` lines on stdout; --json prints one
JSON object instead (for data commands --json needs -o). Logs and errors go
to stderr.

Exit codes:
  0  success
  1  the peer failed: could not connect, timed out, broke the protocol, or
     sent data that failed its SHA-1 check (no peer in the list worked)
  2  usage or input error (bad arguments, unreadable torrent, piece index out
     of range, binary output to a terminal), or output that cannot be written
Errors are printed on stderr as `error: ...`; a closed standard output
(`| head`) ends the program quietly with 0.

Environment: PEER_FETCH_TIMEOUT (--timeout).
Shell completions: `peer-fetch completions bash|zsh|fish`; man pages:
`peer-fetch man` (`peer-fetch man --dir DIR` writes one per command).

Examples:
  peer-fetch file.torrent 127.0.0.1:6881 handshake
  peer-fetch file.torrent 127.0.0.1:6881 piece 0 -o piece0.bin
  peer-fetch file.torrent 127.0.0.1:6881 --utp handshake   (over uTP, BEP 29)
  tracker-query announce file.torrent | peer-fetch file.torrent - all -o out/
  peer-fetch 'magnet:?xt=urn:btih:...' 127.0.0.1:6881 metadata -o file.torrent";

#[derive(Parser, Debug)]
#[command(
    name = "peer-fetch",
    version,
    about = "Talk to a BitTorrent peer: handshake, fetch and verify pieces, fetch metadata",
    after_help = AFTER_HELP
)]
struct Cli {
    /// .torrent file (`-` for stdin), magnet link, or info-hash (40 hex / 32 base32)
    source: String,
    /// Peer address ip:port, or `-` to read peers from stdin (one per line)
    peer: String,
    #[command(subcommand)]
    cmd: Cmd,
    /// Print one JSON object on stdout
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for connecting and for each reply (progress resets it)
    #[arg(long, global = true, default_value_t = 30.0, value_name = "SECS", env = "PEER_FETCH_TIMEOUT")]
    timeout: f64,
    /// Block requests (16 KiB each) kept in flight
    #[arg(long, global = true, default_value_t = 32, value_name = "N")]
    depth: usize,
    /// Message stream encryption (MSE/PE): off = plaintext; prefer = try
    /// encrypted (RC4 or obfuscated plaintext), retry in plaintext if that
    /// fails; require = RC4 only
    #[arg(long, global = true, default_value = "off", value_name = "POLICY",
          value_parser = ["off", "prefer", "require"])]
    encrypt: String,
    /// Connect over uTP (BEP 29, UDP) instead of TCP
    #[arg(long, global = true)]
    utp: bool,
}

#[derive(Subcommand, Debug, Clone)]
enum Cmd {
    /// Show the peer's id, client (BEP 20), reserved bits, extended
    /// handshake (BEP 10) and how many pieces it has
    Handshake,
    /// Fetch piece N, check its SHA-1 and write it
    Piece {
        /// Piece index, from 0
        #[arg(value_name = "N")]
        index: u32,
        /// Write the piece to FILE (default: stdout, if not a terminal)
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Fetch pieces A to B-1 in order (A..=B includes B)
    Pieces {
        /// A..B (B excluded) or A..=B (B included), indices from 0
        #[arg(value_name = "A..B")]
        range: String,
        /// Write the pieces, concatenated, to FILE (default: stdout, if not
        /// a terminal)
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Fetch every piece; with -o the torrent's files are written below DIR
    All {
        /// Download directory (default: the whole payload on stdout, if not
        /// a terminal)
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: Option<PathBuf>,
    },
    /// Fetch the info dictionary (ut_metadata, BEP 9), check it against the
    /// info-hash and write a .torrent
    Metadata {
        /// Write the .torrent to FILE (default: stdout, if not a terminal)
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Why we stop.
enum Fail {
    Usage(String),
    Peer(anyhow::Error),
    /// Writing our own output failed (not the peer's fault).
    Output(io::Error),
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Fail {
        Fail::Peer(e)
    }
}

fn main() -> ExitCode {
    let cli: Cli = cli_support::parse();
    cli_support::finish(match run(cli) {
        Ok(()) => Ok(cli_support::EXIT_OK),
        Err(Fail::Usage(m)) => Err(cli_support::Fail::Usage(m)),
        Err(Fail::Peer(e)) => Err(cli_support::Fail::Failed(format!("{e:#}"))),
        Err(Fail::Output(e)) => Err(cli_support::Fail::output(e)),
    })
}

fn parse_peer(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    // host:port names (e.g. localhost:6881)
    s.to_socket_addrs()
        .map_err(|e| format!("bad peer address {s:?} (expected ip:port): {e}"))?
        .next()
        .ok_or_else(|| format!("peer address {s:?} resolves to nothing"))
}

/// Peers from stdin: one address per line (first word), blank lines and
/// `#` comments skipped. At most 10 000 lines / 1 MiB.
fn read_peers(input: impl Read) -> Result<Vec<SocketAddr>, String> {
    let reader = io::BufReader::new(input.take(1 << 20));
    let mut out = Vec::new();
    for (n, line) in reader.lines().enumerate().take(10_000) {
        let line = line.map_err(|e| format!("reading peers from stdin: {e}"))?;
        let Some(word) = line.split_whitespace().next() else {
            continue;
        };
        if word.starts_with('#') {
            continue;
        }
        match word.parse::<SocketAddr>() {
            Ok(a) => out.push(a),
            Err(_) => cli_support::warning(format_args!(
                "stdin line {}: {word:?} is not ip:port, skipped",
                n + 1
            )),
        }
    }
    if out.is_empty() {
        return Err("no peer addresses on stdin".into());
    }
    Ok(out)
}

/// "A..B" (exclusive), "A..=B" (inclusive) or "N".
fn parse_range(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("bad piece range {s:?} (expected A..B or A..=B)");
    let num = |t: &str| t.trim().parse::<u32>().map_err(|_| bad());
    if let Some((a, b)) = s.split_once("..=") {
        let (a, b) = (num(a)?, num(b)?);
        if b < a {
            return Err(bad());
        }
        return Ok((a, b + 1));
    }
    if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (num(a)?, num(b)?);
        if b <= a {
            return Err(format!("piece range {s:?} is empty"));
        }
        return Ok((a, b));
    }
    let a = num(s)?;
    Ok((a, a + 1))
}

/// Where verified piece data goes.
enum Sink {
    Stdout(io::BufWriter<io::Stdout>),
    /// Written to `part`, renamed to `path` when everything is in.
    File {
        path: PathBuf,
        part: PathBuf,
        f: io::BufWriter<File>,
    },
    Dir(Box<Storage>, PathBuf),
}

impl Sink {
    fn write(&mut self, index: u32, piece_length: u64, data: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout(w) => w.write_all(data),
            Sink::File { f, .. } => f.write_all(data),
            Sink::Dir(st, _) => st.write(index as u64 * piece_length, data),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(w) => w.flush(),
            Sink::File { path, part, f } => {
                f.flush()?;
                f.get_ref().sync_all()?;
                std::fs::rename(&*part, &*path)
            }
            Sink::Dir(st, _) => st.sync(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Sink::Stdout(_) => "stdout".into(),
            Sink::File { path, .. } => path.display().to_string(),
            Sink::Dir(_, d) => d.display().to_string(),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // A file never finished (failure) is removed: no unverified output.
        if let Sink::File { part, .. } = self {
            let _ = std::fs::remove_file(part);
        }
    }
}

fn part_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

fn refuse_tty(what: &str) -> Result<(), Fail> {
    if io::stdout().is_terminal() {
        return Err(Fail::Usage(format!(
            "refusing to write {what} to a terminal; use -o or redirect stdout"
        )));
    }
    Ok(())
}

struct Job {
    cli: Cli,
    source: Source,
    meta: Option<Metainfo>,
    /// Pieces still to fetch, in output order (set once the info is known).
    remaining: Option<Vec<u32>>,
    sink: Option<Sink>,
    pieces_done: usize,
    bytes_done: u64,
    started: Instant,
}

fn run(cli: Cli) -> Result<(), Fail> {
    if !(cli.timeout > 0.0 && cli.timeout <= 86_400.0) {
        return Err(Fail::Usage(format!(
            "--timeout {} must be in (0, 86400]",
            cli.timeout
        )));
    }
    if cli.depth == 0 || cli.depth > 1024 {
        return Err(Fail::Usage(format!(
            "--depth {} must be in 1..=1024",
            cli.depth
        )));
    }
    if cli.source == "-" && cli.peer == "-" {
        return Err(Fail::Usage(
            "the torrent and the peer list cannot both come from stdin".into(),
        ));
    }
    let data_cmd_output = match &cli.cmd {
        Cmd::Handshake => None,
        Cmd::Piece { output, .. }
        | Cmd::Pieces { output, .. }
        | Cmd::All { output }
        | Cmd::Metadata { output } => Some(output.clone()),
    };
    if let Some(None) = data_cmd_output {
        if cli.json {
            return Err(Fail::Usage(
                "--json needs -o for commands that output data".into(),
            ));
        }
        refuse_tty(if matches!(cli.cmd, Cmd::Metadata { .. }) {
            "a .torrent"
        } else {
            "binary piece data"
        })?;
    }
    if let Cmd::Pieces { range, .. } = &cli.cmd {
        parse_range(range).map_err(Fail::Usage)?;
    }
    let source = torrent_core::load::load(&cli.source).map_err(|e| Fail::Usage(e.to_string()))?;
    let peers = if cli.peer == "-" {
        read_peers(io::stdin().lock()).map_err(Fail::Usage)?
    } else {
        vec![parse_peer(&cli.peer).map_err(Fail::Usage)?]
    };
    let mut job = Job {
        meta: source.metainfo().cloned(),
        cli,
        source,
        remaining: None,
        sink: None,
        pieces_done: 0,
        bytes_done: 0,
        started: Instant::now(),
    };
    let mut last = None;
    for (n, addr) in peers.iter().enumerate() {
        match job.attempt(*addr) {
            Ok(()) => return Ok(()),
            Err(Fail::Peer(e)) => {
                if peers.len() > 1 {
                    cli_support::warning(format_args!(
                        "peer {addr} ({}/{}) failed: {e:#}",
                        n + 1,
                        peers.len()
                    ));
                }
                last = Some(e.context(format!("peer {addr}")));
            }
            Err(other) => return Err(other),
        }
    }
    let e = last.expect("at least one peer");
    if peers.len() > 1 {
        return Err(Fail::Peer(anyhow!(
            "no peer worked ({} tried); last error: {e:#}",
            peers.len()
        )));
    }
    Err(Fail::Peer(e))
}

impl Job {
    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.cli.timeout)
    }

    fn attempt(&mut self, addr: SocketAddr) -> Result<(), Fail> {
        let meta = self.meta.as_ref();
        let mut s = Session::connect(
            addr,
            self.source.info_hash(),
            meta.map(|m| &m.info),
            meta.map(|m| m.info_bytes.len()),
            self.timeout(),
            self.cli.encrypt.parse().map_err(Fail::Usage)?,
            self.cli.utp,
        )?;
        if self.cli.encrypt != "off" || self.cli.utp {
            eprintln!("peer-fetch: connected to {addr} over {}", s.kind);
        }
        match self.cli.cmd.clone() {
            Cmd::Handshake => {
                let wait = self.timeout().min(Duration::from_secs(3));
                s.collect_intro(Instant::now() + wait)?;
                self.print_handshake(&s)
            }
            Cmd::Metadata { output } => {
                let m = s.fetch_metadata(self.source.tracker_tiers())?;
                let bytes = m.to_torrent_bytes();
                match &output {
                    Some(path) => {
                        let part = part_path(path);
                        std::fs::write(&part, &bytes)
                            .and_then(|_| std::fs::rename(&part, path))
                            .map_err(|e| {
                                let _ = std::fs::remove_file(&part);
                                Fail::Output(io::Error::new(
                                    e.kind(),
                                    format!("{}: {e}", path.display()),
                                ))
                            })?;
                    }
                    None => {
                        let mut out = io::stdout().lock();
                        out.write_all(&bytes)
                            .and_then(|_| out.flush())
                            .map_err(Fail::Output)?;
                    }
                }
                let summary = json!({
                    "peer": addr.to_string(),
                    "encryption": s.kind.method.as_str(),
                    "info_hash": m.info_hash.to_hex(),
                    "name": m.info.name,
                    "metadata_size": m.info_bytes.len(),
                    "pieces": m.info.piece_count(),
                    "total_length": m.info.total_length,
                    "trackers": m.tracker_tiers(),
                    "output": output.as_ref().map(|p| p.display().to_string()),
                });
                if self.cli.json {
                    println_out(&summary.to_string())?;
                } else {
                    eprintln!(
                        "metadata for {} ({}, {} bytes, {} pieces) verified against the info-hash{}",
                        m.info.name,
                        m.info_hash,
                        m.info_bytes.len(),
                        m.info.piece_count(),
                        output.map(|p| format!(", written to {}", p.display())).unwrap_or_default()
                    );
                }
                Ok(())
            }
            Cmd::Piece { .. } | Cmd::Pieces { .. } | Cmd::All { .. } => {
                if self.meta.is_none() {
                    let m = s.fetch_metadata(self.source.tracker_tiers())?;
                    eprintln!(
                        "fetched metadata for {} from {addr}",
                        m.info.name
                    );
                    s.set_info(&m.info)?;
                    self.meta = Some(m);
                }
                self.prepare()?;
                let meta = self.meta.as_ref().expect("set above");
                let info = &meta.info;
                let todo = self.remaining.clone().expect("prepared");
                let sink = self.sink.as_mut().expect("prepared");
                let remaining = self.remaining.as_mut().expect("prepared");
                let (mut pieces_done, mut bytes_done) = (self.pieces_done, self.bytes_done);
                let mut out_err = None;
                let res = s.fetch_pieces(info, &todo, self.cli.depth, &mut |i, data| {
                    if let Err(e) = sink.write(i, info.piece_length, &data) {
                        let msg = e.to_string();
                        out_err = Some(e);
                        return Err(anyhow!("writing output: {msg}"));
                    }
                    remaining.retain(|&r| r != i);
                    pieces_done += 1;
                    bytes_done += data.len() as u64;
                    Ok(())
                });
                self.pieces_done = pieces_done;
                self.bytes_done = bytes_done;
                if let Some(e) = out_err {
                    return Err(Fail::Output(e));
                }
                res?;
                let mut sink = self.sink.take().expect("prepared");
                let where_to = sink.describe();
                sink.finish().map_err(Fail::Output)?;
                let secs = self.started.elapsed().as_secs_f64();
                if self.cli.json {
                    println_out(
                        &json!({
                            "peer": addr.to_string(),
                            "encryption": s.kind.method.as_str(),
                            "info_hash": meta.info_hash.to_hex(),
                            "pieces": self.pieces_done,
                            "bytes": self.bytes_done,
                            "verified": true,
                            "output": where_to,
                            "seconds": (secs * 1000.0).round() / 1000.0,
                        })
                        .to_string(),
                    )?;
                } else {
                    eprintln!(
                        "{} piece(s), {} bytes, SHA-1 verified, from {addr} to {where_to} in {secs:.2} s",
                        self.pieces_done, self.bytes_done
                    );
                }
                Ok(())
            }
        }
    }

    /// Resolve the piece list and open the output, once the info is known.
    fn prepare(&mut self) -> Result<(), Fail> {
        if self.remaining.is_some() {
            return Ok(());
        }
        let meta = self.meta.as_ref().expect("info known");
        let n = meta.info.piece_count() as u32;
        let check = |i: u32| {
            if i >= n {
                Err(Fail::Usage(format!(
                    "piece {i} is out of range: the torrent has {n} pieces (0..{n})"
                )))
            } else {
                Ok(())
            }
        };
        let (list, output, dir) = match &self.cli.cmd {
            Cmd::Piece { index, output } => {
                check(*index)?;
                (vec![*index], output.clone(), false)
            }
            Cmd::Pieces { range, output } => {
                let (a, b) = parse_range(range).map_err(Fail::Usage)?;
                check(b - 1)?;
                ((a..b).collect(), output.clone(), false)
            }
            Cmd::All { output } => ((0..n).collect(), output.clone(), true),
            _ => unreachable!("data commands only"),
        };
        let sink = match output {
            None => Sink::Stdout(io::BufWriter::with_capacity(1 << 20, io::stdout())),
            Some(dir_path) if dir => {
                std::fs::create_dir_all(&dir_path)
                    .map_err(|e| Fail::Usage(format!("{}: {e}", dir_path.display())))?;
                let st = Storage::new(&dir_path, &meta.info).map_err(Fail::Usage)?;
                Sink::Dir(Box::new(st), dir_path)
            }
            Some(path) => {
                let part = part_path(&path);
                let f = File::create(&part)
                    .map_err(|e| Fail::Usage(format!("{}: {e}", part.display())))?;
                Sink::File {
                    path,
                    part,
                    f: io::BufWriter::new(f),
                }
            }
        };
        self.remaining = Some(list);
        self.sink = Some(sink);
        Ok(())
    }

    fn print_handshake(&self, s: &Session) -> Result<(), Fail> {
        let h = &s.theirs;
        let client = client_name(&h.peer_id);
        let ext = s.state.ext.as_ref();
        let total = s.state.num_pieces();
        let have = s.state.peer_pieces().map(|b| b.count());
        let piece_set = match s.pieces_info {
            Some(PiecesInfo::HaveAll) => "have_all",
            Some(PiecesInfo::HaveNone) => "have_none",
            Some(PiecesInfo::Bitfield { .. }) => "bitfield",
            None if s.haves > 0 => "have_messages",
            None => "none",
        };
        // Pieces the peer has: exact once the piece count is known, else
        // counted from the bitfield.
        let have_count = have.or(match s.pieces_info {
            Some(PiecesInfo::Bitfield { set, .. }) => Some(set),
            Some(PiecesInfo::HaveNone) => Some(0),
            _ => None,
        });
        if self.cli.json {
            let ext_json = ext.map(|e| {
                json!({
                    "m": e.m,
                    "v": e.client(),
                    "p": e.port(),
                    "reqq": e.reqq,
                    "metadata_size": e.metadata_size,
                    "yourip": e.your_ip().map(|ip| ip.to_string()),
                    "e": e.e,
                })
            });
            let v = json!({
                "peer": s.addr.to_string(),
                "info_hash": s.info_hash.to_hex(),
                "transport": s.kind.transport.as_str(),
                "encryption": s.kind.method.as_str(),
                "peer_id_hex": hex::encode(h.peer_id),
                "peer_id": printable(&h.peer_id),
                "client": client,
                "reserved_hex": hex::encode(h.reserved),
                "extensions": {
                    "extended": h.supports_extended(),
                    "fast": h.supports_fast(),
                    "dht": h.supports_dht(),
                },
                "ext_handshake": ext_json,
                "pieces": {
                    "have": have_count,
                    "total": total,
                    "set": piece_set,
                },
            });
            return println_out(&v.to_string());
        }
        let mut lines = vec![
            format!("peer: {}", s.addr),
            format!("info_hash: {}", s.info_hash),
            format!("transport: {}", s.kind.transport.as_str()),
            format!("encryption: {}", s.kind.method),
            format!(
                "peer_id: {} {}",
                hex::encode(h.peer_id),
                printable(&h.peer_id)
            ),
            format!("client: {}", client.as_deref().unwrap_or("unknown")),
            format!("reserved: {}", hex::encode(h.reserved)),
        ];
        let names = h.extension_names();
        lines.push(format!(
            "extensions: {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(" ")
            }
        ));
        if let Some(e) = ext {
            if let Some(v) = e.client() {
                lines.push(format!("ext_client: {v}"));
            }
            let m: Vec<String> = e.m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            lines.push(format!("ext_m: {}", m.join(" ")));
            if let Some(sz) = e.metadata_size {
                lines.push(format!("metadata_size: {sz}"));
            }
            if let Some(p) = e.port() {
                lines.push(format!("listen_port: {p}"));
            }
            if let Some(q) = e.reqq {
                lines.push(format!("reqq: {q}"));
            }
            if let Some(ip) = e.your_ip() {
                lines.push(format!("yourip: {ip}"));
            }
            if let Some(v) = e.e {
                lines.push(format!("ext_e: {v}"));
            }
        }
        lines.push(format!(
            "pieces: {}/{}",
            have_count
                .map(|c| c.to_string())
                .unwrap_or_else(|| "?".into()),
            total.map(|c| c.to_string()).unwrap_or_else(|| "?".into())
        ));
        lines.push(format!("piece_set: {piece_set}"));
        println_out(&lines.join("\n"))
    }
}

fn println_out(s: &str) -> Result<(), Fail> {
    let mut out = io::stdout().lock();
    writeln!(out, "{s}")
        .and_then(|_| out.flush())
        .map_err(Fail::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("2..5"), Ok((2, 5)));
        assert_eq!(parse_range("2..=5"), Ok((2, 6)));
        assert_eq!(parse_range("7"), Ok((7, 8)));
        assert!(parse_range("5..5").is_err());
        assert!(parse_range("5..=4").is_err());
        assert!(parse_range("a..b").is_err());
    }

    #[test]
    fn peers_from_text() {
        let text = "127.0.0.1:6881\n\n# comment\nnot-an-address\n[::1]:7000 extra words\n";
        let p = read_peers(text.as_bytes()).unwrap();
        assert_eq!(
            p,
            vec![
                "127.0.0.1:6881".parse().unwrap(),
                "[::1]:7000".parse().unwrap()
            ]
        );
        assert!(read_peers("".as_bytes()).is_err());
    }
}
