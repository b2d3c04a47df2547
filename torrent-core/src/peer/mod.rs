//! Peer wire protocol (BEP 3), fast extension (BEP 6), extension protocol
//! (BEP 10) and metadata exchange (BEP 9), all sans-IO:
//!
//! - [`message`]: the typed [`Message`] and its encoding.
//! - [`handshake`]: the 68-byte handshake and reserved bits.
//! - [`codec`]: an incremental, bounded [`Decoder`] for the byte stream.
//! - [`bitfield`]: a peer's piece set.
//! - [`extension`]: BEP 10 handshake, ut_metadata messages, [`MetadataAssembler`].
//! - [`connection`]: per-connection state that checks incoming messages.
//! - [`pipeline`]: block requests and piece assembly.
//! - [`client_id`]: peer ids to client names (BEP 20).
//! - [`pex`]: peer exchange messages (BEP 11, ut_pex).

pub mod bitfield;
pub mod client_id;
pub mod codec;
pub mod connection;
pub mod error;
pub mod extension;
pub mod handshake;
pub mod message;
pub mod pex;
pub mod pipeline;

pub use bitfield::Bitfield;
pub use codec::{Decoder, Frame};
pub use connection::{Event, PeerState};
pub use error::ProtocolError;
pub use extension::{ExtendedHandshake, MetadataAssembler, MetadataMessage};
pub use handshake::{generate_peer_id, Handshake};
pub use message::{BlockRef, Message, BLOCK_SIZE};
pub use pipeline::{PieceDownload, Pipeline};
