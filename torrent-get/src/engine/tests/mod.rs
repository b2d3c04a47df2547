//! Engine tests in memory: simulated links and clock ([`sim`]), no sockets
//! or threads. Each runs in well under a second of real time.

mod backpressure;
mod batch;
mod blame;
mod direct;
mod eyeballs;
mod half_open;
mod hints;
mod latency;
mod metadata;
mod pex;
mod query;
mod readers;
mod scenarios;
mod seed_limits;
mod sim;
mod slots;
mod stream;
mod webseed;
