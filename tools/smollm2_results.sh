#!/usr/bin/env bash
# The quality runs of docs/results.md on SmolLM2-135M: DSLA in sensitivity order to 100% of the layers, and to 50%
# the naive order (deepest first), single-state GLA and the state-matched sliding-window baseline; then the table and
# plot. Each run resumes where it stopped. Usage: tools/smollm2_results.sh [extra dsla distill options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh release --target dsla >/dev/null
bash tools/fetch_smollm2.sh >/dev/null
dsla=build/release/src/dsla
recipe=recipes/smollm2_135m/distill.yaml
$dsla distill $recipe --run-dir runs/smollm2_dual --set distill.fraction=1.0 --resume "$@"
$dsla distill $recipe --run-dir runs/smollm2_deepest_first --set distill.order=deepest_first --resume "$@"
$dsla distill $recipe --run-dir runs/smollm2_single --set dsla.variant=single --resume "$@"
$dsla distill $recipe --run-dir runs/smollm2_sliding_window --set dsla.variant=sliding_window --resume "$@"
venv="${DSLA_VENV:-${DSLA_HOME:-$HOME/.cache/dsla}/torch-2.11.0}"
"$venv/bin/python" tools/results_table.py docs/results_smollm2.png runs/smollm2_dual runs/smollm2_deepest_first \
  runs/smollm2_single runs/smollm2_sliding_window
