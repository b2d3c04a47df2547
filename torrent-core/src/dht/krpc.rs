//! KRPC (BEP 5): bencoded dictionaries in UDP datagrams.
//!
//! ```text
//! query:    {t: <tid>, y: "q", q: <method>, a: {id: <20 bytes>, ...}}
//! response: {t: <tid>, y: "r", r: {id: <20 bytes>, nodes?, values?, token?}}
//! error:    {t: <tid>, y: "e", e: [<code>, <message>]}
//! ```
//!
//! Parsing is strict and bounded: the datagram size, transaction id and token
//! lengths, node and peer counts and nesting depth are all capped, and every
//! error names the offending field. A response does not say which query it
//! answers, so [`Response`] carries every field a response may have and the
//! caller interprets it against its transaction.

use super::NodeId;
use crate::bencode::{self, OwnedValue, Value};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Largest datagram accepted (a UDP payload cannot be larger).
pub const MAX_DATAGRAM: usize = 65_536;
/// Longest transaction id accepted (implementations use 2 to 4 bytes).
pub const MAX_TID_LEN: usize = 32;
/// Longest announce token accepted.
pub const MAX_TOKEN_LEN: usize = 64;
/// Most nodes accepted in one `nodes` field.
pub const MAX_NODES: usize = 256;
/// Most peers accepted in one `values` list.
pub const MAX_VALUES: usize = 2048;
/// Nesting needed by KRPC is 3 (dict, dict, list); allow a little more.
const MAX_DEPTH: usize = 8;
/// Size of one compact node info: 20-byte id, 4-byte IPv4, 2-byte port.
pub const COMPACT_NODE_LEN: usize = 26;

/// KRPC error codes.
pub mod code {
    pub const GENERIC: i64 = 201;
    pub const SERVER: i64 = 202;
    pub const PROTOCOL: i64 = 203;
    pub const METHOD_UNKNOWN: i64 = 204;
}

/// A DHT node: id and IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    pub id: NodeId,
    pub addr: SocketAddrV4,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Transaction id, echoed in the answer.
    pub tid: Vec<u8>,
    /// The sender's client version (`v`), if given.
    pub version: Option<Vec<u8>>,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Query(Query),
    Response(Response),
    Error(KrpcError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Ping {
        id: NodeId,
    },
    FindNode {
        id: NodeId,
        target: NodeId,
    },
    GetPeers {
        id: NodeId,
        info_hash: NodeId,
    },
    AnnouncePeer {
        id: NodeId,
        info_hash: NodeId,
        port: u16,
        implied_port: bool,
        token: Vec<u8>,
    },
}

impl Query {
    /// The querying node's id.
    pub fn sender(&self) -> NodeId {
        match self {
            Query::Ping { id }
            | Query::FindNode { id, .. }
            | Query::GetPeers { id, .. }
            | Query::AnnouncePeer { id, .. } => *id,
        }
    }
    pub fn method(&self) -> &'static str {
        match self {
            Query::Ping { .. } => "ping",
            Query::FindNode { .. } => "find_node",
            Query::GetPeers { .. } => "get_peers",
            Query::AnnouncePeer { .. } => "announce_peer",
        }
    }
}

/// Any response: `id` always, the rest depending on the query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub id: NodeId,
    pub nodes: Vec<NodeInfo>,
    pub values: Vec<SocketAddr>,
    pub token: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrpcError {
    pub code: i64,
    pub message: String,
}

/// Why a datagram is not a valid KRPC message. `tid` is set when the
/// transaction id could be read, so a query can be answered with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("KRPC {what}")]
pub struct ParseError {
    pub tid: Option<Vec<u8>>,
    /// `y` was "q" (or missing/unknown): the sender expects an answer.
    pub wants_answer: bool,
    /// The KRPC error code to answer with (203 protocol, 204 method unknown).
    pub code: i64,
    pub what: String,
}

