#!/usr/bin/env bash
# Games, in one command after the build (scripts/build.sh):
#
#   examples/games/run.sh [--steps 360000] [--teacher-simulations 300] [--games 100]
#                         [--budgets 10,25,50,100,200] [--npc-seconds 60] [--agents 256]
#                         [--seed 1] [--out DIR] [--build build]
#
# 1. Connect Four: MCTS (--teacher-simulations per move) teaches the executor by self-play in
#    `apprentice run`'s deterministic sync mode: the executor plays both sides with moves drawn
#    from its own distribution, MCTS labels every position it reaches, the distiller trains on the
#    labels (legal-move masks all the way; one update of a 126-128-128-7 network per label, soft
#    targets at temperature 1 weighted 0.3). Progress on stderr.
# 2. The distilled executor plays a random player and MCTS at each of --budgets simulations per
#    move, --games games each (connect_four_match): the table of wins, draws and losses, with each
#    side's time per move and tactics (immediate wins taken, threats blocked).
# 3. The many-NPC demo (npc_demo): --agents grid-world NPCs at 60 frames/s for --npc-seconds, one
#    batched executor call per frame, MCTS labelling sampled NPCs (skipped with --npc-seconds 0).
#
# Everything lands in DIR (default runs/games-<time>): the run (connect-four/, with the
# executor's snapshot), its summary connect-four.json, match.json and npc.json.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
steps=360000 teacher=300 games=100 budgets=10,25,50,100,200 npc_seconds=60 agents=256 seed=1
out="" build="$root/build"
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --teacher-simulations) teacher=$2; shift 2 ;;
    --games) games=$2; shift 2 ;;
    --budgets) budgets=$2; shift 2 ;;
    --npc-seconds) npc_seconds=$2; shift 2 ;;
    --agents) agents=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for tool in apps/apprentice examples/connect_four_match examples/npc_demo; do
  [ -x "$build/$tool" ] || { echo "run.sh: $build/$tool not found: build first (scripts/build.sh)" >&2; exit 2; }
done
out=${out:-runs/games-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"

echo "== Connect Four: MCTS ($teacher simulations a move) teaches the executor, $steps positions" >&2
"$build/apps/apprentice" run --env connect-four --connect-four-opening 2 --planner mcts \
  --mcts-simulations "$teacher" --mode sync --steps "$steps" --sample-actions \
  --updates-per-step 1 --temperature 1 --alpha 0.3 --hidden 128,128 --eval-episodes 10 \
  --planner-eval-episodes 2 --seed "$seed" \
  --run-dir "$out/connect-four" --summary-json "$out/connect-four.json" > /dev/null

echo "== The executor against a random player and MCTS at $budgets simulations a move" >&2
"$build/examples/connect_four_match" --snapshot "$out/connect-four/executor.snap" \
  --games "$games" --budgets "$budgets" --seed "$seed" --json-out "$out/match.json"

if [ "$npc_seconds" -gt 0 ]; then
  echo "== $agents NPCs at 60 frames/s for $npc_seconds s" >&2
  "$build/examples/npc_demo" --agents "$agents" --seconds "$npc_seconds" --seed "$seed" \
    --json-out "$out/npc.json"
fi
echo "== results in $out" >&2
