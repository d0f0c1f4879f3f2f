#!/usr/bin/env bash
# Resident memory of `apprentice serve` while it serves many decisions whose feedback never comes
# (the fraud case: labels arrive weeks later): the journal and --max-pending keep it bounded.
#
#   scripts/service_memory.sh [DECISIONS] [BUILD_DIR]     (defaults: 10000000, build)
#
# Starts `apprentice serve --executor-only --log-dir` (journal on) on a 4-64-64-2 network in a
# temporary directory, drives it with `service_bench --endpoint` (1 client, 64 requests in
# flight), and prints the decisions served and the server's VmRSS every 10 s until DECISIONS,
# then the server's summary. Needs the disk for two logs of DECISIONS records (~300 bytes each).
set -euo pipefail
decisions=${1:-10000000}
build=${2:-build}
for f in "$build/apps/apprentice" "$build/bench/service_bench" "$build/tests/write_test_snapshot"; do
  [ -x "$f" ] || { echo "service_memory: $f not found (build first: scripts/build.sh)" >&2; exit 2; }
done
work=$(mktemp -d)
server=0 load=0
cleanup() {
  [ "$load" != 0 ] && kill "$load" 2>/dev/null || true
  [ "$server" != 0 ] && kill -9 "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$build/tests/write_test_snapshot" "$work/executor.snap" 4 2
"$build/apps/apprentice" serve --executor-only --snapshot "$work/executor.snap" \
  --log-dir "$work/logs" --bind 'tcp://127.0.0.1:*' --endpoint-file "$work/endpoint" \
  --status-every-s 10 >"$work/serve.out" 2>"$work/serve.err" &
server=$!
for _ in $(seq 1 200); do [ -s "$work/endpoint" ] && break; sleep 0.05; done
[ -s "$work/endpoint" ] || { echo "service_memory: the server did not start" >&2; cat "$work/serve.err" >&2; exit 1; }
"$build/bench/service_bench" --endpoint "$(cat "$work/endpoint")" --in-flight 64 \
  --seconds 1000000 >/dev/null 2>&1 &
load=$!

printf '%10s %14s %12s\n' "seconds" "decisions" "VmRSS MiB"
start=$(date +%s)
served=0
while [ "$served" -lt "$decisions" ]; do
  sleep 10
  line=$(grep '^serve: ' "$work/serve.err" | tail -1 || true)
  served=$(sed -n 's/.*s, \([0-9]*\) decisions.*/\1/p' <<<"$line")
  served=${served:-0}
  rss_mib=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status")
  printf '%10d %14d %12s\n' "$(( $(date +%s) - start ))" "$served" "$rss_mib"
done
kill "$load"; wait "$load" 2>/dev/null || true; load=0
kill -TERM "$server"; wait "$server" || true; server=0
cat "$work/serve.out"
du -sh "$work/logs" "$work/logs/journal" | sed 's/^/disk: /'
