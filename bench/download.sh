#!/usr/bin/env bash
# bench/download.sh - download throughput of torrent-get next to real clients, on loopback.
#
#   bench/download.sh [SIZE]          SIZE: payload size, default 1G (numfmt IEC: 512M, 2G, ...)
#
# Environment: WORK (default /tmp/torrent-get-bench), PIECE_EXP (piece size 2^N, default 18),
#              PIECE_EXPS (several piece sizes in one run, e.g. "14 18 22 24": table 1 for each;
#              table 2 uses the first), TG_BASE (a second torrent-get binary, e.g. an older build,
#              run as leecher "tg-base" next to the others), BATCH (N>0: also N torrents of
#              BATCH_SIZE, default 4M, from one libtorrent seeder, each leecher fetching all N
#              in one process), TABLE2=0 (skip table 2),
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
PIECE_EXPS=${PIECE_EXPS:-$PIECE_EXP}
BATCH=${BATCH:-0}
BATCH_SIZE=${BATCH_SIZE:-4M}
TG_BASE=${TG_BASE:-}
MANY="$HERE/lt_many.py"
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
[ -z "$TG_BASE" ] || [ -x "$TG_BASE" ] || die "TG_BASE=$TG_BASE is not executable"

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
# make_torrent EXP FILE OUT: mktorrent from 32 KiB up, libtorrent below.
make_torrent() {
  if [ "$1" -ge 15 ]; then
    mktorrent -l "$1" -a "http://$IP:$TRACKER_PORT/announce" -o "$3" "$2" >/dev/null
  else
    $PY "$MANY" make "$2" $((1 << $1)) "http://$IP:$TRACKER_PORT/announce" "$3"
  fi
}
for e in $PIECE_EXPS; do
  log "creating $WORK/$NAME-$e.torrent (pieces of 2^$e bytes, tracker port $TRACKER_PORT)"
  rm -f "$WORK/$NAME-$e.torrent"
  make_torrent "$e" "$SEED/$NAME" "$WORK/$NAME-$e.torrent"
done
BATCH_TORRENTS=()
BATCH_NAMES=()
if [ "$BATCH" -gt 0 ]; then
  BATCH_BYTES=$(numfmt --from=iec "$BATCH_SIZE")
  mkdir -p "$WORK/batch-t"
  log "creating $BATCH torrents of $BATCH_BYTES bytes (pieces of 2^18 bytes)"
  for i in $(seq "$BATCH"); do
    f="batch-$BATCH_SIZE-$i.bin"
    if [ ! -f "$SEED/$f" ] || [ "$(stat -c %s "$SEED/$f")" != "$BATCH_BYTES" ]; then
      head -c "$BATCH_BYTES" /dev/urandom >"$SEED/$f"
    fi
    rm -f "$WORK/batch-t/$f.torrent"
    make_torrent 18 "$SEED/$f" "$WORK/batch-t/$f.torrent"
    BATCH_TORRENTS+=("$WORK/batch-t/$f.torrent")
    BATCH_NAMES+=("$f")
  done
