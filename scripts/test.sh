#!/usr/bin/env bash
# Fresh machine to a full test run: installs what is needed, builds, and runs every test with
# CTest (two at a time); then builds the concurrency tests (executor, replay, agent, learner, the
# planners' rollout threads) with
# ThreadSanitizer into build-tsan/ and runs them there (label "concurrency"), and the damage and
# garbage tests (episode logs, snapshot files, JSON and space parsers, the decision service's
# protocol on a real socket, the remote env's replies, MuJoCo model files; label "damage") and the
# executor's and agent's concurrency tests with AddressSanitizer and UBSan into build-asan/. This
# is what CI runs (.ci/run).
# SKIP_TSAN=1 / SKIP_ASAN=1 skip the sanitizer parts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j 2 --timeout 900
sanitizer_flags=(-DAPPRENTICE_BUILD_BENCH=OFF -DAPPRENTICE_BUILD_EXAMPLES=OFF)
if [ "${SKIP_TSAN:-0}" != 1 ]; then
  echo "== ThreadSanitizer: the concurrency tests"
  BUILD_DIR=build-tsan TARGETS="executor_test replay_test agent_test learner_test planner_test" \
    bash scripts/build.sh -DAPPRENTICE_SANITIZE=thread "${sanitizer_flags[@]}"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
    ctest --test-dir build-tsan -L concurrency --output-on-failure -j 2 --timeout 900
fi
if [ "${SKIP_ASAN:-0}" != 1 ]; then
  echo "== AddressSanitizer + UBSan: the damage and garbage tests, the executor and the agent"
  BUILD_DIR=build-asan TARGETS="episode_log_test executor_test core_test agent_test service_test mujoco_test remote_env_test nats_wire_test" \
    bash scripts/build.sh -DAPPRENTICE_SANITIZE=address "${sanitizer_flags[@]}"
  ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" \
    ctest --test-dir build-asan -L 'damage|concurrency' --output-on-failure -j 2 --timeout 900
fi
