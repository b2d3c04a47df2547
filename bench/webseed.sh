#!/usr/bin/env bash
# bench/webseed.sh - web-seed-only download time from a local nginx: torrent-core's web-seed
# client (torrent-core/examples/webseed-get.rs) and torrent-get (its engine, url-list only) next
# to aria2c, same nginx, same run.
#
#   bench/webseed.sh [SIZE]           SIZE: payload size, default 256M (numfmt IEC: 512M, 1G, ...)
#
# Environment: WORK (default /tmp/webseed-bench), ROUNDS (default 2; each client once per round,
#              alternating who goes first), PIECE_EXP (piece size 2^N, default 18),
#              CONNS (requests in flight: WS_REQUESTS for ours, -x/-s for aria2c; default 4),
#              SKIP_BUILD=1. Logs: $WORK/<client>-<round>.log.
#
# The payload is a multi-file torrent (two files, so requests span file boundaries) made by
# mktorrent with a url-list pointing at an nginx started unprivileged on a free 127.0.0.1 port
# with its own prefix under $WORK. No tracker, no peers: both clients download only from the
# web seed, verify every piece, and the result is compared with cmp. The payload is read once
# before the rounds so nginx serves it from the page cache for everyone.
# Figures (wall seconds, MB/s in 10^6 bytes, user+sys CPU seconds and peak RSS from
# /usr/bin/time) go to stdout; progress to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SIZE=${1:-256M}
BYTES=$(numfmt --from=iec "$SIZE")
WORK=${WORK:-/tmp/webseed-bench}
ROUNDS=${ROUNDS:-2}
PIECE_EXP=${PIECE_EXP:-18}
CONNS=${CONNS:-4}
WS="$ROOT/target/release/examples/webseed-get"
TG="$ROOT/target/release/torrent-get"
NGINX=${NGINX:-/usr/sbin/nginx}

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in mktorrent aria2c cmp numfmt python3; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
[ -x "$NGINX" ] || die "nginx is missing (apt-get install nginx-light)"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building webseed-get (release)"
  (cd "$ROOT" && cargo build --release -q -p torrent-core --example webseed-get && cargo build --release -q -p torrent-get) || die "build failed"
fi
[ -x "$WS" ] || die "$WS not built"
[ -x "$TG" ] || die "$TG not built"

NGINX_PID=
cleanup() {
  if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

rm -rf "$WORK"
mkdir -p "$WORK/www" "$WORK/nginx/logs" "$WORK/nginx/tmp"
NAME="webseed bench"
DATA="$WORK/www/$NAME"
mkdir -p "$DATA/sub dir"
FIRST=$(( BYTES * 5 / 8 ))
log "payload: $SIZE in two files"
head -c "$FIRST" /dev/urandom >"$DATA/part one.bin"
head -c $(( BYTES - FIRST )) /dev/urandom >"$DATA/sub dir/part 2.bin"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
P="$WORK/nginx"
cat >"$P/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $P/nginx.pid;
error_log $P/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  client_body_temp_path $P/tmp/body;
  proxy_temp_path $P/tmp/proxy;
  fastcgi_temp_path $P/tmp/fastcgi;
  uwsgi_temp_path $P/tmp/uwsgi;
  scgi_temp_path $P/tmp/scgi;
  types { }
  default_type application/octet-stream;
  server { listen 127.0.0.1:$PORT; root $WORK/www; location / { } }
}
CONF
"$NGINX" -p "$P" -c "$P/nginx.conf" -e "$P/logs/error.log" </dev/null >/dev/null 2>&1 &
NGINX_PID=$!
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$P/logs/error.log")"
  sleep 0.1
done
log "nginx on 127.0.0.1:$PORT"

TORRENT="$WORK/bench.torrent"
mktorrent -l "$PIECE_EXP" -w "http://127.0.0.1:$PORT/" -o "$TORRENT" "$DATA" >/dev/null
sync   # the payload was just written: its writeback would land in round 1
cat "$DATA/part one.bin" "$DATA/sub dir/part 2.bin" >/dev/null   # warm the page cache

now() { date +%s.%N; }
check() { cmp -s "$DATA/part one.bin" "$1/$NAME/part one.bin" && cmp -s "$DATA/sub dir/part 2.bin" "$1/$NAME/sub dir/part 2.bin"; }

run_ours() {
  local out="$WORK/out-ours" t0 t1
  rm -rf "$out"; mkdir -p "$out"
  t0=$(now)
  WS_REQUESTS=$CONNS /usr/bin/time -f "%U %S %M" -o "$WORK/ours-$1.time" "$WS" "$TORRENT" "$out" >"$WORK/ours-$1.out" 2>"$WORK/ours-$1.log" || die "webseed-get failed: $(tail -3 "$WORK/ours-$1.log")"
  t1=$(now)
  check "$out" || die "webseed-get: data differs"
  echo "$t0 $t1"
}
run_tg() {
  local out="$WORK/out-tg" t0 t1
  rm -rf "$out"; mkdir -p "$out"
  t0=$(now)
  /usr/bin/time -f "%U %S %M" -o "$WORK/tg-$1.time" "$TG" --no-listen --no-dht -v -o "$out" "$TORRENT" >"$WORK/tg-$1.out" 2>"$WORK/tg-$1.log" || die "torrent-get failed: $(tail -3 "$WORK/tg-$1.log")"
  t1=$(now)
  check "$out" || die "torrent-get: data differs"
  echo "$t0 $t1"
}
run_aria2() {
  local out="$WORK/out-aria2" t0 t1
  rm -rf "$out"; mkdir -p "$out"
  t0=$(now)
  /usr/bin/time -f "%U %S %M" -o "$WORK/aria2-$1.time" aria2c --dir="$out" --seed-time=0 --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --file-allocation=none --summary-interval=0 \
    --check-integrity=false --bt-hash-check-seed=false -x "$CONNS" -s "$CONNS" \
    --console-log-level=warn "$TORRENT" >"$WORK/aria2-$1.log" 2>&1 || die "aria2c failed: $(tail -3 "$WORK/aria2-$1.log")"
  t1=$(now)
  check "$out" || die "aria2c: data differs"
  echo "$t0 $t1"
}

printf 'web-seed-only download of %s (%d bytes, 2 files, pieces 2^%d) from nginx on 127.0.0.1, %d requests in flight\n' "$SIZE" "$BYTES" "$PIECE_EXP" "$CONNS"
printf '%-6s %-22s %9s %9s %9s %9s\n' round client seconds MB/s cpu_s rss_MiB
for r in $(seq "$ROUNDS"); do
  case $(( r % 3 )) in 1) order="ours tg aria2";; 2) order="aria2 ours tg";; *) order="tg aria2 ours";; esac
  for c in $order; do
    log "round $r: $c"
    read -r t0 t1 < <("run_$c" "$r")
    secs=$(python3 -c "print(f'{$t1-$t0:.2f}')")
    mbs=$(python3 -c "print(f'{$BYTES/($t1-$t0)/1e6:.0f}')")
    case $c in ours) label="torrent-core webseed";; tg) label="torrent-get";; *) label="aria2c $(aria2c --version | head -1 | awk '{print $3}')";; esac
    read -r u sy rss <"$WORK/$c-$r.time"
    cpu=$(python3 -c "print(f'{$u+$sy:.2f}')")
    printf '%-6s %-22s %9s %9s %9s %9s\n' "$r" "$label" "$secs" "$mbs" "$cpu" "$(( rss / 1024 ))"
  done
done
