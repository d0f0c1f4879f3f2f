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
  --planner-eval-episodes 1 --mcts-simulations 16 --summary-json "$tmp/s.json"

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

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
