#!/bin/sh
# Run every fuzz target (or the ones named) for SECONDS each, one after the
# other, and print a summary table. Usage, from anywhere:
#
#   fuzz/run-all.sh 60                      # all targets, 60 s each
#   fuzz/run-all.sh 120 krpc peer_codec     # only these
#
# Uses `cargo +nightly fuzz` when a nightly toolchain is installed, else
# stable rustc with RUSTC_BOOTSTRAP=1. New corpus entries land in
# corpus/<target>/ (minimise with `cargo fuzz cmin <target>` before
# committing); crashes land in artifacts/<target>/. Logs: target/fuzz-logs/.
# Exit status 1 if any target crashed.
set -u
cd "$(dirname "$0")" || exit 2
secs=${1:-60}
shift 2>/dev/null || true
targets=${*:-$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^torrent-fuzz$')}
if rustup run nightly rustc --version >/dev/null 2>&1; then
    fuzz() { cargo +nightly fuzz "$@"; }
else
    fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
fi
mkdir -p target/fuzz-logs
fuzz build || exit 2
status=0
printf '| %-12s | %5s | %10s | %8s | %7s |\n' target time executions coverage crashes
printf '|%s|%s|%s|%s|%s|\n' -------------- ------- ------------ ---------- ---------
for t in $targets; do
    log=target/fuzz-logs/$t.log
    before=$(ls "artifacts/$t" 2>/dev/null | wc -l)
    fuzz run "$t" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1
    after=$(ls "artifacts/$t" 2>/dev/null | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    crashes=$((after - before))
    [ "$crashes" -gt 0 ] && status=1
    printf '| %-12s | %4ss | %10s | %8s | %7s |\n' "$t" "$secs" "${execs:-?}" "${cov:-?}" "$crashes"
done
exit $status
