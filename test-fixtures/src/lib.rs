//! Test fixtures: payloads, torrents, an embedded tracker and seeder.
