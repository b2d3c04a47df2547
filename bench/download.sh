#!/usr/bin/env bash
# bench/download.sh - download throughput of torrent-get next to real clients, on loopback.
#
#   bench/download.sh [SIZE]          SIZE: payload size, default 1G (numfmt IEC: 512M, 2G, ...)
#
# Environment: WORK (default /tmp/torrent-get-bench), PIECE_EXP (piece size 2^N, default 18),
#              ROUNDS (table 1 rounds, each leecher once per round, default 2),
#              TIMEOUT (seconds per download, default 600), SKIP_BUILD=1 (use target/release as is),
#              TG_ARGS (extra torrent-get options, e.g. -v). Logs: $WORK/<leecher>-<run>.log.
#
# 1. One payload file of SIZE random bytes, a .torrent (mktorrent) announcing to an opentracker
#    on 127.0.0.1, a python3-libtorrent seeder on 127.0.0.1.
# 2. Table 1: each leecher (torrent-get release build, aria2c, python3-libtorrent) downloads the
#    payload alone from that seeder: wall time, MB/s (10^6 bytes), peak RSS (/usr/bin/time %M),
#    and the data is compared with cmp.
# 3. Table 2: real leechers (aria2c, libtorrent) download from `torrent-get --seed-only` as the
#    only seeder, next to the same leecher downloading from the libtorrent seeder (taken from
#    table 1), so torrent-get's upload path is measured against libtorrent's.
#
# Only 127.0.0.1 is used: DHT, local discovery, PEX, UPnP/NAT-PMP and uTP are off in every client.
# Every process started is stopped on exit. Needs: cargo, mktorrent, opentracker, aria2c,
# /usr/bin/python3 with python3-libtorrent, /usr/bin/time (Debian package `time`).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SIZE=${1:-1G}
BYTES=$(numfmt --from=iec "$SIZE")
WORK=${WORK:-/tmp/torrent-get-bench}
PIECE_EXP=${PIECE_EXP:-18}
TIMEOUT=${TIMEOUT:-600}
PY=/usr/bin/python3
LT="$ROOT/torrent-get/tests/lt_peer.py"
TG="$ROOT/target/release/torrent-get"
IP=127.0.0.1

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in mktorrent opentracker aria2c cmp numfmt; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install mktorrent opentracker aria2)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
$PY -c 'import libtorrent' 2>/dev/null || die "python3-libtorrent is missing (apt-get install python3-libtorrent)"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building torrent-get (release)"
  (cd "$ROOT" && cargo build --release -q -p torrent-get) || die "build failed"
fi
[ -x "$TG" ] || die "$TG not built"