fi
infohashes() { $PY -c 'import libtorrent as lt,sys
for t in sys.argv[1:]: print(lt.torrent_info(t).info_hashes().v1)' "$@"; }

TDIR="$WORK/tracker"
mkdir -p "$TDIR"; chmod 755 "$TDIR"
infohashes "$WORK/$NAME"-*.torrent "${BATCH_TORRENTS[@]}" >"$TDIR/whitelist"; chmod 644 "$TDIR/whitelist"
# Debian's opentracker is built with a whitelist; -w is read after the chroot to -d.
opentracker -i $IP -p "$TRACKER_PORT" -P "$TRACKER_PORT" -d "$TDIR" -w /whitelist -A $IP \
  >"$WORK/tracker.log" 2>&1 </dev/null &
PIDS+=($!)
wait_port "$TRACKER_PORT" 10 || die "opentracker did not start ($(cat "$WORK/tracker.log"))"

LT_SEED_PORT=$(free_port)
start_lt_seeder() {
  # --check: the seeder hashes its data before serving, so no leecher pays
  # for libtorrent's lazy seed-mode checks (the first one measured would).
  if [ "$BATCH_RUN" = 1 ]; then
    $PY -u "$MANY" seed "$SEED" "${BATCH_TORRENTS[@]}" --port "$LT_SEED_PORT" --timeout $((TIMEOUT * 10)) \
      >"$WORK/lt-seed.log" 2>&1 </dev/null &
  else
    $PY -u "$LT" seed "$TORRENT" "$SEED" --port "$LT_SEED_PORT" --timeout $((TIMEOUT * 10)) --check \
      >"$WORK/lt-seed.log" 2>&1 </dev/null &
  fi
  LT_SEED_PID=$!
  PIDS+=($LT_SEED_PID)
  wait_port "$LT_SEED_PORT" 30 || die "libtorrent seeder did not start"
  local i
  for i in $(seq 3000); do grep -q SEEDING "$WORK/lt-seed.log" && return 0; sleep 0.1; done
  die "libtorrent seeder never finished checking its data"
}

# ------------------------------------------------------------------ one download
# run_leecher NAME SEEDER_PORT -> sets SECS MBPS RSS STATUS
run_leecher() {
  local who=$1 seed_port=$2 dir="$WORK/leech" port t0 t1 rc=0
  rm -rf "$dir"; mkdir -p "$dir"
  port=$(free_port)
  local cmd=() ts=("$TORRENT") files=("$NAME") f
  if [ "$BATCH_RUN" = 1 ]; then ts=("${BATCH_TORRENTS[@]}"); files=("${BATCH_NAMES[@]}"); fi
  case "$who" in
    torrent-get|tg-base)
      local bin=$TG
      [ "$who" = torrent-get ] || bin=$TG_BASE
      # shellcheck disable=SC2206
      cmd=("$bin" -q --no-dht --no-pex --listen "$IP:$port" --timeout "$TIMEOUT"
           --peer "$IP:$seed_port" -o "$dir" ${TG_ARGS:-} "${ts[@]}") ;;
    aria2c)
      cmd=(aria2c --dir="$dir" --listen-port="$port" --interface=$IP --disable-ipv6=true
           --enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false
           --bt-tracker-interval=2 --file-allocation=none --summary-interval=0
           --console-log-level=warn --auto-save-interval=0 --seed-time=0
           --bt-stop-timeout="$TIMEOUT" --stop="$TIMEOUT" -Z -j "${#ts[@]}" "${ts[@]}") ;;
    libtorrent)
      if [ "$BATCH_RUN" = 1 ]; then
        cmd=("$PY" "$MANY" leech "$dir" "${ts[@]}" --port "$port" --peer "$IP:$seed_port" --timeout "$TIMEOUT")
      else
        cmd=("$PY" "$LT" leech "$TORRENT" "$dir" --port "$port" --peer "$IP:$seed_port" --timeout "$TIMEOUT")
      fi ;;
  esac
  t0=$(date +%s.%N)
  RUN=$((${RUN:-0} + 1))
  /usr/bin/time -f "%M %U %S" -o "$WORK/$who.rss" "${cmd[@]}" >"$WORK/$who-$RUN.log" 2>&1 </dev/null || rc=$?
  t1=$(date +%s.%N)
  SECS=$(printf "%.2f" "$(echo "$t1 - $t0" | bc)")
  MBPS=$(echo "scale=1; $PAYLOAD / $SECS / 1000000" | bc)
  read -r RSS CPU_U CPU_S < <(tail -1 "$WORK/$who.rss")
  CPU=$(echo "$CPU_U + $CPU_S" | bc)
  STATUS=ok
  if [ "$rc" != 0 ]; then
    STATUS="FAIL(exit $rc)"
  else
    for f in "${files[@]}"; do
      cmp -s "$SEED/$f" "$dir/$f" || STATUS="FAIL(data differs)"
    done
  fi
  rm -rf "$dir"
  log "$who <- seeder :$seed_port: $STATUS ${SECS}s ${MBPS} MB/s CPU ${CPU}s peak RSS ${RSS} KiB"
}

