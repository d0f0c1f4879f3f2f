# Sourced by the NATS tests: a temporary directory ($work), cleanup of the processes in $pids on
# exit, fail MESSAGE (prints the tails of $work/*.err, exits 1), free_port, and a nats-server
# with JetStream on loopback at $url whose store is in $work. Needs $python and $test_name.
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "$test_name: $*"
  for f in "$work"/*.err; do echo "--- $f"; tail -5 "$f"; done
  exit 1
}
free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port=$(free_port)
nats-server -js -a 127.0.0.1 -p "$port" -sd "$work/store" >"$work/server.err" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do
  grep -q "Server is ready" "$work/server.err" && break
  sleep 0.05
done
grep -q "Server is ready" "$work/server.err" || fail "nats-server did not start"
url="nats://127.0.0.1:$port"
