#!/usr/bin/env bash
# Fresh machine to first live distillation: installs what is needed, builds, and runs
# `apprentice run` with its defaults (CartPole, MCTS teacher, seed 1). Extra arguments go to
# `apprentice run`, e.g. scripts/demo.sh --seed 2 --summary-json s.json
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
exec build/apps/apprentice run "$@"
