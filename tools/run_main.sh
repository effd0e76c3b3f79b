#!/usr/bin/env bash
# The main job on the bundled default model (stories260K): profile the layers, distill them one at a time into DSLA,
# summarise the run, export the hybrid and generate from it.
# Usage: tools/run_main.sh [RECIPE] [dsla distill options, e.g. --set distill.fraction=0.6]
# A finished run is reused (--resume); delete the run directory (runs/stories260k) to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh release --target dsla >/dev/null
dsla=build/release/src/dsla
recipe="${1:-recipes/stories260k/distill.yaml}"
[ $# -gt 0 ] && shift
run_dir="$($dsla validate "$recipe" "$@" 2>/dev/null | sed -n '/^run:/,$ s/^  dir: //p' | head -1)"
echo "== dsla validate $recipe"
$dsla validate "$recipe" "$@" >/dev/null
echo "== dsla distill $recipe (profiling first when the run has no sensitivity.json)"
$dsla distill "$recipe" --resume "$@"
echo "== summary ($run_dir/report.md)"
cat "$run_dir/report.md"
echo
echo "== dsla export -> $run_dir/export"
$dsla export --run "$run_dir" --out "$run_dir/export"
echo "== dsla generate from the export (greedy, 100 tokens)"
$dsla generate --model "$run_dir/export" -p "Once upon a time" -n 100
echo "== dsla ppl of the export (TinyStories sample, 255-token windows)"
assets="${DSLA_ASSETS:-$(cd .. && pwd)/shared/assets}"
$dsla ppl --model "$run_dir/export" --file "$assets/datasets/tinystories_val_sample/cs336_tinystories_sample.txt" --context 255
