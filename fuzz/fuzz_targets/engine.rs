#![no_main]

use libfuzzer_sys::fuzz_target;

// torrent-get's sans-IO engine driven with arbitrary peer input (bytes from
// up to three peers, ticks, hash verdicts, disk reads, commands); the body
// is torrent_get::engine::fuzz::drive, which a unit test also runs over
// random inputs on stable.
fuzz_target!(|data: &[u8]| {
    let _ = torrent_get::engine::fuzz::drive(data);
});
