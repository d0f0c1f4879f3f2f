#!/usr/bin/env python3
"""A client of `apprentice serve` in Python (Debian: python3-zmq, python3-msgpack).

Asks the service what it serves (health), sends act requests with random observations (some of
them several in flight at once), reports feedback for some decisions (a reward and a ground-truth
label, as a fraud team does when chargebacks arrive), reads the stats, and checks every reply.
docs/protocol.md is all it relies on.

    apprentice serve --executor-only --snapshot runs/<run>/executor.snap &
    python3 examples/python_client.py --endpoint tcp://127.0.0.1:5555 --decisions 1000

With CURVE (apprentice keygen --out server; apprentice keygen --out client; the service started
with --curve-secret-key server.key --curve-clients client.pub):

    python3 examples/python_client.py --curve-key client.key --server-key server.pub

Exit status: 0 when every reply was what the protocol promises, 1 otherwise.
"""
import argparse
import random
import sys
import time

import msgpack
import zmq

PROTOCOL_VERSION = 1


def read_key_file(path):
    """The keys of an `apprentice keygen` file: {"public-key": ..., "secret-key": ...}."""
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, value = (part.strip() for part in line.split("=", 1))
            keys[name] = value.strip('"')
    return keys


class Client:
    """One DEALER socket; requests carry a "req" id, replies are matched by it."""

    def __init__(self, endpoint, timeout_ms=10000, curve_key=None, server_key=None):
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVTIMEO, timeout_ms)
        if curve_key:
            # CURVE: this client's key pair and the service's public key (apprentice keygen).
            own = read_key_file(curve_key)
            self.socket.curve_publickey = own["public-key"].encode()
            self.socket.curve_secretkey = own["secret-key"].encode()
            self.socket.curve_serverkey = read_key_file(server_key)["public-key"].encode()
        self.socket.connect(endpoint)
        self.next_req = 1

    def send(self, type_, **fields):
        req = self.next_req
        self.next_req += 1
        message = {"v": PROTOCOL_VERSION, "type": type_, "req": req}
        message.update(fields)
        self.socket.send(msgpack.packb(message, use_bin_type=True))
        return req

    def receive(self):
        try:
            return msgpack.unpackb(self.socket.recv(), raw=False)
        except zmq.Again:
            raise RuntimeError("no reply within the timeout")

    def call(self, type_, **fields):
        req = self.send(type_, **fields)
        reply = self.receive()
        if reply.get("req") != req:
            raise RuntimeError(f"reply to request {reply.get('req')}, expected {req}")
        return reply


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5555")
    parser.add_argument("--decisions", type=int, default=1000, help="act requests to send")
    parser.add_argument("--in-flight", type=int, default=8,
                        help="act requests kept in flight at once (pipelining)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="act requests sent per second (0: as fast as replies come)")
    parser.add_argument("--feedback-every", type=int, default=10,
                        help="report feedback for every Nth decision")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wait-trained", type=int, default=0, metavar="STEPS",
                        help="with a teacher: poll stats until the distiller has made this many "
                             "training steps (at most 60 s), then check that act is served by "
                             "the new weights")
    parser.add_argument("--curve-key", metavar="FILE",
                        help="CURVE: this client's key pair (apprentice keygen --out NAME: "
                             "NAME.key); the service must list NAME.pub in --curve-clients")
    parser.add_argument("--server-key", metavar="FILE",
                        help="CURVE: the service's public key file (its .pub)")
    args = parser.parse_args()
    if bool(args.curve_key) != bool(args.server_key):
        parser.error("CURVE needs both --curve-key and --server-key")
    if args.decisions < 1 or args.in_flight < 1 or args.feedback_every < 1:
        parser.error("--decisions, --in-flight and --feedback-every must be at least 1")
    if args.rate < 0:
        parser.error("--rate must not be negative")
    rng = random.Random(args.seed)
    client = Client(args.endpoint, curve_key=args.curve_key, server_key=args.server_key)
    problems = []

    health = client.call("health")
    if health.get("type") != "health" or not health.get("ok"):
        print(f"service unhealthy: {health}", file=sys.stderr)
        return 1
    obs_size = health["observation_size"]
    action_space = health["action_space"]
    discrete = action_space.startswith("Discrete")
    print(f"serving {health['observation_space']} -> {action_space}, "
          f"executor v{health['executor_version']}, teacher: {health['teacher']}")

    # act, pipelined: up to --in-flight requests outstanding.
    decisions = {}
    outstanding = set()
    sent = 0
    started = time.perf_counter()
    latencies = []
    while len(decisions) < args.decisions:
        while sent < args.decisions and len(outstanding) < args.in_flight:
            if args.rate > 0:  # paced: request k goes out k / rate seconds after the first
                wait = started + sent / args.rate - time.perf_counter()
                if wait > 0:
                    if outstanding:
                        break
                    time.sleep(wait)
            obs = [rng.uniform(-1.0, 1.0) for _ in range(obs_size)]
            outstanding.add(client.send("act", obs=obs))
            sent += 1
        reply = client.receive()
        if reply.get("type") != "act" or reply.get("req") not in outstanding:
            problems.append(f"unexpected reply {reply}")
            break
        outstanding.discard(reply["req"])
        if discrete and abs(sum(reply["probs"]) - 1.0) > 1e-4:
            problems.append(f"probabilities do not sum to 1: {reply['probs']}")
        decisions[reply["id"]] = reply
        latencies.append(reply["latency_us"])
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(f"{len(decisions)} decisions in {elapsed:.2f} s ({len(decisions) / elapsed:.0f}/s), "
          f"service latency p50 {latencies[len(latencies) // 2]:.1f} us")

    # feedback: a reward and the true label for every Nth decision; the label disagrees with the
    # executor for half of them, as a teacher's mistakes or a new fraud pattern would.
    accepted = 0
    for n, (decision_id, reply) in enumerate(sorted(decisions.items())):
        if n % args.feedback_every:
            continue
        if discrete:
            label = reply["action"] if n % 2 == 0 else (reply["action"] + 1) % len(reply["probs"])
        else:
            label = [v + 0.1 for v in reply["action"]]
        ack = client.call("feedback", id=decision_id, reward=1.0, done=True, label=label)
        if ack.get("type") != "feedback" or ack.get("id") != decision_id:
            problems.append(f"feedback for {decision_id} answered {ack}")
        else:
            accepted += 1
    print(f"{accepted} feedback messages accepted")

    # A request the service must refuse, with a code: feedback for an id it never issued.
    refused = client.call("feedback", id=max(decisions) + 10**9, reward=0.0)
    if refused.get("type") != "error" or refused.get("code") != "unknown_decision":
        problems.append(f"feedback for an unknown id answered {refused}")

    stats = client.call("stats")
    service = stats["service"]
    print(f"stats: {service['acts']} acts, {service['feedback']} feedback, "
          f"{service['errors']} errors, executor v{stats['agent']['executor_version']}")
    if service["acts"] < len(decisions) or service["feedback"] < accepted:
        problems.append(f"stats count fewer requests than were answered: {service}")

    if health["teacher"]:
        agent = stats["agent"]
        print(f"teacher: {agent['labels']} labels, {agent['ground_truth']} ground-truth labels "
              f"joined, {agent['train_steps']} training steps, agreement "
              f"{100 * agent['agreement']:.1f} %")
    if args.wait_trained > 0:
        # The distiller trains in the background; its weights are served without a pause.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            agent = client.call("stats")["agent"]
            if agent["train_steps"] >= args.wait_trained and agent["executor_version"] > 0:
                break
            time.sleep(0.1)
        reply = client.call("act", obs=[0.0] * obs_size)
        print(f"after {agent['train_steps']} training steps: act served by executor "
              f"v{reply.get('version')}")
        if agent["train_steps"] < args.wait_trained or reply.get("version", 0) < 1:
            problems.append(f"no trained executor within 60 s: {agent}")

    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
