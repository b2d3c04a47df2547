//! Errors of the peer wire protocol: each names the message and the problem.

/// A protocol violation or malformed input from a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("handshake: first byte is {0}, expected 19 (length of \"BitTorrent protocol\")")]
    BadHandshakeLength(u8),
    #[error("handshake: bad protocol string {0:?}, expected \"BitTorrent protocol\"")]
    BadProtocolString(String),
    #[error("handshake: wrong length {0}, expected 68 bytes")]
    HandshakeSize(usize),
    #[error("handshake: peer has info-hash {got}, expected {expected}")]
    InfoHashMismatch { expected: String, got: String },
    #[error("unknown message id {0}")]
    UnknownMessageId(u8),
    #[error("message length {len} exceeds limit {max}")]
    MessageTooLong { len: u64, max: u64 },
    #[error("wrong payload length for {msg}: {len} bytes, expected {expected}")]
    WrongPayloadLength {
        msg: &'static str,
        len: usize,
        expected: &'static str,
    },
    #[error("piece message block of {len} bytes exceeds the block limit {max}")]
    BlockTooLong { len: usize, max: usize },
    #[error("receive buffer would hold {len} bytes, over the limit {max} (drain messages before feeding more)")]
    BufferFull { len: usize, max: usize },
    #[error("bitfield: {len} bytes, expected {expected} for {num_pieces} pieces")]
    BitfieldLength {
        len: usize,
        expected: usize,
        num_pieces: usize,
    },
    #[error("bitfield: spare bits after piece {num_pieces} are set")]
    BitfieldSpareBits { num_pieces: usize },
    #[error("{msg}: piece index {index} out of range (torrent has {num_pieces} pieces)")]
    PieceOutOfRange {
        msg: &'static str,
        index: u32,
        num_pieces: usize,
    },
    #[error("{msg} is only allowed as the first message after the handshake")]
    NotFirstMessage { msg: &'static str },
    #[error("{msg} sent but the fast extension (BEP 6) was not negotiated")]
    FastNotNegotiated { msg: &'static str },
    #[error("extended message sent but the extension protocol (BEP 10) was not negotiated")]
    ExtendedNotNegotiated,
    #[error("piece {index} offset {begin} length {length}: block was never requested")]
    UnrequestedBlock { index: u32, begin: u32, length: u32 },
    #[error("reject for piece {index} offset {begin} length {length}, which was never requested")]
    UnrequestedReject { index: u32, begin: u32, length: u32 },
    #[error("request for piece {index} offset {begin} length {length} is invalid: {why}")]
    BadRequest {
        index: u32,
        begin: u32,
        length: u32,
        why: &'static str,
    },
    #[error("peer has {0} requests outstanding, over the limit")]
    TooManyRequests(usize),
    #[error("extended handshake: {0}")]
    BadExtendedHandshake(String),
    #[error("ut_metadata: {0}")]
    BadMetadataMessage(String),
    #[error("metadata: {0}")]
    Metadata(String),
    #[error("ut_pex: {0}")]
    BadPex(String),
}
