#!/usr/bin/env bash
# Fails when a tracked C++/CUDA file differs from what clang-format (repo .clang-format) would write.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' 2>/dev/null || find src csrc_kernels tests tools -name '*.cpp' -o -name '*.h' -o -name '*.cu')
bad=$(for f in $files; do clang-format --dry-run "$f" 2>&1 | grep -q warning && echo "$f"; done || true)
if [ -n "$bad" ]; then
  echo "not clang-formatted (run clang-format -i):"; echo "$bad"
  echo "0 passed, 1 failed"; exit 1
fi
echo "clang-format: $(echo $files | wc -w) files clean"
echo "1 passed, 0 failed"
