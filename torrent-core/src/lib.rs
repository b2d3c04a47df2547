//! torrent-core: the BitTorrent library behind the toolkit's command-line tools.
//!
//! Protocol logic here is sans-IO: parsers, encoders and state machines take
//! bytes and return values or events; they never own a socket. The CLI tools
//! drive them with blocking sockets (`peer-fetch`, `tracker-query`) or a `mio`
//! event loop (`torrent-get`).

pub mod bencode;
pub mod create;
pub mod demux;
pub mod dht;
pub mod infohash;
pub mod load;
pub mod magnet;
pub mod metainfo;
pub mod mse;
pub mod path;
pub mod peer;
pub mod peer_id;
pub mod picker;
pub mod select;
pub mod source;
pub mod storage;
pub mod tracker;
pub mod transport;
pub mod webseed;
pub mod utp;

pub use infohash::InfoHash;
pub use magnet::Magnet;
pub use metainfo::{Info, Metainfo};
