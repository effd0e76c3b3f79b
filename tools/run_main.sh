#!/usr/bin/env bash
# The main job on the bundled default model (stories260K): model info, a generated story, TinyStories perplexity.
# Usage: tools/run_main.sh [--model DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh release --target dsla >/dev/null
dsla=build/release/src/dsla
assets="${DSLA_ASSETS:-$(cd .. && pwd)/shared/assets}"
echo "== dsla info"
$dsla info "$@"
echo "== dsla generate (greedy, 200 tokens from BOS)"
$dsla generate -n 200 "$@"
echo "== dsla ppl (TinyStories validation sample)"
$dsla ppl --file "$assets/datasets/tinystories_val_sample/tinystories_val.txt" --context 255 "$@"
