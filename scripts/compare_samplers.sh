#!/usr/bin/env bash
# Uniform against prioritised replay on the same seeds: for each sampler and seed, a sync run
# (deterministic) with a learning curve, and the labels after which the executor alone first
# reached 97 % of the planner's return (summary key labels_to_target). Prints a Markdown table
# (the one in docs/replay.md) and the means.
#
# usage: scripts/compare_samplers.sh [--seeds "1 2 3 4 5"] [--planner mcts] [--steps 4000]
#                                    [--curve-every 250] [--curve-episodes 10] [EXTRA RUN FLAGS...]
# Needs build/apps/apprentice (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="1 2 3 4 5" planner=mcts steps=4000 every=250 episodes=10
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --planner) planner=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --curve-every) every=$2; shift 2 ;;
    --curve-episodes) episodes=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) extra+=("$1"); shift ;;
  esac
done
bin=build/apps/apprentice
[ -x "$bin" ] || { echo "compare_samplers: build first (scripts/build.sh)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

value() { grep -o "\"$2\": [-0-9.e+]*" "$1" | head -1 | awk '{print $2}'; }

echo "| seed | sampler | labels to 97 % of planner | executor return | planner return |"
echo "|---|---|---|---|---|"
declare -A total count
for seed in $seeds; do
  for sampler in uniform prioritized; do
    echo "compare_samplers: seed $seed, $sampler ..." >&2
    "$bin" run --mode sync --planner "$planner" --seed "$seed" --steps "$steps" \
      --replay-sampler "$sampler" --curve-every "$every" --curve-episodes "$episodes" \
      --run-dir "$out/$sampler-$seed" --quiet --json "${extra[@]}" >"$out/$sampler-$seed.json"
    labels=$(value "$out/$sampler-$seed.json" labels_to_target)
    executor=$(value "$out/$sampler-$seed.json" executor_return)
    planner_return=$(value "$out/$sampler-$seed.json" planner_return)
    shown=$labels
    if [ "$labels" = "-1" ]; then
      shown="not within $steps"
      labels=$steps
    fi
    total[$sampler]=$(( ${total[$sampler]:-0} + labels ))
    count[$sampler]=$(( ${count[$sampler]:-0} + 1 ))
    printf '| %s | %s | %s | %.1f | %.1f |\n' "$seed" "$sampler" "$shown" "$executor" \
      "$planner_return"
  done
done
echo
for sampler in uniform prioritized; do
  echo "mean labels to 97 % of the planner's return, $sampler: $(( total[$sampler] / count[$sampler] ))" \
    "(a run that never reached it counts as $steps)"
done
