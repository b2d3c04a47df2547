#!/usr/bin/python3
"""bench/shaped.py - downloads from delayed and rate-limited peers, torrent-get next to
aria2c and python3-libtorrent in the same run, on 127.0.0.1 only.

  bench/shaped.py [--size 64M] [--piece 256K] [--shape SPEC]... [--rounds N] [--timeout S]

A shape is a list of seeders, each behind its own shaping proxy:
  SPEC   = SEEDER[+SEEDER...]          e.g.  d25  |  d100r2M*4  |  d10*3+d10r50K
  SEEDER = d<ms one-way delay>[r<bytes/s, IEC suffix>][*<count>]
Default shapes: d25 (50 ms RTT, one fast seeder), d100r2M*4 (200 ms RTT, four seeders of
2 MiB/s each), d10*3+d10r64K (three fast seeders and one very slow one: the last pieces must
not wait on the slow one). Named shapes (--shape NAME): latency10 (ten seeders, 5-75 ms one
way, 0.5-8 MiB/s each, 33.5 MiB/s in all), farfast (one seeder 200 ms away at 20 MiB/s among
three 5 ms away at 1 MiB/s).

With rate caps on every seeder, each download's share of capacity is printed: the payload
rate while data flowed (first to last byte the proxies passed to the leecher) over the sum of
the caps, and its over-download: the bytes the proxies passed over the payload size.

Seeders (--seeders): `fixture` (the default) runs one `fixture-swarm` process (test-fixtures):
a test-fixtures seeder per SEEDER, each behind its own Rust shaping proxy (test-fixtures
`shaper`: the one-way delay in each direction, each direction paced to the rate, 64 KiB socket
buffers so little queues before the link; the seeders drop cancelled requests not yet sent and
advertise reqq 2000), light enough that ten of them do not load the machine. `libtorrent` runs
a python3-libtorrent process per seeder (torrent-get/tests/lt_peer.py seed --check) behind a
Python proxy process (this file, `proxy` mode). A static HTTP tracker (this file) tells leechers
the proxy addresses only, so every leecher sees the same shaped peers; seeders are told nothing.
The leechers (torrent-get, aria2c, python3-libtorrent; --only to pick) take turns, one at a
time, ROUNDS times; wall time, MB/s (10^6 bytes/s), CPU seconds and peak RSS (/usr/bin/time)
are printed, and the data is compared with the original. DHT, PEX, LSD, UPnP and uTP are off.
Needs: cargo (unless SKIP_BUILD=1), mktorrent, aria2c, python3-libtorrent, /usr/bin/time.
"""
import argparse
import asyncio
import http.server
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LT = os.path.join(ROOT, "torrent-get/tests/lt_peer.py")
TG = os.path.join(ROOT, "target/release/torrent-get")
SWARM = os.path.join(ROOT, "target/release/fixture-swarm")
PY = "/usr/bin/python3"
IP = "127.0.0.1"
DEFAULT_SHAPES = ["d25", "d100r2M*4", "d10*3+d10r64K"]
# Named shapes (issue 16), for --shape NAME:
NAMED_SHAPES = {
    # ten seeders, one-way delays 5-75 ms (RTT 10-150 ms), caps 0.5-8 MiB/s, 33.5 MiB/s in all
    "latency10": "+".join("d%dr%s" % dr for dr in [(5, "512K"), (13, "1M"), (20, "1536K"), (28, "2M"), (36, "2560K"),
                                                    (44, "3M"), (52, "4M"), (60, "5M"), (67, "6M"), (75, "8M")]),
    # one fast far seeder (200 ms one way, 20 MiB/s) among three slow near ones (5 ms, 1 MiB/s)
    "farfast": "d200r20M+d5r1M*3",
}


def iec(s):
    s = s.strip()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1].upper() in mult:
        return int(float(s[:-1]) * mult[s[-1].upper()])
    return int(s)


def parse_shape(spec):
    """'d10*3+d10r64K' -> [(delay_s, rate_bytes_or_0), ...]"""
    seeders = []
    spec = NAMED_SHAPES.get(spec, spec)
    for part in spec.split("+"):
        count = 1
        if "*" in part:
            part, c = part.split("*")
            count = int(c)
        if not part.startswith("d"):
            raise SystemExit("shape %r: each seeder starts with d<ms>" % spec)
        rate = 0
        body = part[1:]
        if "r" in body:
            body, r = body.split("r")
            rate = iec(r)
        seeders += [(int(body) / 1000.0, rate)] * count
    return seeders


