//! torrent-get as a library: the sans-IO [`engine`] (all download and
//! upload policy), the mio [`event_loop`] that runs it over real sockets and
//! worker threads, and those workers ([`disk`], [`hasher`], [`announce`],
//! [`dht`]). The binary (`main.rs`) is the command line around them.

pub mod announce;
pub mod args;
pub mod control;
pub mod crypt;
pub mod daemon;
pub mod demo;
pub mod dht;
pub mod disk;
pub mod engine;
pub mod event_loop;
pub mod existing;
pub mod hasher;
pub mod progress;
pub mod rate;
pub mod releases;
pub mod remote;
pub mod remote_stream;
pub mod utp_driver;
pub mod resume;
pub mod seed_check;
pub mod lock;
pub mod stream_out;
pub mod top;
pub mod webseed_pool;

use std::io::Write;

/// Print a line on stdout; a closed pipe ends the program quietly.
pub fn out_line(s: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{s}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}
