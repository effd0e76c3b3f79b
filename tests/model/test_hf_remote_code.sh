#!/usr/bin/env bash
# HF transformers loads dsla exports (trust_remote_code) and matches dsla's C++: stories260K exports of three
# layer forms (the recipe's: hedgehog, q.z, window 16 + sinks; the paper's: identity, no normaliser, no window; a
# softmax feature map with output norm and per-head gamma) from tiny distillations through the CLI, then
# tools/hf_remote_parity.py on each (per-token NLL against `dsla ppl`, greedy and left-padded batch generations
# identical, HF's cached and batched paths against its full forward).
# Usage: test_hf_remote_code.sh DSLA_BIN REPO_DIR
set -euo pipefail
dsla="$1"
repo="$2"
python="${DSLA_VENV:-${DSLA_HOME:-$HOME/.cache/dsla}/torch-2.11.0}/bin/python"
if ! "$python" -c 'import transformers' 2>/dev/null; then
  echo "SKIP: no transformers in $python (tools/setup.sh installs it)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
tiny=(--set profile.sequences=2 --set profile.fit_steps=2 --set "profile.metrics=[entropy]"
  --set distill.steps_per_layer=8 --set distill.e2e_steps=2 --set distill.check_every=1
  --set data.max_train_tokens=20000 --set data.max_eval_tokens=1024 --set distill.batch_size=2)
export_form() {  # name, overrides...
  local name=$1
  shift
  local sets=()
  for o in "$@"; do sets+=(--set "$o"); done
  "$dsla" distill "$repo/recipes/stories260k/distill.yaml" "${tiny[@]}" "${sets[@]}" --run-dir "$work/run_$name" \
    > "$work/$name.log" 2>&1 || fail "distill $name: $(tail -3 "$work/$name.log")"
  "$dsla" export --run "$work/run_$name" --out "$work/exp_$name" >> "$work/$name.log" 2>&1 ||
    fail "export $name: $(tail -3 "$work/$name.log")"
  [ -f "$work/exp_$name/modeling_dsla.py" ] || fail "export $name has no modeling_dsla.py"
}
export_form recipe
export_form paper dsla.feature_map=identity dsla.normalize=none dsla.window=0 dsla.sinks=0 dsla.rope=false \
  dsla.output_norm=false dsla.chunk_size=8
export_form softmax dsla.feature_map=softmax dsla.normalize=qz dsla.window=0 dsla.sinks=0 dsla.output_norm=true \
  dsla.per_head_gamma=true dsla.gate_rank=0 dsla.temperature=true dsla.rope=true
for name in recipe paper softmax; do
  "$python" "$repo/tools/hf_remote_parity.py" "$work/exp_$name" --dsla "$dsla" --out "$work/parity_$name.json" \
    --new-tokens 16 --nll-tokens 24 > "$work/parity_$name.log" 2>&1 || fail "parity $name: $(tail -20 "$work/parity_$name.log")"
  "$python" - "$work/parity_$name.json" "$name" <<'EOT'
import json, sys
s = json.load(open(sys.argv[1]))
print(sys.argv[2], "ok" if s["ok"] else "FAILED", {k: v for k, v in s["checks"].items()} if isinstance(s["checks"], dict) else s["checks"])
EOT
done
echo "PASS: transformers (trust_remote_code) matches dsla on 3 layer forms"
