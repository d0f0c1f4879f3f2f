#!/usr/bin/env bash
# The fraud loop's pieces from the command line: `apprentice fraud generate` writes a stream,
# examples/fraud/train_teacher.py (Debian's PyTorch) trains a teacher on it, and `apprentice serve`
# accepts that teacher for the 15 features and 2 classes and refuses it for another size. A file
# that is not a dataset is refused by both.
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

echo "not a dataset" >"$work/text.fraud"
out=$("$python" "$root/examples/fraud/train_teacher.py" "$work/text.fraud" --out "$work/x.pt" 2>&1)
[ $? -eq 1 ] || fail "train_teacher took a text file"
grep -q "not a fraud dataset" <<<"$out" || fail "unclear refusal: $out"
echo "fraud_teacher_test: ok"
