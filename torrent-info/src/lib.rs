//! torrent-info: show, verify and create .torrent files, print magnet links.
//!
//! The binary (`src/main.rs`) is a thin clap front end over these modules.

pub mod create;
pub mod format;
pub mod load;
pub mod show;
pub mod verify;

use std::io::{self, Write};

/// Write `text` to stdout. A closed pipe (`| head`) is not an error for a
/// command-line tool: the caller should then exit 0 quietly.
pub fn write_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}
