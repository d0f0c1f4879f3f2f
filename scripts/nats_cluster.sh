#!/usr/bin/env bash
# A local apprentice cluster on NATS JetStream, started, loaded, damaged and stopped by one command:
#
#   1. three nats-servers clustered on loopback (JetStream on, monitoring ports, stores in the work
#      directory); the run's streams and weights bucket are stored on all three (--nats-replicas 3);
#   2. `apprentice learner` (replay + distiller, snapshots into the bucket), two
#      `apprentice planner-worker`s, and the agent: a 1 kHz reflex CartPole loop (`apprentice run
#      --nats-parts planners,learner`) whose teacher runs in the workers and whose executor follows
#      the learner's snapshots; an edge `apprentice serve --executor-only --nats` answers a paced
#      load of act requests (examples/python_client.py) with the same snapshots;
#   3. mid-run, a planner worker is killed with SIGKILL (its request in hand comes again to another
#      worker after the ack wait), then the nats-server leading the plan stream is killed with
#      SIGKILL (the streams elect new leaders on the other two; clients reconnect), and a third
#      worker joins;
#   4. at the end: the same loop with the in-process planner pool, for comparison, and a table of
#      what happened: returns, labels stored and received, requests redelivered and dropped,
#      records stored and read by the learner, edge answers.
#
# It checks what must hold and exits 1 when anything does not: every label the stream stored
# (a worker acknowledges its request only after that) reached the agent; every record the run saw
# stored was read by the learner; every act request to the edge was answered and the edge serves
# the learner's last snapshot; the executor's return is at least 95 % of the in-process run's
# (of the planner's with --no-baseline). Progress goes to stderr.
#
# usage: scripts/nats_cluster.sh [--steps N] [--planner lqr|mcts] [--planner-delay-ms MS]
#                                [--label-fraction F] [--decisions N] [--no-baseline]
#                                [--keep DIR] [--json FILE]
# --steps: the agent's loop steps at 1 kHz (default 30000); --label-fraction: the share of its
# decisions sent to the planners (default 0.05: 50 requests a second, which two workers planning
# 20 ms each keep up with); --decisions: act requests to the edge (default steps / 2, at 500 a
# second); --keep: keep the servers' stores, logs and summaries in DIR; --json: the results.
# Environment: APPRENTICE (default build/apps/apprentice), PYTHON (default /usr/bin/python3).
set -u
[ -n "${APPRENTICE:-}" ] && APPRENTICE=$(realpath -m "$APPRENTICE")
cd "$(dirname "$0")/.."
root=$(pwd)
apprentice=${APPRENTICE:-$root/build/apps/apprentice}
python=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}  # Debian's: python3-zmq
steps=30000 planner=lqr delay_ms=20 fraction=0.05 decisions=0 baseline=1 keep="" json_out=""

usage() {
  sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}
bad_usage() { echo "nats_cluster: $*" >&2; echo "(--help for usage)" >&2; exit 2; }
is_int() { [[ $1 =~ ^[0-9]+$ ]]; }
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage 0 ;;
    --steps) is_int "${2:-}" && [ "$2" -ge 3000 ] || bad_usage "--steps takes a number >= 3000"
             steps=$2; shift ;;
    --planner) [[ ${2:-} =~ ^(lqr|mcts)$ ]] || bad_usage "--planner takes lqr or mcts"
               planner=$2; shift ;;
    --planner-delay-ms) is_int "${2:-}" || bad_usage "--planner-delay-ms takes a number"
                        delay_ms=$2; shift ;;
    --label-fraction) [[ ${2:-} =~ ^(0?\.[0-9]+|1)$ ]] || bad_usage "--label-fraction takes a number in (0, 1]"
                      fraction=$2; shift ;;
    --decisions) is_int "${2:-}" || bad_usage "--decisions takes a number"; decisions=$2; shift ;;
    --no-baseline) baseline=0 ;;
    --keep) [ -n "${2:-}" ] || bad_usage "--keep takes a directory"; keep=$2; shift ;;
    --json) [ -n "${2:-}" ] || bad_usage "--json takes a file"; json_out=$2; shift ;;
    *) bad_usage "unknown argument '$1'" ;;
  esac
  shift
