//! Test fixtures: deterministic payloads and torrents, an embedded tracker
//! (HTTP and UDP) and an embedded seeder, all on loopback. Used by the tests
//! of every crate and by the demo swarm.

pub mod dht;
pub mod harness;
pub mod hostile_conns;
pub mod hostile_ext;
pub mod payload;
pub mod seeder;
pub mod shaper;
pub mod tracker;
pub mod webseed;
