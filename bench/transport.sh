#!/usr/bin/env bash
# bench/transport.sh - download time by transport and encryption, torrent-get next to
# python3-libtorrent, in the same run, on loopback.
#
#   bench/transport.sh [SIZE]         SIZE: payload size, default 256M (numfmt IEC)
#
# Environment: WORK (default /tmp/torrent-get-xport-bench), PIECE_EXP (default 18),
#              SKIP_BUILD=1 (use target/release as is), TIMEOUT (seconds per download, 300),
#              ROWS=utp (only the uTP rows), ROUNDS (each row this many times, default 1),
#              DELAY_MS (uTP rows only, through bench/udp_delay.py: every datagram held this
#              long in each direction; the machine has no sch_netem).
#
# One random payload, one python3-libtorrent seeder (tests/lt_xport.py: TCP and uTP,
# encryption enabled, i.e. plaintext and RC4 accepted). A warm-up download first (libtorrent's
# seed mode hashes pieces the first time it sends them), then each leecher downloads the whole
# payload alone: torrent-get and libtorrent over TCP, TCP+RC4, uTP and uTP+RC4. Each result is
# compared with cmp; the table gives wall time (process start to exit, or libtorrent's DONE)
# and MB/s (10^6 bytes). Only 127.0.0.1; every process started is stopped on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SIZE=${1:-256M}
BYTES=$(numfmt --from=iec "$SIZE")
WORK=${WORK:-/tmp/torrent-get-xport-bench}
PIECE_EXP=${PIECE_EXP:-18}
TIMEOUT=${TIMEOUT:-300}
PY=/usr/bin/python3
LT="$ROOT/torrent-get/tests/lt_xport.py"
TG="$ROOT/target/release/torrent-get"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
command -v mktorrent >/dev/null || die "mktorrent is missing"
$PY -c 'import libtorrent' 2>/dev/null || die "python3-libtorrent is missing"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p torrent-get) || die "build failed"
fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

rm -rf "$WORK" && mkdir -p "$WORK/seed"
head -c "$BYTES" /dev/urandom > "$WORK/seed/payload.bin"
mktorrent -l "$PIECE_EXP" -o "$WORK/p.torrent" "$WORK/seed/payload.bin" >/dev/null
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SPORT=$(free_port)
$PY "$LT" seed "$WORK/p.torrent" "$WORK/seed" --port "$SPORT" --enc enabled --transport both \
  --timeout 3600 > "$WORK/lt-seed.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q LISTENING "$WORK/lt-seed.log" && break; sleep 0.1; done
grep -q LISTENING "$WORK/lt-seed.log" || die "libtorrent seeder did not start"

# tg NAME ENC TRANSPORT: one torrent-get download; prints seconds.
tg() {
  local out="$WORK/out-$1"; rm -rf "$out"
  local t0 t1; t0=$(date +%s.%N)
  "$TG" --no-listen --no-dht -v --encrypt "$2" --transport "$3" --timeout "$TIMEOUT" \
    --peer "127.0.0.1:$DPORT" -o "$out" "$WORK/p.torrent" > "$WORK/$1.log" 2>&1 || die "$1 failed (see $WORK/$1.log)"
  t1=$(date +%s.%N)
  cmp -s "$out/payload.bin" "$WORK/seed/payload.bin" || die "$1: data differs"
  grep -q "connected ($4" "$WORK/$1.log" || die "$1: no $4 connection (see $WORK/$1.log)"
  echo "$t1 - $t0" | bc
}
# lt NAME ENC TRANSPORT: one libtorrent download; prints its DONE seconds.
ltl() {
  local out="$WORK/out-$1"; rm -rf "$out"; mkdir -p "$out"
  $PY "$LT" leech "$WORK/p.torrent" "$out" --port "$(free_port)" --peer "127.0.0.1:$DPORT" \
    --enc "$2" --transport "$3" --timeout "$TIMEOUT" > "$WORK/$1.log" 2>&1 || die "$1 failed (see $WORK/$1.log)"
  cmp -s "$out/payload.bin" "$WORK/seed/payload.bin" || die "$1: data differs"
  grep -q "PEER .*$4" "$WORK/$1.log" || die "$1: libtorrent did not report $4 (see $WORK/$1.log)"
  awk '/^DONE/ {print $2}' "$WORK/$1.log"
}

DPORT=$SPORT
log "warm-up download ($SIZE)"
tg warmup off tcp "tcp," >/dev/null
if [ -n "${DELAY_MS:-}" ]; then
  ROWS=utp
  DPORT=$(free_port)
  $PY "$HERE/udp_delay.py" "$DPORT" "$SPORT" "$DELAY_MS" > "$WORK/udp-delay.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do grep -q READY "$WORK/udp-delay.log" && break; sleep 0.1; done
  log "uTP through a ${DELAY_MS} ms (one-way) UDP delay proxy on port $DPORT"
fi
printf '%-22s %-12s %9s %9s\n' leecher transport seconds "MB/s"
row() { printf '%-22s %-12s %9.2f %9.1f\n' "$1" "$2" "$3" "$(echo "$BYTES / $3 / 1000000" | bc -l)"; }
for _ in $(seq "${ROUNDS:-1}"); do
if [ "${ROWS:-all}" != utp ]; then
row torrent-get tcp "$(tg tg-tcp off tcp 'tcp,')"
row libtorrent tcp "$(ltl lt-tcp disabled tcp 'rc4=0 mse_plain=0 utp=0')"
row torrent-get tcp+rc4 "$(tg tg-tcp-rc4 require tcp 'tcp+rc4')"
row libtorrent tcp+rc4 "$(ltl lt-tcp-rc4 forced tcp 'rc4=1 mse_plain=0 utp=0')"
fi
row torrent-get utp "$(tg tg-utp off utp 'utp,')"
row libtorrent utp "$(ltl lt-utp disabled utp 'rc4=0 mse_plain=0 utp=1')"
if [ "${ROWS:-all}" != utp ]; then
row torrent-get utp+rc4 "$(tg tg-utp-rc4 require utp 'utp+rc4')"
row libtorrent utp+rc4 "$(ltl lt-utp-rc4 forced utp 'rc4=1 mse_plain=0 utp=1')"
fi
done
