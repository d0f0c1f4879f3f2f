#!/usr/bin/env python3
"""What teaches the executor fastest: a measured study of the distillation's choices.

Runs `apprentice run` (sync mode: one thread, the same seed gives the same run) on fixed seeds
and writes a markdown table of the executor's return per cell (the executor evaluated alone on 20
episodes), as mean +- standard deviation over the seeds, with the teacher's and a random
policy's returns for scale, plus a JSON file of every run (also the normalised return, whose
planner reference comes from only 3 evaluation episodes per run) and an HTML report
(`apprentice report`) of one seed of the soft-vs-hard comparison. Finished runs are kept in
OUT_DIR/runs and reused when the study is run again.

Studies (each at equal label budgets: in sync mode every step is one planner label):
  soft-hard    soft targets only (alpha 1, T 2) against hard labels only (alpha 0), at 250,
               500, 1000 and 2000 labels
  temperature  T in {1, 2, 4, 8} x alpha in {0.5, 1}, and alpha 0 (T plays no part), at 500
  dagger-bc    DAgger (the executor acts from the start, --beta 0; the planner labels what it
               visits) against behaviour cloning (the planner always acts, --beta 1
               --beta-decay 1), at 250, 500 and 1000
On mujoco-reacher only soft-hard and dagger-bc run, at 500 and 1000 labels.
  replay       uniform against prioritised replay, at 500
  ensemble     one teacher against an ensemble of two (cartpole: mcts against mcts,lqr;
               pendulum: mppi against mppi,cem), at 500

usage: distill_study.py APPRENTICE [--tasks cartpole,pendulum,mujoco-reacher] [--seeds 5]
                        [--studies ...]
                        [--out-dir DIR] [--jobs 2]
Progress goes to stderr; the markdown table to stdout and DIR/study.md.
"""
import argparse
import concurrent.futures
import json
import math
import os
import shutil
import subprocess
import sys
import time

STUDIES = ["soft-hard", "temperature", "dagger-bc", "replay", "ensemble"]
TASKS = {
    # Planners that teach each task well and fast enough for many runs; the evaluation of the
    # executor uses 20 episodes, the planner's (only the normalisation's reference) 3.
    "cartpole": {"planner": "mcts", "args": ["--mcts-simulations", "128"],
                 "ensemble": "mcts,lqr", "budgets": (250, 500, 1000, 2000), "studies": STUDIES},
    "pendulum": {"planner": "mppi", "args": [], "ensemble": "mppi,cem",
                 "budgets": (250, 500, 1000, 2000), "studies": STUDIES},
    # MuJoCo's planar reacher (env/mujoco): MPPI on the physics costs ~30 ms a label here, so
    # the two studies that matter most, at two budgets.
    "mujoco-reacher": {"planner": "mppi", "args": [], "ensemble": "mppi,cem",
                       "budgets": (500, 1000), "studies": ["soft-hard", "dagger-bc"]},
}


def cells(study, task):
    """(row label, column label, extra run flags) of a study."""
    t = TASKS[task]
    if study == "soft-hard":
        for budget in t["budgets"]:
            yield "soft targets (alpha 1, T 2)", budget, ["--steps", str(budget), "--alpha", "1"]
            yield "hard labels (alpha 0)", budget, ["--steps", str(budget), "--alpha", "0"]
    elif study == "temperature":
        for alpha in ("0.5", "1"):
            for temperature in ("1", "2", "4", "8"):
                yield f"alpha {alpha}", f"T {temperature}", [
                    "--steps", "500", "--alpha", alpha, "--temperature", temperature]
        yield "alpha 0 (hard only)", "any T", ["--steps", "500", "--alpha", "0"]
    elif study == "dagger-bc":
        for budget in t["budgets"][:3]:
            yield "DAgger (executor acts)", budget, ["--steps", str(budget), "--beta", "0"]
            yield "behaviour cloning (planner acts)", budget, [
                "--steps", str(budget), "--beta", "1", "--beta-decay", "1"]
    elif study == "replay":
        for sampler in ("uniform", "prioritized"):
            yield f"{sampler} replay", 500, ["--steps", "500", "--replay-sampler", sampler]
    elif study == "ensemble":
        yield f"one teacher ({t['planner']})", 500, ["--steps", "500"]
        yield f"ensemble ({t['ensemble']}, equal weights)", 500, [
            "--steps", "500", "--planner", t["ensemble"]]


