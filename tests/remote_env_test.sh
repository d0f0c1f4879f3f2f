#!/usr/bin/env bash
# The Python Catch game (examples/python/catch_game.py, served by python/apprentice_env.py) drives
# `apprentice run --env remote` over ZeroMQ on a free loopback port:
# 1. sync mode, MCTS simulating on remote clones: the executor reaches >= 95 % of the planner's
#    return (fixed seed; the env is deterministic by seed, so the run is too);
# 2. the env server killed with SIGKILL in the middle of a reflex-mode run, and of a sync run: the
#    run stops within its timeout with exit code 1, an error naming the environment, and an
#    episode log that reads back whole (records, no damage);
# 3. no server at the address: a clear error at startup (exit 2), not a hang.
#
# usage: remote_env_test.sh APPRENTICE REPO_ROOT PYTHON
set -u
apprentice=$1 root=$2 python=$3
test_name=remote_env_test
. "$root/tests/serve_test_lib.sh"

# start_env NAME: starts the Catch server on a free port; sets $server and $endpoint.
start_env() {
  "$python" "$root/examples/python/catch_game.py" --bind 'tcp://127.0.0.1:*' --quiet \
    >"$work/$1.out" 2>"$work/serve.err" &
  server=$!
  for _ in $(seq 1 400); do
    grep -q '^serving ' "$work/$1.out" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || fail "the env server exited at start"
    sleep 0.05
  done
  endpoint=$(sed -n 's/^serving .* on //p' "$work/$1.out")
  [ -n "$endpoint" ] || fail "the env server did not say where it serves"
}

# ---- 1. learned to >= 95 % of the planner -------------------------------------------------------
start_env learn
timeout 600 "$apprentice" run --env remote --remote-address "$endpoint" --planner mcts \
  --mcts-simulations 32 --mcts-rollout 5 --steps 1500 --seed 1 --eval-episodes 10 \
  --planner-eval-episodes 3 --run-dir "$work/learn" --summary-json "$work/learn.json" --quiet \
  >"$work/learn.txt" 2>&1 || { cat "$work/learn.txt"; fail "the learning run failed"; }
cat "$work/learn.txt"
"$python" - "$work/learn.json" <<'EOF' || fail "the executor did not reach 95 % of the planner"
import json, sys
s = json.load(open(sys.argv[1]))
print("remote_env_test: planner %.2f, executor %.2f (%.1f %%)" % (
    s["planner_return"], s["executor_return"], 100 * s["executor_return"] / s["planner_return"]))
sys.exit(0 if s["error"] == "" and s["executor_return"] >= 0.95 * s["planner_return"] else 1)
EOF
kill -TERM "$server"; wait "$server"; server=0

# ---- 2. the env server killed mid-run -----------------------------------------------------------
for mode in reflex sync; do
  start_env "kill-$mode"
  "$apprentice" run --env remote --remote-address "$endpoint" --remote-timeout-ms 2000 \
    --mode "$mode" --planner mcts --mcts-simulations 8 --mcts-rollout 3 --steps 1000000 --seed 2 \
    --metrics-interval-ms 100 --run-dir "$work/kill-$mode" --summary-json "$work/kill-$mode.json" \
    --quiet >"$work/kill-$mode.txt" 2>&1 &
  run=$!
  # Kill the env once the run is training (a few metrics lines, 100 ms apart), then some more.
  for _ in $(seq 1 600); do
    [ "$({ wc -l <"$work/kill-$mode/metrics.jsonl"; } 2>/dev/null || echo 0)" -ge 5 ] && break
    kill -0 "$run" 2>/dev/null || break
    sleep 0.05
  done
  sleep 1
  kill -9 "$server"; wait "$server" 2>/dev/null; server=0
  # The run must end on its own within the timeout (2 s) and some slack, never hang.
  for _ in $(seq 1 600); do kill -0 "$run" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$run" 2>/dev/null; then kill -9 "$run"; fail "$mode: the run did not stop 30 s after the env died"; fi
  wait "$run"; rc=$?
  cat "$work/kill-$mode.txt" | tail -5
  [ $rc -eq 1 ] || fail "$mode: the run exited with $rc after the env died, expected 1"
  grep -q "error: environment: remote env $endpoint" "$work/kill-$mode.txt" ||
    fail "$mode: no error naming the environment"
  grep -q "no reply within 2000 ms" "$work/kill-$mode.txt" || fail "$mode: the error does not say why"
  "$apprentice" inspect "$work/kill-$mode/logs" --json >"$work/inspect-$mode.json" ||
    fail "$mode: inspect failed on the log"
  "$python" - "$work/inspect-$mode.json" "$work/kill-$mode.json" <<'EOF' || fail "$mode: the log is not whole"
import json, sys
log, summary = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
records, damage = log["records"], log["damage"]
print("remote_env_test: %d records logged, %d damaged stretches, summary logged %d" % (
    records, len(damage), summary["logged"]))
sys.exit(0 if records > 0 and not damage and records == summary["logged"] else 1)
EOF
done

# ---- 3. nobody at the address -------------------------------------------------------------------
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 60 "$apprentice" run --env remote --remote-address "tcp://127.0.0.1:$port" \
  --remote-timeout-ms 500 --steps 10 --quiet >"$work/none.txt" 2>&1
rc=$?
cat "$work/none.txt"
[ $rc -eq 2 ] || fail "no server: exit $rc, expected 2"
grep -q "hello: no reply within 500 ms" "$work/none.txt" || fail "no server: the error does not say why"
echo "remote_env_test: ok"
