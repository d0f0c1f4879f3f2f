#!/usr/bin/env bash
# The fraud-decision loop in one command, after the build (scripts/build.sh):
#
#   examples/fraud/run.sh [--out DIR] [--days 182] [--customers 5000] [--train-days 35]
#                         [--epochs 6] [--label-fraction 0.05] [--seed 1] [--compare]
#                         [--build build]
#
# 1. generates a payment stream (apprentice fraud generate) into DIR/fraud.data;
# 2. trains the slow teacher on the labelled history (examples/fraud/train_teacher.py, Debian's
#    python3-torch) into DIR/teacher.pt;
# 3. replays the stream through the decision service with the teacher on the label budget and
#    the chargebacks as delayed feedback (apprentice fraud run), and prints the measures;
# 4. with --compare, also runs the executor trained on the ground truth alone, on the teacher's
#    labels alone, and with random or disagreement instead of uncertainty selection, and prints
#    one table.
# --seed seeds the stream, the teacher's training and the runs. Each step shows its progress on
# stderr. DIR defaults to runs/fraud-<time>.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="" days=182 customers=5000 train_days=35 epochs=6 fraction=0.05 seed=1 compare=0
build="$root/build"
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --customers) customers=$2; shift 2 ;;
    --train-days) train_days=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --label-fraction) fraction=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --compare) compare=1; shift ;;
    --build) build=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
apprentice="$build/apps/apprentice"
[ -x "$apprentice" ] || { echo "run.sh: $apprentice not found: build first (scripts/build.sh)" >&2; exit 2; }
python=/usr/bin/python3
[ -x "$python" ] || python=python3
out=${out:-runs/fraud-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
terminals=$((customers * 2))
start=$(date +%s)

echo "== 1/3 the stream ($days days, $customers cards)" >&2
"$apprentice" fraud generate --out "$out/fraud.data" --days "$days" --customers "$customers" \
  --terminals "$terminals" --seed "$seed"
echo "== 2/3 the teacher (days before $train_days)" >&2
"$python" "$root/examples/fraud/train_teacher.py" "$out/fraud.data" --out "$out/teacher.pt" \
  --train-days "$train_days" --epochs "$epochs" --seed "$seed" | tee "$out/teacher.json"
echo "== 3/3 the loop" >&2
run() {  # NAME FLAGS...
  local name=$1
  shift
  "$apprentice" fraud run --data "$out/fraud.data" --teacher "$out/teacher.pt" \
    --serve-from-day "$train_days" --label-fraction "$fraction" --seed "$seed" \
    --run-dir "$out/$name" \
    --json "$@" >"$out/$name.json"
}
run distill
if [ "$compare" = 1 ]; then
  run random --label-policy random
  run disagreement --label-policy disagreement
  run truth --training truth
  run teacher-labels --training teacher
fi
"$python" - "$out" "$compare" <<'PY'
import json, os, sys
out, compare = sys.argv[1], sys.argv[2] == "1"
rows = [("distill", "soft targets + delayed ground truth, uncertainty selection")]
if compare:
    rows += [("random", "soft targets + delayed ground truth, random selection"),
             ("disagreement", "soft targets + delayed ground truth, disagreement selection"),
             ("truth", "delayed ground truth only (no teacher)"),
             ("teacher-labels", "the teacher's hard labels only (no ground truth)")]
first = json.load(open(os.path.join(out, "distill.json")))
print(f"test window: days {first['test_days'][0]}-{first['test_days'][1]}, "
      f"{first['executor']['payments']} payments, {first['executor']['frauds']} frauds")
print(f"{'executor trained on':62} {'AP':>6} {'P@100':>6} {'R@1%':>6} {'labels':>8}")
for name, what in rows:
    s = json.load(open(os.path.join(out, name + ".json")))
    e = s["executor"]
    print(f"{what:62} {e['average_precision']:6.3f} {e['card_precision_at_100']:6.3f} "
          f"{e['recall_at_fpr_1pct']:6.3f} {s['teacher_labels']:8d}")
t = first["teacher"]
print(f"{'the teacher alone, scored offline':62} {t['average_precision']:6.3f} "
      f"{t['card_precision_at_100']:6.3f} {t['recall_at_fpr_1pct']:6.3f} {'-':>8}")
lat = first["latency_us"]
print(f"executor p50/p99 {lat['executor_service_p50']:.1f}/{lat['executor_service_p99']:.1f} us "
      f"service-side; teacher p50 {lat['teacher_p50'] / 1000:.1f} ms per batch")
PY
echo "run.sh: done in $(( $(date +%s) - start )) s; files in $out" >&2
