#!/usr/bin/env python3
"""A control loop in Python: an apprentice Agent acts on every step, the planner teaches it in
the background, and the executor's weights improve while the loop runs.

    python3 examples/python/agent_loop.py --env cartpole --planner lqr --steps 20000 --rate-hz 1000
    python3 examples/python/agent_loop.py --env remote --env-opt address=tcp://127.0.0.1:5600

Prints progress every second, then a table (or --json) of what the run did; with --run-dir the
episode log, snapshot and checkpoint are kept there (read the log back with apprentice.read_log).
"""

import argparse
import json
import sys
import time

import apprentice


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="cartpole", help="a registered env (default cartpole)")
    parser.add_argument("--env-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="an env option (repeatable)")
    parser.add_argument("--planner", default=None, help="the teacher (default: mcts or mppi)")
    parser.add_argument("--mode", default="reflex", help="reflex, deadline, gated, planner, dagger")
    parser.add_argument("--steps", type=int, default=20000, help="loop steps (default 20000)")
    parser.add_argument("--rate-hz", type=float, default=1000.0,
                        help="loop rate, as a controller's (default 1000; 0 = as fast as "
                             "possible, which leaves the learner behind)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run-dir", default=None, help="keep the log, snapshot and checkpoint")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.rate_hz < 0:
        parser.error("--rate-hz must not be negative")
    period = 1.0 / args.rate_hz if args.rate_hz > 0 else 0.0
    env_options = {}
    for item in args.env_opt:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error("--env-opt takes KEY=VALUE, got %r" % item)
        env_options[key] = value

    try:
        env = apprentice.Env(args.env, **env_options)
        agent = apprentice.Agent(env=args.env, env_options=env_options, planner=args.planner,
                                 mode=args.mode, seed=args.seed, run_dir=args.run_dir)
    except (ValueError, OSError) as e:
        parser.exit(2, "agent_loop: %s\n" % e)

    returns, episode_return, episode = [], 0.0, 0
    start = last = time.monotonic()
    with agent:
        obs = env.reset(args.seed)
        tick = time.monotonic()
        for step in range(args.steps):
            if period:
                tick += period
                pause = tick - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            action = agent.act(obs, env)
            obs, reward, terminated, truncated = env.step(action)
            agent.observe(reward, terminated, truncated)
            episode_return += reward
            if terminated or truncated:
                returns.append(episode_return)
                episode_return = 0.0
                episode += 1
                obs = env.reset(args.seed * 1_000_003 + episode)
            now = time.monotonic()
            if now - last >= 1.0 or step + 1 == args.steps:
                last = now
                m = agent.metrics()
                recent = sum(returns[-10:]) / len(returns[-10:]) if returns else 0.0
                print("[%6.1fs] step %d/%d  episodes %d  recent return %.1f  labels %d  "
                      "executor v%d" % (now - start, step + 1, args.steps, len(returns), recent,
                                        m["labels"], m["executor_version"]),
                      file=sys.stderr, flush=True)
        metrics = agent.metrics()
    result = {
        "env": args.env, "planner": agent.planner, "mode": args.mode, "steps": args.steps,
        "episodes": len(returns),
        "recent_return": sum(returns[-10:]) / len(returns[-10:]) if returns else 0.0,
        "labels": metrics["labels"], "executor_version": metrics["executor_version"],
        "act_p50_us": metrics["act_latency_us"]["p50"],
        "seconds": time.monotonic() - start,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print("%-18s %s" % (key, "%.2f" % value if isinstance(value, float) else value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
