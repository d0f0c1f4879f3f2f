#!/usr/bin/env bash
# The build's layering, checked on the sources (docs/layout.md):
# - a layer includes only itself and the layers below it;
# - LibTorch headers appear only in the distiller's .cc files and in bench/.
# usage: layering_test.sh REPO_ROOT
set -u
root=$1
cd "$root" || exit 1
order=(core env replay executor planner distiller runtime apps)
declare -A allowed=(
  [core]="core"
  [env]="core env"
  [replay]="core replay"
  [executor]="core executor"
  [planner]="core env planner"
  [distiller]="core replay executor distiller"
  [runtime]="core env replay executor planner distiller runtime"
  [apps]="core env replay executor planner distiller runtime apps"
)
failures=0
for layer in "${order[@]}"; do
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"$line")
    if [[ " ${order[*]} " == *" $inc "* ]] && [[ " ${allowed[$layer]} " != *" $inc "* ]]; then
      echo "layering: $file includes $inc/, above or beside $layer/"
      failures=$((failures + 1))
    fi
  done < <(grep -rHnE --include='*.h' --include='*.cc' '^#include "[a-z_]+/' "$layer" 2>/dev/null)
done
while IFS= read -r file; do
  case "$file" in
    distiller/*.cc | bench/*) ;;
    *) echo "layering: $file includes LibTorch (only distiller/*.cc and bench/ may)"
       failures=$((failures + 1)) ;;
  esac
done < <(grep -rlE '#include <(torch|ATen|c10)/' --include='*.h' --include='*.cc' \
  core env replay executor planner distiller runtime apps examples tests bench 2>/dev/null)
if [ "$failures" -ne 0 ]; then exit 1; fi
echo "layering ok"
