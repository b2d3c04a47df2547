//! The control API's HTTP side (see [`crate::control`] for the contract):
//! tiny_http on its own thread, on loopback only. It checks the token,
//! bounds and parses bodies and loads sources (a URL fetch never stalls the
//! event loop), then hands each request to the loop as a [`Call`] over a
//! channel, wakes it, and waits for the [`Reply`]. No state changes on GET;
//! anything but GET and POST (a CORS preflight included) is refused.

use super::{parse_hash, Call, Op, Reply};
use crate::control::{self, AddRequest, ApiError, Limits, RemoveRequest, SeedLimit, SeedLimitsRequest, SelectRequest};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::Duration;
use tiny_http::{Header, Method, Request, Response, Server};
use torrent_core::source::Source;

/// Largest request body accepted (a .torrent in base64 included).
pub const MAX_BODY: usize = 16 << 20;
/// Longest the loop may take to answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Api {
    pub server: Arc<Server>,
    pub addr: SocketAddr,
}

/// Bind the API on `addr` (loopback only; port 0: any free port).
pub fn bind(addr: SocketAddr) -> anyhow::Result<Api> {
    if !addr.ip().is_loopback() {
        anyhow::bail!("--api {addr}: the control API listens on loopback only (127.0.0.1 or [::1])");
    }
    let server = Server::http(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the control API: {e}"))?;
    let addr = server.server_addr().to_ip().ok_or_else(|| anyhow::anyhow!("the control API has no IP address"))?;
    Ok(Api { server: Arc::new(server), addr })
}

/// Serve requests until the server is unblocked.
pub fn spawn(api: &Api, token: String, calls: Sender<Call>, waker: Arc<mio::Waker>) -> std::thread::JoinHandle<()> {
    let server = api.server.clone();
    std::thread::Builder::new()
        .name("api".into())
        .spawn(move || {
            for rq in server.incoming_requests() {
                let (calls, waker, token) = (calls.clone(), waker.clone(), token.clone());
                // One thread per request: an event stream or a slow URL
                // fetch does not hold up the others.
                let _ = std::thread::Builder::new().name("api-request".into()).spawn(move || handle(rq, &token, &calls, &waker));
            }
        })
        .expect("spawn api thread")
}

fn json_response(status: u16, body: &serde_json::Value) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut bytes = serde_json::to_vec(body).expect("values serialise");
    bytes.push(b'\n');
    Response::from_data(bytes)
        .with_status_code(status)
        .with_header(Header::from_bytes("Content-Type", "application/json").expect("valid header"))
}

fn error(status: u16, msg: impl Into<String>) -> Reply {
    Reply { status, body: serde_json::to_value(ApiError { error: msg.into() }).expect("serialises") }
}