def free_port():
    s = socket.socket()
    s.bind((IP, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, secs):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection((IP, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


# ---------------------------------------------------------------- proxy mode
# Bytes a proxy passed from its seeder to leechers, and when it last did
# (written to the file named by the 6th argument of `proxy` mode).
PASSED = {"bytes": 0, "last": 0.0}


async def report(path):
    seen = -1
    while True:
        if PASSED["bytes"] != seen:
            seen = PASSED["bytes"]
            with open(path + ".tmp", "w") as f:
                f.write("%d %.4f\n" % (seen, PASSED["last"]))
            os.replace(path + ".tmp", path)
        await asyncio.sleep(0.05)


def read_passed(paths):
    """(bytes in all, last time) over the proxies' counter files."""
    total, last = 0, 0.0
    for p in paths:
        try:
            b, t = open(p).read().split()[:2]
        except (OSError, ValueError):
            continue
        total += int(b)
        last = max(last, float(t))
    return total, last


async def pump(reader, writer, delay, rate, cap, count=False):
    """Copy reader -> writer: each chunk leaves `delay` s after it arrived,
    paced to `rate` bytes/s; at most `cap` bytes in flight (backpressure)."""
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()
    # Chunks of at most 20 ms of the rate (64 KiB at most): fewer wake-ups
    # at high rates (at 16 KiB, a 20 MiB/s cap gave 8.6 MiB/s here).
    chunk = 65536 if not rate else max(1024, min(65536, rate // 50))
    room = asyncio.Semaphore(max(1, cap // chunk))

    async def rx():
        while True:
            await room.acquire()
            data = await reader.read(chunk)
            await q.put((loop.time() + delay, data))
            if not data:
                return

    async def tx():
        next_free = loop.time()
        while True:
            due, data = await q.get()
            room.release()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                return
            writer.write(data)
            await writer.drain()
            if count:
                PASSED["bytes"] += len(data)
                PASSED["last"] = time.time()
            if rate:
                # A sleep that overslept leaves credit: up to 50 ms of it
                # is used (a burst), so the average rate is the cap.
                next_free = max(next_free, loop.time() - 0.05) + len(data) / rate
                wait = next_free - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)

    r = asyncio.ensure_future(rx())
    try:
        await tx()
    finally:
        r.cancel()
        writer.close()


async def serve_proxy(listen, target, delay, rate, counter=None):
    cap = max(4 << 20, int(2 * rate * delay)) if rate else 16 << 20

    async def conn(cr, cw):
        try:
            sr, sw = await asyncio.open_connection(IP, target)
        except OSError:
            cw.close()
            return
        a = asyncio.ensure_future(pump(cr, sw, delay, rate, cap))
        b = asyncio.ensure_future(pump(sr, cw, delay, rate, cap, count=True))
        await asyncio.wait([a, b], return_when=asyncio.FIRST_COMPLETED)
        for t in (a, b):
            t.cancel()
        cw.close()
        sw.close()

    if counter:
        asyncio.ensure_future(report(counter))
    srv = await asyncio.start_server(conn, IP, listen)
    print("PROXY %d -> %d" % (listen, target), flush=True)
    async with srv:
        await srv.serve_forever()


# ---------------------------------------------------------------- tracker
def start_tracker(port, peers):
    compact = b"".join(socket.inet_aton(IP) + struct.pack(">H", p) for p in peers)

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            left = q.get("left", ["1"])[0]
            body = compact if left != "0" else b""
            out = b"d8:intervali60e12:min intervali5e5:peers%d:%se" % (len(body), body)
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer((IP, port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


# ---------------------------------------------------------------- bench
def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def stop(p):
    if p.stdin and p.poll() is None:
        # fixture-swarm ends when its input closes (and says what went wrong).
        p.stdin.close()
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            pass
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_leecher(who, torrent, work, name, payload, timeout, counters=()):
    d = os.path.join(work, "leech")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    port = free_port()
    if who == "torrent-get":
        cmd = [TG, "-q", "--no-dht", "--no-pex", "--listen", "%s:%d" % (IP, port), "--timeout", str(timeout), "-o", d, torrent]
    elif who == "aria2c":
        cmd = ["aria2c", "--dir=" + d, "--listen-port=%d" % port, "--interface=" + IP, "--disable-ipv6=true",
               "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
               "--file-allocation=none", "--summary-interval=0", "--console-log-level=warn",
               "--auto-save-interval=0", "--seed-time=0", "--bt-stop-timeout=%d" % timeout, "--stop=%d" % timeout, torrent]
    else:
        cmd = [PY, LT, "leech", torrent, d, "--port", str(port), "--timeout", str(timeout)]
    rss_file = os.path.join(work, who + ".time")
    logf = open(os.path.join(work, who + ".log"), "ab")
    base, _ = read_passed(counters)
    t0 = time.time()
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file] + cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
    first = None
    while p.poll() is None:
        # The first byte passed: when data began to flow.
        if first is None and counters and read_passed(counters)[0] > base + 65536:
            first = time.time() - 0.05
        time.sleep(0.02)
    rc = p.returncode
    secs = time.time() - t0
    time.sleep(0.2)
    passed, last = read_passed(counters)
    flow = (passed - base, last - first) if first is not None and last > first else None
    rss, u, s = open(rss_file).read().split("\n")[-2].split()
    status = "ok"
    if rc != 0:
        status = "FAIL(exit %d)" % rc
    elif subprocess.call(["cmp", "-s", os.path.join(work, "seed", name), os.path.join(d, name)]) != 0:
        status = "FAIL(data differs)"
    shutil.rmtree(d, ignore_errors=True)
    return secs, payload / secs / 1e6, float(u) + float(s), int(rss), status, flow


def bench(a):
    work = a.work
    os.makedirs(os.path.join(work, "seed"), exist_ok=True)
    size = iec(a.size)
    name = "shaped-%s.bin" % a.size
    data = os.path.join(work, "seed", name)
    if not os.path.exists(data) or os.path.getsize(data) != size:
        log("creating %d random bytes in %s" % (size, data))
        with open(data, "wb") as f:
            left = size
            while left:
                n = min(left, 1 << 20)
                f.write(os.urandom(n))
                left -= n
    if os.environ.get("SKIP_BUILD") != "1":
        log("building torrent-get (release)")
        subprocess.check_call(["cargo", "build", "--release", "-q", "-p", "torrent-get", "-p", "test-fixtures"], cwd=ROOT)
    piece_exp = iec(a.piece).bit_length() - 1
    rows = []
    for spec in a.shape:
        seeders = parse_shape(spec)
        tracker_port = free_port()
        torrent = os.path.join(work, "%s-%s.torrent" % (name, a.piece))
        if os.path.exists(torrent):
            os.remove(torrent)
        subprocess.check_call(["mktorrent", "-l", str(piece_exp), "-a", "http://%s:%d/announce" % (IP, tracker_port), "-o", torrent, data],
                              stdout=subprocess.DEVNULL)
        procs = []
        proxies = []
        counters = []
        capacity = sum(r for _, r in seeders) if all(r for _, r in seeders) else 0
        try:
            if a.seeders == "fixture":
                counter = os.path.join(work, "swarm.passed")
                if os.path.exists(counter):
                    os.remove(counter)
                counters.append(counter)
                swarm = subprocess.Popen([SWARM, torrent, os.path.join(work, "seed"), counter] +
                                         ["%d:%d" % (round(d * 1000), r) for d, r in seeders],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                procs.append(swarm)
                for line in swarm.stdout:
                    line = line.decode().split()
                    if line[:1] == ["PROXY"]:
                        proxies.append(int(line[1].rsplit(":", 1)[1]))
                    elif line[:1] == ["READY"]:
                        break
                if len(proxies) != len(seeders):
                    raise SystemExit("fixture-swarm did not start")
            for i, (delay, rate) in enumerate(seeders if a.seeders == "libtorrent" else []):
                sp, pp = free_port(), free_port()
                procs.append(subprocess.Popen([PY, "-u", LT, "seed", torrent, os.path.join(work, "seed"), "--port", str(sp),
                                               "--timeout", str(a.timeout * 20), "--check"],
                                              stdout=open(os.path.join(work, "seed-%d.log" % i), "wb"), stderr=subprocess.STDOUT))
                counter = os.path.join(work, "proxy-%d.passed" % i)
                if os.path.exists(counter):
                    os.remove(counter)
                counters.append(counter)
                procs.append(subprocess.Popen([PY, os.path.abspath(__file__), "proxy", str(pp), str(sp), str(delay), str(rate), counter],
                                              stdout=subprocess.DEVNULL))
                proxies.append(pp)
            for i, pp in enumerate(proxies if a.seeders == "libtorrent" else []):
                if not wait_port(pp, 20):
                    raise SystemExit("proxy %d did not start" % pp)
                logp = os.path.join(work, "seed-%d.log" % i)
                end = time.time() + 300
                while b"SEEDING" not in open(logp, "rb").read():
                    if time.time() > end:
                        raise SystemExit("seeder %d never finished checking" % i)
                    time.sleep(0.1)
            tracker = start_tracker(tracker_port, proxies)
            order = a.only or ["torrent-get", "aria2c", "libtorrent"]
            for r in range(a.rounds):
                for k in range(len(order)):
                    who = order[(k + r) % len(order)]
                    secs, mbps, cpu, rss, status, flow = run_leecher(who, torrent, work, name, size, a.timeout, counters)
                    share = over = None
                    if flow:
                        over = flow[0] / size
                        if capacity:
                            share = size / flow[1] / capacity
                    extra = "" if share is None else " share %.3f over %.3f" % (share, over)
                    log("%s %s round %d: %s %.2fs %.1f MB/s CPU %.2fs RSS %d KiB%s" % (spec, who, r + 1, status, secs, mbps, cpu, rss, extra))
                    rows.append((spec, who, r + 1, secs, mbps, cpu, rss, status, share, over))
            tracker.shutdown()
        finally:
            for p in reversed(procs):
                stop(p)
    print()
    print("payload: %d bytes (%s), pieces of %s; loopback; %d cores; load average %s" %
          (size, a.size, a.piece, os.cpu_count(), open("/proc/loadavg").read().split()[:3]))
    print("torrent-get: %s" % subprocess.check_output([TG, "--version"]).decode().strip())
    print("seeders: %s" % ("test-fixtures seeders behind fixture-swarm's Rust proxies" if a.seeders == "fixture"
                           else "python3-libtorrent behind Python proxies"))
    print("shape: d<one-way delay ms>[r<rate/s per seeder>][*count], '+' joins seeders\n")
    fmt = "%-16s %-12s %5s %9s %8s %7s %12s %6s %6s  %s"
    print(fmt % ("shape", "leecher", "round", "seconds", "MB/s", "CPU s", "peak RSS KiB", "share", "over", "data"))
    for spec, who, r, secs, mbps, cpu, rss, status, share, over in rows:
        print(fmt % (spec, who, r, "%.2f" % secs, "%.1f" % mbps, "%.2f" % cpu, rss,
                     "-" if share is None else "%.3f" % share, "-" if over is None else "%.3f" % over, status))
    print("\nmedian wall time per shape (rounds that succeeded) and torrent-get's ratio:")
    for spec in a.shape:
        med = {}
        for who in ("torrent-get", "aria2c", "libtorrent"):
            ok = [x[3] for x in rows if x[0] == spec and x[1] == who and x[7] == "ok"]
            if ok:
                med[who] = statistics.median(ok)
        for who in ("torrent-get", "aria2c", "libtorrent"):
            sh = [x[8] for x in rows if x[0] == spec and x[1] == who and x[7] == "ok" and x[8] is not None]
            ov = [x[9] for x in rows if x[0] == spec and x[1] == who and x[7] == "ok" and x[9] is not None]
            if sh or ov:
                print("%-16s %-12s share of capacity %s, over-download %s (median)" %
                      (spec[:16], who, "%.3f" % statistics.median(sh) if sh else "-", "%.3f" % statistics.median(ov) if ov else "-"))
        line = "  ".join("%s %.2f s" % (w, s) for w, s in med.items())
        ratios = ", ".join("tg/%s %.2f" % (w, med["torrent-get"] / med[w]) for w in ("libtorrent", "aria2c") if w in med and "torrent-get" in med)
        print("%-16s %s   %s" % (spec, line, ratios))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "proxy":
        listen, target, delay, rate = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        asyncio.run(serve_proxy(listen, target, delay, rate, sys.argv[6] if len(sys.argv) > 6 else None))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="64M")
    ap.add_argument("--piece", default="256K")
    ap.add_argument("--shape", action="append")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seeders", choices=["fixture", "libtorrent"], default="fixture",
                    help="fixture: test-fixtures seeders behind Rust shaping proxies, all in one fixture-swarm process "
                         "(light on CPU); libtorrent: a python3-libtorrent seeder and a Python proxy per seeder")
    ap.add_argument("--only", action="append", help="run only these leechers (torrent-get, aria2c, libtorrent)")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--work", default=os.environ.get("WORK", "/tmp/torrent-get-shaped"))
    a = ap.parse_args()
    a.shape = a.shape or DEFAULT_SHAPES
    for tool in ("mktorrent", "aria2c", "cmp"):
        if not shutil.which(tool):
            raise SystemExit("%s is missing (apt-get install mktorrent aria2)" % tool)
    if not os.path.exists("/usr/bin/time"):
        raise SystemExit("/usr/bin/time is missing (apt-get install time)")
    bench(a)


if __name__ == "__main__":
    main()
