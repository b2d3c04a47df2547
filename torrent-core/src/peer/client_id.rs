//! Peer ids to client names (BEP 20): Azureus style `-XX1234-` and Shadow
//! style `X1234-----`, plus a few well-known odd ones.

/// Azureus-style two-letter codes.
const AZUREUS: &[(&str, &str)] = &[
    ("A2", "aria2"),
    ("AZ", "Vuze (Azureus)"),
    ("BC", "BitComet"),
    ("BI", "BiglyBT"),
    ("BT", "mainline BitTorrent"),
    ("DE", "Deluge"),
    ("FW", "FrostWire"),
    ("KT", "KTorrent"),
    ("LT", "libtorrent (Rasterbar)"),
    ("lt", "libTorrent (rakshasa)"),
    ("PI", "PicoTorrent"),
    ("qB", "qBittorrent"),
    ("RT", "Retriever"),
    ("SD", "Thunder (XunLei)"),
    ("TK", "torrent-toolkit"),
    ("TL", "Tribler"),
    ("TR", "Transmission"),
    ("UM", "uTorrent for Mac"),
    ("UT", "uTorrent"),
    ("UW", "uTorrent Web"),
    ("WD", "WebTorrent Desktop"),
    ("WW", "WebTorrent"),
    ("XL", "Xunlei"),
    ("BB", "BitBuddy"),
    ("CT", "CTorrent"),
    ("CD", "Enhanced CTorrent"),
    ("LW", "LimeWire"),
    ("MO", "MonoTorrent"),
    ("RZ", "RezTorrent"),
    ("ST", "SymTorrent"),
    ("TT", "TuoTu"),
    ("XT", "XanTorrent"),
    ("ZT", "ZipTorrent"),
];

/// Shadow-style one-letter codes.
const SHADOW: &[(u8, &str)] = &[
    (b'A', "ABC"),
    (b'O', "Osprey Permaseed"),
    (b'Q', "BTQueue"),
    (b'R', "Tribler"),
    (b'S', "Shadow's client"),
    (b'T', "BitTornado"),
    (b'U', "UPnP NAT Bit Torrent"),
];

fn version_digit(c: u8) -> Option<String> {
    match c {
        b'0'..=b'9' => Some((c as char).to_string()),
        b'A'..=b'Z' => Some((c - b'A' + 10).to_string()),
        b'a'..=b'z' => Some((c - b'a' + 36).to_string()),
        b'.' => Some("62".into()),
        b'-' => Some("63".into()),
        _ => None,
    }
}

/// The client a peer id names, with its version, if we recognise it.
pub fn client_name(peer_id: &[u8; 20]) -> Option<String> {
    // Azureus style: -XXvvvv-
    if peer_id[0] == b'-' && peer_id[7] == b'-' {
        let code = std::str::from_utf8(&peer_id[1..3]).ok()?;
        let v = &peer_id[3..7];
        if !v.iter().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let version = match code {
            // Transmission: -TR2840- is 2.84, -TR300Z- is 3.00 beta
            "TR" => {
                let major = (v[0] as char).to_string();
                let minor: String = v[1..3].iter().map(|&c| c as char).collect();
                let suffix = match v[3] {
                    b'Z' => " (beta)",
                    b'X' => " (dev)",
                    _ => "",
                };
                if v[0] == b'0' {
                    format!("0.{minor}{suffix}")
                } else {
                    format!("{major}.{minor}{suffix}")
                }
            }
            _ => v
                .iter()
                .map(|&c| version_digit(c).unwrap_or_else(|| "?".into()))
                .collect::<Vec<_>>()
                .join("."),
        };
        let name = AZUREUS
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| format!("unknown client {code}"));
        return Some(format!("{name} {version}"));
    }
    // aria2 writes A2-<major>-<minor>-<patch>-
    if peer_id.starts_with(b"A2-") {
        let v: Vec<&[u8]> = peer_id[3..].split(|&c| c == b'-').take(3).collect();
        if v.len() == 3
            && v.iter()
                .all(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit))
        {
            let v: Vec<String> = v
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            return Some(format!("aria2 {}", v.join(".")));
        }
    }
    // Mainline: M7-2-3-- (M<major>-<minor>-<patch>--)
    if peer_id[0] == b'M' && peer_id[1].is_ascii_digit() {
        let s: String = peer_id[1..8]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'-')
            .map(|&c| c as char)
            .collect();
        let parts: Vec<&str> = s.split('-').filter(|p| !p.is_empty()).collect();
        if !parts.is_empty() {
            return Some(format!("mainline BitTorrent {}", parts.join(".")));
        }
    }
    // Shadow style: X + up to 5 version chars, then '-' padding
    if let Some((_, name)) = SHADOW.iter().find(|(c, _)| *c == peer_id[0]) {
        let ver = &peer_id[1..6];
        if peer_id[6..9] == *b"---" || ver.contains(&b'-') {
            let digits: Vec<String> = ver
                .iter()
                .take_while(|&&c| c != b'-')
                .filter_map(|&c| version_digit(c))
                .collect();
            if !digits.is_empty() {
                return Some(format!("{name} {}", digits.join(".")));
            }
        }
    }
    if peer_id.starts_with(b"exbc") {
        return Some("BitComet (old)".into());
    }
    None
}

