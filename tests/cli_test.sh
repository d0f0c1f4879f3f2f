#!/usr/bin/env bash
# Command-line behaviour of `apprentice`: help, bad input (clear message, exit 2, never a crash),
# and a short real run whose summary JSON carries the stable keys.
# usage: cli_test.sh PATH/TO/apprentice
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect CODE PATTERN -- ARGS...: runs apprentice, checks the exit code and that stderr+stdout
# contain PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$code" ] || ! grep -qF -- "$pattern" <<<"$out"; then
    echo "FAIL: apprentice $* -> exit $rc (want $code), output:"
    echo "$out" | head -20
    echo "  (wanted to see: $pattern)"
    failures=$((failures + 1))
  else
    echo "ok: apprentice $* -> $rc"
  fi
}

expect 0 "usage: apprentice <command>" -- --help
expect 2 "usage: apprentice <command>" --
expect 2 "unknown command 'fly'" -- fly
expect 0 "--summary-json" -- run --help
expect 2 "--env: unknown value 'mars' (choose cartpole|pendulum)" -- run --env mars
expect 2 "--planner: unknown value 'oracle'" -- run --planner oracle
expect 2 "--steps: 0 is out of range" -- run --steps 0
expect 2 "--steps: 'many' is not an integer" -- run --steps many
expect 2 "--seed: -3 is out of range" -- run --seed -3
expect 2 "--beta: 1.5 is out of range" -- run --beta 1.5
expect 2 "--hidden: '64,x'" -- run --hidden 64,x
expect 2 "unknown flag --stpes" -- run --stpes 10
expect 2 "--steps needs a value" -- run --steps
expect 2 "mcts plans over discrete actions" -- run --env pendulum --quiet
expect 0 "executor return" -- run --steps 150 --min-replay 32 --eval-episodes 1 \
  --planner-eval-episodes 1 --mcts-simulations 16 --summary-json "$tmp/s.json" --run-dir "$tmp/r0"

for key in env planner seed planner_return executor_return agreement planner_labels \
  executor_latency_us planner_latency_us; do
  if ! grep -q "\"$key\":" "$tmp/s.json" 2>/dev/null; then
    echo "FAIL: summary JSON lacks \"$key\""
    failures=$((failures + 1))
  fi
done
grep -q '"p99":' "$tmp/s.json" || { echo "FAIL: no p99 in summary"; failures=$((failures + 1)); }

expect 2 "--summary-json: cannot write /nonexistent/dir/s.json" -- run --steps 20 --quiet \
  --summary-json /nonexistent/dir/s.json
expect 2 "exceeds the replay capacity" -- run --min-replay 200000 --quiet

# Agent modes, run directories, resume.
expect 2 "--mode: unknown value 'warp'" -- run --mode warp
expect 2 "--replay-sampler: unknown value 'best'" -- run --replay-sampler best
expect 2 "has no logs/ to continue from" -- run --resume "$tmp/nothing" --quiet
expect 2 "not both" -- run --resume "$tmp/r0" --run-dir "$tmp/r9" --quiet
expect 2 "--deadline-us: 0 is out of range" -- run --mode deadline --deadline-us 0
expect 0 "deadline misses" -- run --mode reflex --planner lqr --steps 400 --rate-hz 2000 \
  --eval-episodes 1 --planner-eval-episodes 1 --run-dir "$tmp/r1" --summary-json "$tmp/a.json"
for key in mode deadline_misses planner_drops acted_by act_latency_us logged; do
  grep -q "\"$key\":" "$tmp/a.json" 2>/dev/null ||
    { echo "FAIL: agent summary lacks \"$key\""; failures=$((failures + 1)); }
done
for f in metrics.jsonl executor.snap distiller.ckpt summary.json logs/segment-000000.alog; do
  [ -s "$tmp/r1/$f" ] || { echo "FAIL: run dir lacks $f"; failures=$((failures + 1)); }
done
grep -q '"act_latency_us"' "$tmp/r1/metrics.jsonl" ||
  { echo "FAIL: metrics.jsonl lacks act_latency_us"; failures=$((failures + 1)); }
expect 0 "executor return" -- run --mode reflex --planner lqr --steps 100 --eval-episodes 1 \
  --planner-eval-episodes 0 --resume "$tmp/r1" --summary-json "$tmp/b.json" --quiet
grep -q '"resumed_records": 400' "$tmp/b.json" ||
  { echo "FAIL: resume did not read the 400 logged records"; failures=$((failures + 1)); }

# SIGINT stops training cleanly: the summary of what ran is printed, exit 130.
"$bin" run --mode reflex --planner lqr --steps 100000000 --rate-hz 1000 --eval-episodes 1 \
  --planner-eval-episodes 0 --run-dir "$tmp/r2" --quiet --json >"$tmp/int.json" 2>"$tmp/int.err" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/r2/metrics.jsonl" ] && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" -ne 130 ] || ! grep -q '"interrupted": true' "$tmp/int.json"; then
  echo "FAIL: SIGINT -> exit $rc (want 130 and an interrupted summary)"; cat "$tmp/int.err" | head
  failures=$((failures + 1))
else
  echo "ok: SIGINT stops the run cleanly -> 130"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
