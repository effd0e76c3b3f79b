#!/usr/bin/env bash
# The quality runs of docs/results.md on SmolLM2-135M: the recipe (all 30 layers, sensitivity order, evaluated every
# 5 stages), then the ablations to 50% of the layers, each evaluated at its last stage: the deepest-first order, the
# single gated state, no exact window, the paper's layer form, and the softmax sliding window with the same cache
# bytes; then the table and plot. Each run resumes at its last completed stage (a parallel-transfer phase cut short
# starts again; it takes 25-50 minutes on the 2-core VM). Usage: tools/smollm2_results.sh [extra distill options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh release --target dsla >/dev/null
bash tools/fetch_smollm2.sh >/dev/null
dsla=build/release/src/dsla
recipe=recipes/smollm2_135m/distill.yaml
half=(--set distill.fraction=0.5 --set distill.eval_every=0)
paper=(--set dsla.feature_map=identity --set dsla.normalize=none --set dsla.window=0 --set dsla.sinks=0
       --set dsla.rope=false --set dsla.output_norm=true)
$dsla distill $recipe --run-dir runs/smollm2_dual --resume "$@"
$dsla distill $recipe --run-dir runs/smollm2_deepest_first "${half[@]}" --set distill.order=deepest_first --resume "$@"
$dsla distill $recipe --run-dir runs/smollm2_single "${half[@]}" --set dsla.variant=single --resume "$@"
$dsla distill $recipe --run-dir runs/smollm2_no_window "${half[@]}" --set dsla.window=0 --set dsla.sinks=0 --resume "$@"
$dsla distill $recipe --run-dir runs/smollm2_paper_form "${half[@]}" "${paper[@]}" --resume "$@"
$dsla distill $recipe --run-dir runs/smollm2_sliding_window "${half[@]}" --set dsla.variant=sliding_window \
  --set dsla.window=0 --set dsla.sinks=0 --resume "$@"
venv="${DSLA_VENV:-${DSLA_HOME:-$HOME/.cache/dsla}/torch-2.11.0}"
"$venv/bin/python" tools/results_table.py docs/results_smollm2.png runs/smollm2_dual runs/smollm2_deepest_first \
  runs/smollm2_single runs/smollm2_no_window runs/smollm2_paper_form runs/smollm2_sliding_window
