//! Tracker clients: HTTP (BEP 3, 23, 48) and UDP (BEP 15). (filled in by the tracker work)
