//! Embedded seeder on loopback. (filled in by the peer wire work)
