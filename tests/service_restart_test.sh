#!/usr/bin/env bash
# Nothing accepted is lost: `apprentice serve --log-dir` is killed with SIGKILL right after its
# last reply and restarted on the same directory. Every decision and feedback it answered must be
# in its journal; feedback for decisions of the killed run must be accepted and joined from the
# journal; a second ground truth for a decision must still be refused; ids must continue.
#
# usage: service_restart_test.sh APPRENTICE WRITE_TEST_SNAPSHOT REPO_ROOT PYTHON
set -u
apprentice=$1 write_snapshot=$2 root=$3 python=$4
test_name=service_restart_test
. "$root/tests/serve_test_lib.sh"
start_server() {
  rm -f "$work/endpoint"
  "$apprentice" serve --executor-only --snapshot "$work/executor.snap" --log-dir "$work/logs" \
    --bind 'tcp://127.0.0.1:*' --endpoint-file "$work/endpoint" --status-every-s 0 \
    >"$work/serve.out" 2>"$work/serve.err" &
  server=$!
  wait_for_endpoint
}
count() {  # records in an episode log directory
  "$apprentice" inspect "$1" --json | "$python" -c 'import json,sys; print(json.load(sys.stdin)["records"])'
}

"$write_snapshot" "$work/executor.snap" 6 2 || fail "cannot write a snapshot"
start_server
timeout 120 "$python" "$root/tests/service_restart_client.py" before "$(cat "$work/endpoint")" \
  "$work/state.json" || fail "the client failed before the kill"
kill -9 "$server"
wait "$server" 2>/dev/null
server=0

decisions=$(count "$work/logs/journal/decisions")
feedback=$(count "$work/logs/journal/feedback")
echo "after SIGKILL the journal holds $decisions decisions and $feedback feedback messages"
[ "$decisions" -eq 3000 ] || fail "the journal holds $decisions decisions, 3000 were answered"
[ "$feedback" -eq 200 ] || fail "the journal holds $feedback feedback messages, 200 were accepted"

start_server
timeout 120 "$python" "$root/tests/service_restart_client.py" after "$(cat "$work/endpoint")" \
  "$work/state.json" || fail "the client failed after the restart"
kill -TERM "$server"
wait "$server"
rc=$?
server=0
cat "$work/serve.out"
[ $rc -eq 143 ] || fail "serve exited with $rc after SIGTERM, expected 143"
grep -q "feedback joined from the journal *100" "$work/serve.out" \
  || fail "the feedback for the killed run's decisions was not joined from the journal"
grep -q "duplicate_label 1" "$work/serve.out" || fail "the second ground truth was not refused"
[ "$(count "$work/logs/journal/decisions")" -eq 3001 ] || fail "the restarted run's decision is not in the journal"
[ "$(count "$work/logs/journal/feedback")" -eq 300 ] || fail "the restarted run's feedback is not in the journal"
echo "service_restart_test: ok"
