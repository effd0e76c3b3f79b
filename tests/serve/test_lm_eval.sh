#!/usr/bin/env bash
# lm-evaluation-harness (local-completions, unmodified) against `dsla serve` on the SmolLM2 teacher, compared item by
# item with `dsla eval` on the same data: a multiple-choice task by log-likelihood (data/fixtures/lm_eval/cloze.jsonl:
# every choice's log-likelihood within 1e-3, the same accuracy) and a greedy generation task (story_starts.jsonl,
# stop at a newline: identical texts, up to the leading space dsla eval strips). Skips when lm_eval or the SmolLM2 conversion is missing.
# Usage: test_lm_eval.sh DSLA_BIN REPO_DIR
set -euo pipefail
dsla="$1"
repo="$2"
venv="${DSLA_VENV:-${DSLA_HOME:-$HOME/.cache/dsla}/torch-2.11.0}"
model="${DSLA_HOME:-$HOME/.cache/dsla}/models/SmolLM2-135M-Instruct"
[ -x "$venv/bin/lm_eval" ] || { echo "SKIP: no lm_eval in $venv (tools/setup.sh installs it)"; exit 77; }
[ -f "$model/config.json" ] || { echo "SKIP: no SmolLM2 at $model (tools/fetch_smollm2.sh)"; exit 77; }
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill -9 "$server" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
data="$repo/data/fixtures/lm_eval"
cat > "$work/cloze_task.yaml" <<EOT
schema: eval_task
name: dsla_cloze
kind: multiple_choice
format: jsonl
data: $data/cloze.jsonl
prompt: "{query}"
choice_prefix: " "
few_shot: 0
EOT
cat > "$work/starts_task.yaml" <<EOT
schema: eval_task
name: dsla_starts
kind: generate
format: jsonl
data: $data/story_starts.jsonl
reference_field: answer
prompt: "{text}"
few_shot: 0
metric: rouge
max_new_tokens: 16
stop: ["\n"]
EOT
"$dsla" eval -t "$work/cloze_task.yaml" -t "$work/starts_task.yaml" --model "$model" -o "$work/dsla" \
  > "$work/dsla_eval.log" 2>&1 || fail "dsla eval: $(tail -5 "$work/dsla_eval.log")"

"$dsla" serve --model "$model" --port 0 --port-file "$work/port" --max-batch 2 2> "$work/serve.log" &
server=$!
for _ in $(seq 600); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { cat "$work/serve.log"; fail "the server did not start"; }
port=$(cat "$work/port")
name=$(basename "$model")
# The README's command: from the repo root, the tasks of data/fixtures/lm_eval.
(cd "$repo" && HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 "$venv/bin/lm_eval" --model local-completions \
  --model_args "base_url=http://127.0.0.1:$port/v1/completions,model=$name,tokenizer=$model,tokenizer_backend=huggingface,num_concurrent=1,max_retries=1" \
  --tasks dsla_cloze,dsla_starts --include_path data/fixtures/lm_eval --output_path "$work/lm_eval" --log_samples) \
  > "$work/lm_eval.log" 2>&1 || fail "lm_eval: $(tail -20 "$work/lm_eval.log")"
kill -TERM "$server"
wait "$server" || fail "dsla serve exited with status $?"
server=""

"$venv/bin/python" - "$work" <<'EOT'
import glob, json, sys
work = sys.argv[1]
def rows(pattern):
    return [json.loads(line) for f in glob.glob(f"{work}/{pattern}") for line in open(f)]
dsla = sorted(rows("dsla/*/dsla_cloze.jsonl"), key=lambda r: r["index"])
harness = sorted(rows("lm_eval/*/samples_dsla_cloze_*.jsonl"), key=lambda r: r["doc_id"])
assert len(dsla) == len(harness) == 12, (len(dsla), len(harness))
worst = max(abs(a - float(b[0][0])) for d, h in zip(dsla, harness) for a, b in zip(d["loglikelihoods"], h["resps"]))
acc_dsla = sum(d["pred"] == d["gold"] for d in dsla) / len(dsla)
acc_harness = sum(h["acc"] for h in harness) / len(harness)
print(f"multiple choice: 12 items x 4 choices, max |loglik(dsla eval) - loglik(lm_eval via serve)| = {worst:.2e}; "
      f"acc {acc_dsla:.3f} (dsla eval) vs {acc_harness:.3f} (lm_eval)")
assert worst <= 1e-3 and acc_dsla == acc_harness
dgen = {r["index"]: r["prediction"] for r in rows("dsla/*/dsla_starts.jsonl")}
hgen = {r["doc_id"]: r["resps"][0][0] for r in rows("lm_eval/*/samples_dsla_starts_*.jsonl")}
assert len(dgen) == len(hgen) == 5, (dgen, hgen)
# dsla eval's predictions drop the leading whitespace (its stop rule ignores it); the tokens are the same.
diff = {i: (dgen[i], hgen[i]) for i in dgen if dgen[i] != hgen[i].lstrip()}
print(f"generation: {5 - len(diff)} of 5 greedy texts identical", diff or "")
assert not diff
EOT
echo "PASS: lm-evaluation-harness through dsla serve agrees with dsla eval"
