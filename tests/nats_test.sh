#!/usr/bin/env bash
# Planner workers over NATS JetStream, against a real nats-server (JetStream on, loopback, a free
# port, its store in a temporary directory), started and stopped here:
# 1. a 1 kHz reflex run of CartPole whose LQR teacher runs in two `apprentice planner-worker`
#    processes; one is killed with SIGKILL mid-run (its request in hand, 40 ms a plan, comes again
#    to another worker) and a third joins without a restart. The executor reaches >= 95 % of the
#    planner's return; the workers' counts (labels, redelivered) are reported;
# 2. a worker for another env refuses the run's requests (counted), and a run in sync mode with
#    --nats is bad usage; no server at the URL is a clear error.
#
# usage: nats_test.sh APPRENTICE PYTHON
set -u
apprentice=$1 python=$2
test_name=nats_test
source "$(dirname "$0")/nats_server.sh"

start_worker() {  # start_worker NAME [flags...]: its pid in $worker
  local name=$1
  shift
  "$apprentice" planner-worker --nats "$url" --nats-run t1 --name "$name" --ack-wait-ms 1000 \
    --json --quiet "$@" >"$work/$name.out" 2>"$work/$name.err" &
  worker=$!
  pids+=($worker)
}

# ---- 1. two workers, one killed, one joining -----------------------------------------------------
start_worker w1 --env cartpole --planner lqr --planner-delay-ms 40
w1=$worker
start_worker w2 --env cartpole --planner lqr
w2=$worker
"$apprentice" run --env cartpole --planner lqr --mode reflex --rate-hz 1000 --steps 8000 --seed 3 \
  --nats "$url" --nats-run t1 --planner-queue 20000 --eval-episodes 10 --planner-eval-episodes 3 \
  --run-dir "$work/run-dir" --summary-json "$work/run.json" --quiet \
  >"$work/run.out" 2>"$work/run.err" &
run=$!
pids+=($run)
sleep 3
{ kill -9 "$w1" && wait "$w1"; } 2>/dev/null
start_worker w3 --env cartpole --planner lqr
w3=$worker
for _ in $(seq 1 1200); do kill -0 "$run" 2>/dev/null || break; sleep 0.05; done
kill -0 "$run" 2>/dev/null && fail "the run did not end within 60 s"
wait "$run" || fail "the run failed: $(cat "$work/run.err")"
cat "$work/run.out"
for w in "$w2" "$w3"; do kill -TERM "$w"; wait "$w"; done
"$python" - "$work/run.json" "$work/w2.out" "$work/w3.out" <<'EOF' || fail "the run or the workers fell short"
import json, sys
run = json.load(open(sys.argv[1]))
workers = [json.load(open(p)) for p in sys.argv[2:]]
labels = sum(w["labels"] for w in workers)
redelivered = sum(w["redelivered"] for w in workers)
print("nats_test: planner %.1f, executor %.1f; labels %d (run) / %d (workers w2, w3), "
      "redelivered %d; %s" % (run["planner_return"], run["executor_return"],
                              run["planner_labels"], labels, redelivered, run["nats"]))
ok = (run["error"] == "" and run["executor_return"] >= 0.95 * run["planner_return"]
      and run["planner_labels"] > 0 and workers[1]["labels"] > 0 and "published" in run["nats"])
sys.exit(0 if ok else 1)
EOF

# ---- 2. refusals --------------------------------------------------------------------------------
start_worker wp --env pendulum --planner mppi --max-requests 5 --idle-exit-s 10
wp=$worker
"$apprentice" run --env cartpole --planner lqr --mode reflex --rate-hz 1000 --steps 300 \
  --nats "$url" --nats-run t1 --eval-episodes 1 --planner-eval-episodes 0 --quiet \
  --run-dir "$work/run2-dir" \
  >/dev/null 2>"$work/run2.err" || fail "the second run failed"
wait "$wp"
"$python" -c 'import json,sys; w=json.load(open(sys.argv[1])); print("nats_test: other env refused", w["refused"]); sys.exit(0 if w["refused"] > 0 and w["labels"] == 0 else 1)' \
  "$work/wp.out" || fail "a worker for another env planned the run's requests"
"$apprentice" run --env cartpole --mode sync --nats "$url" --steps 10 >/dev/null 2>"$work/sync.err"
[ $? -eq 2 ] || fail "sync mode with --nats was not bad usage"
"$apprentice" planner-worker --nats "nats://127.0.0.1:$(free_port)" --quiet >/dev/null \
  2>"$work/none.err"
[ $? -eq 1 ] || fail "a worker without a server did not exit 1"
grep -q "cannot connect to NATS" "$work/none.err" || fail "no clear error without a server"
echo "nats_test: ok"
