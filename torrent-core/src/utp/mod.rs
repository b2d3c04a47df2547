//! uTP, the Micro Transport Protocol (BEP 29): reliable ordered byte streams
//! over UDP with LEDBAT delay-based congestion control.
//!
//! - [`packet`]: the wire codec (header v1, selective ACK extension);
//! - [`connection`]: one connection's state machine (sans-IO), with its
//!   send queue, receive buffer, LEDBAT and RTT estimate in submodules;
//! - [`endpoint`]: many connections over one UDP socket (sans-IO): feed it
//!   datagrams with their source address and the time, take datagrams to
//!   send, events and the next deadline;
//! - [`stream`]: a small blocking adapter over `std::net::UdpSocket`
//!   (`Read`/`Write`), for tools and tests.

pub mod connection;
pub mod endpoint;
pub mod packet;
pub mod stream;

pub use connection::{CloseReason, Config, ConnEvent, Connection, State, Stats};
pub use endpoint::{ConnHandle, Endpoint, EndpointConfig, EndpointStats, Event};
pub use packet::{Packet, PacketType, ParseError};
pub use stream::UtpStream;
