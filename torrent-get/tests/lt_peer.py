#!/usr/bin/python3
"""A libtorrent (python3-libtorrent, Debian) peer on 127.0.0.1 for the
torrent-get interop tests and bench/download.sh.

  lt_peer.py seed  TORRENT SAVE_DIR --port P [--timeout S] [--check]
  lt_peer.py leech TORRENT SAVE_DIR --port P [--peer 127.0.0.1:Q ...] [--timeout S]

seed : listens on 127.0.0.1:P and serves SAVE_DIR/<name> (added in seed
       mode: no hash check at start; pieces are checked when first sent)
       until SIGTERM/SIGINT or the timeout. With --check, the data is
       checked first instead (so no leecher pays for that check).
       Prints "LISTENING <port>" once the listen socket is up and
       "SEEDING" once it serves every piece.
leech: downloads into SAVE_DIR, connecting to each --peer; exits 0 once
       libtorrent has every piece (each one hash-checked), 1 on timeout.
       Prints "DONE <seconds>".
DHT, local peer discovery, UPnP, NAT-PMP and uTP are off; nothing but
127.0.0.1 is used. Run with /usr/bin/python3 (Debian's, which has the module).
"""
import argparse
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
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    })
    return lt.session(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["seed", "leech"])
    ap.add_argument("torrent")
    ap.add_argument("save_dir")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--peer", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()

    ses = session(a.port, a.mode == "seed")
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(a.torrent)
    params.save_path = a.save_dir
    if a.mode == "seed" and not a.check:
        params.flags |= lt.torrent_flags.seed_mode
    h = ses.add_torrent(params)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    t0 = time.monotonic()
    announced_listen = False
    peers_added = False
    said_seeding = False
    rc = 0 if a.mode == "seed" else 1
    while not stop and time.monotonic() - t0 < a.timeout:
        for al in ses.pop_alerts():
            if isinstance(al, lt.listen_succeeded_alert) and not announced_listen:
                print("LISTENING %d" % a.port, flush=True)
                announced_listen = True
            elif isinstance(al, (lt.listen_failed_alert, lt.file_error_alert, lt.torrent_error_alert)):
                print("ALERT %s: %s" % (type(al).__name__, al.message()), flush=True)
        st = h.status()
        if not peers_added and st.state not in (lt.torrent_status.checking_files,
                                                lt.torrent_status.checking_resume_data):
            for p in a.peer:
                host, port = p.rsplit(":", 1)
                h.connect_peer((host, int(port)), 0)
            peers_added = True
        if a.mode == "seed" and st.is_seeding and not said_seeding:
            print("SEEDING", flush=True)
            said_seeding = True
        if a.mode == "leech" and st.is_seeding:
            print("DONE %.3f" % (time.monotonic() - t0), flush=True)
            rc = 0
            break
        time.sleep(0.05)
    if rc and a.mode == "leech":
        print("TIMEOUT progress=%.3f" % h.status().progress, flush=True)
    ses.pause()
    return rc


if __name__ == "__main__":
    sys.exit(main())
