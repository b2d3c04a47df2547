#!/usr/bin/env bash
# bench/stream.sh - `torrent-get --stdout` next to a normal download, on loopback.
#
#   bench/stream.sh [SIZE]     SIZE: payload size, default 1G (numfmt IEC: 256M, 2G, ...)
#
# Environment: WORK (default /tmp/torrent-get-stream-bench), PIECE_EXP (piece size 2^N, default
#              18), FAST_RATE / SLOW_RATE (upload limits of the two seeders, default 40M and 2M
#              bytes/s; suffixes K, M, G), TIMEOUT (seconds per run, default 900),
#              SKIP_BUILD=1 (use target/release as is).
#
# One file of SIZE random bytes, a torrent (mktorrent), two seeders (`torrent-get --seed-only`,
# one rate-limited to FAST_RATE, one to SLOW_RATE, each with its own hard-linked copy of the
# data). Then, one after the other, a leecher given both seeders with --peer:
#   normal    torrent-get -o DIR            (the file is usable when the run ends)
#   stream    torrent-get --stdout | reader (the file's bytes as they come; saved too)
#   no-save   torrent-get --stdout --no-save | reader
# For each: time to the first byte and to the first MiB on stdout (normal: the end of the run),
# total time, MB/s (10^6 bytes/s), peak RSS (/usr/bin/time %M), and the SHA-1 of what arrived
# compared with the original's. Only 127.0.0.1; every process started is stopped on exit.
# Needs: cargo, mktorrent, numfmt, sha1sum, /usr/bin/python3, /usr/bin/time.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SIZE=${1:-1G}
BYTES=$(numfmt --from=iec "$SIZE")
WORK=${WORK:-/tmp/torrent-get-stream-bench}
PIECE_EXP=${PIECE_EXP:-18}
FAST_RATE=${FAST_RATE:-40M}
SLOW_RATE=${SLOW_RATE:-2M}
TIMEOUT=${TIMEOUT:-900}
PY=/usr/bin/python3
TG="$ROOT/target/release/torrent-get"
IP=127.0.0.1

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in mktorrent numfmt sha1sum; do command -v "$tool" >/dev/null || die "$tool is missing"; done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building torrent-get (release)"
  (cd "$ROOT" && cargo build --release -q -p torrent-get) || die "build failed"
fi
[ -x "$TG" ] || die "$TG not built"

PIDS=()
cleanup() {
  local p i
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || continue
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$WORK/leech"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  local i
  for i in $(seq $(( $2 * 10 ))); do (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# ------------------------------------------------------------------ payload and seeders
mkdir -p "$WORK/seed"
NAME="stream-$SIZE.bin"
DATA="$WORK/seed/$NAME"
if [ ! -f "$DATA" ] || [ "$(stat -c %s "$DATA")" != "$BYTES" ]; then
  log "writing $SIZE of random data"
  head -c "$BYTES" /dev/urandom > "$DATA"
fi
TORRENT="$WORK/$NAME.torrent"
rm -f "$TORRENT"
mktorrent -l "$PIECE_EXP" -a "http://$IP:1/announce" -o "$TORRENT" "$DATA" >/dev/null
WANT=$(sha1sum "$DATA" | cut -d' ' -f1)
PEERS=()
for which in fast slow; do
  rate=$FAST_RATE; [ $which = slow ] && rate=$SLOW_RATE
  dir="$WORK/seed-$which"; rm -rf "$dir"; mkdir -p "$dir"; ln "$DATA" "$dir/$NAME"
  port=$(free_port)
  "$TG" --seed-only --no-dht --no-pex -q --listen "$IP:$port" --max-upload-rate "$rate" -o "$dir" "$TORRENT" \
    > "$WORK/seed-$which.log" 2>&1 &
  PIDS+=($!)
  PEERS+=(--peer "$IP:$port")
  log "seeder $which ($rate/s) on port $port"
done
for p in "${PEERS[@]}"; do [ "$p" = --peer ] || wait_port "${p##*:}" 600 || die "a seeder did not start (hash check)"; done

# Reads stdin: prints time to first byte, to first MiB, total bytes, SHA-1 (from its own start).
READER='
import hashlib, sys, time
t0 = float(sys.argv[1]); h = hashlib.sha1(); n = 0; first = mib = None
while True:
    b = sys.stdin.buffer.read1(1 << 20)
    if not b: break
    if first is None: first = time.time() - t0
    n += len(b); h.update(b)
    if mib is None and n >= 1 << 20: mib = time.time() - t0
print(f"{first if first is not None else -1:.3f} {mib if mib is not None else -1:.3f} {n} {h.hexdigest()}")
'

ROWS=()
run() { # MODE
  local mode=$1 start end out rss first mib n sha ok
  rm -rf "$WORK/leech"; mkdir -p "$WORK/leech"
  sync
  start=$(date +%s.%N)
  case $mode in
    normal)
      /usr/bin/time -f %M -o "$WORK/rss" timeout "$TIMEOUT" "$TG" --no-dht --no-pex -q --listen "$IP:0" \
        "${PEERS[@]}" -o "$WORK/leech" "$TORRENT" > "$WORK/normal.log" 2>&1 || die "normal download failed"
      end=$(date +%s.%N)
      sha=$(sha1sum "$WORK/leech/$NAME" | cut -d' ' -f1); n=$(stat -c %s "$WORK/leech/$NAME")
      first=$(echo "$end - $start" | bc); mib=$first ;;
    stream|no-save)
      local extra=(); [ $mode = no-save ] && extra=(--no-save)
      out=$( { /usr/bin/time -f %M -o "$WORK/rss" timeout "$TIMEOUT" "$TG" --no-dht --no-pex -q --listen "$IP:0" \
        "${PEERS[@]}" -o "$WORK/leech" --stdout "${extra[@]}" "$TORRENT" 2> "$WORK/$mode.log"; } | $PY -c "$READER" "$start")
      end=$(date +%s.%N)
      read -r first mib n sha <<< "$out" ;;
  esac
  rss=$(tail -1 "$WORK/rss")
  local total; total=$(echo "$end - $start" | bc)
  ok=ok; [ "$sha" = "$WANT" ] && [ "$n" = "$BYTES" ] || ok=MISMATCH
  ROWS+=("| $mode | $first | $mib | $total | $(echo "scale=1; $BYTES / $total / 1000000" | bc) | $rss | $ok |")
  log "$mode: first byte ${first}s, first MiB ${mib}s, total ${total}s, RSS ${rss} KiB, data $ok"
}
for m in normal stream no-save; do run $m; done

echo
echo "$SIZE, one file, 2^$PIECE_EXP-byte pieces, seeders: torrent-get --seed-only at $FAST_RATE/s and $SLOW_RATE/s"
echo
echo "| leecher | first byte s | first MiB s | total s | MB/s | peak RSS KiB | data |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
printf '%s\n' "${ROWS[@]}"
