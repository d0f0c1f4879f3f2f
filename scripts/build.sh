#!/usr/bin/env bash
# Configures and builds apprentice (Release) into build/, with two jobs.
# Extra arguments go to CMake's configure step, e.g. -DAPPRENTICE_SANITIZE=thread.
# BUILD_DIR overrides the build folder; TARGETS (space-separated) builds only those targets.
# A full build of build/ also puts the Python module on python3's path (scripts/python-path.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
generator=()
if command -v ninja >/dev/null 2>&1 && [ ! -f "$build_dir/Makefile" ]; then generator=(-G Ninja); fi
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j "${JOBS:-2}" "${targets[@]}"
if [ -z "${TARGETS:-}" ] && [ "$build_dir" = build ]; then bash scripts/python-path.sh "$build_dir"; fi