row() { printf '%-14s %-30s %9s %9s %8s %12s  %s\n' "$@"; }
ROUNDS=${ROUNDS:-2}
BATCH_RUN=0
PAYLOAD=$BYTES
declare -A LT_SECS LT_MBPS LT_RSS LT_CPU LT_STATUS
ORDER=(torrent-get)
[ -z "$TG_BASE" ] || ORDER+=(tg-base)
ORDER+=(aria2c libtorrent)
T1=()
# table1 LABEL: every leecher ROUNDS times from a fresh libtorrent seeder of
# $TORRENT (or of the batch); LT_* keep each leecher's best round of the first shape.
table1() {
  local label=$1 r k who
  start_lt_seeder
  # One warm-up download, not counted: the first download from a freshly
  # started seeder was slow for every leecher (whoever came first).
  run_leecher libtorrent "$LT_SEED_PORT"
  T1+=("$(row "libtorrent" "$label warm-up (not counted)" "$SECS" "$MBPS" "$CPU" "$RSS" "$STATUS")")
  # Each round runs every leecher once, in a rotated order (no one is always first).
  for ((r=0; r<ROUNDS; r++)); do
    for ((k=0; k<${#ORDER[@]}; k++)); do
      who=${ORDER[$(( (k + r) % ${#ORDER[@]} ))]}
      run_leecher "$who" "$LT_SEED_PORT"
      T1+=("$(row "$who" "$label round $((r + 1))" "$SECS" "$MBPS" "$CPU" "$RSS" "$STATUS")")
      echo "$label $who $SECS $CPU $RSS $STATUS" >>"$WORK/runs.txt"
      if [ "$FIRST" = 1 ] && { [ -z "${LT_SECS[$who]:-}" ] || [ "$(echo "$SECS < ${LT_SECS[$who]}" | bc)" = 1 ]; }; then
        LT_SECS[$who]=$SECS; LT_MBPS[$who]=$MBPS; LT_RSS[$who]=$RSS; LT_CPU[$who]=$CPU; LT_STATUS[$who]=$STATUS
      fi
    done
  done
  stop_pid "$LT_SEED_PID"
}

# ------------------------------------------------------------------ table 1
: >"$WORK/runs.txt"
FIRST=1
for e in $PIECE_EXPS; do
  TORRENT="$WORK/$NAME-$e.torrent"
  table1 "$(numfmt --to=iec-i --suffix=B $((1 << e))) pieces"
  FIRST=0
done
if [ "$BATCH" -gt 0 ]; then
  BATCH_RUN=1
  PAYLOAD=$((BATCH * BATCH_BYTES))
  table1 "batch ${BATCH}x$BATCH_SIZE"
  BATCH_RUN=0
  PAYLOAD=$BYTES
fi
TORRENT="$WORK/$NAME-${PIECE_EXPS%% *}.torrent"

# ------------------------------------------------------------------ table 2
T2=()
if [ "${TABLE2:-1}" != 0 ]; then
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
  for who in aria2c libtorrent; do
    run_leecher "$who" "$TG_SEED_PORT"
    T2+=("$(row "$who" "torrent-get --seed-only" "$SECS" "$MBPS" "$CPU" "$RSS" "$STATUS")")
    T2+=("$(row "$who" "libtorrent (best)" "${LT_SECS[$who]}" "${LT_MBPS[$who]}" "${LT_CPU[$who]}" "${LT_RSS[$who]}" "${LT_STATUS[$who]}")")
  done
  TG_SEED_HWM=$(awk '/VmHWM/{print $2}' "/proc/$TG_SEED_PID/status" 2>/dev/null || echo "?")
  stop_pid "$TG_SEED_PID"
  TG_UPLOADED=$(grep -o '"uploaded":[0-9]*' "$WORK/tg-seed.log" | tail -1 | cut -d: -f2 || true)
fi

# ------------------------------------------------------------------ report
echo
echo "payload: $BYTES bytes ($SIZE), one file; piece sizes 2^($PIECE_EXPS); batch: $BATCH x $BATCH_SIZE;"
echo "loopback; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "torrent-get: $("$TG" --version)${TG_BASE:+; tg-base: $TG_BASE}"
echo
echo "Table 1: leechers downloading from a python3-libtorrent seeder (CPU = user + system seconds)"
row "leecher" "shape" "seconds" "MB/s" "CPU s" "peak RSS KiB" "data"
printf '%s\n' "${T1[@]}"
echo
echo "Medians over the rounds that succeeded (seconds, CPU seconds), and wall time ratios:"
$PY - "$WORK/runs.txt" <<'PYEOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and f[-1] == "ok":
        runs.setdefault((f[0] + " " + f[1], f[2]), []).append((float(f[3]), float(f[4])))
med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()}
for (shape, who), (w, c) in med.items():
    print("%-20s %-12s n=%d  wall %6.2f  CPU %6.2f" % (shape, who, len(runs[(shape, who)]), w, c))
for (shape, who), (w, c) in med.items():
    if who != "torrent-get":
        continue
    ratios = ["torrent-get/%s %.2f" % (o, w / med[(shape, o)][0]) for o in ("libtorrent", "aria2c", "tg-base") if (shape, o) in med]
    print("%-20s wall time ratios: %s" % (shape, ", ".join(ratios)))
PYEOF
if [ "${TABLE2:-1}" != 0 ]; then
  echo
  echo "Table 2: real leechers downloading from torrent-get --seed-only vs from libtorrent ($(basename "$TORRENT"))"
  echo "(torrent-get hashed the data before serving in ${CHECK_SECS}s, not counted; as seeder:"
  echo " peak RSS ${TG_SEED_HWM} KiB, uploaded ${TG_UPLOADED:-?} bytes in all)"
  row "leecher" "seeder" "seconds" "MB/s" "CPU s" "peak RSS KiB" "data"
  printf '%s\n' "${T2[@]}"
fi
