#!/usr/bin/env bash
# bench/resume_kill.sh - what a SIGKILL costs: the restart's check with the periodic resume
# record, next to a full re-hash (--recheck) of the same data (issue 18).
#
#   bench/resume_kill.sh [SIZE]     SIZE: payload size, default 256M (numfmt IEC: 1G, ...)
#
# Environment: WORK (default /tmp/torrent-get-resume-bench), RATE (leecher download limit,
#              default 40M per second, so the kill lands at ~90% rather than after the end),
#              KILL_AT (percent, default 90), SKIP_BUILD=1.
#
# 1. SIZE random bytes, a .torrent (torrent-info create, 256 KiB pieces), `torrent-get
#    --seed-only` seeding it on 127.0.0.1.
# 2. A leecher downloads with --json; at KILL_AT% of have_bytes it gets SIGKILL (no clean
#    stop: only the periodic resume record, written every 5 s, is there).
# 3. Restart: seconds until its `checked` event (resume data trusted, nothing hashed), and the
#    pieces it starts with. Then the same data with --recheck: seconds until `checked` (every
#    piece hashed). The page cache is warm for both (the file was just written).
# Only 127.0.0.1 is used; DHT is off. Every process started is stopped on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SIZE=${1:-256M}
BYTES=$(numfmt --from=iec "$SIZE")
WORK=${WORK:-/tmp/torrent-get-resume-bench}
RATE=$(numfmt --from=iec "${RATE:-40M}")
KILL_AT=${KILL_AT:-90}
TG="$ROOT/target/release/torrent-get"
TI="$ROOT/target/release/torrent-info"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
command -v jq >/dev/null || { log "jq is missing"; exit 1; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p torrent-get -p torrent-info)
fi

rm -rf "$WORK"; mkdir -p "$WORK/seed" "$WORK/out"
log "payload: $SIZE"
head -c "$BYTES" /dev/urandom >"$WORK/seed/payload.bin"
"$TI" create -l 256K --no-date -o "$WORK/p.torrent" "$WORK/seed/payload.bin" >/dev/null 2>&1
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TG" -q --no-dht --seed-only --listen "127.0.0.1:$PORT" -o "$WORK/seed" "$WORK/p.torrent" >/dev/null &
PIDS+=($!)
sleep 1

log "download at $(numfmt --to=iec "$RATE")/s, SIGKILL at $KILL_AT%"
"$TG" --json -q --no-dht --no-listen --max-download-rate "$RATE" --peer "127.0.0.1:$PORT" \
  -o "$WORK/out" "$WORK/p.torrent" >"$WORK/run1.json" &
LEECH=$!; PIDS+=($LEECH)
while kill -0 "$LEECH" 2>/dev/null; do
  have=$(grep '"progress"' "$WORK/run1.json" 2>/dev/null | tail -1 | jq -r '.have_bytes // 0' 2>/dev/null || echo 0)
  if [ "${have:-0}" -ge $((BYTES * KILL_AT / 100)) ]; then kill -9 "$LEECH"; break; fi
  sleep 0.1
done
wait "$LEECH" 2>/dev/null || true
log "killed at $(numfmt --to=iec "$have") of $SIZE"

# Seconds from start to the `checked` event, and the pieces verified then.
time_to_checked() {
  local log=$1; shift
  local t0; t0=$(date +%s.%N)
  "$TG" --json -q --no-dht --no-listen --timeout 600 -o "$WORK/out" "$@" "$WORK/p.torrent" >"$log" &
  local pid=$!
  until grep -q '"event":"checked"' "$log" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  local t1; t1=$(date +%s.%N)
  kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  local n; n=$(grep '"event":"checked"' "$log" | jq -r '"\(.have_pieces)/\(.pieces) pieces, rechecked=\(.rechecked)"')
  printf '%.2f s (%s)\n' "$(echo "$t1 - $t0" | bc)" "$n"
}
sync
echo "restart after SIGKILL: $(time_to_checked "$WORK/run2.json")"
echo "full re-hash (--recheck): $(time_to_checked "$WORK/run3.json" --recheck)"
