#!/usr/bin/env python3
"""What a remote env costs per request: the Catch game (examples/python/catch_game.py) served by
python/apprentice_env.py on loopback, driven by apprentice's RemoteEnv through the Python module.

    python3 bench/remote_env_bench.py [--steps N] [--json]

Rows: step (one round trip), reset, and clone (make + copy: what a planner's simulation env
costs to open; refreshing it before a plan is one copy). The server runs in its own process.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import apprentice

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20000, help="steps to time (default 20000)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "examples/python/catch_game.py"),
                               "--bind", "tcp://127.0.0.1:*", "--quiet"],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("serving "):
            parser.exit(1, "remote_env_bench: the server did not start: %r\n" % line)
        address = line.split(" on ", 1)[1].strip()
        env = apprentice.Env("remote", address=address)
        rows = []
        # Steps, resetting at the end of each episode.
        print("[1/3] step", file=sys.stderr, flush=True)
        env.reset(1)
        step_s = reset_s = 0.0
        resets = 0
        for i in range(args.steps):
            t = time.perf_counter()
            done = any(env.step(i % 3)[2:])
            step_s += time.perf_counter() - t
            if done:
                t = time.perf_counter()
                env.reset(i)
                reset_s += time.perf_counter() - t
                resets += 1
        rows.append(("step", step_s / args.steps * 1e6, args.steps))
        print("[2/3] reset", file=sys.stderr, flush=True)
        rows.append(("reset", reset_s / max(resets, 1) * 1e6, resets))
        print("[3/3] clone (make + copy)", file=sys.stderr, flush=True)
        clones = max(1, args.steps // 20)
        t = time.perf_counter()
        for _ in range(clones):
            env.clone()  # closed again when dropped (not waited for)
        rows.append(("clone (make + copy)", (time.perf_counter() - t) / clones * 1e6, clones))
    finally:
        server.terminate()
        server.wait(10)
    if args.json:
        print(json.dumps([{"request": r, "us": us, "count": n} for r, us, n in rows], indent=2))
    else:
        print("%-22s %12s %10s" % ("request", "us each", "count"))
        print("-" * 46)
        for r, us, n in rows:
            print("%-22s %12.1f %10d" % (r, us, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
