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
expect 2 "--env: unknown value 'mars' (choose cartpole|connect-four|fraud|gridworld|mujoco|" -- run --env mars
expect 2 "--planner: unknown value 'oracle'" -- run --planner oracle
expect 2 "--planner: unknown value 'oracle'" -- run --planner lqr,oracle
expect 2 "--planner-weights needs an ensemble" -- run --planner lqr --planner-weights 1
expect 2 "--feature-weight needs a teacher that gives its features" -- run --feature-weight 1
expect 2 "1 weights for 2 planners" -- run --planner lqr,mcts --planner-weights 1
expect 2 "--cem-elites is an option of planner cem, but the planners are lqr,mcts" -- run \
  --planner lqr,mcts --cem-elites 8
expect 0 "planner lqr,mcts" -- run --planner lqr,mcts --planner-weights 3,1 --mcts-simulations 16 \
  --steps 150 --min-replay 32 --eval-episodes 1 --planner-eval-episodes 1
expect 2 "--steps: 0 is out of range" -- run --steps 0
expect 2 "--steps: 'many' is not an integer" -- run --steps many
expect 2 "--seed: -3 is out of range" -- run --seed -3
expect 2 "--beta: 1.5 is out of range" -- run --beta 1.5
expect 2 "--hidden: '64,x'" -- run --hidden 64,x
expect 2 "unknown flag --stpes" -- run --stpes 10
expect 2 "--steps needs a value" -- run --steps
expect 2 "fraud dataset $tmp/none.fraud not found" -- run --env fraud --fraud-data "$tmp/none.fraud"
expect 2 "from_day (60) must be before the stream's last day" -- run --env fraud --fraud-from-day 60
expect 0 "executor return" -- run --env fraud --steps 300 --min-replay 32 --eval-episodes 1 \
  --planner-eval-episodes 1 --quiet
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

# ---- The decision service: flags and start-up errors (tests/python_client_test.sh serves). ----
expect 0 "apprentice serve --executor-only --snapshot FILE" -- serve --help
expect 0 "--max-message-bytes" -- serve --help
expect 0 "--torchscript-model" -- serve --help
expect 2 "give --observation-size N and one of --actions K or --action-dims D" -- serve
expect 2 "give --observation-size N and one of --actions K or --action-dims D" -- serve \
  --observation-size 4 --actions 2 --action-dims 1
expect 2 "--snapshot, --reload-ms and --nats are for --executor-only" -- serve --snapshot x.snap
expect 2 "--actions is for a service with a teacher" -- serve --executor-only --snapshot x.snap \
  --actions 2
expect 2 "planner mcts plans on an environment model" -- serve --observation-size 4 --actions 2 \
  --planner mcts
expect 2 "give the model file (--torchscript-model FILE)" -- serve --observation-size 4 --actions 2
expect 2 "cannot load $tmp/nothing.pt" -- serve --observation-size 4 --actions 2 \
  --torchscript-model "$tmp/nothing.pt"
expect 2 "--executor-only serves --snapshot FILE or the weights bucket of --nats URL" -- \
  serve --executor-only
expect 0 "usage: apprentice learner --run-dir DIR" -- learner --help
expect 2 "--run-dir: give the learner's directory" -- learner --nats nats://127.0.0.1:1
expect 2 "--nats-parts and --nats-run need --nats URL" -- run --mode reflex --nats-parts learner
expect 2 "--label-policy is for agent modes: sync mode labels every step" -- run --steps 10 \
  --label-policy random
expect 2 "--label-fraction needs --label-policy random, uncertainty or disagreement" -- run \
  --mode reflex --steps 10 --label-fraction 0.1
expect 2 "nkey: cannot read $tmp/nothing.nk" -- run --mode reflex --nats nats://127.0.0.1:1 \
  --nats-nkey "$tmp/nothing.nk"
expect 2 "--snapshot: " -- serve --executor-only --snapshot "$tmp/nothing.snap"
expect 2 "--max-message-bytes: 10 is out of range" -- serve --executor-only --snapshot x.snap \
  --max-message-bytes 10

expect 0 "usage: apprentice keygen --out BASE" -- keygen --help
expect 2 "--out is required" -- keygen
expect 0 "public key: " -- keygen --out "$tmp/k"
expect 2 "$tmp/k.key exists; not replaced" -- keygen --out "$tmp/k"
expect 0 "\"public_key\"" -- keygen --out "$tmp/k" --force --json
expect 2 "CURVE needs both --curve-secret-key" -- serve --executor-only --snapshot x.snap \
  --curve-secret-key "$tmp/k.key"
