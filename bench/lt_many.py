#!/usr/bin/python3
"""python3-libtorrent helpers for bench/download.sh, on 127.0.0.1 only.

  lt_many.py make  FILE PIECE_SIZE TRACKER_URL OUT.torrent
  lt_many.py seed  SAVE_DIR --port P [--timeout S] TORRENT...
  lt_many.py leech SAVE_DIR --port P [--peer 127.0.0.1:Q ...] [--timeout S] TORRENT...

make : a one-file .torrent with pieces of PIECE_SIZE bytes (any power of two
       from 16 KiB; mktorrent stops at 32 KiB).
seed : one session serving every TORRENT from SAVE_DIR (checked first);
       prints "SEEDING" once every torrent is seeding, runs until SIGTERM.
leech: one session downloading every TORRENT into SAVE_DIR; exits 0 once all
       are complete (each piece hash-checked), 1 on timeout. Prints "DONE <s>".
Same settings as torrent-get/tests/lt_peer.py: no DHT, LSD, UPnP, NAT-PMP, uTP.
"""
import argparse
import os
import signal
import sys
import time

import libtorrent as lt


def session(port, seed):
    s = lt.high_performance_seed() if seed else lt.default_settings()
    s.update({
        "listen_interfaces": "127.0.0.1:%d" % port,
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        # Many torrents at once: none of them queued behind the others.
        "active_downloads": -1,
        "active_seeds": -1,
        "active_limit": -1,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    })
    return lt.session(s)


def make(a):
    fs = lt.file_storage()
    lt.add_files(fs, a.file)
    # v1 only: aria2c does not read BitTorrent v2 (hybrid) torrents.
    ct = lt.create_torrent(fs, a.piece_size, flags=lt.create_torrent.v1_only)
    ct.add_tracker(a.tracker)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(a.file)))
    with open(a.out, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    return 0


def run(a):
    ses = session(a.port, a.mode == "seed")
    hs = []
    for t in a.torrents:
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(t)
        p.save_path = a.save_dir
        hs.append(ses.add_torrent(p))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    t0 = time.monotonic()
    added = set()
    said = False
    rc = 0 if a.mode == "seed" else 1
    while not stop and time.monotonic() - t0 < a.timeout:
        ses.pop_alerts()
        sts = [h.status() for h in hs]
        for i, st in enumerate(sts):
            if i not in added and st.state not in (lt.torrent_status.checking_files,
                                                   lt.torrent_status.checking_resume_data):
                for peer in a.peer:
                    host, port = peer.rsplit(":", 1)
                    hs[i].connect_peer((host, int(port)), 0)
                added.add(i)
        if all(st.is_seeding for st in sts):
            if a.mode == "seed" and not said:
                print("SEEDING", flush=True)
                said = True
            if a.mode == "leech":
                print("DONE %.3f" % (time.monotonic() - t0), flush=True)
                rc = 0
                break
        time.sleep(0.05)
    ses.pause()
    return rc


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "make":
        ap = argparse.ArgumentParser()
        ap.add_argument("mode")
        ap.add_argument("file")
        ap.add_argument("piece_size", type=int)
        ap.add_argument("tracker")
        ap.add_argument("out")
        return make(ap.parse_args())
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["seed", "leech"])
    ap.add_argument("save_dir")
    ap.add_argument("torrents", nargs="+")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--peer", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=120)
    return run(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
