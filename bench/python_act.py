#!/usr/bin/env python3
"""What one act() costs through the Python module, per call, on this machine.

    python3 bench/python_act.py [--calls N] [--repeats R] [--json]

Rows: Snapshot.act (one observation, greedy), Snapshot.act_batch per row (256 rows a call), and
Agent.act and Agent.observe in reflex mode (the executor answers; the LQR planner labels in the
background on a copy of the env handed to act()), timed call by call, the clock's own cost taken
off. Each figure is the best of R repeats of N calls (the median
is shown too), with a NumPy float32 observation that is reused, as a control loop would.
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np

import apprentice


def per_call_us(fn, calls, repeats):
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - t) / calls * 1e6)
    return min(runs), statistics.median(runs)


def step_us(agent, obs, env, calls, repeats):
    """Agent.act and Agent.observe timed one call at a time (the clock's own cost taken off):
    an act needs the observe of the step before it."""
    clock = time.perf_counter_ns
    gaps = []
    for _ in range(10000):
        a = clock()
        b = clock()
        gaps.append(b - a)
    overhead = statistics.median(gaps)  # what one reading of the clock adds to a timed call
    acts, observes = [], []
    for _ in range(repeats):
        act_ns = observe_ns = 0
        for i in range(calls):
            t0 = clock()
            agent.act(obs, env)
            t1 = clock()
            agent.observe(1.0, i % 500 == 499, False)
            t2 = clock()
            act_ns += t1 - t0
            observe_ns += t2 - t1
        acts.append(act_ns / calls / 1e3)
        observes.append(observe_ns / calls / 1e3)
    fix = overhead / 1e3
    return ((min(acts) - fix, statistics.median(acts) - fix),
            (min(observes) - fix, statistics.median(observes) - fix))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100000, help="calls per repeat")
    parser.add_argument("--repeats", type=int, default=7, help="repeats (best is reported)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if args.calls < 1 or args.repeats < 1:
        parser.error("--calls and --repeats must be at least 1")

    env = apprentice.Env("cartpole")
    obs = env.reset(1)
    rows = []
    # The planner is LQR (microseconds a plan): the background labels do not load the machine.
    with apprentice.Agent(env="cartpole", planner="lqr", mode="reflex", seed=1,
                          metrics_interval_ms=60000) as agent:
        snap = agent.snapshot()
        batch = np.repeat(obs[None, :], 256, axis=0)
        cases = [
            ("Snapshot.act", lambda: snap.act(obs), 1),
            ("Snapshot.act_batch, per row (256 rows)", lambda: snap.act_batch(batch), 256),
        ]
        for i, (name, fn, rows_per_call) in enumerate(cases):
            print("[%d/3] %s" % (i + 1, name), file=sys.stderr, flush=True)
            calls = max(1, args.calls // rows_per_call)
            best, median = per_call_us(fn, calls, args.repeats)
            rows.append({"case": name, "best_us": best / rows_per_call,
                         "median_us": median / rows_per_call})
        print("[3/3] Agent.act + Agent.observe", file=sys.stderr, flush=True)
        act, observe = step_us(agent, obs, env, args.calls, args.repeats)
        rows.append({"case": "Agent.act (env for the planner)", "best_us": act[0],
                     "median_us": act[1]})
        rows.append({"case": "Agent.observe", "best_us": observe[0], "median_us": observe[1]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["case"]) for r in rows)
    print("%-*s  %10s  %10s" % (width, "python call", "best us", "median us"))
    print("-" * (width + 24))
    for r in rows:
        print("%-*s  %10.3f  %10.3f" % (width, r["case"], r["best_us"], r["median_us"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