expect 2 "has no secret-key" -- serve --executor-only --snapshot x.snap \
  --curve-secret-key "$tmp/k.pub" --curve-clients "$tmp/k.pub"
expect 2 "--curve-clients: key file $tmp/nothing.pub not found" -- serve --executor-only \
  --snapshot x.snap --curve-secret-key "$tmp/k.key" --curve-clients "$tmp/nothing.pub"

expect 0 "usage: apprentice fraud generate --out FILE" -- fraud generate --help
expect 2 "--out is required" -- fraud generate
expect 2 "--days: 0 is out of range" -- fraud generate --out "$tmp/f" --days 0
expect 2 "the new pattern's first day" -- fraud generate --out "$tmp/f" --days 10 \
  --new-pattern-day 10
expect 2 "unknown subcommand 'fly'" -- fraud fly
expect 0 "usage: apprentice fraud run --data FILE --teacher FILE" -- fraud run --help
expect 2 "give the dataset (--data FILE)" -- fraud run --teacher t.pt
expect 2 "give the teacher (--teacher FILE) or --training truth" -- fraud run --data d
expect 2 "--label-fraction: 0 is out of range" -- fraud run --data d --label-fraction 0
expect 2 "--label-fraction needs --label-policy random, uncertainty or disagreement" -- serve \
  --observation-size 4 --actions 2 --label-fraction 0.1

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
expect 2 "several --policy need --ope" -- eval --logs "$tmp" --policy a.snap --policy b.snap
expect 2 "--ope needs --logs" -- eval --ope --policy p.snap --env cartpole
expect 2 "--log-rollouts needs --env" -- eval --logs "$tmp" --policy p.snap --log-rollouts "$tmp/x"
expect 2 "--epsilon: 2 is out of range" -- eval --logs "$tmp" --policy p.snap --epsilon 2
expect 2 "fqe refits must be 0 (none) or >= 2" -- eval --ope --logs "$tmp" --policy p.snap \
  --fqe-refits 1
expect 2 "--rank-by dr needs the fitted Q" -- eval --ope --logs "$tmp" --policy p.snap --no-fqe \
  --rank-by dr
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
  json_keys "$tmp/inspect.json" records labelled episodes executor_version_max damage \
    behaviour_stochastic behaviour_deterministic record_revision
  # A sync run's decisions come from a β-mixture of planner and executor: each records its
  # probability; none is unknown.
  if ! python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(0 if s["behaviour_stochastic"] + s["behaviour_deterministic"] == s["records"] == 2000 else 1)' "$tmp/inspect.json"; then
    echo "FAIL: inspect: a sync run's records do not all carry the behaviour probability"
    failures=$((failures + 1))
  fi
  expect 0 "behaviour probability" -- inspect "$logs"
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
  # Off-policy estimates on the sync run's log (its beta-mixture's probabilities), two candidates.
  expect 0 "ranking by dr" -- eval --ope --logs "$logs" --policy "$tmp/p.snap" \
    --policy "$run_dir/executor.snap" --discount 0.9 --fqe-iterations 5 --fqe-refits 0 --quiet
  "$bin" eval --ope --logs "$logs" --policy "$tmp/p.snap" --discount 0.9 --fqe-iterations 5 \
    --fqe-refits 2 --bootstrap 20 --env cartpole --episodes 2 --quiet --json >"$tmp/ope.json"
  json_keys "$tmp/ope.json" logs records episodes logged_return discount clip confidence \
    bootstrap actions epsilon rank_by candidates ranking interrupted damage_count damage \
    estimates effective_sample_size zero_weight_share unsupported_share warnings fqe \
    refit_sd_dr rollout mean_discounted_return
  # Rollouts alone, logged with their behaviour probabilities, then estimated.
  expect 0 "episode log" -- eval --policy "$tmp/p.snap" --env cartpole --episodes 3 \
    --epsilon 0.2 --log-rollouts "$tmp/rollouts"
  expect 0 "deterministic 0, unknown 0" -- inspect "$tmp/rollouts"
  expect 2 "--log-rollouts takes one --policy" -- eval --ope --logs "$tmp/rollouts" \
    --policy "$tmp/p.snap" --policy "$tmp/p.snap" --env cartpole --log-rollouts "$tmp/r2"
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