done
[ -x "$apprentice" ] || { echo "nats_cluster: no apprentice at $apprentice (build first, or set APPRENTICE)" >&2; exit 2; }
command -v nats-server >/dev/null || { echo "nats_cluster: nats-server is not installed (scripts/install-deps.sh)" >&2; exit 2; }
[ "$decisions" -gt 0 ] || decisions=$((steps / 2))   # the edge's load: 500 requests a second

if [ -n "$keep" ]; then
  work=$keep
  rm -rf "$work" && mkdir -p "$work" || exit 2
else
  work=$(mktemp -d)
fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -n "$keep" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
reap() {  # reap PID: waits for it (its status in $?) and drops it from the cleanup list
  wait "$1"
  local rc=$? kept=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  pids=("${kept[@]}")
  return $rc
}
start_s=$EPOCHREALTIME
say() { printf '[%6ss] %s\n' "$(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $start_s }")" "$*" >&2; }
fail() {
  say "FAILED: $*"
  for f in "$work"/*.err; do [ -s "$f" ] && { echo "--- $f" >&2; tail -4 "$f" >&2; }; done
  exit 1
}
free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# The JetStream view of a live server (its monitoring port): "STREAM=LEADER ..." for the run's
# streams, or "healthy" with --health.
monitor() {
  "$python" - "$@" <<'EOF'
import json, sys, urllib.request
port, what = sys.argv[1], sys.argv[2]
try:
    if what == "health":
        body = urllib.request.urlopen("http://127.0.0.1:%s/healthz" % port, timeout=1).read()
        print("healthy" if json.loads(body).get("status") == "ok" else "not")
    else:
        url = "http://127.0.0.1:%s/jsz?accounts=true&streams=true" % port
        info = json.loads(urllib.request.urlopen(url, timeout=1).read())
        out = []
        for account in info.get("account_details", []):
            for s in account.get("stream_detail", []):
                out.append("%s=%s" % (s["name"], s.get("cluster", {}).get("leader", "?")))
        print(" ".join(sorted(out)))
except Exception as e:
    print("unreachable (%s)" % e)
EOF
}

# ---- 1. three servers ---------------------------------------------------------------------------
declare -a client_port cluster_port monitor_port server_pid
for i in 1 2 3; do
  client_port[$i]=$(free_port) cluster_port[$i]=$(free_port) monitor_port[$i]=$(free_port)
done
routes="nats://127.0.0.1:${cluster_port[1]},nats://127.0.0.1:${cluster_port[2]},nats://127.0.0.1:${cluster_port[3]}"
for i in 1 2 3; do
  nats-server -js -a 127.0.0.1 -p "${client_port[$i]}" -m "${monitor_port[$i]}" \
    -sd "$work/n$i" --server_name "n$i" --cluster_name apprentice \
    --cluster "nats://127.0.0.1:${cluster_port[$i]}" --routes "$routes" \
    >"$work/n$i.err" 2>&1 &
  server_pid[$i]=$!
  pids+=($!)
done
url="nats://127.0.0.1:${client_port[1]},nats://127.0.0.1:${client_port[2]},nats://127.0.0.1:${client_port[3]}"
for _ in $(seq 1 300); do
  healthy=0
  for i in 1 2 3; do [ "$(monitor "${monitor_port[$i]}" health)" = healthy ] && healthy=$((healthy + 1)); done
  [ $healthy -eq 3 ] && break
  sleep 0.1
done
[ $healthy -eq 3 ] || fail "the three nats-servers did not form a JetStream cluster within 30 s"
say "3 nats-servers clustered on loopback: n1 :${client_port[1]}, n2 :${client_port[2]}, n3 :${client_port[3]} (JetStream healthy)"

# ---- 2. learner, workers, agent, edge --------------------------------------------------------------
nats=(--nats "$url" --nats-run cluster --nats-replicas 3)
"$apprentice" learner "${nats[@]}" --env cartpole --run-dir "$work/learner" --json \
  >"$work/learner.out" 2>"$work/learner.err" &
learner=$!
pids+=($learner)
start_worker() {  # start_worker NAME DELAY_MS: its pid in $worker
  "$apprentice" planner-worker "${nats[@]}" --name "$1" --env cartpole --planner "$planner" \
    --planner-delay-ms "$2" --ack-wait-ms 1000 --json \
    >"$work/$1.out" 2>"$work/$1.err" &
  worker=$!
  pids+=($worker)
}
# w1 plans ten times slower: it nearly always holds a request when it is killed.
start_worker w1 $((delay_ms * 10)); w1=$worker
start_worker w2 "$delay_ms"; w2=$worker
loop=(--env cartpole --planner "$planner" --planner-delay-ms "$delay_ms" --mode reflex
      --rate-hz 1000 --steps "$steps" --seed 3 --label-policy random --label-fraction "$fraction"
      --planner-queue 20000 --eval-episodes 10
      --planner-eval-episodes 3)
"$apprentice" run "${loop[@]}" "${nats[@]}" --nats-parts planners,learner \
  --run-dir "$work/run" --summary-json "$work/run.json" >"$work/run.out" 2>"$work/run.err" &
run=$!
pids+=($run)
say "learner, workers w1 and w2 ($planner, $((delay_ms * 10)) and ${delay_ms} ms a plan) and a 1 kHz CartPole agent started: $steps steps, $fraction of them sent to the planners"
edge_port=$(free_port)
"$apprentice" serve --executor-only "${nats[@]}" --nats-wait-ms 30000 \
  --bind "tcp://127.0.0.1:$edge_port" --json >"$work/edge.out" 2>"$work/edge.err" &
edge=$!
pids+=($edge)
rate=500
"$python" examples/python_client.py --endpoint "tcp://127.0.0.1:$edge_port" \
  --decisions "$decisions" --rate "$rate" --feedback-every 100 \
  >"$work/client.out" 2>"$work/client.err" &
client=$!
pids+=($client)
say "edge executor started; a client sends it $decisions act requests at $rate a second"

# ---- 3. a worker and a server killed, a worker joining ---------------------------------------------
# The agent's progress line says where it is: "step N/M".
kill_worker_at=$((steps * 2 / 10)) kill_server_at=$((steps * 3 / 10)) join_at=$((steps * 6 / 10))
limit_s=$((steps / 1000 + 240))
loop_start=$(date +%s)
last_line=""
killed_server=0 survivor=1
while kill -0 "$run" 2>/dev/null; do
  sleep 1
  t=$(($(date +%s) - loop_start))
  line=$(tail -1 "$work/run.err" 2>/dev/null)
  [ "$line" != "$last_line" ] && [ -n "$line" ] && say "agent: $line" && last_line=$line
  step=$(grep -o 'step [0-9]*/' "$work/run.err" | tail -1 | tr -dc 0-9)
  step=${step:-0}
  if [ -n "${w1:-}" ] && [ "$step" -ge $kill_worker_at ]; then
    kill -9 "$w1" 2>/dev/null; reap "$w1" 2>/dev/null
    say "planner worker w1 killed with SIGKILL (a request in hand is redelivered after 1 s)"
    w1=""
  fi
  if [ $killed_server -eq 0 ] && [ "$step" -ge $kill_server_at ]; then
    leaders=$(monitor "${monitor_port[1]}" leaders)
    victim=$(echo "$leaders" | tr ' ' '\n' | sed -n 's/^APPRENTICE_cluster_PLAN=n\([123]\)$/\1/p')
    [ -n "$victim" ] || fail "no leader of the plan stream known (the servers said: $leaders)"
    kill -9 "${server_pid[$victim]}" 2>/dev/null; reap "${server_pid[$victim]}" 2>/dev/null
    killed_server=$victim
    survivor=$(( victim == 1 ? 2 : 1 ))
    say "nats-server n$victim killed with SIGKILL (stream leaders were: $leaders)"
  fi
  if [ -z "${w3:-}" ] && [ "$step" -ge $join_at ]; then
    start_worker w3 "$delay_ms"; w3=$worker
    say "planner worker w3 joined; stream leaders now: $(monitor "${monitor_port[$survivor]}" leaders)"
  fi
  [ $t -gt $limit_s ] && fail "the run did not end within $limit_s s"
done
reap "$run"; run_rc=$?
[ $run_rc -eq 0 ] || fail "the agent's run failed (exit $run_rc)"
say "the agent's run ended; stream leaders: $(monitor "${monitor_port[$survivor]}" leaders)"
[ $killed_server -ne 0 ] && [ -n "${w3:-}" ] ||
  fail "the run ended before a server was killed and a worker joined (more --steps)"
reap "$client"; client_rc=$?
for p in "$w2" "${w3:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
for p in "$w2" "${w3:-}"; do [ -n "$p" ] && reap "$p" 2>/dev/null; done
# The learner reads to the end of the stream (its progress shows its position), saves, puts its
# last snapshot and stops; the edge then has 3 s to serve that snapshot.
stored=$("$python" -c 'import json, re, sys; print(re.search(r"records stored (\d+)", json.load(open(sys.argv[1]))["nats"]).group(1))' "$work/run.json")
[ -n "$stored" ] || fail "the run's summary counts no stored records"
for _ in $(seq 1 300); do
  position=$(grep -o 'position [0-9]*' "$work/learner.err" | tail -1 | cut -d' ' -f2)
  [ "${position:-0}" -ge "$stored" ] && break
  sleep 0.1
done
kill -TERM "$learner"; reap "$learner"; learner_rc=$?
[ $learner_rc -eq 143 ] || fail "the learner failed (exit $learner_rc; 143: stopped by SIGTERM after saving)"
sleep 3
kill -TERM "$edge"; reap "$edge"
say "workers, edge and learner stopped"

# ---- 4. the in-process pool, for comparison -------------------------------------------------------
if [ $baseline -eq 1 ]; then
  say "the same loop with the in-process planner pool (2 threads) ..."
  "$apprentice" run "${loop[@]}" --planner-threads 2 --run-dir "$work/baseline" --quiet \
    --summary-json "$work/baseline.json" >"$work/baseline.out" 2>"$work/baseline.err" \
    || fail "the in-process run failed"
fi

"$python" - "$work" "$baseline" "$client_rc" "$decisions" "$killed_server" "$json_out" <<'EOF'
import json, os, re, sys
work, baseline, client_rc, decisions, killed, json_out = sys.argv[1:]
load = lambda name: json.load(open(os.path.join(work, name)))
run, learner, edge = load("run.json"), load("learner.out"), load("edge.out")
workers = {w: load(w + ".out") for w in ("w2", "w3") if os.path.exists(os.path.join(work, w + ".out"))
           and os.path.getsize(os.path.join(work, w + ".out")) > 0}
base = load("baseline.json") if baseline == "1" else None
nats = run["nats"]
num = lambda pattern: int(re.search(pattern, nats).group(1))
client = open(os.path.join(work, "client.out")).read()
answered = re.search(r"(\d+) decisions in", client)
r = {
    "steps": run["steps"], "acted_by_executor": run["acted_by"]["executor"],
    "deadline_misses": run["deadline_misses"],
    "act_p50_us": run["act_latency_us"]["p50"], "act_p99_us": run["act_latency_us"]["p99"],
    "planner_return": run["planner_return"], "executor_return": run["executor_return"],
    "in_process_executor_return": base["executor_return"] if base else None,
    "in_process_planner_return": base["planner_return"] if base else None,
    "requests_published": num(r"published (\d+)"), "requests_stored": num(r"requests stored (\d+)"),
    "labels_received": num(r", labels (\d+)"), "labels_stored": num(r"labels stored (\d+)"),
    "labels_unread": num(r"unread (\d+)"),
    "redelivered": sum(w["redelivered"] for w in workers.values()),
    "dropped_after_max_deliveries": num(r"dropped after max deliveries (\d+)"),
    "worker_labels": {w: s["labels"] for w, s in workers.items()},
    "records_stored": num(r"records stored (\d+)"), "records_added": num(r"records stored \d+ of (\d+)"),
    "record_retries": num(r"\(retries (\d+)"),
    "learner_position": learner["position"], "learner_updates": learner["train_steps"],
    "learner_skipped": learner["skipped"], "learner_reader_restarts": learner["resubscribed"],
    "label_consumer_restarts": num(r"consumer restarted (\d+)"),
    "snapshots_received": num(r"snapshots received (\d+)"),
    "edge_requests": int(decisions), "edge_answered": int(answered.group(1)) if answered else 0,
    "edge_snapshots": edge["nats"]["updates"], "client_ok": client_rc == "0",
    "edge_version": edge["agent"]["executor_version"], "learner_version": learner["executor_version"],
    "watch_restarts": num(r"watch restarted (\d+)") + edge["nats"]["rewatches"],
    "nats_server_killed": "n" + killed,
}
problems = []
if run["error"]: problems.append("the run: " + run["error"])
if r["labels_unread"] != 0: problems.append("%d stored labels never reached the agent" % r["labels_unread"])
if r["records_stored"] != r["records_added"]: problems.append("records not stored: %d of %d" % (r["records_stored"], r["records_added"]))
if r["learner_position"] < r["records_stored"] or r["learner_skipped"] != 0:
    problems.append("the learner read %d of %d records (%d skipped)" % (r["learner_position"], r["records_stored"], r["learner_skipped"]))
if r["edge_version"] != r["learner_version"]:
    problems.append("the edge serves version %d, the learner's last is %d" % (r["edge_version"], r["learner_version"]))
if not r["client_ok"] or r["edge_answered"] != r["edge_requests"]:
    problems.append("the edge answered %d of %d requests" % (r["edge_answered"], r["edge_requests"]))
reference = base["executor_return"] if base else run["planner_return"]
if run["executor_return"] < 0.95 * reference:
    problems.append("executor return %.1f < 95 %% of %.1f" % (run["executor_return"], reference))
r["problems"] = problems

rows = [
    ("planner return (cluster / in process)", "%.1f / %s" % (r["planner_return"], "%.1f" % base["planner_return"] if base else "-")),
    ("executor return (cluster / in process)", "%.1f / %s" % (r["executor_return"], "%.1f" % base["executor_return"] if base else "-")),
    ("agent steps (answered by the executor)", "%d (%d), deadline misses %d" % (r["steps"], r["acted_by_executor"], r["deadline_misses"])),
    ("act p50 / p99", "%.2f / %.2f us" % (r["act_p50_us"], r["act_p99_us"])),
    ("plan requests published / stored", "%d / %d" % (r["requests_published"], r["requests_stored"])),
    ("labels stored / received by the agent", "%d / %d (unread %d; consumer restarted %d)" % (r["labels_stored"], r["labels_received"], r["labels_unread"], r["label_consumer_restarts"])),
    ("labels per worker (w1 killed)", ", ".join("%s %d" % kv for kv in sorted(r["worker_labels"].items()))),
    ("requests redelivered", "%d" % r["redelivered"]),
    ("requests dropped after max deliveries", "%d" % r["dropped_after_max_deliveries"]),
    ("records stored / sent (retries)", "%d / %d (%d)" % (r["records_stored"], r["records_added"], r["record_retries"])),
    ("learner: position, updates", "%d, %d (reader restarted %d)" % (r["learner_position"], r["learner_updates"], r["learner_reader_restarts"])),
    ("snapshots received: agent / edge", "%d / %d (watches restarted %d)" % (r["snapshots_received"], r["edge_snapshots"], r["watch_restarts"])),
    ("edge act requests answered", "%d of %d" % (r["edge_answered"], r["edge_requests"])),
    ("executor version: learner's last / edge's", "%d / %d" % (r["learner_version"], r["edge_version"])),
    ("nats-server killed", r["nats_server_killed"]),
]
width = max(len(k) for k, _ in rows)
print("apprentice on a 3-node NATS cluster\n")
for k, v in rows:
    print("  %-*s  %s" % (width, k, v))
print()
print("ok" if not problems else "\n".join("problem: " + p for p in problems))
if json_out:
    with open(json_out, "w") as f:
        json.dump(r, f, indent=2)
sys.exit(1 if problems else 0)
EOF
