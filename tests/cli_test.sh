#!/usr/bin/env bash
# Command-line behaviour of `apprentice`: help, bad input (clear message, exit 2, never a crash),
# a short real run whose summary JSON carries the stable keys, and the offline commands
# (inspect, eval, distill) on the episode log of a run, where run writes one.
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

# json_keys FILE KEY...: FILE holds a JSON object with every KEY.
json_keys() {
  local file=$1 key
  shift
  for key in "$@"; do
    if ! grep -q "\"$key\":" "$file" 2>/dev/null; then
      echo "FAIL: $file lacks \"$key\""
      failures=$((failures + 1))
    fi
  done
}

# ---- Offline commands: inspect, eval, distill. ----
expect 0 "usage: apprentice inspect PATH" -- inspect --help
expect 0 "usage: apprentice eval --logs PATH --policy FILE" -- eval --help
expect 0 "usage: apprentice distill --logs PATH --out FILE" -- distill --help
expect 2 "give the log to inspect" -- inspect
expect 2 "one log at a time" -- inspect a b
expect 2 "unknown flag --bogus" -- inspect "$tmp" --bogus
expect 1 "episode log $tmp/nothing not found" -- inspect "$tmp/nothing"
expect 2 "--logs is required" -- eval --policy p.snap
expect 2 "--policy is required" -- eval --logs "$tmp"
expect 2 "--env: unknown value 'mars'" -- eval --logs "$tmp" --policy p.snap --env mars
expect 2 "--episodes: 0 is out of range" -- eval --logs "$tmp" --policy p.snap --episodes 0
expect 1 "--policy: " -- eval --logs "$tmp" --policy "$tmp/nothing.snap"
expect 1 "--policy: " -- eval --logs "$tmp" --policy "$tmp/s.json"
expect 2 "--out is required" -- distill --logs "$tmp"
expect 2 "--holdout: 1.5 is out of range" -- distill --logs "$tmp" --out p.snap --holdout 1.5
expect 2 "give --epochs or --updates, not both" -- distill --logs "$tmp" --out p.snap \
  --epochs 3 --updates 10
expect 2 "--hidden: '64,'" -- distill --logs "$tmp" --out p.snap --hidden 64,
expect 2 "--lr: 'fast' is not a finite number" -- distill --logs "$tmp" --out p.snap --lr fast
expect 2 "--out: cannot write /nonexistent/dir/p.snap" -- distill --logs "$tmp" \
  --out /nonexistent/dir/p.snap
expect 1 "episode log $tmp/nothing not found" -- distill --logs "$tmp/nothing" --out "$tmp/p.snap"
mkdir -p "$tmp/empty-log"
expect 1 "holds no labelled records" -- distill --logs "$tmp/empty-log" --out "$tmp/p.snap"
expect 0 "records" -- inspect "$tmp/empty-log"
"$bin" inspect "$tmp/empty-log" --json >"$tmp/inspect-empty.json"
json_keys "$tmp/inspect-empty.json" path records labelled acted_by_executor acted_by_planner \
  executor_version_min executor_version_max episodes complete_episodes incomplete_episodes \
  mean_complete_return min_complete_return max_complete_return segments episode_list damage

# With a real log: `run` writes RUN_DIR/logs and RUN_DIR/executor.snap (where supported).
run_dir="$tmp/run"
"$bin" run --mode sync --planner lqr --steps 2000 --eval-episodes 2 --planner-eval-episodes 1 \
  --run-dir "$run_dir" --quiet >/dev/null 2>&1
if [ ! -d "$run_dir/logs" ]; then
  echo "FAIL: run wrote no episode log ($run_dir/logs)"
  failures=$((failures + 1))
else
  logs="$run_dir/logs"
  expect 0 "return of complete episodes" -- inspect "$logs" --episodes
  "$bin" inspect "$logs" --json >"$tmp/inspect.json"
  json_keys "$tmp/inspect.json" records labelled episodes executor_version_max damage
  expect 0 "held-out agreement" -- distill --logs "$logs" --out "$tmp/p.snap" --quiet
  "$bin" distill --logs "$logs" --out "$tmp/p.snap" --env cartpole --episodes 3 --quiet --json \
    >"$tmp/distill.json"
  json_keys "$tmp/distill.json" logs out seed spec records labelled train_episodes \
    holdout_episodes train_records holdout_records holdout_episode_ids updates epochs \
    final_loss train_agreement holdout_agreement holdout_mean_kl holdout_action_rmse \
    train_seconds damage_count damage rollout mean_return
  expect 0 "mean KL(planner || policy)" -- eval --logs "$logs" --policy "$tmp/p.snap"
  "$bin" eval --logs "$logs" --policy "$tmp/p.snap" --env cartpole --episodes 2 --json \
    >"$tmp/eval.json"
  json_keys "$tmp/eval.json" logs policy policy_spec policy_version records labelled agreement \
    mean_kl action_rmse episodes damage_count damage rollout mean_return min_return
  expect 2 "--env: the policy takes observations of 4 floats, but pendulum gives 3" -- \
    eval --logs "$logs" --policy "$tmp/p.snap" --env pendulum
  expect 2 "--env: pendulum" -- distill --logs "$logs" --out "$tmp/q.snap" --env pendulum
  expect 0 "agreement" -- eval --logs "$logs" --policy "$run_dir/executor.snap"
  # Damage: a torn tail (the last record cut short) and a flipped byte in the middle. inspect
  # and eval report it and keep every intact record (2000 logged).
  cp -r "$logs" "$tmp/torn"
  seg="$tmp/torn/segment-000000.alog"
  size=$(stat -c %s "$seg")
  truncate -s $((size - 40)) "$seg"
  printf '\xff' | dd of="$seg" bs=1 seek=$((size / 2)) conv=notrunc status=none
  "$bin" inspect "$tmp/torn" --json >"$tmp/torn.json"
  records=$(grep -o '"records": [0-9]*' "$tmp/torn.json" | head -1 | grep -o '[0-9]*$')
  if ! grep -q '"reason"' "$tmp/torn.json" || [ "${records:-0}" -ne 1998 ]; then
    echo "FAIL: inspect of a torn and flipped log: want 1998 records and damage, got ${records:-?}"
    failures=$((failures + 1))
  else
    echo "ok: inspect keeps 1998 intact records around two damaged ones"
  fi
  expect 0 "damage" -- eval --logs "$tmp/torn" --policy "$tmp/p.snap"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