# ------------------------------------------------------------------ processes
PIDS=()
stop_pid() {
  local p=$1 i
  kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() {
  local i
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do stop_pid "${PIDS[$i]}"; done
  rm -rf "$WORK/leech"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # PORT SECS
  local i
  for i in $(seq $(( $2 * 10 ))); do
    (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ------------------------------------------------------------------ payload, torrent, tracker
mkdir -p "$WORK"
NAME="payload-$SIZE.bin"
SEED="$WORK/seed"
TORRENT="$WORK/$NAME.torrent"
TRACKER_PORT=$(free_port)
if [ ! -f "$SEED/$NAME" ] || [ "$(stat -c %s "$SEED/$NAME")" != "$BYTES" ]; then
  log "creating $BYTES random bytes in $SEED/$NAME"
  mkdir -p "$SEED"
  head -c "$BYTES" /dev/urandom >"$SEED/$NAME"
fi
log "creating $TORRENT (pieces of 2^$PIECE_EXP bytes, tracker port $TRACKER_PORT)"
rm -f "$TORRENT"
mktorrent -l "$PIECE_EXP" -a "http://$IP:$TRACKER_PORT/announce" -o "$TORRENT" "$SEED/$NAME" >/dev/null
INFOHASH=$($PY -c 'import libtorrent as lt,sys; print(lt.torrent_info(sys.argv[1]).info_hashes().v1)' "$TORRENT")

TDIR="$WORK/tracker"
mkdir -p "$TDIR"; chmod 755 "$TDIR"
echo "$INFOHASH" >"$TDIR/whitelist"; chmod 644 "$TDIR/whitelist"
# Debian's opentracker is built with a whitelist; -w is read after the chroot to -d.
opentracker -i $IP -p "$TRACKER_PORT" -P "$TRACKER_PORT" -d "$TDIR" -w /whitelist -A $IP \
  >"$WORK/tracker.log" 2>&1 </dev/null &
PIDS+=($!)
wait_port "$TRACKER_PORT" 10 || die "opentracker did not start ($(cat "$WORK/tracker.log"))"

LT_SEED_PORT=$(free_port)
start_lt_seeder() {
  # --check: the seeder hashes its data before serving, so no leecher pays
  # for libtorrent's lazy seed-mode checks (the first one measured would).
  $PY -u "$LT" seed "$TORRENT" "$SEED" --port "$LT_SEED_PORT" --timeout $((TIMEOUT * 10)) --check \
    >"$WORK/lt-seed.log" 2>&1 </dev/null &
  LT_SEED_PID=$!
  PIDS+=($LT_SEED_PID)
  wait_port "$LT_SEED_PORT" 30 || die "libtorrent seeder did not start"
  local i
  for i in $(seq 600); do grep -q SEEDING "$WORK/lt-seed.log" && return 0; sleep 0.1; done
  die "libtorrent seeder never finished checking its data"
}

# ------------------------------------------------------------------ one download
# run_leecher NAME SEEDER_PORT -> sets SECS MBPS RSS STATUS
run_leecher() {
  local who=$1 seed_port=$2 dir="$WORK/leech" port t0 t1 rc=0
  rm -rf "$dir"; mkdir -p "$dir"
  port=$(free_port)
  local cmd=()
  case "$who" in
    torrent-get)
      # shellcheck disable=SC2206
      cmd=("$TG" -q --no-dht --no-pex --listen "$IP:$port" --timeout "$TIMEOUT"
           --peer "$IP:$seed_port" -o "$dir" ${TG_ARGS:-} "$TORRENT") ;;
    aria2c)
      cmd=(aria2c --dir="$dir" --listen-port="$port" --interface=$IP --disable-ipv6=true
           --enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false
           --bt-tracker-interval=2 --file-allocation=none --summary-interval=0
           --console-log-level=warn --auto-save-interval=0 --seed-time=0
           --bt-stop-timeout="$TIMEOUT" --stop="$TIMEOUT" "$TORRENT") ;;
    libtorrent)
      cmd=("$PY" "$LT" leech "$TORRENT" "$dir" --port "$port" --peer "$IP:$seed_port" --timeout "$TIMEOUT") ;;
  esac
  t0=$(date +%s.%N)
  RUN=$((${RUN:-0} + 1))
  /usr/bin/time -f %M -o "$WORK/$who.rss" "${cmd[@]}" >"$WORK/$who-$RUN.log" 2>&1 </dev/null || rc=$?
  t1=$(date +%s.%N)
  SECS=$(printf "%.2f" "$(echo "$t1 - $t0" | bc)")
  MBPS=$(echo "scale=1; $BYTES / $SECS / 1000000" | bc)
  RSS=$(tail -1 "$WORK/$who.rss")
  if [ "$rc" != 0 ]; then
    STATUS="FAIL(exit $rc)"
  elif cmp -s "$SEED/$NAME" "$dir/$NAME"; then
    STATUS=ok
  else
    STATUS="FAIL(data differs)"
  fi
  rm -rf "$dir"
  log "$who <- seeder :$seed_port: $STATUS ${SECS}s ${MBPS} MB/s peak RSS ${RSS} KiB"
}

row() { printf '%-14s %-24s %9s %9s %12s  %s\n' "$@"; }
ROUNDS=${ROUNDS:-2}

