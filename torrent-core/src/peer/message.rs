//! Peer wire messages (BEP 3, fast extension BEP 6, extension protocol
//! BEP 10): the typed [`Message`], its length-prefixed encoding, and the
//! decoding of one message body.

use super::error::ProtocolError;

/// The block size everyone requests (16 KiB).
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// Message ids.
pub mod id {
    pub const CHOKE: u8 = 0;
    pub const UNCHOKE: u8 = 1;
    pub const INTERESTED: u8 = 2;
    pub const NOT_INTERESTED: u8 = 3;
    pub const HAVE: u8 = 4;
    pub const BITFIELD: u8 = 5;
    pub const REQUEST: u8 = 6;
    pub const PIECE: u8 = 7;
    pub const CANCEL: u8 = 8;
    pub const PORT: u8 = 9;
    pub const SUGGEST_PIECE: u8 = 0x0D;
    pub const HAVE_ALL: u8 = 0x0E;
    pub const HAVE_NONE: u8 = 0x0F;
    pub const REJECT_REQUEST: u8 = 0x10;
    pub const ALLOWED_FAST: u8 = 0x11;
    pub const EXTENDED: u8 = 20;
}

/// A block of a piece: (piece index, offset in the piece, length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    pub index: u32,
    pub begin: u32,
    pub length: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Vec<u8>),
    Request {
        index: u32,
        begin: u32,
        length: u32,
    },
    Piece {
        index: u32,
        begin: u32,
        data: Vec<u8>,
    },
    Cancel {
        index: u32,
        begin: u32,
        length: u32,
    },
    Port(u16),
    // BEP 6
    SuggestPiece(u32),
    HaveAll,
    HaveNone,
    RejectRequest {
        index: u32,
        begin: u32,
        length: u32,
    },
    AllowedFast(u32),
    // BEP 10
    Extended {
        id: u8,
        payload: Vec<u8>,
    },
}

/// Payload length rule of a message id: Some(exact) or None (variable).
pub(crate) fn fixed_payload_len(msg_id: u8) -> Result<Option<usize>, ProtocolError> {
    use id::*;
    Ok(match msg_id {
        CHOKE | UNCHOKE | INTERESTED | NOT_INTERESTED | HAVE_ALL | HAVE_NONE => Some(0),
        HAVE | SUGGEST_PIECE | ALLOWED_FAST => Some(4),
        REQUEST | CANCEL | REJECT_REQUEST => Some(12),
        PORT => Some(2),
        BITFIELD | PIECE | EXTENDED => None,
        other => return Err(ProtocolError::UnknownMessageId(other)),
    })
}

/// Name of a message id, for errors and logs.
pub fn id_name(msg_id: u8) -> &'static str {
    use id::*;
    match msg_id {
        CHOKE => "choke",
        UNCHOKE => "unchoke",
        INTERESTED => "interested",
        NOT_INTERESTED => "not interested",
        HAVE => "have",
        BITFIELD => "bitfield",
        REQUEST => "request",
        PIECE => "piece",
        CANCEL => "cancel",
        PORT => "port",
        SUGGEST_PIECE => "suggest piece",
        HAVE_ALL => "have all",
        HAVE_NONE => "have none",
        REJECT_REQUEST => "reject request",
        ALLOWED_FAST => "allowed fast",
        EXTENDED => "extended",
        _ => "unknown",
    }
}

