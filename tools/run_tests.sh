#!/usr/bin/env bash
# The whole test suite on a fresh or warm machine: set-up, SmolLM2 conversion, build, ctest.
# Usage: tools/run_tests.sh [preset [ctest args...]]   (release by default; asan for the sanitizer build)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
start=$(date +%s)
bash tools/build.sh "$preset"
# The real teacher (SmolLM2-135M-Instruct) is converted once into the cache; its tests skip if this fails.
if [ -x tools/fetch_smollm2.sh ]; then
  bash tools/fetch_smollm2.sh || echo "[tests] warning: SmolLM2 conversion failed; its tests will be skipped"
fi
echo "[tests] running ctest ($preset) after $(( $(date +%s) - start )) s of set-up and build"
ctest_start=$(date +%s)
ctest --preset "$preset" "$@"
echo "[tests] ctest took $(( $(date +%s) - ctest_start )) s"
echo "[tests] total $(( $(date +%s) - start )) s"
