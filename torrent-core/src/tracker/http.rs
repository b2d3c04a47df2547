//! HTTP tracker protocol (BEP 3, 7, 23, 48) without the HTTP: URL building
//! and response parsing.
//!
//! The URL is built by hand because binary values (info_hash, peer_id) must
//! be percent-encoded byte by byte; HTTP client query builders would
//! re-encode them as UTF-8.

use super::{
    parse_compact_v4, parse_compact_v6, AnnounceRequest, AnnounceResponse, ErrorKind,
    ScrapeResponse, ScrapeStats, DEFAULT_MAX_PEERS,
};
use crate::bencode::{self, Value};
use crate::infohash::InfoHash;
use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::net::{IpAddr, SocketAddr};

/// Bytes left as they are in query values: RFC 3986 unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encode arbitrary bytes for a query value.
pub fn encode_bytes(b: &[u8]) -> String {
    percent_encode(b, QUERY_VALUE).to_string()
}

/// Append `query` (without `?`/`&`) to `base`, keeping any query string
/// the base already has (e.g. a passkey) and any fragment out of the way.
fn append_query(base: &str, query: &str) -> String {
    let (base, fragment) = match base.find('#') {
        Some(i) => base.split_at(i),
        None => (base, ""),
    };
    let sep = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let _ = fragment; // fragments are never sent to a server
    format!("{base}{sep}{query}")
}

/// The full announce URL for `req` on the tracker `base`.
pub fn announce_url(base: &str, req: &AnnounceRequest) -> String {
    let mut q = format!(
        "info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact=1",
        encode_bytes(req.info_hash.as_bytes()),
        encode_bytes(&req.peer_id),
        req.port,
        req.uploaded,
        req.downloaded,
        req.left,
    );
    if let Some(ev) = req.event.http_name() {
        q.push_str("&event=");
        q.push_str(ev);
    }
    if let Some(n) = req.numwant {
        q.push_str(&format!("&numwant={n}"));
    }
    q.push_str(&format!("&key={:08x}", req.key));
    append_query(base, &q)
}

/// The BEP 48 scrape URL: the last path segment must start with
/// `announce`, which is replaced by `scrape`; then the info-hashes.
pub fn scrape_url(base: &str, info_hashes: &[InfoHash]) -> Result<String, ErrorKind> {
    let (no_frag, _) = base.split_once('#').unwrap_or((base, ""));
    let (path_part, query) = match no_frag.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (no_frag, None),
    };
    let slash = path_part.rfind('/').ok_or(ErrorKind::NoScrape)?;
    // The slash must be past "scheme://host".
    let after_scheme = path_part.find("://").map(|i| i + 3).unwrap_or(0);
    if slash < after_scheme {
        return Err(ErrorKind::NoScrape);
    }
    let last = &path_part[slash + 1..];
    let rest = last.strip_prefix("announce").ok_or(ErrorKind::NoScrape)?;
    let mut url = format!("{}scrape{}", &path_part[..=slash], rest);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    let q: Vec<String> = info_hashes
        .iter()
        .map(|h| format!("info_hash={}", encode_bytes(h.as_bytes())))
        .collect();
    if q.is_empty() {
        Ok(url)
    } else {
        Ok(append_query(&url, &q.join("&")))
    }
}

fn decode_dict(body: &[u8]) -> Result<Value<'_>, ErrorKind> {
    // Lenient: keys in any order, and bytes after the dictionary (a
    // newline, say) are ignored, as other clients do.
    let (v, _) = bencode::decode_lenient_prefix(body).map_err(ErrorKind::NotBencode)?;
    if v.as_dict().is_none() {
        return Err(ErrorKind::Malformed(format!(
            "response is a {}, not a dictionary",
            v.type_name()
        )));
    }
    if let Some(f) = v.get("failure reason") {
        let text = f
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| format!("(failure reason is a {})", f.type_name()));
        return Err(ErrorKind::Failure(text));
    }
    Ok(v)
}