/// Constant-time comparison of the presented token with ours.
fn token_ok(rq: &Request, token: &str) -> bool {
    let Some(h) = rq.headers().iter().find(|h| h.field.equiv(control::AUTH_HEADER)) else { return false };
    let Some(given) = h.value.as_str().strip_prefix("Bearer ") else { return false };
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn handle(mut rq: Request, token: &str, calls: &Sender<Call>, waker: &mio::Waker) {
    if !token_ok(&rq, token) {
        let r = error(401, "missing or wrong API token (send `Authorization: Bearer TOKEN`, TOKEN from the state directory's `token` file)");
        let _ = rq.respond(json_response(r.status, &r.body).with_header(Header::from_bytes("WWW-Authenticate", "Bearer").expect("valid")));
        return;
    }
    let method = rq.method().clone();
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let path = path.to_string();
    let body = match method {
        Method::Post => match read_body(&mut rq) {
            Ok(b) => b,
            Err(r) => {
                let _ = rq.respond(json_response(r.status, &r.body).with_header(Header::from_bytes("Connection", "close").expect("valid")));
                return;
            }
        },
        Method::Get => Vec::new(),
        _ => {
            let r = error(405, format!("method {method} not allowed (GET reads, POST changes)"));
            let _ = rq.respond(json_response(r.status, &r.body).with_header(Header::from_bytes("Allow", "GET, POST").expect("valid")));
            return;
        }
    };
    let op = match route(&method, &path, query, &body) {
        Ok(op) => op,
        Err(r) => {
            let _ = rq.respond(json_response(r.status, &r.body));
            return;
        }
    };
    let op = match op {
        Op::Subscribe(_) => return stream_events(rq, calls, waker),
        Op::Stream(s) => return super::stream::serve(rq, s, calls, waker),
        op => op,
    };
    let (tx, rx) = mpsc::channel();
    if calls.send(Call { op, reply: Some(tx) }).is_err() {
        let r = error(503, "the daemon is shutting down");
        let _ = rq.respond(json_response(r.status, &r.body));
        return;
    }
    let _ = waker.wake();
    let r = rx.recv_timeout(REPLY_TIMEOUT).unwrap_or_else(|_| error(503, "the daemon did not answer in time"));
    let _ = rq.respond(json_response(r.status, &r.body));
}

/// Answer with a JSON reply.
pub(super) fn respond(rq: Request, r: &Reply) {
    let _ = rq.respond(json_response(r.status, &r.body));
}

/// The body, at most [`MAX_BODY`] bytes (413 beyond, said before reading
/// when the length is announced).
fn read_body(rq: &mut Request) -> Result<Vec<u8>, Reply> {
    let too_big = || error(413, format!("request body larger than {} MiB", MAX_BODY >> 20));
    if rq.body_length().is_some_and(|n| n > MAX_BODY) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    rq.as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| error(400, format!("reading the request body: {e}")))?;
    if body.len() > MAX_BODY {
        return Err(too_big());
    }
    Ok(body)
}

fn parse<T: serde::de::DeserializeOwned + Default>(body: &[u8], what: &str) -> Result<T, Reply> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| error(400, format!("malformed JSON in the {what} request: {e}")))
}

/// Which operation a request is; 400/404/405 when none.
fn route(method: &Method, path: &str, query: &str, body: &[u8]) -> Result<Op, Reply> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let get = *method == Method::Get;
    let wrong_method = |allowed: &str| error(405, format!("{path}: use {allowed}"));
    let hash = |s: &str| parse_hash(s).ok_or_else(|| error(404, format!("{s:?} is not an info-hash (40 hex digits)")));
    match parts.as_slice() {
        ["v1", "torrents"] if get => Ok(Op::List),
        ["v1", "torrents"] => add_op(parse::<AddRequest>(body, "add")?),
        ["v1", "torrents", h] if get => Ok(Op::Detail(hash(h)?)),
        ["v1", "torrents", _] => Err(wrong_method("GET")),
        ["v1", "torrents", _, _] if get => Err(wrong_method("POST")),
        ["v1", "torrents", h, "pause"] => {
            parse::<serde_json::Value>(body, "pause")?;
            Ok(Op::Pause(hash(h)?))
        }
        ["v1", "torrents", h, "resume"] => {
            parse::<serde_json::Value>(body, "resume")?;
            Ok(Op::Resume(hash(h)?))
        }
        ["v1", "torrents", h, "remove"] => {
            let r: RemoveRequest = parse(body, "remove")?;
            Ok(Op::Remove(hash(h)?, r.delete_data))
        }
        ["v1", "torrents", h, "select"] => {
            let r: SelectRequest = serde_json::from_slice(body)
                .map_err(|e| error(400, format!("malformed JSON in the select request (want {{\"select\": SPEC or null}}): {e}")))?;
            Ok(Op::Select(hash(h)?, r.select))
        }
        ["v1", "torrents", h, "stream"] => stream_op(hash(h)?, None, query),
        ["v1", "torrents", _, "files", _, "stream"] if get => Err(wrong_method("POST")),
        ["v1", "torrents", h, "files", n, "stream"] => {
            let n: usize = n.parse().map_err(|_| error(404, format!("{n:?} is not a file number")))?;
            stream_op(hash(h)?, Some(n), query)
        }
        ["v1", "torrents", h, "limits"] => {
            let r: SeedLimitsRequest = parse(body, "limits")?;
            if let Some(SeedLimit::Value(x)) = r.seed_ratio {
                check_ratio(x)?;
            }
            Ok(Op::SeedLimits(hash(h)?, r))
        }
        ["v1", "limits"] if get => Ok(Op::GetLimits),
        ["v1", "limits"] => {
            if body.iter().all(|b| b.is_ascii_whitespace()) {
                return Err(error(400, "limits: a JSON body {\"download\": N, \"upload\": N} is needed"));
            }
            let l: Limits = parse(body, "limits")?;
            Ok(Op::SetLimits(l))
        }
        ["v1", "events"] if get => Ok(Op::Subscribe(None)),
        ["v1", "events"] => Err(wrong_method("GET")),
        _ => Err(error(404, format!("{path}: no such endpoint (see `torrent-get remote --help`)"))),
    }
}

