#!/usr/bin/env bash
# examples/fraud/run.sh --compare on a small stream (30 days, 800 cards, a 1-epoch teacher): it
# must run every step and print the comparison with all six rows and the latencies.
#
# usage: fraud_example_test.sh REPO_ROOT BUILD_DIR
set -u
root=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$("$root/examples/fraud/run.sh" --out "$work/run" --days 30 --customers 800 --train-days 14 \
  --epochs 1 --compare --build "$build" 2>"$work/err")
rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "fraud_example_test: run.sh exited with $rc"; cat "$work/err"; exit 1; }
for row in "uncertainty selection" "random selection" "disagreement selection" "ground truth only" \
           "hard labels only" "the teacher alone" "service-side"; do
  grep -q "$row" <<<"$out" || { echo "fraud_example_test: no '$row' in the output"; exit 1; }
done
for f in fraud.data teacher.pt distill.json truth.json distill/summary.json; do
  [ -s "$work/run/$f" ] || { echo "fraud_example_test: no $f"; exit 1; }
done
"$root/examples/fraud/run.sh" --bogus >/dev/null 2>&1
[ $? -eq 2 ] || { echo "fraud_example_test: a bad argument was not refused"; exit 1; }
echo "fraud_example_test: ok"
