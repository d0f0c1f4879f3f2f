#!/usr/bin/env bash
# Fresh machine to a full test run: installs what is needed, builds, and runs every test with
# CTest (two at a time). This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j 2 --timeout 900
