#!/usr/bin/env bash
# examples/python_client.py against a real `apprentice serve --executor-only` on a free loopback
# port: the client acts (pipelined), sends feedback, is refused feedback for an unknown id, and
# reads stats. The server is stopped with SIGTERM and must exit with 143 and its summary.
#
# usage: python_client_test.sh APPRENTICE WRITE_TEST_SNAPSHOT REPO_ROOT PYTHON
set -u
apprentice=$1 write_snapshot=$2 root=$3 python=$4
work=$(mktemp -d)
server=0
cleanup() {
  if [ "$server" != 0 ]; then kill -9 "$server" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "python_client_test: $*"; echo "--- server stderr:"; cat "$work/serve.err" 2>/dev/null; exit 1; }

"$write_snapshot" "$work/executor.snap" 6 2 || fail "cannot write a snapshot"
"$apprentice" serve --executor-only --snapshot "$work/executor.snap" --bind 'tcp://127.0.0.1:*' \
  --endpoint-file "$work/endpoint" --log-dir "$work/logs" --status-every-s 0 \
  >"$work/serve.out" 2>"$work/serve.err" &
server=$!
for _ in $(seq 1 200); do
  [ -s "$work/endpoint" ] && break
  kill -0 "$server" 2>/dev/null || fail "the server exited at start"
  sleep 0.05
done
[ -s "$work/endpoint" ] || fail "no endpoint file after 10 s"
endpoint=$(cat "$work/endpoint")

timeout 120 "$python" "$root/examples/python_client.py" --endpoint "$endpoint" --decisions 2000 \
  --in-flight 16 --feedback-every 10 >"$work/client.out" 2>&1
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
echo "python_client_test: ok"
