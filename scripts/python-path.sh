#!/usr/bin/env bash
# Puts the `apprentice` Python module (built into BUILD_DIR/python) and python/ (apprentice_env,
# the remote-env server) on the path of Debian's python3: one apprentice.pth file in its
# site-packages (or, without write access there, in the user's site-packages). Idempotent.
# usage: scripts/python-path.sh [BUILD_DIR]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=$(cd "${1:-build}" && pwd)
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
site=$("$python" -c 'import site; print(site.getsitepackages()[0])')
if ! { mkdir -p "$site" && [ -w "$site" ]; } 2>/dev/null; then
  site=$("$python" -m site --user-site)
  mkdir -p "$site"
fi
printf '%s\n%s\n' "$build_dir/python" "$root/python" >"$site/apprentice.pth"
echo "python-path: $site/apprentice.pth -> $build_dir/python, $root/python"
