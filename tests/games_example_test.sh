#!/usr/bin/env bash
# examples/games/run.sh, small: Connect Four trained for 300 positions by a 50-simulation MCTS,
# four games against each opponent, then 32 NPCs for 3 seconds. It must show progress, print the
# match table and the NPC lines and write match.json and npc.json; bad flags and files must be
# refused with a clear message.
#
# usage: games_example_test.sh REPO_ROOT BUILD_DIR
set -u
root=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "games_example_test: $*"; exit 1; }

out=$("$root/examples/games/run.sh" --steps 300 --teacher-simulations 50 --games 4 --budgets 10,20 \
  --npc-seconds 3 --agents 32 --out "$work/run" --build "$build" 2>"$work/err")
rc=$?
echo "$out"
[ $rc -eq 0 ] || { cat "$work/err"; fail "run.sh exited with $rc"; }
grep -q "train  step" "$work/err" || fail "no training progress"
grep -Eq "^random +0 +[0-9]+ +[0-9]+ +[0-9]+" <<<"$out" || fail "no row for the random player"
grep -Eq "^mcts +20 " <<<"$out" || fail "no row for MCTS at 20 simulations"
grep -q "frame p50" <<<"$out" || fail "no NPC demo lines"
grep -q "32 NPCs at 60 Hz for 3 s" <<<"$out" || fail "no NPC summary"
grep -q '"win_or_draw"' "$work/run/match.json" || fail "no match.json"
grep -q '"missed_frames"' "$work/run/npc.json" || fail "no npc.json"
# Every game ended, won, drawn or lost: 4 a row.
python3 - "$work/run/match.json" <<'PY' || fail "match.json does not add up"
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
assert [r["opponent"] for r in rows] == ["random", "mcts", "mcts"], rows
assert all(r["wins"] + r["draws"] + r["losses"] == 4 == r["games"] for r in rows), rows
PY

match="$build/examples/connect_four_match"
"$match" --snapshot "$work/run/connect-four/executor.snap" --budgets 10,x >/dev/null 2>"$work/err"
[ $? -eq 2 ] && grep -q "'x' is not a positive whole number" "$work/err" ||
  { cat "$work/err"; fail "a bad budget was not refused clearly"; }
"$match" --snapshot "$work/none.snap" >/dev/null 2>"$work/err"
[ $? -eq 1 ] && grep -q "none.snap" "$work/err" || { cat "$work/err"; fail "a missing file"; }
"$build/tests/write_test_snapshot" "$work/cartpole.snap" 4 2
"$match" --snapshot "$work/cartpole.snap" >/dev/null 2>"$work/err"
[ $? -eq 1 ] && grep -q "Connect Four needs 126 inputs and 7" "$work/err" ||
  { cat "$work/err"; fail "a snapshot of another network was not refused clearly"; }
"$build/examples/npc_demo" --agents 0 >/dev/null 2>"$work/err"
[ $? -eq 2 ] && grep -q "agents" "$work/err" || { cat "$work/err"; fail "--agents 0 was not refused"; }
echo "games_example_test: ok"