# ---- Extension options: declared by each env, planner and sampler, checked by name. ----
expect 0 "--mcts-simulations INT in [1, 100000000]" -- run --help
expect 0 "--pendulum-g NUMBER in [0, 100]" -- run --help
expect 0 "--prioritized-alpha" -- run --help
expect 2 "--mcts-simulations: 0 is out of range [1, 100000000]" -- run --mcts-simulations 0
expect 2 "--mcts-simulations is an option of planner mcts, but the planner is lqr" -- \
  run --planner lqr --mcts-simulations 5
expect 2 "planner lqr has no option 'depth' (known: q_x," -- run --planner lqr --planner-opt depth=3
expect 2 "--planner-opt: 'depth' is not key=value" -- run --planner-opt depth
expect 2 "--recent-window is an option of replay sampler recent, but the replay sampler is uniform" \
  -- run --recent-window 10
expect 2 "--beta: 1.0000001 is out of range [0, 1]" -- run --beta 1.0000001

# ---- Continuous control: Box actions get a sampling planner unless one is named. ----
expect 0 "planner mppi" -- run --env pendulum --steps 40 --min-replay 16 --eval-episodes 1 \
  --planner-eval-episodes 1 --mppi-samples 16 --run-dir "$tmp/pend" --quiet
if [ -d "$run_dir/logs" ]; then  # a Gaussian candidate on CartPole's log: bad usage
  expect 2 "the policy (3-64-64-1 tanh gaussian) takes observations of 3 floats" -- \
    eval --ope --logs "$run_dir/logs" --policy "$tmp/pend/executor.snap" --quiet
fi
expect 0 "normalised return" -- run --env pendulum --planner cem --steps 40 --min-replay 16 \
  --eval-episodes 1 --planner-eval-episodes 1 --cem-samples 16 --run-dir "$tmp/pend2" --quiet
expect 0 "normalised return" -- run --env pendulum --mode reflex --sample-actions --steps 100 \
  --min-replay 16 --eval-episodes 1 --planner-eval-episodes 1 --mppi-samples 16 \
  --run-dir "$tmp/pend3" --quiet
expect 2 "planner mcts cannot teach on pendulum" -- run --env pendulum --planner mcts
expect 2 "--mppi-samples: 1 is out of range [2, 100000]" -- run --env pendulum --mppi-samples 1
expect 2 "cem elites must be in [1, samples]" -- run --env pendulum --planner cem \
  --cem-samples 8 --cem-elites 9
expect 2 "mppi plans over Box actions" -- run --env cartpole --planner mppi
expect 2 "mujoco: needs a model file" -- run --env mujoco
expect 2 "cannot read the model file '/no/such.xml': No such file" -- run --env mujoco \
  --mujoco-model /no/such.xml
printf '<mujoco><worldbody><body>' > "$tmp/broken.xml"
expect 2 "cannot load the model '$tmp/broken.xml'" -- run --env mujoco-reacher \
  --mujoco-reacher-model "$tmp/broken.xml"

# ---- Offline commands take a run directory and find its logs/. ----
if [ -d "$run_dir/logs" ]; then
  "$bin" inspect "$run_dir" --json >"$tmp/inspect-run-dir.json"
  if ! grep -q '"records": 2000' "$tmp/inspect-run-dir.json"; then
    echo "FAIL: inspect RUN_DIR does not read its logs/"; head -5 "$tmp/inspect-run-dir.json"
    failures=$((failures + 1))
  else
    echo "ok: inspect RUN_DIR reads RUN_DIR/logs"
  fi
  expect 0 "records                     2000" -- eval --logs "$run_dir" --policy "$run_dir/executor.snap"
fi

# now_ms: milliseconds since the epoch.
now_ms() { date +%s%3N; }

# ---- Signals: any moment, clean stop, 130/143, within a second. ----
# While the program is still starting (LibTorch's initialisers take most of a second): as soon
# as the process has blocked the signals (its first instruction does), before main runs.
"$bin" run --mode reflex --planner lqr --steps 100000000 --rate-hz 1000 --run-dir "$tmp/sig0" \
  --quiet --json >"$tmp/sig0.json" 2>"$tmp/sig0.err" &
