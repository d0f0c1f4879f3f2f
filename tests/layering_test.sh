#!/usr/bin/env bash
# The build's layering (docs/layout.md), checked on the sources and on the link graph CMake
# produces:
# - a layer includes only itself and the layers it may depend on, in every include form
#   ("x/y.h", <x/y.h>, indented, with spaces after '#');
# - LibTorch headers appear only in the distiller's .cc files and in bench/;
# - in the link graph (cmake --graphviz of a fresh configure), a layer's library links only the
#   layers it may depend on, only the distiller and its benchmark link LibTorch directly, and the
#   torch-free layers and the torch-free example reach no LibTorch library at all.
#
# usage: layering_test.sh REPO_ROOT             the checks above
#        layering_test.sh --self-test REPO_ROOT plants an upward include in each form, an upward
#                                               link edge and a LibTorch link edge into a copy of
#                                               the sources, and expects each to be caught
set -u

order=(core env replay executor planner agent nats distiller learner runtime service fraud apps python)
declare -A allowed=(
  [core]="core"
  [env]="core env"
  [replay]="core replay"
  [executor]="core executor"
  [planner]="core env planner"
  [agent]="core env replay executor planner agent"
  [nats]="core env replay executor planner agent nats"
  [distiller]="core replay executor distiller"
  [learner]="core replay executor agent distiller learner"
  [runtime]="core env replay executor planner agent nats distiller learner runtime"
  [service]="core env replay executor planner agent service"
  [fraud]="core env fraud"
  [apps]="core env replay executor planner agent nats distiller learner runtime service fraud apps"
  [python]="core env replay executor planner agent nats distiller learner runtime fraud python"
)
# Layers whose libraries must not reach LibTorch, and executables that must not either.
torch_free_layers="core env replay executor planner agent nats service fraud"
torch_free_targets="agent_without_torch"
# The only targets that may link LibTorch directly.
torch_linkers="apprentice_distiller apprentice_torchscript executor_bench"

