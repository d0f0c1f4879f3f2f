#!/usr/bin/env bash
# examples/robotics/run.sh on each shipped MuJoCo task for two seconds at 100 Hz (one evaluation
# episode each): it must run the loop, show progress and print the table with the planner's, the
# executor's and a random policy's returns and the deadline misses.
#
# usage: robotics_example_test.sh REPO_ROOT BUILD_DIR
set -u
root=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for env in mujoco-reacher mujoco-pusher mujoco-cartpole; do
  out=$("$root/examples/robotics/run.sh" --env "$env" --seconds 2 --rate-hz 100 \
    --eval-episodes 1 --out "$work/$env" --build "$build" 2>"$work/err")
  rc=$?
  echo "$out"
  [ $rc -eq 0 ] || { echo "robotics_example_test: $env exited with $rc"; cat "$work/err"; exit 1; }
  for row in "planner return" "executor return" "random policy return" "normalised return" \
             "deadline misses"; do
    grep -q "$row" <<<"$out" || { echo "robotics_example_test: $env: no '$row'"; exit 1; }
  done
  grep -q "reflex  step" "$work/err" || { echo "robotics_example_test: $env: no progress"; exit 1; }
  [ -s "$work/$env/summary.json" ] || { echo "robotics_example_test: $env: no summary.json"; exit 1; }
done
"$root/examples/robotics/run.sh" --env mujoco-reacher --seconds 0 --build "$build" >/dev/null 2>&1
[ $? -eq 2 ] || { echo "robotics_example_test: zero seconds were not refused"; exit 1; }
"$root/examples/robotics/run.sh" --env no-such-env --seconds 1 --out "$work/x" --build "$build" \
  >/dev/null 2>"$work/err"
[ $? -eq 2 ] && grep -q "unknown value 'no-such-env'" "$work/err" ||
  { echo "robotics_example_test: an unknown env was not refused clearly"; cat "$work/err"; exit 1; }
echo "robotics_example_test: ok"
