#!/usr/bin/env bash
# The learner as a process of its own (`apprentice learner`), fed from the run's record stream on
# a real nats-server (JetStream on, loopback, a free port, its store in a temporary directory),
# started and stopped here:
# 1. a 1 kHz reflex run of CartPole (LQR teacher in process) sends its records to the learner,
#    which is killed with SIGKILL mid-run and started again on the same directory: it resumes from
#    its checkpoint and stream position, and at the end it has read every record the stream
#    acknowledged (its position = the records the run saw stored), none discarded unread, and
#    trained past the checkpoint; the executor reaches >= 95 % of the planner's return;
# 2. an edge `serve --executor-only --nats` started late serves the learner's newest snapshot at
#    once (the time it took is printed) and follows later puts;
# 3. a learner without --run-dir is bad usage; an edge with no snapshot in the bucket fails clearly.
#
# usage: nats_learner_test.sh APPRENTICE PYTHON
set -u
apprentice=$1 python=$2
test_name=nats_learner_test
source "$(dirname "$0")/nats_server.sh"

start_learner() {  # start_learner NAME [flags...]: its pid in $learner
  local name=$1
  shift
  "$apprentice" learner --nats "$url" --nats-run t3 --run-dir "$work/learner" \
    --checkpoint-every-ms 300 --json "$@" >"$work/$name.out" 2>"$work/$name.err" &
  learner=$!
  pids+=($learner)
}

# ---- 1. a learner killed and started again --------------------------------------------------------
start_learner l1
l1=$learner
"$apprentice" run --env cartpole --planner lqr --mode reflex --rate-hz 1000 --steps 10000 --seed 3 \
  --nats "$url" --nats-run t3 --nats-parts learner --eval-episodes 10 --planner-eval-episodes 3 \
  --run-dir "$work/run-dir" --summary-json "$work/run.json" --quiet \
  >"$work/run.out" 2>"$work/run.err" &
run=$!
pids+=($run)
sleep 4
{ kill -9 "$l1" && wait "$l1"; } 2>/dev/null
[ -f "$work/learner/learner.json" ] || fail "the learner saved no position before it was killed"
cp "$work/learner/learner.json" "$work/killed-at.json"
sleep 1
start_learner l2 --idle-exit-s 3
l2=$learner
sleep 1
# ---- 2. an edge executor joining late ---------------------------------------------------------------
"$apprentice" serve --executor-only --nats "$url" --nats-run t3 --bind 'tcp://127.0.0.1:*' \
  --duration-s 2 --json >"$work/edge.out" 2>"$work/edge.err" || fail "the edge executor failed"
for _ in $(seq 1 1200); do kill -0 "$run" 2>/dev/null || break; sleep 0.05; done
kill -0 "$run" 2>/dev/null && fail "the run did not end within 60 s"
wait "$run" || fail "the run failed: $(cat "$work/run.err")"
cat "$work/run.out"
wait "$l2" || fail "the restarted learner failed: $(tail -3 "$work/l2.err")"
"$python" - "$work/run.json" "$work/killed-at.json" "$work/l2.out" "$work/edge.out" <<'EOF' \
  || fail "the learner lost records or did not resume"
import json, re, sys
run, killed, learner, edge = (json.load(open(p)) for p in sys.argv[1:])
stored, added = map(int, re.search(r"records stored (\d+) of (\d+)", run["nats"]).groups())
nats = edge["nats"]
print("nats_learner_test: planner %.1f, executor %.1f; records stored %d of %d; learner killed at "
      "position %d, resumed at %d (%d updates, %d records refilled), ended at %d (%d updates, "
      "%d discarded unread, %d bad)" % (
          run["planner_return"], run["executor_return"], stored, added, killed["position"],
          learner["resumed_position"], learner["resumed_steps"], learner["restored"],
          learner["position"], learner["train_steps"], learner["skipped"], learner["bad_records"]))
print("nats_learner_test: edge executor: first snapshot after %.1f ms, %d later ones, version %d"
      % (nats["first_snapshot_ms"], nats["updates"], edge["agent"]["executor_version"]))
ok = (run["error"] == "" and run["executor_return"] >= 0.95 * run["planner_return"]
      and stored == added and stored > 0
      and learner["resumed"] and learner["resumed_position"] > 0
      and learner["resumed_position"] == killed["position"] and learner["resumed_steps"] > 0
      and learner["position"] == stored and learner["skipped"] == 0
      and learner["bad_records"] == 0 and learner["train_steps"] > learner["resumed_steps"]
      and nats["first_snapshot_ms"] < 1000 and edge["error"] == "")
sys.exit(0 if ok else 1)
EOF

# ---- 3. usage and missing pieces ---------------------------------------------------------------------
"$apprentice" learner --nats "$url" >/dev/null 2>"$work/usage.err"
[ $? -eq 2 ] || fail "a learner without --run-dir was not bad usage"
"$apprentice" serve --executor-only --nats "$url" --nats-run empty --nats-wait-ms 300 \
  --bind 'tcp://127.0.0.1:*' --duration-s 1 >/dev/null 2>"$work/empty.err"
[ $? -eq 1 ] || fail "an edge without a snapshot did not exit 1"
grep -q "no executor snapshot in NATS bucket APPRENTICE_empty_WEIGHTS" "$work/empty.err" \
  || fail "no clear error for an empty bucket"
echo "nats_learner_test: ok"