# check_includes ROOT: prints every include that breaks the layering; returns their count.
check_includes() {
  local root=$1 failures=0 layer file inc line
  for layer in "${order[@]}"; do
    [ -d "$root/$layer" ] || continue
    while IFS= read -r line; do
      file=${line%%:*}
      inc=$(sed -E 's/^[^:]*:[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([a-z_]+)\/.*/\1/' <<<"$line")
      if [[ " ${order[*]} " == *" $inc "* ]] && [[ " ${allowed[$layer]} " != *" $inc "* ]]; then
        echo "layering: ${file#"$root"/} includes $inc/, which $layer/ may not depend on"
        failures=$((failures + 1))
      fi
    done < <(grep -rHnE --include='*.h' --include='*.cc' \
               '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<][a-z_]+/' "$root/$layer" 2>/dev/null)
  done
  while IFS= read -r file; do
    case "${file#"$root"/}" in
      distiller/*.cc | planner/torchscript/*.cc | bench/*) ;;
      *) echo "layering: ${file#"$root"/} includes LibTorch (only distiller/*.cc, planner/torchscript/*.cc and bench/ may)"
         failures=$((failures + 1)) ;;
    esac
  done < <(cd "$root" && grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<](torch|ATen|c10)/' \
             --include='*.h' --include='*.cc' . 2>/dev/null | grep -v '^\./build' | sed "s|^\./|$root/|")
  [ "$failures" -eq 0 ]
}

# check_links ROOT: configures ROOT into a temporary build directory with --graphviz and checks
# the link graph; prints every broken rule; returns their count (or 1 if CMake fails).
check_links() {
  local root=$1 work
  work=$(mktemp -d)
  if ! cmake -S "$root" -B "$work/build" --graphviz="$work/graph.dot" \
       -DAPPRENTICE_BUILD_TESTS=ON -DAPPRENTICE_BUILD_BENCH=ON -DAPPRENTICE_BUILD_EXAMPLES=ON \
       >"$work/cmake.log" 2>&1; then
    echo "layering: cmake failed on $root:"; tail -20 "$work/cmake.log"
    rm -rf "$work"
    return 1
  fi
  local failures
  failures=$(awk -v layers="${order[*]}" -v torch_free="$torch_free_layers" \
      -v torch_free_targets="$torch_free_targets" -v torch_linkers="$torch_linkers" \
      -v allowed_core="${allowed[core]}" -v allowed_env="${allowed[env]}" \
      -v allowed_replay="${allowed[replay]}" -v allowed_executor="${allowed[executor]}" \
      -v allowed_planner="${allowed[planner]}" -v allowed_agent="${allowed[agent]}" \
      -v allowed_nats="${allowed[nats]}" \
      -v allowed_distiller="${allowed[distiller]}" -v allowed_learner="${allowed[learner]}" \
      -v allowed_runtime="${allowed[runtime]}" -v allowed_service="${allowed[service]}" \
      -v allowed_fraud="${allowed[fraud]}" -v allowed_apps="${allowed[apps]}" \
      -v allowed_python="${allowed[python]}" '
    function layer_of(name,   l) {  # apprentice_env_whole -> env; other targets -> ""
      if (name !~ /^apprentice_/) return ""
      l = substr(name, 12); sub(/_whole$/, "", l)
      return (l in is_layer) ? l : ""
    }
    function is_torch(n) { return raw[n] ~ /label = "[^"]*(^|[\/"=,])(lib)?(torch|c10|caffe2)/ }
    function reaches_torch(n,   i, m) {
      if (n in memo) return memo[n]
      memo[n] = 0
      if (is_torch(n)) return memo[n] = 1
      for (i = 1; i <= nout[n]; i++) { m = out[n, i]; if (reaches_torch(m)) return memo[n] = 1 }
      return memo[n]
    }
    BEGIN {
      split(layers, L, " "); for (i in L) is_layer[L[i]] = 1
      allowed["core"] = allowed_core; allowed["env"] = allowed_env
      allowed["replay"] = allowed_replay; allowed["executor"] = allowed_executor
      allowed["planner"] = allowed_planner; allowed["agent"] = allowed_agent
      allowed["nats"] = allowed_nats
      allowed["distiller"] = allowed_distiller; allowed["learner"] = allowed_learner
      allowed["runtime"] = allowed_runtime; allowed["service"] = allowed_service
      allowed["fraud"] = allowed_fraud; allowed["apps"] = allowed_apps
      allowed["python"] = allowed_python
      split(torch_linkers, T, " "); for (i in T) may_link_torch[T[i]] = 1
      failures = 0
    }
    /^[[:space:]]*"node[0-9]+" \[ label = / {
      id = $1; gsub(/"/, "", id)
      name = $0; sub(/^[^=]*= "/, "", name); sub(/(\\n|").*$/, "", name)
      label[id] = name
      raw[id] = $0
    }
    /^[[:space:]]*"node[0-9]+" -> "node[0-9]+"/ {
      from = $1; to = $3; gsub(/"/, "", from); gsub(/"/, "", to)
      out[from, ++nout[from]] = to
    }
    END {
      for (n in label) {
        name = label[n]; lf = layer_of(name)
        for (i = 1; i <= nout[n]; i++) {
          dep = label[out[n, i]]; ld = layer_of(dep)
          if (lf != "" && ld != "" && index(" " allowed[lf] " ", " " ld " ") == 0) {
            print "layering: link edge " name " -> " dep ": " lf "/ may not depend on " ld "/"
            failures++
          }
          if (is_torch(out[n, i]) && !(name in may_link_torch)) {
            print "layering: " name " links LibTorch (" dep ") directly; only the distiller may"
            failures++
          }
        }
        if ((lf != "" && index(" " torch_free " ", " " lf " ") > 0) ||
            index(" " torch_free_targets " ", " " name " ") > 0) {
          if (reaches_torch(n)) {
            print "layering: " name " reaches LibTorch through its links; it must build without it"
            failures++
          }
        }
      }
      print failures > "/dev/stderr"
    }' "$work/graph.dot" 2>"$work/count")
  [ -n "$failures" ] && echo "$failures"
  local count
  count=$(cat "$work/count")
  rm -rf "$work"
  [ "${count:-1}" -eq 0 ]
}

self_test() {
  local root=$1 work copy failures=0 form
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  copy="$work/src"
  mkdir -p "$copy"
  # The sources only (no build trees, no git data).
  (cd "$root" && tar cf - --exclude='./build*' --exclude='./.git' --exclude='./runs' .) |
    (cd "$copy" && tar xf -)
  if ! check_includes "$copy" >/dev/null; then
    echo "self-test: the unmodified copy fails the include check"; return 1
  fi
  for form in '#include "agent/agent.h"' '#include <agent/agent.h>' '   #include "agent/agent.h"' \
              '#  include "agent/agent.h"' '#include <torch/torch.h>'; do
    cp "$copy/core/space.cc" "$work/space.cc"
    printf '%s\n' "$form" >>"$copy/core/space.cc"
    if check_includes "$copy" >"$work/out"; then
      echo "self-test: a planted '$form' in core/space.cc was not caught"
      failures=$((failures + 1))
    else
      echo "self-test: caught '$form': $(head -1 "$work/out")"
    fi
    cp "$work/space.cc" "$copy/core/space.cc"
  done
  local edge
  for edge in 'target_link_libraries(apprentice_core PRIVATE apprentice_agent)' \
              'target_link_libraries(apprentice_agent PRIVATE ${TORCH_LIBRARIES})'; do
    cp "$copy/CMakeLists.txt" "$work/CMakeLists.txt"
    printf '%s\n' "$edge" >>"$copy/CMakeLists.txt"
    if check_links "$copy" >"$work/out"; then
      echo "self-test: a planted '$edge' was not caught"
      failures=$((failures + 1))
    else
      echo "self-test: caught '$edge': $(grep -m1 layering: "$work/out")"
    fi
    cp "$work/CMakeLists.txt" "$copy/CMakeLists.txt"
  done
  return "$failures"
}

usage() { sed -n '11,14p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --self-test) [ $# -eq 2 ] || { usage >&2; exit 2; } ;;
  "") usage >&2; exit 2 ;;
esac
if [ ! -d "${!#}/core" ]; then
  echo "layering: ${!#} is not the repository root (no core/ in it)" >&2
  exit 2
fi

if [ "$1" = "--self-test" ]; then
  self_test "$2"
  rc=$?
  [ "$rc" -eq 0 ] && echo "layering self-test ok"
  exit "$rc"
fi

root=$1
check_includes "$root"
include_failures=$?
check_links "$root"
link_failures=$?
if [ "$include_failures" -ne 0 ] || [ "$link_failures" -ne 0 ]; then exit 1; fi
echo "layering ok"