impl Message {
    pub fn query(tid: Vec<u8>, q: Query) -> Message {
        Message {
            tid,
            version: None,
            body: Body::Query(q),
        }
    }
    pub fn response(tid: Vec<u8>, r: Response) -> Message {
        Message {
            tid,
            version: None,
            body: Body::Response(r),
        }
    }
    pub fn error(tid: Vec<u8>, code: i64, message: impl Into<String>) -> Message {
        Message {
            tid,
            version: None,
            body: Body::Error(KrpcError {
                code,
                message: message.into(),
            }),
        }
    }

    /// Canonical bencoding (sorted keys).
    pub fn encode(&self) -> Vec<u8> {
        let mut d = OwnedValue::dict().with("t", OwnedValue::bytes(&self.tid));
        if let Some(v) = &self.version {
            d.insert("v", OwnedValue::bytes(v));
        }
        match &self.body {
            Body::Query(q) => {
                let mut a = OwnedValue::dict().with("id", OwnedValue::bytes(q.sender().0));
                match q {
                    Query::Ping { .. } => {}
                    Query::FindNode { target, .. } => {
                        a.insert("target", OwnedValue::bytes(target.0))
                    }
                    Query::GetPeers { info_hash, .. } => {
                        a.insert("info_hash", OwnedValue::bytes(info_hash.0))
                    }
                    Query::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                        token,
                        ..
                    } => {
                        a.insert("implied_port", OwnedValue::Int(*implied_port as i64));
                        a.insert("info_hash", OwnedValue::bytes(info_hash.0));
                        a.insert("port", OwnedValue::Int(*port as i64));
                        a.insert("token", OwnedValue::bytes(token));
                    }
                }
                d.insert("y", "q".into());
                d.insert("q", q.method().into());
                d.insert("a", a);
            }
            Body::Response(r) => {
                let mut rd = OwnedValue::dict().with("id", OwnedValue::bytes(r.id.0));
                if !r.nodes.is_empty() {
                    rd.insert("nodes", OwnedValue::Bytes(encode_nodes(&r.nodes)));
                }
                if !r.values.is_empty() {
                    rd.insert(
                        "values",
                        OwnedValue::List(
                            r.values
                                .iter()
                                .map(|a| OwnedValue::Bytes(encode_peer(a)))
                                .collect(),
                        ),
                    );
                }
                if let Some(t) = &r.token {
                    rd.insert("token", OwnedValue::bytes(t));
                }
                d.insert("y", "r".into());
                d.insert("r", rd);
            }
            Body::Error(e) => {
                d.insert("y", "e".into());
                d.insert(
                    "e",
                    OwnedValue::List(vec![
                        OwnedValue::Int(e.code),
                        OwnedValue::bytes(e.message.as_bytes()),
                    ]),
                );
            }
        }
        d.encode()
    }
}

/// Compact node info: 26 bytes per node.
pub fn encode_nodes(nodes: &[NodeInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * COMPACT_NODE_LEN);
    for n in nodes {
        out.extend_from_slice(&n.id.0);
        out.extend_from_slice(&n.addr.ip().octets());
        out.extend_from_slice(&n.addr.port().to_be_bytes());
    }
    out
}

/// Parse compact node info (a multiple of 26 bytes, at most `max` nodes).
pub fn parse_nodes(buf: &[u8], max: usize) -> Result<Vec<NodeInfo>, String> {
    if !buf.len().is_multiple_of(COMPACT_NODE_LEN) {
        return Err(format!(
            "{} bytes of compact node info is not a multiple of {COMPACT_NODE_LEN}",
            buf.len()
        ));
    }
    let n = buf.len() / COMPACT_NODE_LEN;
    if n > max {
        return Err(format!("{n} nodes, more than the limit of {max}"));
    }
    Ok(buf
        .chunks_exact(COMPACT_NODE_LEN)
        .map(|c| {
            let mut id = [0u8; 20];
            id.copy_from_slice(&c[..20]);
            NodeInfo {
                id: NodeId(id),
                addr: SocketAddrV4::new(
                    Ipv4Addr::new(c[20], c[21], c[22], c[23]),
                    u16::from_be_bytes([c[24], c[25]]),
                ),
            }
        })
        .collect())
}

/// Compact peer: 6 bytes for IPv4, 18 for IPv6.
pub fn encode_peer(a: &SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(18);
    match a {
        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
    }
    out.extend_from_slice(&a.port().to_be_bytes());
    out
}

