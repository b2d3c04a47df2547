//! torrent-info: show, verify and create .torrent files, print magnet links.
//!
//! The binary (`src/main.rs`) is a thin clap front end over these modules.

pub mod create;
pub mod format;
pub mod show;
pub mod verify;
