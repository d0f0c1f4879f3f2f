#!/usr/bin/env bash
# `apprentice report` end to end: a sync run and a 1 kHz reflex run each get a page, and both
# together an overlay; headless Chromium (Debian's chromium) opens every page, runs its scripts
# and dumps the DOM, where the page has written what it drew (#report-check): no script error,
# every plot with points, and with two runs every plot with points of both. A run whose metrics
# line and log are damaged still gets its page, with the problems listed. Bad input: a missing
# directory, a directory that is not a run, a bad flag value.
#
# usage: report_test.sh APPRENTICE PYTHON
set -u
apprentice=$1 python=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "report_test: $*"; exit 1; }

chromium=$(command -v chromium || command -v chromium-browser) \
  || fail "chromium is needed to check the page (apt-get install chromium; scripts/install-deps.sh)"

"$apprentice" run --steps 1500 --min-replay 64 --eval-episodes 2 --planner-eval-episodes 1 \
  --mcts-simulations 64 --metrics-interval-ms 100 --run-dir "$work/sync" --quiet >/dev/null \
  || fail "the sync run failed"
"$apprentice" run --mode reflex --rate-hz 1000 --steps 2500 --min-replay 64 --eval-episodes 2 \
  --planner-eval-episodes 1 --mcts-simulations 64 --metrics-interval-ms 200 \
  --run-dir "$work/reflex" --quiet >/dev/null || fail "the reflex run failed"

# check_page PAGE RUNS: the page renders without errors and every plot holds points of RUNS runs.
cat >"$work/check.py" <<'EOF'
import html, json, re, sys
runs, page = int(sys.argv[1]), sys.argv[2]
dom = sys.stdin.read()
m = re.search(r'<pre id="report-check"[^>]*>(.*?)</pre>', dom, re.S)
if not m or not m.group(1).strip():
    sys.exit(f"{page}: no report check in the rendered page (the script did not finish)")
check = json.loads(html.unescape(m.group(1)))
problems = []
if check.get("errors"):
    problems.append(f"script errors: {check['errors']}")
if check.get("runs") != runs:
    problems.append(f"{check.get('runs')} runs drawn, expected {runs}")
expected = ["agreement", "loss", "labels", "executor_return", "episode_returns",
            "executor_version", "queue", "deadline_misses", "latency_over_time",
            "latency_act", "latency_planner", "latency_train"]
for name in expected:
    c = check["charts"].get(name)
    if c is None:
        problems.append(f"no chart {name}")
    elif c["points"] == 0 or c["runs_with_points"] != runs:
        problems.append(f"chart {name}: {c['points']} points from {c['runs_with_points']} of {runs} runs")
for p in problems:
    print(f"{page}: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
check_page() {
  local page=$1 runs=$2 dom
  dom=$(timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --user-data-dir="$work/chromium" --virtual-time-budget=20000 --dump-dom "file://$page" \
        2>"$work/chromium.err") || fail "chromium failed on $page: $(tail -5 "$work/chromium.err")"
  "$python" "$work/check.py" "$runs" "$page" <<<"$dom" || fail "the page $page does not hold its plots"
}

for run in sync reflex; do
  "$apprentice" report "$work/$run" --out "$work/$run.html" --quiet >"$work/$run.out" \
    || fail "report on the $run run failed: $(cat "$work/$run.out")"
  grep -q "wrote $work/$run.html" "$work/$run.out" || fail "no table: $(cat "$work/$run.out")"
  check_page "$work/$run.html" 1
done
"$apprentice" report "$work/sync" "$work/reflex" --out "$work/both.html" --title 'sync <vs> reflex' \
  --json --quiet >"$work/both.json" || fail "the overlay failed: $(cat "$work/both.json")"
check_page "$work/both.html" 2
"$python" -c "
import json, sys
j = json.load(open('$work/both.json'))
assert [r['summary']['mode'] for r in j['runs']] == ['sync', 'reflex'], j['runs']
assert j['bytes'] > 100000, j['bytes']
" || fail "the overlay's JSON is not what was drawn: $(head -c 600 "$work/both.json")"
grep -q '<title>sync &lt;vs&gt; reflex</title>' "$work/both.html" || fail "the title is not escaped"
grep -qE '<script[^>]+src=|<link[^>]+href=|<img[^>]+src=' "$work/both.html" \
  && fail "the page loads another file"

# Damage: a metrics line that is not JSON and a torn log segment are listed, not fatal.
cp -r "$work/sync" "$work/damaged"
echo '{"t": 1, "steps": ' >>"$work/damaged/metrics.jsonl"
segment=$(ls "$work/damaged/logs/"*.alog | head -1)
size=$(stat -c %s "$segment")
"$python" -c "
import sys
path, at = sys.argv[1], int(sys.argv[2]) // 2
data = bytearray(open(path, 'rb').read())
data[at:at + 16] = b'\xff' * 16
open(path, 'wb').write(data)
" "$segment" "$size"
"$apprentice" report "$work/damaged" --out "$work/damaged.html" --json --quiet >"$work/damaged.json" \
  || fail "report refused a damaged run: $(cat "$work/damaged.json")"
grep -q 'metrics.jsonl line' "$work/damaged.json" || fail "the bad metrics line is not listed"
grep -q 'damaged at byte' "$work/damaged.json" || fail "the log damage is not listed"
check_page "$work/damaged.html" 1

# Bad input.
out=$("$apprentice" report "$work/nothing" --out "$work/x.html" --quiet 2>&1)
[ $? -eq 1 ] && grep -q "does not exist" <<<"$out" || fail "a missing directory: $out"
mkdir "$work/empty"
out=$("$apprentice" report "$work/empty" --out "$work/x.html" --quiet 2>&1)
[ $? -eq 1 ] && grep -q "is not a run directory" <<<"$out" || fail "not a run directory: $out"
out=$("$apprentice" report "$work/sync" --max-points 1 2>&1)
[ $? -eq 2 ] && grep -q -- "--max-points" <<<"$out" || fail "a bad --max-points: $out"
out=$("$apprentice" report --out "$work/x.html" 2>&1)
[ $? -eq 2 ] && grep -q "give one or more run directories" <<<"$out" || fail "no directory: $out"
out=$("$apprentice" report "$work/sync" --out /nonexistent/dir/r.html 2>&1)
[ $? -eq 2 ] && grep -q -- "--out" <<<"$out" || fail "an unwritable --out: $out"
[ -e "$work/x.html" ] && fail "a failed report left a page behind"
echo "report_test: ok"