fn expected_str(n: usize) -> &'static str {
    match n {
        0 => "0",
        2 => "2",
        4 => "4",
        12 => "12",
        _ => "?",
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Header of a piece message carrying `block_len` bytes: write these 13
/// bytes, then the block itself (no copy of the block into a message).
pub fn piece_header(index: u32, begin: u32, block_len: usize) -> [u8; 13] {
    let mut h = [0u8; 13];
    h[..4].copy_from_slice(&(9 + block_len as u32).to_be_bytes());
    h[4] = id::PIECE;
    h[5..9].copy_from_slice(&index.to_be_bytes());
    h[9..13].copy_from_slice(&begin.to_be_bytes());
    h
}

impl Message {
    /// The message's id (None for keep-alive).
    pub fn id(&self) -> Option<u8> {
        use Message::*;
        Some(match self {
            KeepAlive => return None,
            Choke => id::CHOKE,
            Unchoke => id::UNCHOKE,
            Interested => id::INTERESTED,
            NotInterested => id::NOT_INTERESTED,
            Have(_) => id::HAVE,
            Bitfield(_) => id::BITFIELD,
            Request { .. } => id::REQUEST,
            Piece { .. } => id::PIECE,
            Cancel { .. } => id::CANCEL,
            Port(_) => id::PORT,
            SuggestPiece(_) => id::SUGGEST_PIECE,
            HaveAll => id::HAVE_ALL,
            HaveNone => id::HAVE_NONE,
            RejectRequest { .. } => id::REJECT_REQUEST,
            AllowedFast(_) => id::ALLOWED_FAST,
            Extended { .. } => id::EXTENDED,
        })
    }

    pub fn name(&self) -> &'static str {
        match self.id() {
            None => "keep-alive",
            Some(i) => id_name(i),
        }
    }

    /// Length of the encoding, including the 4-byte length prefix.
    pub fn encoded_len(&self) -> usize {
        use Message::*;
        4 + match self {
            KeepAlive => 0,
            Choke | Unchoke | Interested | NotInterested | HaveAll | HaveNone => 1,
            Have(_) | SuggestPiece(_) | AllowedFast(_) => 5,
            Bitfield(b) => 1 + b.len(),
            Request { .. } | Cancel { .. } | RejectRequest { .. } => 13,
            Piece { data, .. } => 9 + data.len(),
            Port(_) => 3,
            Extended { payload, .. } => 2 + payload.len(),
        }
    }

    /// Append the length-prefixed encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        use Message::*;
        let len = self.encoded_len();
        out.reserve(len);
        out.extend_from_slice(&((len - 4) as u32).to_be_bytes());
        let Some(msg_id) = self.id() else { return };
        out.push(msg_id);
        match self {
            KeepAlive | Choke | Unchoke | Interested | NotInterested | HaveAll | HaveNone => {}
            Have(i) | SuggestPiece(i) | AllowedFast(i) => out.extend_from_slice(&i.to_be_bytes()),
            Bitfield(b) => out.extend_from_slice(b),
            Request {
                index,
                begin,
                length,
            }
            | Cancel {
                index,
                begin,
                length,
            }
            | RejectRequest {
                index,
                begin,
                length,
            } => {
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&begin.to_be_bytes());
                out.extend_from_slice(&length.to_be_bytes());
            }
            Piece { index, begin, data } => {
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&begin.to_be_bytes());
                out.extend_from_slice(data);
            }
            Port(p) => out.extend_from_slice(&p.to_be_bytes()),
            Extended { id, payload } => {
                out.push(*id);
                out.extend_from_slice(payload);
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut v);
        v
    }

    /// Decode a message body (the bytes after the length prefix: id and
    /// payload). An empty body is a keep-alive.
    pub fn decode_body(body: &[u8]) -> Result<Message, ProtocolError> {
        use Message::*;
        let Some((&msg_id, p)) = body.split_first() else {
            return Ok(KeepAlive);
        };
        if let Some(n) = fixed_payload_len(msg_id)? {
            if p.len() != n {
                return Err(ProtocolError::WrongPayloadLength {
                    msg: id_name(msg_id),
                    len: p.len(),
                    expected: expected_str(n),
                });
            }
        }
        let triple = || (u32_at(p, 0), u32_at(p, 4), u32_at(p, 8));
        Ok(match msg_id {
            id::CHOKE => Choke,
            id::UNCHOKE => Unchoke,
            id::INTERESTED => Interested,
            id::NOT_INTERESTED => NotInterested,
            id::HAVE_ALL => HaveAll,
            id::HAVE_NONE => HaveNone,
            id::HAVE => Have(u32_at(p, 0)),
            id::SUGGEST_PIECE => SuggestPiece(u32_at(p, 0)),
            id::ALLOWED_FAST => AllowedFast(u32_at(p, 0)),
            id::BITFIELD => Bitfield(p.to_vec()),
            id::REQUEST => {
                let (index, begin, length) = triple();
                Request {
                    index,
                    begin,
                    length,
                }
            }
            id::CANCEL => {
                let (index, begin, length) = triple();
                Cancel {
                    index,
                    begin,
                    length,
                }
            }
            id::REJECT_REQUEST => {
                let (index, begin, length) = triple();
                RejectRequest {
                    index,
                    begin,
                    length,
                }
            }
            id::PORT => Port(u16::from_be_bytes([p[0], p[1]])),
            id::PIECE => {
                if p.len() < 8 {
                    return Err(ProtocolError::WrongPayloadLength {
                        msg: "piece",
                        len: p.len(),
                        expected: "at least 8",
                    });
                }
                Piece {
                    index: u32_at(p, 0),
                    begin: u32_at(p, 4),
                    data: p[8..].to_vec(),
                }
            }
            id::EXTENDED => {
                let Some((&ext, payload)) = p.split_first() else {
                    return Err(ProtocolError::WrongPayloadLength {
                        msg: "extended",
                        len: 0,
                        expected: "at least 1",
                    });
                };
                Extended {
                    id: ext,
                    payload: payload.to_vec(),
                }
            }
            other => return Err(ProtocolError::UnknownMessageId(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message with its exact wire bytes.
    pub(crate) fn samples() -> Vec<(Message, Vec<u8>)> {
        use Message::*;
        vec![
            (KeepAlive, vec![0, 0, 0, 0]),
            (Choke, vec![0, 0, 0, 1, 0]),
            (Unchoke, vec![0, 0, 0, 1, 1]),
            (Interested, vec![0, 0, 0, 1, 2]),
            (NotInterested, vec![0, 0, 0, 1, 3]),
            (Have(0x01020304), vec![0, 0, 0, 5, 4, 1, 2, 3, 4]),
            (Bitfield(vec![0xff, 0x80]), vec![0, 0, 0, 3, 5, 0xff, 0x80]),
            (
                Request {
                    index: 1,
                    begin: 0x4000,
                    length: 0x4000,
                },
                vec![0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0],
            ),
            (
                Piece {
                    index: 2,
                    begin: 3,
                    data: b"abc".to_vec(),
                },
                vec![0, 0, 0, 12, 7, 0, 0, 0, 2, 0, 0, 0, 3, b'a', b'b', b'c'],
            ),
            (
                Cancel {
                    index: 1,
                    begin: 2,
                    length: 3,
                },
                vec![0, 0, 0, 13, 8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3],
            ),
            (Port(6881), vec![0, 0, 0, 3, 9, 0x1a, 0xe1]),
            (SuggestPiece(7), vec![0, 0, 0, 5, 0x0d, 0, 0, 0, 7]),
            (HaveAll, vec![0, 0, 0, 1, 0x0e]),
            (HaveNone, vec![0, 0, 0, 1, 0x0f]),
            (
                RejectRequest {
                    index: 9,
                    begin: 0,
                    length: 16384,
                },
                vec![0, 0, 0, 13, 0x10, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0x40, 0],
            ),
            (AllowedFast(258), vec![0, 0, 0, 5, 0x11, 0, 0, 1, 2]),
            (
                Extended {
                    id: 0,
                    payload: b"de".to_vec(),
                },
                vec![0, 0, 0, 4, 20, 0, b'd', b'e'],
            ),
            (
                Piece {
                    index: 0,
                    begin: 0,
                    data: vec![],
                },
                vec![0, 0, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
            (Bitfield(vec![]), vec![0, 0, 0, 1, 5]),
        ]
    }

    #[test]
    fn encode_decode_every_message() {
        for (m, wire) in samples() {
            assert_eq!(m.encode(), wire, "encode {m:?}");
            assert_eq!(m.encoded_len(), wire.len());
            assert_eq!(Message::decode_body(&wire[4..]).unwrap(), m, "decode {m:?}");
        }
    }

    #[test]
    fn piece_header_matches_encoding() {
        let m = Message::Piece {
            index: 5,
            begin: 32768,
            data: vec![9; 100],
        };
        let wire = m.encode();
        assert_eq!(&piece_header(5, 32768, 100)[..], &wire[..13]);
    }

    #[test]
    fn wrong_lengths_and_unknown_ids() {
        assert_eq!(
            Message::decode_body(&[4, 0, 0, 1]).unwrap_err(),
            ProtocolError::WrongPayloadLength {
                msg: "have",
                len: 3,
                expected: "4"
            }
        );
        assert_eq!(
            Message::decode_body(&[0, 1]).unwrap_err().to_string(),
            "wrong payload length for choke: 1 bytes, expected 0"
        );
        assert!(matches!(
            Message::decode_body(&[7, 0, 0, 0, 0, 0, 0, 0]).unwrap_err(),
            ProtocolError::WrongPayloadLength { msg: "piece", .. }
        ));
        assert!(matches!(
            Message::decode_body(&[20]).unwrap_err(),
            ProtocolError::WrongPayloadLength {
                msg: "extended",
                ..
            }
        ));
        assert_eq!(
            Message::decode_body(&[99]).unwrap_err(),
            ProtocolError::UnknownMessageId(99)
        );
        assert_eq!(
            Message::decode_body(&[99]).unwrap_err().to_string(),
            "unknown message id 99"
        );
        assert!(Message::decode_body(&[6; 12]).is_err());
    }
}