/// Hex and a printable rendering (non-printable bytes as `.`).
pub fn printable(peer_id: &[u8; 20]) -> String {
    peer_id
        .iter()
        .map(|&c| if c.is_ascii_graphic() { c as char } else { '.' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &[u8]) -> [u8; 20] {
        let mut a = [0u8; 20];
        a[..s.len()].copy_from_slice(s);
        a
    }

    #[test]
    fn known_clients() {
        assert_eq!(
            client_name(&id(b"A2-1-37-0-\x01\x02\x03")).unwrap(),
            "aria2 1.37.0"
        );
        assert_eq!(
            client_name(&id(b"-A21360-xxxxxxxxxxxx")).unwrap(),
            "aria2 1.3.6.0"
        );
        assert_eq!(
            client_name(&id(b"-TR2940-xxxxxxxxxxxx")).unwrap(),
            "Transmission 2.94"
        );
        assert_eq!(
            client_name(&id(b"-TR400Z-xxxxxxxxxxxx")).unwrap(),
            "Transmission 4.00 (beta)"
        );
        assert_eq!(
            client_name(&id(b"-LT2090-xxxxxxxxxxxx")).unwrap(),
            "libtorrent (Rasterbar) 2.0.9.0"
        );
        assert_eq!(
            client_name(&id(b"-LT1B10-xxxxxxxxxxxx")).unwrap(),
            "libtorrent (Rasterbar) 1.11.1.0"
        );
        assert_eq!(
            client_name(&id(b"-qB4630-xxxxxxxxxxxx")).unwrap(),
            "qBittorrent 4.6.3.0"
        );
        assert_eq!(
            client_name(&id(b"-UT355W-xxxxxxxxxxxx")).unwrap(),
            "uTorrent 3.5.5.32"
        );
        assert_eq!(
            client_name(&id(b"-DE13F0-xxxxxxxxxxxx")).unwrap(),
            "Deluge 1.3.15.0"
        );
        assert_eq!(
            client_name(&id(b"-TK0100-xxxxxxxxxxxx")).unwrap(),
            "torrent-toolkit 0.1.0.0"
        );
        assert_eq!(
            client_name(&id(b"-ZZ1000-xxxxxxxxxxxx")).unwrap(),
            "unknown client ZZ 1.0.0.0"
        );
        assert_eq!(
            client_name(&id(b"T03A0----xxxxxxxxxxx")).unwrap(),
            "BitTornado 0.3.10.0"
        );
        assert_eq!(
            client_name(&id(b"S58B-----xxxxxxxxxxx")).unwrap(),
            "Shadow's client 5.8.11"
        );
        assert_eq!(
            client_name(&id(b"M7-2-3--xxxxxxxxxxxx")).unwrap(),
            "mainline BitTorrent 7.2.3"
        );
        assert_eq!(client_name(&[0xff; 20]), None);
        assert_eq!(client_name(&id(b"-xx\x001-xxxxxxxxxxxxx")), None);
        assert_eq!(printable(&id(b"-TK0100-ab")), "-TK0100-ab..........");
    }
}
