#!/usr/bin/python3
"""A libtorrent (python3-libtorrent) peer on 127.0.0.1 with chosen
encryption and transports, for torrent-get's transport interop tests and
bench/transport.sh.

  lt_xport.py seed|leech TORRENT SAVE_DIR --port P [--peer 127.0.0.1:Q ...]
              [--enc forced|enabled|disabled] [--transport tcp|utp|both]
              [--timeout S]

--enc: libtorrent's in/out_enc_policy (forced: RC4 only, allowed_enc_level
pe_rc4; enabled: both ways, its default; disabled: plaintext only).
--transport: which of TCP and uTP libtorrent may use, in and out.
Prints "LISTENING <port>", "READY" once the torrent is past checking and
unpaused (before it, libtorrent closes connections for it), then "PEER <ip:port> rc4=0|1 mse_plain=0|1
utp=0|1" once per peer address the first time it sees the peer with a
finished handshake, and for leech "DONE <seconds>" once every piece is
checked (exit 0; exit 1 on timeout). seed runs until SIGTERM or the
timeout. DHT, LSD, UPnP and NAT-PMP are off.
"""
import argparse
import signal
import sys
import time

import libtorrent as lt

# peer_info.utp_socket is not exported by Debian's binding: bit 17 of
# libtorrent's peer_flags_t (rc4_encrypted is bit 19, as exported).
UTP_SOCKET = int(getattr(lt.peer_info, "utp_socket", 1 << 17))
ENC = {"forced": lt.enc_policy.pe_forced, "enabled": lt.enc_policy.pe_enabled,
       "disabled": lt.enc_policy.pe_disabled}


def report_peers(h, seen):
    """Print a PEER line for each peer address not seen before whose
    connection finished its handshake."""
    for p in h.get_peer_info():
        key = "%s:%d" % (p.ip[0], p.ip[1])
        if key in seen or p.flags & (lt.peer_info.handshake | lt.peer_info.connecting):
            continue
        seen.add(key)
        print("PEER %s rc4=%d mse_plain=%d utp=%d" % (
            key, bool(p.flags & lt.peer_info.rc4_encrypted),
            bool(p.flags & lt.peer_info.plaintext_encrypted),
            bool(int(p.flags) & UTP_SOCKET)), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["seed", "leech"])
    ap.add_argument("torrent")
    ap.add_argument("save_dir")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--peer", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--enc", choices=sorted(ENC), default="enabled")
    ap.add_argument("--transport", choices=["tcp", "utp", "both"], default="both")
    a = ap.parse_args()

    s = lt.high_performance_seed() if a.mode == "seed" else lt.default_settings()
    tcp = a.transport in ("tcp", "both")
    utp = a.transport in ("utp", "both")
    s.update({
        "listen_interfaces": "127.0.0.1:%d" % a.port,
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": utp, "enable_outgoing_utp": utp,
        "enable_incoming_tcp": tcp, "enable_outgoing_tcp": tcp,
        "in_enc_policy": ENC[a.enc], "out_enc_policy": ENC[a.enc],
        "allowed_enc_level": lt.enc_level.pe_rc4 if a.enc == "forced" else lt.enc_level.pe_both,
        "prefer_rc4": True,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    })
    ses = lt.session(s)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(a.torrent)
    params.save_path = a.save_dir
    if a.mode == "seed":
        params.flags |= lt.torrent_flags.seed_mode
    h = ses.add_torrent(params)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    t0 = time.monotonic()
    said_listen = False
    said_ready = False
    peers_added = False
    seen = set()
    rc = 0 if a.mode == "seed" else 1
    while not stop and time.monotonic() - t0 < a.timeout:
        for al in ses.pop_alerts():
            if isinstance(al, lt.listen_succeeded_alert) and not said_listen:
                print("LISTENING %d" % a.port, flush=True)
                said_listen = True
            elif isinstance(al, (lt.listen_failed_alert, lt.file_error_alert, lt.torrent_error_alert)):
                print("ALERT %s: %s" % (type(al).__name__, al.message()), flush=True)
        report_peers(h, seen)
        st = h.status()
        if not peers_added and st.state not in (lt.torrent_status.checking_files,
                                                lt.torrent_status.checking_resume_data):
            for p in a.peer:
                host, port = p.rsplit(":", 1)
                h.connect_peer((host, int(port)), 0)
            peers_added = True
        # Added paused, libtorrent's auto-manager starts the torrent within
        # about 0.5 s; until then it closes every connection for it.
        if not said_ready and peers_added and not st.flags & lt.torrent_flags.paused:
            print("READY", flush=True)
            said_ready = True
        if a.mode == "leech" and st.is_seeding:
            # The seeder is still connected: a fast download may end
            # between two looks at the peer list.
            report_peers(h, seen)
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