fn parse_peer(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        6 => Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(b[0], b[1], b[2], b[3]),
            u16::from_be_bytes([b[4], b[5]]),
        ))),
        18 => {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[..16]);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                u16::from_be_bytes([b[16], b[17]]),
                0,
                0,
            )))
        }
        _ => None,
    }
}

struct Ctx {
    tid: Option<Vec<u8>>,
    wants_answer: bool,
}

impl Ctx {
    fn err<T>(&self, what: impl Into<String>) -> Result<T, ParseError> {
        self.err_code(code::PROTOCOL, what)
    }
    fn err_code<T>(&self, code: i64, what: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            tid: self.tid.clone(),
            wants_answer: self.wants_answer,
            code,
            what: what.into(),
        })
    }
}

fn id20(ctx: &Ctx, parent: &Value, field: &str, key: &str) -> Result<NodeId, ParseError> {
    match parent.get(key) {
        None => ctx.err(format!("{field}.{key}: missing")),
        Some(v) => match v.as_bytes() {
            Some(b) if b.len() == 20 => {
                let mut a = [0u8; 20];
                a.copy_from_slice(b);
                Ok(NodeId(a))
            }
            Some(b) => ctx.err(format!("{field}.{key}: {} bytes, expected 20", b.len())),
            None => ctx.err(format!(
                "{field}.{key}: {}, expected a byte string",
                v.type_name()
            )),
        },
    }
}

/// Parse one datagram.
pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
    let mut ctx = Ctx {
        tid: None,
        wants_answer: false,
    };
    if buf.len() > MAX_DATAGRAM {
        return ctx.err(format!(
            "datagram of {} bytes exceeds {MAX_DATAGRAM}",
            buf.len()
        ));
    }
    let v = bencode::decode_with(
        buf,
        bencode::Options {
            max_depth: MAX_DEPTH,
            lenient: true,
        },
    )
    .map_err(|e| ParseError {
        tid: None,
        wants_answer: false,
        code: code::PROTOCOL,
        what: format!("message: {e}"),
    })?;
    if v.as_dict().is_none() {
        return ctx.err(format!("message: {}, expected a dictionary", v.type_name()));
    }
    let y = v.get("y").and_then(|y| y.as_bytes());
    // Anything that is not clearly a response or an error may be a query
    // whose sender waits for an answer.
    ctx.wants_answer = !matches!(y, Some(b"r") | Some(b"e"));
    let tid = match v.get("t") {
        None => return ctx.err("t: missing"),
        Some(t) => match t.as_bytes() {
            None => return ctx.err(format!("t: {}, expected a byte string", t.type_name())),
            Some(t) if t.is_empty() || t.len() > MAX_TID_LEN => {
                return ctx.err(format!("t: {} bytes, expected 1 to {MAX_TID_LEN}", t.len()))
            }
            Some(t) => t.to_vec(),
        },
    };
    ctx.tid = Some(tid.clone());
    let version = match v.get("v") {
        None => None,
        Some(x) => match x.as_bytes() {
            Some(b) if b.len() <= 32 => Some(b.to_vec()),
            // Some clients send odd versions; it is informational only.
            _ => None,
        },
    };
    let body = match y {
        Some(b"q") => Body::Query(parse_query(&ctx, &v)?),
        Some(b"r") => Body::Response(parse_response(&ctx, &v)?),
        Some(b"e") => Body::Error(parse_error(&ctx, &v)?),
        Some(other) => {
            return ctx.err(format!(
                "y: {:?}, expected \"q\", \"r\" or \"e\"",
                String::from_utf8_lossy(&other[..other.len().min(16)])
            ))
        }
        None => return ctx.err("y: missing or not a byte string"),
    };
    Ok(Message { tid, version, body })
}