fn get_u32(v: &Value, key: &str) -> Result<Option<u32>, ErrorKind> {
    match v.get(key) {
        None => Ok(None),
        Some(x) => {
            let i = x.as_int().ok_or_else(|| {
                ErrorKind::Malformed(format!("{key:?} is a {}, not an integer", x.type_name()))
            })?;
            // Clamp absurd values instead of failing: they are advisory.
            Ok(Some(i.clamp(0, u32::MAX as i64) as u32))
        }
    }
}

fn get_string(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(|x| x.as_bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Parse an announce reply with the default peer limit.
pub fn parse_announce_response(body: &[u8]) -> Result<AnnounceResponse, ErrorKind> {
    parse_announce_response_with(body, DEFAULT_MAX_PEERS)
}

/// Parse an announce reply: compact or dictionary `peers`, and `peers6`.
/// A `failure reason` becomes [`ErrorKind::Failure`].
pub fn parse_announce_response_with(
    body: &[u8],
    max_peers: usize,
) -> Result<AnnounceResponse, ErrorKind> {
    let v = decode_dict(body)?;
    let interval = get_u32(&v, "interval")?
        .ok_or_else(|| ErrorKind::Malformed("no \"interval\" in the response".into()))?;
    let mut peers = Vec::new();
    match v.get("peers") {
        None => {}
        Some(p) => match &p.kind {
            bencode::Kind::Bytes(b) => peers = parse_compact_v4(b, max_peers)?,
            bencode::Kind::List(list) => {
                if list.len() > max_peers {
                    return Err(ErrorKind::TooManyPeers {
                        count: list.len(),
                        max: max_peers,
                    });
                }
                for (i, entry) in list.iter().enumerate() {
                    peers.push(parse_peer_dict(entry).map_err(|m| {
                        ErrorKind::Malformed(format!("peers[{i}]: {m}"))
                    })?);
                }
            }
            _ => {
                return Err(ErrorKind::Malformed(format!(
                    "\"peers\" is a {}",
                    p.type_name()
                )))
            }
        },
    }
    if let Some(p6) = v.get("peers6") {
        let b = p6.as_bytes().ok_or_else(|| {
            ErrorKind::Malformed(format!("\"peers6\" is a {}", p6.type_name()))
        })?;
        let more = parse_compact_v6(b, max_peers)?;
        if peers.len() + more.len() > max_peers {
            return Err(ErrorKind::TooManyPeers {
                count: peers.len() + more.len(),
                max: max_peers,
            });
        }
        peers.extend(more);
    }
    Ok(AnnounceResponse {
        interval,
        min_interval: get_u32(&v, "min interval")?,
        peers,
        complete: get_u32(&v, "complete")?,
        incomplete: get_u32(&v, "incomplete")?,
        warning: get_string(&v, "warning message"),
        tracker_id: get_string(&v, "tracker id"),
    })
}

fn parse_peer_dict(entry: &Value) -> Result<SocketAddr, String> {
    if entry.as_dict().is_none() {
        return Err(format!("is a {}, not a dictionary", entry.type_name()));
    }
    let ip = entry
        .get("ip")
        .and_then(|x| x.as_str())
        .ok_or("no \"ip\" string")?;
    let port = entry
        .get("port")
        .and_then(|x| x.as_int())
        .ok_or("no \"port\" integer")?;
    let port = u16::try_from(port).map_err(|_| format!("port {port} out of range"))?;
    // Hostnames are allowed by BEP 3 but we do not resolve them here.
    let ip: IpAddr = ip
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("ip {ip:?} is not an IP address"))?;
    Ok(SocketAddr::new(ip, port))
}

/// Parse a scrape reply (`files` dictionary keyed by raw info-hash).
pub fn parse_scrape_response(body: &[u8]) -> Result<ScrapeResponse, ErrorKind> {
    let v = decode_dict(body)?;
    let files = v
        .get("files")
        .ok_or_else(|| ErrorKind::Malformed("no \"files\" in the scrape response".into()))?;
    let entries = files.as_dict().ok_or_else(|| {
        ErrorKind::Malformed(format!("\"files\" is a {}", files.type_name()))
    })?;
    let mut out = Vec::with_capacity(entries.len());
    for (k, s) in entries {
        let h: [u8; 20] = (*k).try_into().map_err(|_| {
            ErrorKind::Malformed(format!("scrape key of {} bytes is not an info-hash", k.len()))
        })?;
        if s.as_dict().is_none() {
            return Err(ErrorKind::Malformed(format!(
                "scrape entry for {} is a {}",
                hex::encode(h),
                s.type_name()
            )));
        }
        out.push((
            InfoHash(h),
            ScrapeStats {
                complete: get_u32(s, "complete")?.unwrap_or(0),
                incomplete: get_u32(s, "incomplete")?.unwrap_or(0),
                downloaded: get_u32(s, "downloaded")?.unwrap_or(0),
            },
        ));
    }
    Ok(ScrapeResponse { files: out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::OwnedValue as O;
    use crate::tracker::Event;

    fn req() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([
                0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf1, 0x23, 0x45, 0x67, 0x89, 0xab,
                0xcd, 0xef, 0x12, 0x34, 0x56, 0x78, 0x9a,
            ]),
            peer_id: *b"-TK0001-abc~. _\xff\x00zzz",
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: Event::Started,
            numwant: Some(20),
            key: 0xdeadbeef,
        }
    }

    #[test]
    fn announce_url_encoding() {
        let u = announce_url("http://t.example/announce", &req());
        assert_eq!(
            u,
            "http://t.example/announce?info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A\
             &peer_id=-TK0001-abc~.%20_%FF%00zzz&port=6881&uploaded=1&downloaded=2&left=3\
             &compact=1&event=started&numwant=20&key=deadbeef"
        );
    }

    #[test]
    fn announce_url_keeps_passkey() {
        let mut r = req();
        r.event = Event::None;
        r.numwant = None;
        let u = announce_url("http://t/announce.php?passkey=abc#frag", &r);
        assert!(u.starts_with("http://t/announce.php?passkey=abc&info_hash="), "{u}");
        assert!(!u.contains("event="));
        assert!(!u.contains("numwant="));
        assert!(!u.contains('#'));
        let u = announce_url("http://t/a?", &r);
        assert!(u.starts_with("http://t/a?info_hash="), "{u}");
    }

    #[test]
    fn scrape_urls() {
        let h = InfoHash([0xaa; 20]);
        let enc = "%AA".repeat(20);
        assert_eq!(
            scrape_url("http://t/announce", &[h]).unwrap(),
            format!("http://t/scrape?info_hash={enc}")
        );
        assert_eq!(
            scrape_url("http://t/x/announce.php?pk=1", &[h, h]).unwrap(),
            format!("http://t/x/scrape.php?pk=1&info_hash={enc}&info_hash={enc}")
        );
        assert_eq!(scrape_url("http://t/announce", &[]).unwrap(), "http://t/scrape");
        assert_eq!(scrape_url("http://t/a", &[h]), Err(ErrorKind::NoScrape));
        assert_eq!(
            scrape_url("http://t/announce/x", &[h]),
            Err(ErrorKind::NoScrape)
        );
        assert_eq!(scrape_url("http://announce", &[h]), Err(ErrorKind::NoScrape));
    }

    #[test]
    fn parse_compact_and_dict_peers() {
        let body = O::dict()
            .with("interval", 1800.into())
            .with("min interval", 900.into())
            .with("complete", 3.into())
            .with("incomplete", 4.into())
            .with("peers", O::bytes([127, 0, 0, 1, 0x1a, 0xe1]))
            .with("peers6", O::bytes([[0u8; 15].as_slice(), &[1, 0, 80]].concat()))
            .with("warning message", "careful".into())
            .with("tracker id", "tid".into())
            .encode();
        let r = parse_announce_response(&body).unwrap();
        assert_eq!(r.interval, 1800);
        assert_eq!(r.min_interval, Some(900));
        assert_eq!(r.complete, Some(3));
        assert_eq!(r.incomplete, Some(4));
        assert_eq!(
            r.peers,
            vec![
                "127.0.0.1:6881".parse::<SocketAddr>().unwrap(),
                "[::1]:80".parse().unwrap()
            ]
        );
        assert_eq!(r.warning.as_deref(), Some("careful"));
        assert_eq!(r.tracker_id.as_deref(), Some("tid"));

        let peer = |ip: &str, port: i64| {
            O::dict()
                .with("ip", ip.into())
                .with("port", port.into())
                .with("peer id", O::bytes([7u8; 20]))
        };
        let body = O::dict()
            .with("interval", 60.into())
            .with(
                "peers",
                O::List(vec![peer("10.0.0.1", 1), peer("::1", 2)]),
            )
            .encode();
        let r = parse_announce_response(&body).unwrap();
        assert_eq!(
            r.peers,
            vec![
                "10.0.0.1:1".parse::<SocketAddr>().unwrap(),
                "[::1]:2".parse().unwrap()
            ]
        );
        let bad = O::dict()
            .with("interval", 60.into())
            .with("peers", O::List(vec![peer("10.0.0.1", 70000)]))
            .encode();
        assert!(matches!(
            parse_announce_response(&bad),
            Err(ErrorKind::Malformed(m)) if m.contains("peers[0]") && m.contains("70000")
        ));
    }

    #[test]
    fn failure_and_errors() {
        let body = O::dict()
            .with("failure reason", "not registered".into())
            .encode();
        assert_eq!(
            parse_announce_response(&body),
            Err(ErrorKind::Failure("not registered".into()))
        );
        assert_eq!(
            parse_scrape_response(&body),
            Err(ErrorKind::Failure("not registered".into()))
        );
        let e = parse_announce_response(b"<html>").unwrap_err();
        assert!(matches!(e, ErrorKind::NotBencode(_)));
        assert!(e.to_string().starts_with("response is not bencode: bencode error at byte 0"));
        assert!(matches!(
            parse_announce_response(b"d5:peers0:e"),
            Err(ErrorKind::Malformed(m)) if m.contains("interval")
        ));
        assert!(matches!(
            parse_announce_response(b"li1ee"),
            Err(ErrorKind::Malformed(m)) if m.contains("list")
        ));
        let many = O::dict()
            .with("interval", 60.into())
            .with("peers", O::bytes(vec![1u8; 6 * 11]))
            .encode();
        assert_eq!(
            parse_announce_response_with(&many, 10),
            Err(ErrorKind::TooManyPeers { count: 11, max: 10 })
        );
        assert_eq!(parse_announce_response_with(&many, 11).unwrap().peers.len(), 11);
    }

    #[test]
    fn unsorted_keys_and_trailing_newline() {
        // As a real tracker answered: keys not sorted, a newline after.
        let body = b"d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe18:completei1ee\n";
        let r = parse_announce_response(body).unwrap();
        assert_eq!(r.interval, 1800);
        assert_eq!(r.peers, vec!["127.0.0.1:6881".parse().unwrap()]);
        assert_eq!(r.complete, Some(1));
        // The first of a duplicate key wins.
        let r = parse_announce_response(b"d8:intervali60e8:intervali5e5:peers0:e").unwrap();
        assert_eq!(r.interval, 60);
        // Garbage is still garbage.
        assert!(parse_announce_response(b"d8:intervali60e5:peers0:").is_err());
    }

    #[test]
    fn scrape_parse() {
        let h = [5u8; 20];
        let mut files = std::collections::BTreeMap::new();
        files.insert(
            h.to_vec(),
            O::dict()
                .with("complete", 1.into())
                .with("incomplete", 2.into())
                .with("downloaded", 3.into()),
        );
        let body = O::dict().with("files", O::Dict(files)).encode();
        let r = parse_scrape_response(&body).unwrap();
        assert_eq!(
            r.get(&InfoHash(h)),
            Some(ScrapeStats {
                complete: 1,
                incomplete: 2,
                downloaded: 3
            })
        );
        assert!(parse_scrape_response(b"de").is_err());
        assert!(parse_scrape_response(b"d5:filesd3:abcdeee").is_err());
    }
}
