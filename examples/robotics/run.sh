#!/usr/bin/env bash
# A MuJoCo task under the executor at a fixed control rate while MPPI labels in the background,
# in one command, after the build (scripts/build.sh):
#
#   examples/robotics/run.sh [--env mujoco-reacher] [--seconds 60] [--rate-hz 100]
#                            [--planner mppi] [--eval-episodes 20] [--seed 1] [--out DIR]
#                            [--build build]
#
# The loop runs on this thread at --rate-hz for --seconds: the executor answers every step
# (reflex mode, a 1 ms deadline), the planner labels the states it visits on a worker thread, the
# distiller trains on the other core and publishes weights the loop picks up without pausing.
# Progress (agreement, the recent return, deadline misses, labels, drops) goes to stderr every two
# seconds; at the end the executor alone, the planner alone and a random policy are evaluated on
# --eval-episodes episodes each and the table is printed (and written as JSON to DIR/summary.json,
# with the logs, metrics.jsonl and the executor's snapshot). DIR defaults to
# runs/robotics-<env>-<time>.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
env=mujoco-reacher seconds=60 rate=100 planner=mppi episodes=20 seed=1 out="" build="$root/build"
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --env) env=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rate-hz) rate=$2; shift 2 ;;
    --planner) planner=$2; shift 2 ;;
    --eval-episodes) episodes=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
apprentice="$build/apps/apprentice"
[ -x "$apprentice" ] || { echo "run.sh: $apprentice not found: build first (scripts/build.sh)" >&2; exit 2; }
steps=$(awk -v s="$seconds" -v r="$rate" 'BEGIN { n = int(s * r); if (n < 1) exit 1; print n }') ||
  { echo "run.sh: --seconds and --rate-hz must give at least one step" >&2; exit 2; }
out=${out:-runs/robotics-$env-$(date +%Y%m%d-%H%M%S)}
echo "== $env at $rate Hz for $seconds s ($steps steps), $planner labelling in the background" >&2
exec "$apprentice" run --env "$env" --planner "$planner" --mode reflex --rate-hz "$rate" \
  --deadline-us 1000 --steps "$steps" --eval-episodes "$episodes" \
  --planner-eval-episodes "$episodes" --seed "$seed" --run-dir "$out"
