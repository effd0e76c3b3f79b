#!/usr/bin/env bash
# Sets up the machine (tools/setup.sh) and builds dsla with a CMake preset (default: release).
# Usage: tools/build.sh [preset] [extra cmake --build args]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
bash tools/setup.sh
DSLA_HOME="${DSLA_HOME:-$HOME/.cache/dsla}"
DSLA_VENV="${DSLA_VENV:-$DSLA_HOME/torch-2.11.0}"
export DSLA_TORCH_CMAKE_PREFIX="$("$DSLA_VENV/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)"
if [ ! -f "build/$preset/build.ninja" ]; then
  echo "[build] configuring preset $preset"
  cmake --preset "$preset" > "build-$preset-configure.log" 2>&1 || { cat "build-$preset-configure.log"; exit 1; }
  mkdir -p "build/$preset" && mv "build-$preset-configure.log" "build/$preset/configure.log"
fi
# ccache keys on paths relative to the checkout, so a cache filled in one checkout serves another.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
echo "[build] building preset $preset"
start=$(date +%s)
cmake --build --preset "$preset" "$@"
echo "[build] preset $preset built in $(( $(date +%s) - start )) s"
