#!/usr/bin/env bash
# The fraud loop from the command line: `apprentice fraud generate` writes a stream,
# examples/fraud/train_teacher.py (Debian's PyTorch) trains a teacher on it, `apprentice serve`
# accepts that teacher for the 15 features and 2 classes and refuses it for another size, and
# `apprentice fraud run` replays the stream through the service and measures. Files that are not
# datasets or teachers are refused with what is wrong.
#
# usage: fraud_teacher_test.sh APPRENTICE REPO_ROOT PYTHON
set -u
apprentice=$1 root=$2 python=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "fraud_teacher_test: $*"; exit 1; }

"$apprentice" fraud generate --out "$work/data.fraud" --days 30 --customers 800 --terminals 1600 \
  --json >"$work/generate.json" 2>"$work/generate.err" || fail "generate failed: $(cat "$work/generate.err")"
grep -q '"frauds"' "$work/generate.json" || fail "no summary: $(cat "$work/generate.json")"
"$python" "$root/examples/fraud/train_teacher.py" "$work/data.fraud" --out "$work/teacher.pt" \
  --train-days 21 --hidden 32,32 --epochs 1 >"$work/train.json" 2>"$work/train.err" \
  || fail "train_teacher failed: $(cat "$work/train.err")"
grep -q '"validation_average_precision"' "$work/train.json" || fail "no report: $(cat "$work/train.json")"

"$apprentice" serve --observation-size 15 --actions 2 --torchscript-model "$work/teacher.pt" \
  --bind 'tcp://127.0.0.1:*' --duration-s 0.3 --status-every-s 0 >/dev/null 2>"$work/serve.err" \
  || fail "serve refused the teacher: $(cat "$work/serve.err")"
out=$("$apprentice" serve --observation-size 14 --actions 2 --torchscript-model "$work/teacher.pt" 2>&1)
[ $? -eq 2 ] || fail "serve took a teacher of the wrong input size"
grep -q "cannot take a batch of observations of 14 values" <<<"$out" || fail "unclear refusal: $out"

# The loop: the stream from day 14 through the service, 10 % labelled by the teacher, chargebacks
# 7 stream days later; the summary measures the executor and the teacher on the last 7 days.
"$apprentice" fraud run --data "$work/data.fraud" --teacher "$work/teacher.pt" --serve-from-day 14 \
  --test-days 7 --label-fraction 0.1 --min-replay 64 --run-dir "$work/run" --json \
  >"$work/run.json" 2>"$work/run.err" || fail "fraud run failed: $(cat "$work/run.err")"
"$python" - "$work/run.json" <<'PY' || fail "fraud run summary: $(cat "$work/run.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert 0.05 < s["teacher_labelled_share"] < 0.15, s["teacher_labelled_share"]
assert s["chargebacks_sent"] > 0 and s["ground_truth_joined"] > 0, s
assert s["train_steps"] > 0 and s["executor_version"] > 0, s
for side in ("executor", "teacher"):
    assert 0.0 <= s[side]["average_precision"] <= 1.0, s[side]
    assert s[side]["frauds"] > 0, s[side]
print("fraud run: executor AP %.3f, teacher AP %.3f, %.1f %% labelled" % (
    s["executor"]["average_precision"], s["teacher"]["average_precision"],
    100 * s["teacher_labelled_share"]))
PY
[ -s "$work/run/summary.json" ] && [ -s "$work/run/executor.snap" ] || fail "no run directory files"
grep -q "fraud run: days 14-20" "$work/run.err" || fail "no weekly progress: $(cat "$work/run.err")"
# Feature distillation: the teacher exports its last hidden layer (features()), which the loop
# asks for with --feature-weight.
"$apprentice" fraud run --data "$work/data.fraud" --teacher "$work/teacher.pt" --serve-from-day 14 \
  --test-days 7 --label-fraction 0.1 --min-replay 64 --feature-weight 0.5 --json \
  >"$work/features.json" 2>"$work/features.err" \
  || fail "fraud run with --feature-weight failed: $(cat "$work/features.err")"
grep -q '"train_steps"' "$work/features.json" || fail "no summary: $(cat "$work/features.json")"
out=$("$apprentice" fraud run --data "$work/data.fraud" --teacher "$work/data.fraud" \
  --serve-from-day 14 --test-days 7 2>&1)
[ $? -eq 2 ] || fail "fraud run took a dataset as its teacher"
grep -q "cannot load" <<<"$out" || fail "unclear refusal of the teacher: $out"
out=$("$apprentice" fraud run --data "$work/generate.json" --training truth 2>&1)
[ $? -eq 2 ] || fail "fraud run took a JSON file as its dataset"
grep -q "no APFRAUD1 magic" <<<"$out" || fail "unclear refusal of the dataset: $out"

echo "not a dataset" >"$work/text.fraud"
out=$("$python" "$root/examples/fraud/train_teacher.py" "$work/text.fraud" --out "$work/x.pt" 2>&1)
[ $? -eq 1 ] || fail "train_teacher took a text file"
grep -q "not a fraud dataset" <<<"$out" || fail "unclear refusal: $out"
echo "fraud_teacher_test: ok"
