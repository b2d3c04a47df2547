#!/usr/bin/env bash
# A batch of small torrents from one seeder, with torrent-get as the seeder (issue 16).
#
#   bench/batch_seed.sh [N] [SIZE]       (default 30 torrents of 4M)
#
# Env: ROUNDS (3), TG_BASE (an older torrent-get build: also measured as a
# seeder), TG_ARGS (extra leecher arguments for torrent-get), WORK.
#
# N one-file torrents of SIZE random bytes (256 KiB pieces, made by
# python3-libtorrent) are seeded by one process each: `torrent-get
# --seed-only` (this build), `tg-base --seed-only` (TG_BASE, if set) and a
# python3-libtorrent session (bench/lt_many.py seed). Every leecher (torrent-get,
# python3-libtorrent) fetches all N with one command from each seeder in
# turn, given the seeder's address (no tracker); rounds rotate the order.
# Each download is compared with `cmp`. Loopback only (127.0.0.1).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
N=${1:-30}
SIZE=${2:-4M}
BYTES=$(numfmt --from=iec "$SIZE")
ROUNDS=${ROUNDS:-3}
WORK=${WORK:-/tmp/torrent-get-batch-seed}
TG="$ROOT/target/release/torrent-get"
TG_BASE=${TG_BASE:-}
PY=/usr/bin/python3
MANY="$HERE/lt_many.py"
IP=127.0.0.1
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ -x "$TG" ] || die "$TG not built (cargo build --release -p torrent-get)"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
$PY -c 'import libtorrent' 2>/dev/null || die "python3-libtorrent is missing"

PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK/leech"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { local i; for i in $(seq $(( $2 * 10 ))); do (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

mkdir -p "$WORK/data" "$WORK/t"
TS=(); FILES=()
for i in $(seq "$N"); do
  f="b-$SIZE-$i.bin"
  [ -f "$WORK/data/$f" ] && [ "$(stat -c %s "$WORK/data/$f")" = "$BYTES" ] || head -c "$BYTES" /dev/urandom >"$WORK/data/$f"
  [ -f "$WORK/t/$f.torrent" ] || $PY "$MANY" make "$WORK/data/$f" 262144 "http://$IP:1/announce" "$WORK/t/$f.torrent"
  TS+=("$WORK/t/$f.torrent"); FILES+=("$f")
done

# Seeders: NAME PORT, each from its own copy of the data (resume files apart).
declare -A SPORT
start_tg_seeder() { # NAME BIN
  local port; port=$(free_port)
  rm -rf "$WORK/s-$1"; cp -r "$WORK/data" "$WORK/s-$1"
  "$2" --seed-only -q --no-dht --no-pex --listen "$IP:$port" -o "$WORK/s-$1" "${TS[@]}" \
    >"$WORK/$1.log" 2>&1 </dev/null &
  PIDS+=($!); SPORT[$1]=$port
}
SEEDERS=(torrent-get)
start_tg_seeder torrent-get "$TG"
if [ -n "$TG_BASE" ]; then SEEDERS+=(tg-base); start_tg_seeder tg-base "$TG_BASE"; fi
LPORT=$(free_port)
$PY -u "$MANY" seed "$WORK/data" "${TS[@]}" --port "$LPORT" --timeout 36000 >"$WORK/lt-seed.log" 2>&1 </dev/null &
PIDS+=($!); SPORT[libtorrent]=$LPORT; SEEDERS+=(libtorrent)
for s in "${SEEDERS[@]}"; do wait_port "${SPORT[$s]}" 60 || die "seeder $s did not start"; done
for i in $(seq 600); do grep -q SEEDING "$WORK/lt-seed.log" && break; sleep 0.1; done
sleep 2 # the torrent-get seeders check their data (a few MB) before serving

LEECHERS=(torrent-get libtorrent)
run() { # LEECHER SEEDER -> SECS CPU STATUS
  local d="$WORK/leech" port rc=0 f cmd t0 t1
  rm -rf "$d"; mkdir -p "$d"; port=$(free_port)
  if [ "$1" = torrent-get ]; then
    # shellcheck disable=SC2206
    cmd=("$TG" -q --no-dht --no-pex --listen "$IP:$port" --timeout 600 --peer "$IP:${SPORT[$2]}" -o "$d" ${TG_ARGS:-} "${TS[@]}")
  else
    cmd=("$PY" "$MANY" leech "$d" "${TS[@]}" --port "$port" --peer "$IP:${SPORT[$2]}" --timeout 600)
  fi
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$WORK/time" "${cmd[@]}" >/dev/null 2>"$WORK/leech.err" </dev/null || rc=$?
  t1=$(date +%s.%N)
  SECS=$(printf "%.2f" "$(echo "$t1 - $t0" | bc)")
  CPU=$(tail -1 "$WORK/time" | awk '{print $1 + $2}')
  STATUS=ok
  [ "$rc" = 0 ] || STATUS="FAIL(exit $rc)"
  for f in "${FILES[@]}"; do cmp -s "$WORK/data/$f" "$d/$f" || STATUS="FAIL(data differs)"; done
  rm -rf "$d"
}
: >"$WORK/runs.txt"
PAIRS=()
for s in "${SEEDERS[@]}"; do for l in "${LEECHERS[@]}"; do PAIRS+=("$l $s"); done; done
for ((r=0; r<ROUNDS; r++)); do
  for ((k=0; k<${#PAIRS[@]}; k++)); do
    read -r l s <<<"${PAIRS[$(( (k + r) % ${#PAIRS[@]} ))]}"
    run "$l" "$s"
    log "round $((r + 1)): $l <- $s: $STATUS ${SECS}s CPU ${CPU}s"
    echo "$l $s $SECS $CPU $STATUS" >>"$WORK/runs.txt"
  done
done
echo "Batch of $N x $SIZE from one seeder, $ROUNDS rounds (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-12s %-12s %4s %8s %8s  %s\n' leecher seeder n "wall s" "CPU s" "(medians; rounds: wall s)"
for p in "${PAIRS[@]}"; do
  read -r l s <<<"$p"
  awk -v l="$l" -v s="$s" 'BEGIN {n = 0} $1==l && $2==s && $5=="ok" {w[n]=$3; c[n]=$4; n++; all=all" "$3}
    $1==l && $2==s && $5!="ok" {all=all" "$5}
    function med(a, n,  i, j, t) { for (i=0;i<n;i++) for (j=i+1;j<n;j++) if (a[j]<a[i]) {t=a[i];a[i]=a[j];a[j]=t}
      return n%2 ? a[int(n/2)] : (a[n/2-1]+a[n/2])/2 }
    END { if (n) printf "%-12s %-12s %4d %8.2f %8.2f  %s\n", l, s, n, med(w,n), med(c,n), all;
          else printf "%-12s %-12s %4d %8s %8s  %s\n", l, s, 0, "-", "-", all }' "$WORK/runs.txt"
done
