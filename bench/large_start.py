#!/usr/bin/env python3
"""Start-up of torrent-get on a large torrent: time to the `checked` event and
peak RSS of the whole run (`/usr/bin/time -f %M`).

    bench/large_start.py [--size 16G] [--piece 16K] [--rounds 3] BIN [BIN ...]

The torrent (one file, random piece hashes, a tracker on 127.0.0.1:9 that
refuses connections) is written to WORK (default /tmp/large_start) once per
size and piece length. Each round runs each BIN in turn on an empty download
directory with `--json --no-listen --no-dht --no-pex --timeout 3`.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time


def size(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * units[s[-1]] if s[-1] in units else int(s)


def bstr(b):
    return str(len(b)).encode() + b":" + b


def craft(path, total, plen):
    n = -(-total // plen)
    info = (b"d6:lengthi%de4:name7:big.bin12:piece lengthi%de6:pieces" % (total, plen)
            + bstr(os.urandom(20 * n)) + b"e")
    with open(path, "wb") as f:
        f.write(b"d8:announce" + bstr(b"http://127.0.0.1:9/announce.php") + b"4:info" + info + b"e")


def run(binary, torrent, work):
    dl = os.path.join(work, "dl")
    shutil.rmtree(dl, ignore_errors=True)
    os.makedirs(dl)
    rss = os.path.join(work, "rss.txt")
    cmd = ["/usr/bin/time", "-f", "%M", "-o", rss, binary, "--json", "--no-listen", "--no-dht",
           "--no-pex", "--timeout", "3", "-o", dl, torrent]
    t0 = time.monotonic()
    checked = None
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    for line in p.stdout:
        if checked is None and b'"event":"checked"' in line:
            checked = time.monotonic() - t0
    p.wait()
    kib = int(open(rss).read().split()[-1])
    return checked, kib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="16G")
    ap.add_argument("--piece", default="16K")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("bins", nargs="+")
    a = ap.parse_args()
    work = os.environ.get("WORK", "/tmp/large_start")
    os.makedirs(work, exist_ok=True)
    torrent = os.path.join(work, "big-%s-%s.torrent" % (a.size, a.piece))
    if not os.path.exists(torrent):
        craft(torrent, size(a.size), size(a.piece))
    res = {b: [] for b in a.bins}
    for _ in range(a.rounds):
        for b in a.bins:
            res[b].append(run(b, torrent, work))
    for b, rs in res.items():
        t = " ".join("-" if c is None else "%.3f" % c for c, _ in rs)
        m = " ".join("%.1f" % (k / 1024) for _, k in rs)
        print("%-40s checked after s: %s   peak RSS MiB: %s" % (b, t, m))
    sys.exit(0)


if __name__ == "__main__":
    main()