fn parse_query(ctx: &Ctx, v: &Value) -> Result<Query, ParseError> {
    let method = match v.get("q").and_then(|q| q.as_bytes()) {
        Some(m) => m,
        None => return ctx.err("q: missing or not a byte string"),
    };
    let a = match v.get("a") {
        Some(a) if a.as_dict().is_some() => a,
        Some(a) => return ctx.err(format!("a: {}, expected a dictionary", a.type_name())),
        None => return ctx.err("a: missing"),
    };
    let id = id20(ctx, a, "a", "id")?;
    Ok(match method {
        b"ping" => Query::Ping { id },
        b"find_node" => Query::FindNode {
            id,
            target: id20(ctx, a, "a", "target")?,
        },
        b"get_peers" => Query::GetPeers {
            id,
            info_hash: id20(ctx, a, "a", "info_hash")?,
        },
        b"announce_peer" => {
            let info_hash = id20(ctx, a, "a", "info_hash")?;
            let implied_port = match a.get("implied_port") {
                None => false,
                Some(x) => match x.as_int() {
                    Some(0) => false,
                    Some(1) => true,
                    _ => return ctx.err("a.implied_port: expected 0 or 1"),
                },
            };
            let port = match a.get("port").map(|p| p.as_int()) {
                Some(Some(p)) if (1..=65535).contains(&p) => p as u16,
                // The port is ignored when implied_port is set.
                _ if implied_port => 0,
                None => return ctx.err("a.port: missing"),
                Some(_) => return ctx.err("a.port: expected an integer from 1 to 65535"),
            };
            let token = match a.get("token").map(|t| t.as_bytes()) {
                Some(Some(t)) if t.len() <= MAX_TOKEN_LEN => t.to_vec(),
                Some(Some(t)) => {
                    return ctx.err(format!(
                        "a.token: {} bytes, more than {MAX_TOKEN_LEN}",
                        t.len()
                    ))
                }
                Some(None) => return ctx.err("a.token: expected a byte string"),
                None => return ctx.err("a.token: missing"),
            };
            Query::AnnouncePeer {
                id,
                info_hash,
                port,
                implied_port,
                token,
            }
        }
        other => {
            return ctx.err_code(
                code::METHOD_UNKNOWN,
                format!(
                    "q: unknown method {:?}",
                    String::from_utf8_lossy(&other[..other.len().min(32)])
                ),
            )
        }
    })
}

fn parse_response(ctx: &Ctx, v: &Value) -> Result<Response, ParseError> {
    let r = match v.get("r") {
        Some(r) if r.as_dict().is_some() => r,
        Some(r) => return ctx.err(format!("r: {}, expected a dictionary", r.type_name())),
        None => return ctx.err("r: missing"),
    };
    let id = id20(ctx, r, "r", "id")?;
    let nodes = match r.get("nodes") {
        None => Vec::new(),
        Some(n) => match n.as_bytes() {
            Some(b) => parse_nodes(b, MAX_NODES).or_else(|e| ctx.err(format!("r.nodes: {e}")))?,
            None => {
                return ctx.err(format!(
                    "r.nodes: {}, expected a byte string",
                    n.type_name()
                ))
            }
        },
    };
    let values = match r.get("values") {
        None => Vec::new(),
        Some(l) => match l.as_list() {
            Some(items) if items.len() > MAX_VALUES => {
                return ctx.err(format!(
                    "r.values: {} peers, more than the limit of {MAX_VALUES}",
                    items.len()
                ))
            }
            Some(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, it) in items.iter().enumerate() {
                    match it.as_bytes().and_then(parse_peer) {
                        Some(p) => out.push(p),
                        None => {
                            return ctx.err(format!(
                                "r.values[{i}]: expected a 6- or 18-byte compact peer"
                            ))
                        }
                    }
                }
                out
            }
            None => return ctx.err(format!("r.values: {}, expected a list", l.type_name())),
        },
    };
    let token = match r.get("token") {
        None => None,
        Some(t) => match t.as_bytes() {
            Some(b) if b.len() <= MAX_TOKEN_LEN => Some(b.to_vec()),
            Some(b) => {
                return ctx.err(format!(
                    "r.token: {} bytes, more than {MAX_TOKEN_LEN}",
                    b.len()
                ))
            }
            None => {
                return ctx.err(format!(
                    "r.token: {}, expected a byte string",
                    t.type_name()
                ))
            }
        },
    };
    Ok(Response {
        id,
        nodes,
        values,
        token,
    })
}

