//! `tracker-query dht`: find peers through the Mainline DHT (BEP 5) with the
//! sans-IO node from torrent_core::dht, driven by a blocking UDP socket.

use clap::Args;
use serde_json::json;
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use torrent_core::dht::{blocking, Config, DhtEvent, DhtNode, NodeId, DEFAULT_BOOTSTRAP};
use torrent_core::tracker::format_peer;

pub const DHT_AFTER_HELP: &str = "\
Exit codes:
  0  at least one peer found
  1  no peer found (or no DHT node answered)
  2  usage error or bad input (unreadable torrent, bad magnet link, unresolvable --bootstrap)

SOURCE is a .torrent file (`-` reads stdin), a magnet link, or a bare info-hash
(40 hex or 32 base32 characters).

The lookup starts from the --bootstrap nodes (IP:PORT or HOST:PORT,
repeatable); without --bootstrap it uses the public routers
router.bittorrent.com, dht.transmissionbt.com and router.utorrent.com (port
6881). It asks the nodes closest to the info-hash, 3 at a time, until the 8
closest have answered, or --timeout seconds pass.

Output: one peer per line on stdout, `IP:PORT`, as they are found, without
duplicates. With --json, stdout carries a single JSON object at the end:
{\"info_hash\", \"peers\": [...], \"nodes_answered\", \"complete\"}. Progress
goes to stderr.";

#[derive(Args, Debug)]
pub struct DhtArgs {
    /// .torrent file (`-` for stdin), magnet link or info-hash
    source: String,
    /// DHT node to start from, IP:PORT or HOST:PORT (repeatable)
    #[arg(long = "bootstrap", value_name = "ADDR")]
    bootstrap: Vec<String>,
    /// Seconds allowed for the whole lookup
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = crate::parse_secs)]
    timeout: f64,
    /// Seconds to wait for each node's answer
    #[arg(long, value_name = "SECS", default_value_t = 3.0, value_parser = crate::parse_secs)]
    query_timeout: f64,
    /// Local UDP address to bind (default: 127.0.0.1:0 when every bootstrap
    /// node is on loopback, else 0.0.0.0:0)
    #[arg(long, value_name = "IP:PORT")]
    bind: Option<SocketAddr>,
    /// A single JSON object on stdout instead of one peer per line
    #[arg(long)]
    json: bool,
}

fn resolve(list: &[String]) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for a in list {
        let addrs = a
            .to_socket_addrs()
            .map_err(|e| format!("--bootstrap {a}: {e}"))?;
        let v4: Vec<SocketAddr> = addrs.filter(|x| x.is_ipv4()).collect();
        if v4.is_empty() {
            return Err(format!("--bootstrap {a}: no IPv4 address"));
        }
        out.extend(v4);
    }
    Ok(out)
}

pub fn run(a: &DhtArgs) -> ExitCode {
    let source = match torrent_core::load::load(&a.source) {
        Ok(s) => s,
        Err(e) => return crate::usage_error(e),
    };
    let info_hash = source.info_hash();
    let boot = if a.bootstrap.is_empty() {
        // Public routers: resolve what resolves.
        let mut v = Vec::new();
        for h in DEFAULT_BOOTSTRAP {
            match resolve(&[h.to_string()]) {
                Ok(x) => v.extend(x),
                Err(e) => cli_support::warning(e),
            }
        }
        if v.is_empty() {
            cli_support::error(format_args!("no bootstrap router could be resolved"));
            return ExitCode::from(1);
        }
        v
    } else {
        match resolve(&a.bootstrap) {
            Ok(v) => v,
            Err(e) => return crate::usage_error(e),
        }
    };
    let bind = a.bind.unwrap_or_else(|| {
        if boot.iter().all(|b| b.ip().is_loopback()) {
            "127.0.0.1:0".parse().expect("valid")
        } else {
            "0.0.0.0:0".parse().expect("valid")
        }
    });
    let socket = match UdpSocket::bind(bind) {
        Ok(s) => s,
        Err(e) => return crate::usage_error(format!("bind {bind}: {e}")),
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(a.timeout);
    let config = Config {
        query_timeout: Duration::from_secs_f64(a.query_timeout),
        ..Config::default()
    };
    let mut node = DhtNode::with_config(NodeId::random(), config, start);
    node.bootstrap(&boot, start);
    let lid = match node.get_peers(info_hash, start) {
        Ok(l) => l,
        Err(e) => return crate::usage_error(e),
    };
    eprintln!(
        "DHT lookup of {info_hash} from {} bootstrap node(s)",
        boot.len()
    );
    let mut seen: HashSet<SocketAddr> = HashSet::new();
    let mut peers: Vec<SocketAddr> = Vec::new();
    let mut answered = 0usize;
    let mut complete = false;
    let json = a.json;
    let res = blocking::drive(&socket, &mut node, deadline, |_, ev| match ev {
        DhtEvent::Peers {
            lookup, peers: p, ..
        } if lookup == lid => {
            for x in p {
                if seen.insert(x) {
                    if !json {
                        crate::out(&format_peer(&x));
                    }
                    peers.push(x);
                }
            }
            true
        }
        DhtEvent::LookupDone {
            lookup,
            nodes_answered,
            ..
        } if lookup == lid => {
            answered = nodes_answered;
            complete = true;
            false
        }
        _ => true,
    });
    if let Err(e) = res {
        cli_support::error(format_args!("DHT socket: {e}"));
    }
    let table = node.routing_table().len();
    if complete {
        eprintln!(
            "lookup done in {:.1}s: {answered} node(s) answered, {} peer(s), routing table {table}",
            start.elapsed().as_secs_f64(),
            peers.len()
        );
    } else {
        eprintln!(
            "lookup timed out after {:.1}s: {} peer(s), routing table {table}",
            start.elapsed().as_secs_f64(),
            peers.len()
        );
    }
    if json {
        crate::out(
            &json!({
                "info_hash": info_hash.to_hex(),
                "peers": peers.iter().map(format_peer).collect::<Vec<_>>(),
                "nodes_answered": answered,
                "complete": complete,
            })
            .to_string(),
        );
    }
    if peers.is_empty() {
        if table == 0 {
            cli_support::error(format_args!("no DHT node answered"));
        }
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