/// A stream request: `?offset=BYTES` (default 0).
fn stream_op(hash: torrent_core::InfoHash, file: Option<usize>, query: &str) -> Result<Op, Reply> {
    let mut offset = 0;
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=') {
            Some(("offset", v)) => offset = v.parse().map_err(|_| error(400, format!("offset={v:?}: not a byte count")))?,
            _ => return Err(error(400, format!("{kv:?}: unknown parameter (the stream takes offset=BYTES)"))),
        }
    }
    Ok(Op::Stream(super::stream::StreamOp { hash, file, offset, sink: None }))
}

fn check_ratio(x: f64) -> Result<(), Reply> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(error(400, format!("seed_ratio {x}: want a number 0 or more")))
    }
}

/// Load the source of an add request here, off the event loop.
fn add_op(req: AddRequest) -> Result<Op, Reply> {
    if let SeedLimit::Value(x) = req.seed_ratio {
        check_ratio(x)?;
    }
    let save_dir = match &req.save_dir {
        Some(d) if !std::path::Path::new(d).is_absolute() => {
            return Err(error(400, format!("save_dir {d:?} must be an absolute path")));
        }
        d => d.as_ref().map(std::path::PathBuf::from),
    };
    let (source, magnet) = match (&req.source, &req.torrent_base64) {
        (Some(_), Some(_)) | (None, None) => return Err(error(400, "add: give exactly one of `source` and `torrent_base64`")),
        (None, Some(b64)) => {
            let bytes = data_encoding::BASE64
                .decode(b64.trim().as_bytes())
                .map_err(|e| error(400, format!("torrent_base64 is not base64: {e}")))?;
            let meta = torrent_core::Metainfo::from_bytes(&bytes).map_err(|e| error(400, format!("torrent_base64: not a valid .torrent: {e}")))?;
            (Source::Torrent(Box::new(meta)), None)
        }
        (Some(s), None) => {
            let s = s.trim();
            let source = torrent_core::load::load(s).map_err(|e| error(400, e.to_string()))?;
            let magnet = matches!(source, Source::Magnet(_)).then(|| s.to_string());
            (source, magnet)
        }
    };
    Ok(Op::Add(Box::new(super::AddOp {
        source,
        magnet,
        save_dir,
        paused: req.paused,
        select: req.select,
        seed_ratio: req.seed_ratio,
        seed_time: req.seed_time,
    })))
}

/// `GET /v1/events`: the response head, then one JSON object per line as
/// the loop reports them (chunked), until the client goes away.
fn stream_events(rq: Request, calls: &Sender<Call>, waker: &mio::Waker) {
    let (tx, rx) = mpsc::sync_channel::<String>(4096);
    if calls.send(Call { op: Op::Subscribe(Some(tx)), reply: None }).is_err() {
        return;
    }
    let _ = waker.wake();
    let mut w = rq.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nCache-Control: no-store\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if w.write_all(head.as_bytes()).and_then(|_| w.flush()).is_err() {
        return;
    }
    while let Ok(line) = rx.recv() {
        let chunk = format!("{:x}\r\n{line}\n\r\n", line.len() + 1);
        if w.write_all(chunk.as_bytes()).and_then(|_| w.flush()).is_err() {
            return;
        }
    }
    let _ = w.write_all(b"0\r\n\r\n");
}