fn parse_error(ctx: &Ctx, v: &Value) -> Result<KrpcError, ParseError> {
    let l = match v.get("e").and_then(|e| e.as_list()) {
        Some(l) => l,
        None => return ctx.err("e: missing or not a list"),
    };
    let code = match l.first().and_then(|c| c.as_int()) {
        Some(c) => c,
        None => return ctx.err("e[0]: expected an integer error code"),
    };
    let message = match l.get(1).and_then(|m| m.as_bytes()) {
        Some(m) => {
            // At most 256 bytes of text, cut at a character boundary (invalid
            // UTF-8 grows when replaced), so that re-encoding the message and
            // parsing it again gives the same text.
            let mut s = String::from_utf8_lossy(&m[..m.len().min(256)]).into_owned();
            let mut end = s.len().min(256);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            s
        }
        None => String::new(),
    };
    Ok(KrpcError { code, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: u8) -> NodeId {
        NodeId([c; 20])
    }

    // Byte strings below are written out by hand from BEP 5's examples.
    const ID_A: &[u8] = b"abcdefghij0123456789";
    const ID_M: &[u8] = b"mnopqrstuvwxyz123456";

    fn nid(b: &[u8]) -> NodeId {
        NodeId(b.try_into().unwrap())
    }

    #[test]
    fn ping_bytes() {
        let q = Message::query(b"aa".to_vec(), Query::Ping { id: nid(ID_A) });
        let wire = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        assert_eq!(q.encode(), wire.to_vec());
        assert_eq!(parse(wire).unwrap(), q);
        let r = Message::response(
            b"aa".to_vec(),
            Response {
                id: nid(ID_M),
                ..Default::default()
            },
        );
        let wire = b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
        assert_eq!(r.encode(), wire.to_vec());
        assert_eq!(parse(wire).unwrap(), r);
    }

    #[test]
    fn find_node_bytes() {
        let q = Message::query(
            b"aa".to_vec(),
            Query::FindNode {
                id: nid(ID_A),
                target: nid(ID_M),
            },
        );
        let wire = b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe";
        assert_eq!(q.encode(), wire.to_vec());
        assert_eq!(parse(wire).unwrap(), q);

        let node = NodeInfo {
            id: id(0x41),
            addr: "1.2.3.4:6881".parse().unwrap(),
        };
        let r = Message::response(
            b"aa".to_vec(),
            Response {
                id: id(0x30),
                nodes: vec![node],
                ..Default::default()
            },
        );
        let mut wire = b"d1:rd2:id20:00000000000000000000".to_vec();
        wire.extend_from_slice(b"5:nodes26:AAAAAAAAAAAAAAAAAAAA\x01\x02\x03\x04\x1a\xe1");
        wire.extend_from_slice(b"e1:t2:aa1:y1:re");
        assert_eq!(r.encode(), wire);
        assert_eq!(parse(&wire).unwrap(), r);
    }

    #[test]
    fn get_peers_and_announce_bytes() {
        let q = Message::query(
            b"aa".to_vec(),
            Query::GetPeers {
                id: nid(ID_A),
                info_hash: nid(ID_M),
            },
        );
        let wire = b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe";
        assert_eq!(q.encode(), wire.to_vec());
        assert_eq!(parse(wire).unwrap(), q);

        let r = Message::response(
            b"aa".to_vec(),
            Response {
                id: nid(ID_A),
                values: vec![
                    "97.120.106.101:11893".parse().unwrap(),
                    "105.100.104.116:28269".parse().unwrap(),
                ],
                token: Some(b"aoeusnth".to_vec()),
                ..Default::default()
            },
        );
        let wire = b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re";
        assert_eq!(r.encode(), wire.to_vec());
        assert_eq!(parse(wire).unwrap(), r);

        let q = Message::query(
            b"aa".to_vec(),
            Query::AnnouncePeer {
                id: nid(ID_A),
                info_hash: nid(ID_M),
                port: 6881,
                implied_port: true,
                token: b"aoeusnth".to_vec(),
            },
        );
        let wire = b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
        assert_eq!(q.encode(), wire.to_vec());
        assert_eq!(parse(wire).unwrap(), q);
        // Without implied_port (BEP 5's own example).
        let wire = b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
        match parse(wire).unwrap().body {
            Body::Query(Query::AnnouncePeer {
                port, implied_port, ..
            }) => assert_eq!((port, implied_port), (6881, false)),
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn error_bytes() {
        let e = Message::error(b"aa".to_vec(), 201, "A Generic Error Ocurred");
        let wire = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
        assert_eq!(e.encode(), wire.to_vec());
        assert_eq!(parse(wire).unwrap(), e);
    }

    /// Found with the krpc fuzz target's round-trip check: 300 bytes of
    /// invalid UTF-8 became 256 replacement characters (768 bytes), which
    /// parsed again were cut in the middle of a character.
    #[test]
    fn error_message_round_trips() {
        let mut wire = b"d1:eli201e300:".to_vec();
        wire.extend_from_slice(&[0xff; 300]);
        wire.extend_from_slice(b"e1:t2:aa1:y1:ee");
        let m = parse(&wire).unwrap();
        let Body::Error(e) = &m.body else { panic!() };
        assert!(e.message.len() <= 256 && e.message.starts_with('\u{fffd}'));
        assert_eq!(parse(&m.encode()).unwrap(), m);
    }

    #[test]
    fn version_is_kept() {
        let wire = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:v4:LT011:y1:qe";
        let m = parse(wire).unwrap();
        assert_eq!(m.version.as_deref(), Some(&b"LT01"[..]));
        assert_eq!(m.encode(), wire.to_vec());
    }

    #[test]
    fn malformed() {
        // Not bencode: no tid, nothing to answer.
        let e = parse(b"garbage").unwrap_err();
        assert_eq!(e.tid, None);
        // Unknown method: answerable with 204.
        let e = parse(b"d1:ad2:id20:abcdefghij0123456789e1:q4:vote1:t2:xy1:y1:qe").unwrap_err();
        assert_eq!(
            (e.tid.as_deref(), e.code, e.wants_answer),
            (Some(&b"xy"[..]), 204, true)
        );
        // Short id: 203, names the field.
        let e = parse(b"d1:ad2:id3:abce1:q4:ping1:t2:xy1:y1:qe").unwrap_err();
        assert_eq!(e.code, 203);
        assert!(e.what.contains("a.id"), "{}", e.what);
        // A bad response is not answered.
        let e = parse(b"d1:rd2:id3:abce1:t2:xy1:y1:re").unwrap_err();
        assert!(!e.wants_answer);
        assert!(e.what.contains("r.id"));
        // Nodes not a multiple of 26.
        let e = parse(b"d1:rd2:id20:abcdefghij01234567895:nodes3:abce1:t2:xy1:y1:re").unwrap_err();
        assert!(e.what.contains("r.nodes"), "{}", e.what);
        // Bad value entry.
        let e =
            parse(b"d1:rd2:id20:abcdefghij01234567896:valuesl3:abcee1:t2:xy1:y1:re").unwrap_err();
        assert!(e.what.contains("r.values[0]"), "{}", e.what);
        // Missing tid.
        let e = parse(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:y1:qe").unwrap_err();
        assert_eq!(e.tid, None);
        assert!(e.what.starts_with("t:"));
        // Port out of range.
        let e = parse(b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe").unwrap_err();
        assert!(e.what.contains("a.port"));
        // Not a dictionary.
        assert!(parse(b"li1ee").is_err());
        // Too large.
        assert!(parse(&vec![b'x'; MAX_DATAGRAM + 1]).is_err());
    }

    #[test]
    fn node_limits() {
        let nodes: Vec<NodeInfo> = (0..10)
            .map(|i| NodeInfo {
                id: id(i),
                addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1000 + i as u16),
            })
            .collect();
        let b = encode_nodes(&nodes);
        assert_eq!(parse_nodes(&b, 10).unwrap(), nodes);
        assert!(parse_nodes(&b, 9).is_err());
        assert!(parse_nodes(&b[..25], 10).is_err());
    }
}