pid=$!
for _ in $(seq 20000); do
  mask=$(awk '/^SigBlk:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  [ -n "$mask" ] && [ $((16#$mask & 0x4002)) -eq $((0x4002)) ] && break
done
kill -TERM "$pid"
wait "$pid"
rc=$?
if [ "$rc" -ne 143 ] || ! grep -q '"interrupted": true' "$tmp/sig0.json"; then
  echo "FAIL: SIGTERM at start -> exit $rc (want 143 and an interrupted summary)"
  head -5 "$tmp/sig0.err"
  failures=$((failures + 1))
else
  echo "ok: SIGTERM during start-up stops cleanly -> 143"
fi
# During evaluation (of the planner: 1000 MCTS episodes take minutes): the summary says
# interrupted, and the exit code says which signal.
"$bin" run --mode sync --planner mcts --steps 20 --min-replay 8 --eval-episodes 1 \
  --planner-eval-episodes 1000 --run-dir "$tmp/sig1" --json >"$tmp/sig1.json" 2>"$tmp/sig1.err" &
pid=$!
for _ in $(seq 200); do grep -q "eval-planner" "$tmp/sig1.err" 2>/dev/null && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" -ne 130 ] || ! grep -q '"interrupted": true' "$tmp/sig1.json"; then
  echo "FAIL: SIGINT during evaluation -> exit $rc (want 130 and interrupted: true)"
  failures=$((failures + 1))
else
  echo "ok: SIGINT during evaluation -> 130, interrupted"
fi
# A slow fixed-rate loop (one step every 20 s) notices the signal at once, not a period later.
"$bin" run --mode reflex --planner lqr --steps 1000 --rate-hz 0.05 --run-dir "$tmp/sig2" \
  --quiet >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/sig2/metrics.jsonl" ] && break; sleep 0.1; done
t0=$(now_ms)
kill -TERM "$pid"
wait "$pid"
rc=$?
took=$(($(now_ms) - t0))
if [ "$rc" -ne 143 ] || [ "$took" -gt 5000 ]; then
  echo "FAIL: SIGTERM in a 0.05 Hz loop -> exit $rc after $took ms (want 143, well under 20 s)"
  failures=$((failures + 1))
else
  echo "ok: SIGTERM in a 0.05 Hz loop -> 143 after $took ms"
fi

# ---- Summaries are written atomically: a failing command never empties an existing one. ----
echo '{"kept": true}' >"$tmp/keep.json"
expect 2 "--steps: 0 is out of range" -- run --steps 0 --summary-json "$tmp/keep.json"
expect 2 "has no logs/ to continue from" -- run --resume "$tmp/nothing" \
  --summary-json "$tmp/keep.json"
# A second signal aborts the process: the summary it had not written yet stays as it was. (The
# planner sleeps 5 s in every plan, so the first signal's clean stop waits for it.)
"$bin" run --mode reflex --planner lqr --steps 100000000 --rate-hz 1000 --run-dir "$tmp/sig3" \
  --planner-delay-ms 5000 --summary-json "$tmp/keep.json" --quiet >/dev/null 2>&1 &
pid=$!
# The second metrics line comes a second into the loop: the worker is inside its 5 s plan by then.
for _ in $(seq 100); do
  [ "$(wc -l <"$tmp/sig3/metrics.jsonl" 2>/dev/null || echo 0)" -ge 2 ] && break
  sleep 0.1
done
kill -INT "$pid"
sleep 0.2  # two signals sent at once can merge into one
kill -INT "$pid"
wait "$pid"
if ! grep -q '"kept": true' "$tmp/keep.json"; then
  echo "FAIL: --summary-json was changed by failing or aborted runs"; cat "$tmp/keep.json"
  failures=$((failures + 1))
else
  echo "ok: --summary-json untouched by failing and aborted runs"
fi

# ---- Run directories: locked, checked on resume, metrics appended. ----
"$bin" run --mode reflex --planner lqr --steps 100000000 --rate-hz 1000 --run-dir "$tmp/busy" \
  --quiet >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/busy/metrics.jsonl" ] && break; sleep 0.1; done
expect 2 "is in use by another apprentice run (pid $pid)" -- run --mode reflex --planner lqr \
  --steps 10 --run-dir "$tmp/busy"
kill -INT "$pid"
wait "$pid"
expect 2 "was made for env cartpole" -- run --mode reflex --planner mcts --steps 10 \
  --resume "$tmp/busy"
expect 2 "was made for env cartpole (max_episode_steps=500)" -- run --mode reflex --planner lqr \
  --steps 10 --cartpole-max-episode-steps 100 --resume "$tmp/busy"
lines_before=$(wc -l <"$tmp/busy/metrics.jsonl")
first_before=$(head -1 "$tmp/busy/metrics.jsonl")
expect 0 "executor return" -- run --mode reflex --planner lqr --steps 300 --eval-episodes 1 \
  --planner-eval-episodes 0 --resume "$tmp/busy" --quiet
lines_after=$(wc -l <"$tmp/busy/metrics.jsonl")
if [ "$lines_after" -le "$lines_before" ] || [ "$(head -1 "$tmp/busy/metrics.jsonl")" != "$first_before" ]; then
  echo "FAIL: --resume must append to metrics.jsonl ($lines_before lines before, $lines_after after)"
  failures=$((failures + 1))
else
  echo "ok: --resume appends to metrics.jsonl ($lines_before -> $lines_after lines)"
fi

# ---- Resume after SIGKILL: the records and the checkpoint are read back. ----
"$bin" run --mode reflex --planner lqr --steps 100000000 --rate-hz 2000 --run-dir "$tmp/killed" \
  --checkpoint-every-ms 200 --quiet >/dev/null 2>&1 &
pid=$!
for _ in $(seq 300); do
  [ -s "$tmp/killed/distiller.ckpt" ] && [ "$(wc -l <"$tmp/killed/metrics.jsonl" 2>/dev/null || echo 0)" -ge 3 ] && break
  sleep 0.1
done
sleep 0.5
kill -KILL "$pid"
wait "$pid" 2>/dev/null
"$bin" inspect "$tmp/killed" --json >"$tmp/killed-inspect.json"
on_disk=$(grep -o '"records": [0-9]*' "$tmp/killed-inspect.json" | head -1 | grep -o '[0-9]*$')
"$bin" run --mode reflex --planner lqr --steps 200 --eval-episodes 1 --planner-eval-episodes 0 \
  --resume "$tmp/killed" --quiet --json >"$tmp/resumed.json" 2>/dev/null
resumed=$(grep -o '"resumed_records": [0-9]*' "$tmp/resumed.json" | grep -o '[0-9]*$')
version=$(grep -o '"resumed_version": [0-9]*' "$tmp/resumed.json" | grep -o '[0-9]*$')
if [ -z "$on_disk" ] || [ "${resumed:-0}" -ne "$on_disk" ] || [ "${resumed:-0}" -lt 100 ] ||
   [ "${version:-0}" -lt 1 ]; then
  echo "FAIL: resume after SIGKILL: $on_disk records on disk, $resumed resumed, checkpoint version ${version:-?}"
  failures=$((failures + 1))
else
  echo "ok: resume after SIGKILL read all $resumed records and the checkpoint (version $version)"
fi

# ---- Files that cannot be written end the run with exit 1 and a clear error. ----
mkdir -p "$tmp/nosnap/executor.snap"  # a directory where the snapshot file goes
expect 1 "error: " -- run --mode reflex --planner lqr --steps 300 --eval-episodes 1 \
  --run-dir "$tmp/nosnap" --quiet
mkdir -p "$tmp/nosnap3/executor.snap"
expect 1 "executor.snap" -- run --mode sync --planner lqr --steps 300 --eval-episodes 1 \
  --run-dir "$tmp/nosnap3" --quiet
# A full disk (here: a file size limit, SIGXFSZ ignored so writes fail with EFBIG): the run
# stops with a clear error, and the summary's count is what the log holds.
for mode in reflex sync; do
  (trap '' XFSZ; ulimit -f 64; exec "$bin" run --mode "$mode" --planner lqr --steps 20000 \
    --eval-episodes 1 --run-dir "$tmp/full-$mode" --quiet --json >"$tmp/full-$mode.json" \
    2>"$tmp/full-$mode.err")
  rc=$?
  logged=$(grep -o '"logged": [0-9]*' "$tmp/full-$mode.json" | grep -o '[0-9]*$')
  "$bin" inspect "$tmp/full-$mode" --json >"$tmp/full-$mode-inspect.json"
  on_disk=$(grep -o '"records": [0-9]*' "$tmp/full-$mode-inspect.json" | head -1 | grep -o '[0-9]*$')
  if [ "$rc" -ne 1 ] || ! grep -q "File too large" "$tmp/full-$mode.err" ||
     [ -z "$logged" ] || [ "$logged" != "$on_disk" ] || [ "$logged" -ge 20000 ]; then
    echo "FAIL: full disk ($mode): exit $rc, logged ${logged:-?}, on disk ${on_disk:-?}"
    head -3 "$tmp/full-$mode.err"
    failures=$((failures + 1))
  else
    echo "ok: full disk ($mode) -> exit 1, summary says $logged logged = $on_disk on disk"
  fi
done

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
