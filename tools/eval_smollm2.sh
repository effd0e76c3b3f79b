#!/usr/bin/env bash
# The evaluation tables of docs/results.md on SmolLM2-135M, in sequence so that timings are comparable:
#   1. dsla eval of the teacher on the first 100 SQuAD questions and 50 XSum documents;
#   2. the HF transformers reference (tools/hf_eval.py) on the same prompts;
#   3. the DSLA run (runs/smollm2_dual from tools/smollm2_results.sh) at 0/25/50/75/100% of the layers converted on
#      SQuAD, XSum, the TinyStories cloze and perplexity (--limit ${SWEEP_LIMIT:-50});
#   4. long-context QA at 2k/4k/8k tokens at 0/25/50/75/100% (--limit ${LONG_LIMIT:-3}).
# Usage: tools/eval_smollm2.sh [OUT_DIR]   (about 80 minutes on the 2-core build machine)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/eval_smollm2}"
venv="${DSLA_VENV:-${DSLA_HOME:-$HOME/.cache/dsla}/torch-2.11.0}"
dsla=build/release/src/dsla
threads="${DSLA_THREADS:-2}"
[ -x "$dsla" ] || bash tools/build.sh release --target dsla >/dev/null
[ -f runs/smollm2_dual/progress.json ] || { echo "runs/smollm2_dual missing: run tools/smollm2_results.sh first"; exit 1; }
teacher="$(sed -n 's/^  path: //p' runs/smollm2_dual/recipe.yaml | head -1)"
$dsla eval --model "$teacher" --threads "$threads" --task recipes/eval/squad.yaml --task recipes/eval/xsum.yaml \
  --out "$out/teacher_vs_hf"
for task in squad xsum; do
  "$venv/bin/python" tools/hf_eval.py --model "$teacher" --threads "$threads" \
    --predictions "$out/teacher_vs_hf/$(basename "$teacher")/$task.jsonl" --out "$out/teacher_vs_hf/hf_$task.json"
done
$dsla eval --run runs/smollm2_dual --stages 0,25%,50%,75%,100% --threads "$threads" --limit "${SWEEP_LIMIT:-50}" \
  --task recipes/eval/squad.yaml --task recipes/eval/xsum.yaml --task recipes/eval/tinystories_cloze.yaml \
  --task recipes/eval/perplexity.yaml --out "$out/sweep"
$dsla eval --run runs/smollm2_dual --stages 0,25%,50%,75%,100% --threads "$threads" --limit "${LONG_LIMIT:-3}" \
  --task recipes/eval/squad_long.yaml --out "$out/long"
python3 tools/eval_results_table.py "$out/sweep/eval.json"
python3 tools/eval_results_table.py "$out/long/eval.json"
