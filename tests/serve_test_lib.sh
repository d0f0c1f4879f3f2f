# Shared by the shell tests that start `apprentice serve`: source it after setting `test_name`.
# It makes a work directory ($work, removed at exit), kills a server still running at exit
# ($server: its pid, 0 when none), and defines
#   fail MESSAGE        prints the message and the server's stderr ($work/serve.err), exits 1
#   wait_for_endpoint   waits up to 20 s for the server to write $work/endpoint
work=$(mktemp -d)
server=0
cleanup() {
  if [ "$server" != 0 ]; then kill -9 "$server" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "$test_name: $*"
  echo "--- server stderr:"
  cat "$work/serve.err" 2>/dev/null
  exit 1
}
wait_for_endpoint() {
  for _ in $(seq 1 400); do
    [ -s "$work/endpoint" ] && return
    kill -0 "$server" 2>/dev/null || fail "the server exited at start"
    sleep 0.05
  done
  fail "no endpoint file after 20 s"
}
