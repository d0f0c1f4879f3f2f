#!/usr/bin/env bash
# Installs every package apprentice needs to build and test, from Debian's archive.
# Idempotent: packages already present are left alone, and apt is not touched at all
# when everything is installed. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev
  libboost-dev
  libzmq3-dev cppzmq-dev
  libmsgpack-cxx-dev
  libflatbuffers-dev flatbuffers-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libmujoco-dev libmujoco-samples libeigen3-dev
  python3 python3-zmq python3-msgpack python3-torch
  python3-dev python3-numpy pybind11-dev
  libjs-chart.js chromium
  nats-server libnats-dev openssl python3-cryptography
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