# ------------------------------------------------------------------ table 1
start_lt_seeder
declare -A LT_SECS LT_MBPS LT_RSS LT_STATUS
# One warm-up download, not counted: the first download from a freshly
# started seeder was slow for every leecher (whoever came first).
run_leecher libtorrent "$LT_SEED_PORT"
WARMUP="warm-up (libtorrent, not counted): ${SECS}s $STATUS"
T1=()
# Each round runs every leecher once, in a rotated order (no one is always
# first); table 2 compares with each leecher's best round.
ORDER=(torrent-get aria2c libtorrent)
for ((r=0; r<ROUNDS; r++)); do
  for ((k=0; k<${#ORDER[@]}; k++)); do
    who=${ORDER[$(( (k + r) % ${#ORDER[@]} ))]}
    run_leecher "$who" "$LT_SEED_PORT"
    T1+=("$(row "$who" "libtorrent (round $((r + 1)))" "$SECS" "$MBPS" "$RSS" "$STATUS")")
    if [ -z "${LT_SECS[$who]:-}" ] || [ "$(echo "$SECS < ${LT_SECS[$who]}" | bc)" = 1 ]; then
      LT_SECS[$who]=$SECS; LT_MBPS[$who]=$MBPS; LT_RSS[$who]=$RSS; LT_STATUS[$who]=$STATUS
    fi
  done
done
stop_pid "$LT_SEED_PID"

# ------------------------------------------------------------------ table 2
TG_SEED_PORT=$(free_port)
"$TG" --seed-only --json -q --no-dht --no-pex --listen "$IP:$TG_SEED_PORT" --timeout $((TIMEOUT * 3)) \
  -o "$SEED" "$TORRENT" >"$WORK/tg-seed.log" 2>"$WORK/tg-seed.err" </dev/null &
TG_SEED_PID=$!
PIDS+=($TG_SEED_PID)
t0=$(date +%s.%N)
for i in $(seq $((TIMEOUT * 10))); do
  grep -q '"event":"checked"' "$WORK/tg-seed.log" 2>/dev/null && break
  kill -0 "$TG_SEED_PID" 2>/dev/null || die "torrent-get --seed-only exited: $(cat "$WORK/tg-seed.err")"
  sleep 0.1
done
CHECK_SECS=$(printf "%.2f" "$(echo "$(date +%s.%N) - $t0" | bc)")
log "torrent-get --seed-only checked the data in ${CHECK_SECS}s"
wait_port "$TG_SEED_PORT" 10 || die "torrent-get --seed-only is not listening"
T2=()
for who in aria2c libtorrent; do
  run_leecher "$who" "$TG_SEED_PORT"
  T2+=("$(row "$who" "torrent-get --seed-only" "$SECS" "$MBPS" "$RSS" "$STATUS")")
  T2+=("$(row "$who" "libtorrent (best)" "${LT_SECS[$who]}" "${LT_MBPS[$who]}" "${LT_RSS[$who]}" "${LT_STATUS[$who]}")")
done
TG_SEED_HWM=$(awk '/VmHWM/{print $2}' "/proc/$TG_SEED_PID/status" 2>/dev/null || echo "?")
stop_pid "$TG_SEED_PID"
TG_UPLOADED=$(grep -o '"uploaded":[0-9]*' "$WORK/tg-seed.log" | tail -1 | cut -d: -f2 || true)

# ------------------------------------------------------------------ report
echo
echo "payload: $BYTES bytes ($SIZE), one file, pieces of $((1 << PIECE_EXP)) bytes; loopback; $(nproc) cores"
echo "torrent-get: $("$TG" --version)"
echo
echo "Table 1: leechers downloading from a python3-libtorrent seeder"
echo "$WARMUP"
row "leecher" "seeder" "seconds" "MB/s" "peak RSS KiB" "data"
printf '%s\n' "${T1[@]}"
echo
echo "Table 2: real leechers downloading from torrent-get --seed-only vs from libtorrent"
echo "(torrent-get hashed the data before serving in ${CHECK_SECS}s, not counted; as seeder:"
echo " peak RSS ${TG_SEED_HWM} KiB, uploaded ${TG_UPLOADED:-?} bytes in all)"
row "leecher" "seeder" "seconds" "MB/s" "peak RSS KiB" "data"
printf '%s\n' "${T2[@]}"
