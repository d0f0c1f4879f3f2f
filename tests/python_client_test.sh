#!/usr/bin/env bash
# examples/python_client.py against a real `apprentice serve` on a free loopback port, first
# --executor-only with CURVE (keys from apprentice keygen), then with a TorchScript teacher: the
# client acts (pipelined), sends feedback, is refused feedback for an unknown id, reads stats and
# (with the teacher) waits for trained weights to be served. Each server is stopped with SIGTERM and must exit with 143 and its summary.
#
# usage: python_client_test.sh APPRENTICE WRITE_TEST_SNAPSHOT REPO_ROOT PYTHON
set -u
apprentice=$1 write_snapshot=$2 root=$3 python=$4
test_name=python_client_test
. "$root/tests/serve_test_lib.sh"

"$write_snapshot" "$work/executor.snap" 6 2 || fail "cannot write a snapshot"
# CURVE keys for the executor-only service and its client (apprentice keygen).
"$apprentice" keygen --out "$work/server" >/dev/null || fail "keygen failed"
"$apprentice" keygen --out "$work/client" >/dev/null || fail "keygen failed"
"$apprentice" serve --executor-only --snapshot "$work/executor.snap" --bind 'tcp://127.0.0.1:*' \
  --endpoint-file "$work/endpoint" --log-dir "$work/logs" --status-every-s 0 \
  --curve-secret-key "$work/server.key" --curve-clients "$work/client.pub" \
  >"$work/serve.out" 2>"$work/serve.err" &
server=$!
wait_for_endpoint
endpoint=$(cat "$work/endpoint")

timeout 120 "$python" "$root/examples/python_client.py" --endpoint "$endpoint" --decisions 2000 \
  --in-flight 16 --feedback-every 10 --curve-key "$work/client.key" \
  --server-key "$work/server.pub" >"$work/client.out" 2>&1
rc=$?
cat "$work/client.out"
[ $rc -eq 0 ] || fail "the client exited with $rc"
grep -q "2000 decisions" "$work/client.out" || fail "the client did not report 2000 decisions"
grep -q "200 feedback messages accepted" "$work/client.out" || fail "feedback was not accepted"

kill -TERM "$server"
wait "$server"
rc=$?
server=0
[ $rc -eq 143 ] || fail "serve exited with $rc after SIGTERM, expected 143"
grep -q "decisions .*2000" "$work/serve.out" || fail "the summary does not count 2000 decisions: $(cat "$work/serve.out")"
grep -q "unknown_decision 1" "$work/serve.out" || fail "the summary does not count the refused feedback"
grep -q "CURVE handshakes *1 accepted, 0 refused" "$work/serve.out" \
  || fail "the summary does not count the CURVE handshake"

# The whole loop: a TorchScript teacher (made with Debian's PyTorch) labels in the background,
# the distiller trains on the labels and the ground truth, the service serves the new weights
# and writes them to a snapshot file, which an --executor-only service then serves.
"$python" "$root/tests/make_torchscript_teacher.py" "$work/teachers" || fail "cannot make the teacher"
rm -f "$work/endpoint"
"$apprentice" serve --observation-size 6 --actions 2 --torchscript-model "$work/teachers/rule.pt" \
  --bind 'tcp://127.0.0.1:*' --endpoint-file "$work/endpoint" --min-replay 64 \
  --snapshot-out "$work/trained.snap" --status-every-s 0 \
  >"$work/serve.out" 2>"$work/serve.err" &
server=$!
wait_for_endpoint
timeout 120 "$python" "$root/examples/python_client.py" --endpoint "$(cat "$work/endpoint")" \
  --decisions 2000 --in-flight 16 --feedback-every 4 --wait-trained 200 >"$work/client.out" 2>&1
rc=$?
cat "$work/client.out"
[ $rc -eq 0 ] || fail "the client of the service with a teacher exited with $rc"
grep -q "act served by executor v[1-9]" "$work/client.out" \
  || fail "the trained executor is not what serves"
kill -TERM "$server"
wait "$server"
rc=$?
server=0
cat "$work/serve.out"
[ $rc -eq 143 ] || fail "serve with a teacher exited with $rc after SIGTERM, expected 143"
grep -q "ground truth joined *500" "$work/serve.out" || fail "the summary does not count the ground truth"
[ -s "$work/trained.snap" ] || fail "no --snapshot-out file"
"$apprentice" serve --executor-only --snapshot "$work/trained.snap" --bind 'tcp://127.0.0.1:*' \
  --duration-s 0.2 --status-every-s 0 >"$work/edge.out" 2>"$work/edge.err" \
  || fail "the edge service cannot serve the trained snapshot: $(cat "$work/edge.err")"
grep -q "executor v[1-9]" "$work/edge.err" || fail "the edge service does not serve the trained weights: $(cat "$work/edge.err")"
echo "python_client_test: ok"
