#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    torrent_fuzz::demux::check_demux(data);
});
