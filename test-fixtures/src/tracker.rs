//! Embedded tracker (HTTP and UDP) on loopback. (filled in by the tracker work)