def run_one(apprentice, task, extra, seed, run_dir):
    t = TASKS[task]
    args = [apprentice, "run", "--env", task, "--planner", t["planner"], *t["args"],
            "--seed", str(seed), "--eval-episodes", "20", "--planner-eval-episodes", "3",
            "--json", "--quiet", "--run-dir", run_dir, *extra]
    if "--planner" in extra:  # the ensemble's own --planner replaces the task's
        i = args.index("--planner")
        del args[i:i + 2]
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.exists(summary_path):  # a finished cell of an earlier, interrupted study
        with open(summary_path) as f:
            return json.load(f)
    shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished one starts again
    out = subprocess.run(args, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def mean_sd(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, sd


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("apprentice", help="path to the apprentice binary")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--studies", default=",".join(STUDIES))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--out-dir", default="distill-study")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    a = p.parse_args()
    tasks = [t for t in a.tasks.split(",") if t]
    studies = [s for s in a.studies.split(",") if s]
    for t in tasks:
        if t not in TASKS:
            p.error(f"unknown task {t} (choose {', '.join(TASKS)})")
    for s in studies:
        if s not in STUDIES:
            p.error(f"unknown study {s} (choose {', '.join(STUDIES)})")
    if a.seeds < 1:
        p.error("--seeds must be >= 1")
    os.makedirs(a.out_dir, exist_ok=True)

    # Every distinct run once (the studies share cells), a.jobs at a time.
    jobs = {}
    for task in tasks:
        for study in studies:
            if study not in TASKS[task]["studies"]:
                continue
            for row, col, extra in cells(study, task):
                for seed in range(1, a.seeds + 1):
                    key = (task, tuple(extra), seed)
                    name = f"{task}-" + "-".join(x.strip("-").replace(",", "+") for x in extra) + f"-seed{seed}"
                    jobs[key] = os.path.join(a.out_dir, "runs", name)
    results, started = {}, time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        futures = {pool.submit(run_one, a.apprentice, k[0], list(k[1]), k[2], d): k
                   for k, d in jobs.items()}
        for n, f in enumerate(concurrent.futures.as_completed(futures), 1):
            k = futures[f]
            results[k] = f.result()
            print(f"distill_study: {n}/{len(jobs)} runs ({time.time() - started:.0f} s): {k[0]} "
                  f"{' '.join(k[1])} seed {k[2]}: normalised return "
                  f"{results[k].get('normalised_return')}", file=sys.stderr, flush=True)

    md = [f"Return of the executor evaluated alone (20 episodes), mean ± sd over seeds "
          f"1-{a.seeds} (`bench/distill_study.py`, sync mode). Columns: labels (planner "
          f"decisions) unless named.\n"]
    table_rows = []
    for task in tasks:
        for study in studies:
            if study not in TASKS[task]["studies"]:
                continue
            rows, cols = {}, []
            for row, col, extra in cells(study, task):
                vals = [results[(task, tuple(extra), s)].get("normalised_return")
                        for s in range(1, a.seeds + 1)]
                rets = [results[(task, tuple(extra), s)].get("executor_return")
                        for s in range(1, a.seeds + 1)]
                m, sd = mean_sd(rets)
                rows.setdefault(row, {})[col] = (m, sd)
                if col not in cols:
                    cols.append(col)
                table_rows.append({"task": task, "study": study, "row": row, "column": col,
                                   "args": extra, "normalised_return": vals,
                                   "executor_return": rets, "mean": m, "sd": sd})
            summaries = [r for k, r in results.items() if k[0] == task]
            teacher, _ = mean_sd([r.get("planner_return") for r in summaries])
            random_policy, _ = mean_sd([r.get("random_return") for r in summaries])
            md.append(f"\n**{task}, {study}** (the teacher's return {teacher:.1f}, a random "
                      f"policy's {random_policy:.1f}, over all runs of the task)\n")
            md.append("| | " + " | ".join(str(c) for c in cols) + " |")
            md.append("|---|" + "---|" * len(cols))
            for row, by_col in rows.items():
                cells_text = [f"{by_col[c][0]:.1f} ± {by_col[c][1]:.1f}" if c in by_col else ""
                              for c in cols]
                md.append(f"| {row} | " + " | ".join(cells_text) + " |")
    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out_dir, "study.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out_dir, "study.json"), "w") as f:
        json.dump(table_rows, f, indent=1)
    print(text)

    # The report: soft targets against hard labels at 1000 labels, seed 1, per task.
    for task in tasks:
        if "soft-hard" not in studies:
            break
        dirs = [jobs[(task, ("--steps", "1000", "--alpha", alpha), 1)] for alpha in ("1", "0")]
        page = os.path.join(a.out_dir, f"report-{task}-soft-vs-hard.html")
        subprocess.run([a.apprentice, "report", *dirs, "--out", page, "--quiet",
                        "--title", f"{task}: soft targets (alpha 1) vs hard labels (alpha 0), "
                                   f"1000 labels, seed 1"],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"distill_study: wrote {page}", file=sys.stderr)


if __name__ == "__main__":
    main()
