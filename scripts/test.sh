#!/usr/bin/env bash
# Fresh machine to a full test run: installs what is needed, builds, and runs every test with
# CTest (two at a time); then builds the concurrency tests (executor, replay, agent) with
# ThreadSanitizer into build-tsan/ and runs them there. This is what CI runs (.ci/run).
# SKIP_TSAN=1 skips the second part.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j 2 --timeout 900
if [ "${SKIP_TSAN:-0}" != 1 ]; then
  echo "== ThreadSanitizer: the concurrency tests"
  BUILD_DIR=build-tsan TARGETS="executor_test replay_test agent_test" bash scripts/build.sh \
    -DAPPRENTICE_SANITIZE=thread -DAPPRENTICE_BUILD_BENCH=OFF -DAPPRENTICE_BUILD_EXAMPLES=OFF
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
    ctest --test-dir build-tsan -L concurrency --output-on-failure -j 2 --timeout 900
fi
