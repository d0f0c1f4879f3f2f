#!/usr/bin/env bash
# NATS with TLS (the server verifies client certificates) and nkey authentication, on loopback:
# certificates made with openssl and an nkey made with tests/nkey_gen.py, a nats-server that
# requires both, started and stopped here. With all three files every kind of client works (a
# planner worker, a learner, an agent sending plan requests and records, an edge executor); a
# client without its nkey, without its certificate, or without TLS at all is refused with a
# clear error, and a missing file is bad usage.
#
# usage: nats_auth_test.sh APPRENTICE PYTHON
set -u
apprentice=$1 python=$2
test_name=nats_auth_test
here=$(cd "$(dirname "$0")" && pwd)
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
cd "$work" || exit 1
"$python" "$here/nkey_gen.py" >client.nk 2>nkey.err || fail "no nkey"
cert() {  # cert NAME SUBJECT [EXTFILE]
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null &&
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" \
      -days 1 ${3:+-extfile "$3"} 2>/dev/null
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 \
  -subj "/CN=apprentice-test-ca" 2>/dev/null || fail "openssl cannot make a CA"
printf "subjectAltName=IP:127.0.0.1,DNS:localhost\n" >san.ext
cert server /CN=localhost san.ext || fail "openssl cannot make the server's certificate"
cert client /CN=client || fail "openssl cannot make the client's certificate"
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >server.conf <<EOF
listen: 127.0.0.1:$port
jetstream { store_dir: "$work/store" }
tls { cert_file: "$work/server.pem", key_file: "$work/server.key", ca_file: "$work/ca.pem",
      verify: true, timeout: 2 }
authorization { users: [ { nkey: "$(grep '^U' client.nk)" } ] }
EOF
nats-server -c server.conf >server.err 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do
  grep -q "Server is ready" server.err && break
  sleep 0.05
done
grep -q "Server is ready" server.err || fail "nats-server did not start"
url="nats://127.0.0.1:$port"
secure=(--nats "$url" --nats-run sec --nats-tls-ca ca.pem --nats-tls-cert client.pem
        --nats-tls-key client.key --nats-nkey client.nk)

# ---- every kind of client, with its credentials --------------------------------------------------
"$apprentice" learner "${secure[@]}" --run-dir learner --idle-exit-s 3 --json \
  >learner.out 2>learner.err &
learner=$!
pids+=($learner)
"$apprentice" planner-worker "${secure[@]}" --env cartpole --planner lqr --idle-exit-s 3 --json \
  >worker.out 2>worker.err &
worker=$!
pids+=($worker)
"$apprentice" run --env cartpole --planner lqr --mode reflex --rate-hz 1000 --steps 2000 \
  "${secure[@]}" --nats-parts planners,learner --eval-episodes 2 --planner-eval-episodes 1 \
  --run-dir run-dir --summary-json run.json --quiet >run.out 2>run.err || fail "the run failed"
"$apprentice" serve --executor-only "${secure[@]}" --bind 'tcp://127.0.0.1:*' --duration-s 1 \
  --json >edge.out 2>edge.err || fail "the edge executor failed"
wait "$worker" || fail "the worker failed"
wait "$learner" || fail "the learner failed"
"$python" - run.json worker.out learner.out edge.out <<'EOF' || fail "a link did not carry its messages"
import json, sys
run, worker, learner, edge = (json.load(open(p)) for p in sys.argv[1:])
print("nats_auth_test: with TLS and an nkey: worker labels %d, learner records %d, run: %s; edge "
      "version %d" % (worker["labels"], learner["records"], run["nats"],
                      edge["agent"]["executor_version"]))
sys.exit(0 if run["error"] == "" and worker["labels"] > 0 and learner["records"] > 0
         and edge["error"] == "" else 1)
EOF

# ---- refused without credentials -----------------------------------------------------------------
refused() {  # refused WHAT PATTERN FLAGS...: a worker with FLAGS exits 1 naming PATTERN
  local what=$1 pattern=$2
  shift 2
  "$apprentice" planner-worker --nats "$url" --nats-run sec --idle-exit-s 1 --quiet "$@" \
    >/dev/null 2>refused.err
  [ $? -eq 1 ] || fail "a client $what was not refused"
  grep -q "cannot connect to NATS at $url.*$pattern" refused.err \
    || fail "a client $what: no clear error ($(cat refused.err))"
  echo "$test_name: refused $what: $(cat refused.err)"
}
refused "without its nkey" "Authorization Violation" \
  --nats-tls-ca ca.pem --nats-tls-cert client.pem --nats-tls-key client.key
refused "without its certificate" "" --nats-tls-ca ca.pem --nats-nkey client.nk
refused "without the servers' CA" "" --nats-nkey client.nk
refused "with nothing" ""
"$apprentice" planner-worker --nats "$url" --nats-nkey missing.nk --quiet >/dev/null 2>usage.err
[ $? -eq 2 ] || fail "a missing nkey file was not bad usage"
grep -q "nkey: cannot read missing.nk" usage.err || fail "no clear error for a missing file"
echo "$test_name: ok"
