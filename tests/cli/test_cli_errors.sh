#!/usr/bin/env bash
# CLI behaviour on bad input: each case must exit non-zero with a message naming the file and the problem,
# never crash (exit code >= 128 means a signal). Usage: test_cli_errors.sh DSLA_BINARY STORIES_HF_DIR
set -u
dsla="$1"
good="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect NAME WANT_CODE NEEDLE... -- CMD...: runs CMD, checks its exit code and that stderr contains each NEEDLE.
expect() {
  local name="$1" want="$2"
  shift 2
  local needles=()
  while [ "$1" != "--" ]; do needles+=("$1"); shift; done
  shift
  "$@" > "$tmp/out" 2> "$tmp/err"
  local code=$?
  local ok=1
  [ "$code" -eq "$want" ] || ok=0
  for n in "${needles[@]}"; do grep -qF -- "$n" "$tmp/err" || ok=0; done
  if [ $ok -eq 1 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name (exit $code, want $want); stderr:"; cat "$tmp/err"
  fi
}

repo="$(cd "$(dirname "$0")/../.." && pwd)"
repo_tasks="$repo/recipes/eval"

copy_model() {  # copy_model DIR: a writable copy of the good model
  mkdir -p "$1" && cp "$good"/* "$1"/ && chmod -R u+w "$1"
}

expect "help" 0 -- "$dsla" info --help
expect "unknown command" 2 "unknown command 'frobnicate'" -- "$dsla" frobnicate
expect "unknown option" 2 "bogus" "does not exist" -- "$dsla" info --bogus
expect "missing model dir" 1 "$tmp/nope" "not a directory" -- "$dsla" info --model "$tmp/nope"

copy_model "$tmp/trunc"
head -c 5000 "$good/model.safetensors" > "$tmp/trunc/model.safetensors"
expect "truncated safetensors" 1 "$tmp/trunc/model.safetensors" "truncated" -- "$dsla" info --model "$tmp/trunc"

copy_model "$tmp/nosafe"
rm "$tmp/nosafe/model.safetensors"
expect "no safetensors" 1 "$tmp/nosafe" "no model.safetensors" -- "$dsla" info --model "$tmp/nosafe"

copy_model "$tmp/badcfg"
echo '{"model_type": "llama", "hidden_size": ' > "$tmp/badcfg/config.json"
expect "malformed config" 1 "$tmp/badcfg/config.json" "not valid JSON" -- "$dsla" info --model "$tmp/badcfg"

copy_model "$tmp/gpt2"
sed -i 's/"model_type": "llama"/"model_type": "gpt2"/' "$tmp/gpt2/config.json"
expect "unknown model_type" 1 "model_type 'gpt2' is not supported" -- "$dsla" info --model "$tmp/gpt2"

copy_model "$tmp/shape"
sed -i 's/"hidden_size": 64/"hidden_size": 32/' "$tmp/shape/config.json"
expect "config/weights mismatch" 1 "does not describe these weights" "model.safetensors" -- "$dsla" info --model "$tmp/shape"

copy_model "$tmp/notok"
rm -f "$tmp/notok"/tokenizer.model "$tmp/notok"/tokenizer.json
expect "missing tokenizer" 1 "$tmp/notok" "tokenizer" -- "$dsla" info --model "$tmp/notok"

expect "missing ppl file" 1 "$tmp/none.txt" "cannot open" -- "$dsla" ppl --model "$good" --file "$tmp/none.txt"
expect "bad sampling option" 1 "top_p" -- "$dsla" generate --model "$good" -n 2 --temperature 1 --top-p 1.5
expect "ppl file is a directory" 1 "$tmp" "not a file" -- "$dsla" ppl --model "$good" --file "$tmp"
expect "prompt file is a directory" 1 "$tmp" "not a file" -- "$dsla" generate --model "$good" --prompt-file "$tmp"
expect "negative new tokens" 1 "--max-new-tokens must be >= 0" -- "$dsla" generate --model "$good" -n -1
expect "negative prompt tokens" 1 "--prompt-tokens must be >= 0" -- "$dsla" generate --model "$good" --prompt-tokens -3
expect "negative prefill chunk" 1 "--prefill-chunk must be >= 0" -- "$dsla" generate --model "$good" --prefill-chunk -2
expect "negative ppl context" 1 "--context must be >= 0" -- "$dsla" ppl --model "$good" --file "$good/config.json" --context -5
expect "negative ppl stride" 1 "--stride must be >= 0" -- "$dsla" ppl --model "$good" --file "$good/config.json" --stride -1
expect "absurd thread count" 1 "threads: 100000 is more than" -- "$dsla" info --model "$good" --threads 100000
expect "generation bounded by the positions" 0 "generating at most" -- "$dsla" generate --model "$good" -n 1000000000 -p "Once"
expect "bad dtype" 1 "--dtype 'int3'" -- "$dsla" info --model "$good" --dtype int3

# Devices: a malformed name, CUDA where there is none (on a machine without a GPU), and cpu itself.
expect "bad device name" 1 "--device: 'tpu' is not a device: expected cpu, cuda or cuda:N" -- \
  "$dsla" info --model "$good" --device tpu
expect "eval bad device name" 1 "--device: 'gpu0' is not a device" -- \
  "$dsla" eval --task "$repo_tasks/squad.yaml" --model "$good" --out "$tmp/e" --device gpu0
expect "generate on cpu" 0 "(cpu," -- "$dsla" generate --model "$good" -n 2 -p "Once" --device cpu
if ! nvidia-smi -L > /dev/null 2>&1; then
  expect "cuda without a GPU" 1 "--device cuda: no CUDA device is available here" -- \
    "$dsla" generate --model "$good" -n 2 --device cuda
  expect "ppl cuda:1 without a GPU" 1 "--device cuda:1: no CUDA device" -- \
    "$dsla" ppl --model "$good" --file "$good/config.json" --device cuda:1
fi

# Recipes and runs.
expect "distill without recipe" 1 "recipe file is required" -- "$dsla" distill
printf 'model:\n  path: %s\n  dtpye: float32\n' "$good" > "$tmp/typo.yaml"
expect "recipe typo" 1 "$tmp/typo.yaml" "dtpye" "did you mean 'dtype'" -- "$dsla" distill "$tmp/typo.yaml"
printf 'model:\n  path: %s\ndata:\n  train_files: [%s]\n' "$good" "$tmp/nothere.txt" > "$tmp/nodata.yaml"
expect "recipe data file missing" 1 "$tmp/nothere.txt" "not found" -- "$dsla" profile "$tmp/nodata.yaml"
printf '{"text": "one"}\n{"txt": "two"}\n' > "$tmp/bad.jsonl"
printf 'model:\n  path: %s\ndata:\n  train_files: [%s]\nrun:\n  dir: %s\n' "$good" "$tmp/bad.jsonl" "$tmp/run" > "$tmp/badjsonl.yaml"
expect "malformed jsonl" 1 "$tmp/bad.jsonl:2" -- "$dsla" distill "$tmp/badjsonl.yaml"
expect "--set list with commas" 0 "is valid" -- "$dsla" validate "$repo/recipes/stories260k/distill.yaml" \
  --no-file-checks --set distill.order=list --set 'distill.layers=[3,0,4]'
expect "train weights do not match the files" 1 "data.train_weights: 3 weights for 1 train files" \
  "data.train_weights: -1 is not a positive weight" -- \
  "$dsla" validate --no-file-checks "$repo/recipes/stories260k/distill.yaml" --set 'data.train_weights=[1, 2, -1]'
expect "unknown transfer kind" 1 "distill.transfer: 'both' is not one of: chained, parallel" -- \
  "$dsla" validate --no-file-checks "$repo/recipes/stories260k/distill.yaml" --set distill.transfer=both
expect "held-out checks without a held-out tail" 1 "distill.check_every" "data.holdout_fraction > 0" -- \
  "$dsla" validate --no-file-checks "$repo/recipes/stories260k/distill.yaml" --set data.holdout_fraction=0
expect "time limit not positive" 1 "--time-limit 0 must be a positive number of minutes" -- \
  "$dsla" distill "$repo/recipes/stories260k/distill.yaml" --run-dir "$tmp/limit0" --time-limit 0
expect "time limit reached: exit 75, resumable" 75 "time limit reached" "continue with --resume" -- \
  "$dsla" distill "$repo/recipes/stories260k/distill.yaml" --run-dir "$tmp/limit" --time-limit 1e-6 \
  --set distill.order=deepest_first --set distill.steps_per_layer=4 --set distill.checkpoint_every=2 \
  --set data.max_eval_tokens=512
expect "recipe device name" 1 "run.device: 'gpu' is not a device" -- \
  "$dsla" validate --no-file-checks "$repo/recipes/stories260k/distill.yaml" --set run.device=gpu
expect "distill --device name" 1 "run.device: 'cuda:x' is not a device" -- \
  "$dsla" distill "$repo/recipes/stories260k/distill.yaml" --run-dir "$tmp/dev" --device cuda:x
if ! nvidia-smi -L > /dev/null 2>&1; then
  expect "distill on cuda without a GPU" 1 "run.device cuda: no CUDA device is available here" -- \
    "$dsla" distill "$repo/recipes/stories260k/distill.yaml" --run-dir "$tmp/dev" --device cuda
fi
expect "unknown end-to-end adapter" 1 "distill.e2e_adapter: 'lroa' is not one of: lora, full" -- \
  "$dsla" validate --no-file-checks "$repo/recipes/stories260k/distill.yaml" --set distill.e2e_adapter=lroa
# dsla fit-report: a form's settings go through the layer's settings table and its cross-checks.
stories="$repo/recipes/stories260k/distill.yaml"
expect "fit-report unknown form key" 1 "--form x: unknown key 'windw'" "did you mean 'window'" -- \
  "$dsla" fit-report "$stories" --run-dir "$tmp/fit" --form "x: windw=4"
expect "fit-report window without qz" 1 "dsla.window" "normalize: qz" -- \
  "$dsla" fit-report "$stories" --run-dir "$tmp/fit" --form "x: normalize=none"
expect "fit-report layer out of range" 1 "--layers: '9' is not a layer of this 5-layer model" -- \
  "$dsla" fit-report "$stories" --run-dir "$tmp/fit" --layers 1:9

# dsla validate takes every kind of dsla YAML file: every file in recipes/, and a broken one of each kind.
while IFS= read -r f; do
  expect "validate $f" 0 "is valid" -- "$dsla" validate --no-file-checks "$f"
done < <(find "$repo/recipes" -name '*.yaml' | sort)
printf 'schema: distill\nmodel: {path: /m}\ndata: {train_files: [/a]}\ndsla: {variant: triple, tau: -1}\n' > "$tmp/v1.yaml"
expect "validate broken distill" 1 "$tmp/v1.yaml" "dsla.variant: 'triple' is not one of" -- "$dsla" validate "$tmp/v1.yaml"
printf 'schema: eval_task\nname: t\nkind: generate\nformat: squad\nlimit: -1\n' > "$tmp/v2.yaml"
expect "validate broken eval task" 1 "$tmp/v2.yaml" "task.data: the examples file is required" "task.limit: must be >= 0" \
  -- "$dsla" validate "$tmp/v2.yaml"
printf 'schema: load\narrivals: poisson\nphases: [{rate: 0, seconds: 1}]\ntimeout_s: 0\n' > "$tmp/v3.yaml"
expect "validate broken load" 1 "$tmp/v3.yaml" "phases[0]: rate must be in (0, 10000]" "timeout_s must be > 0" \
  -- "$dsla" validate "$tmp/v3.yaml"
printf 'schema: serve\nport: 99999\ndepth: deep\n' > "$tmp/v4.yaml"
expect "validate broken serve" 1 "$tmp/v4.yaml" "--model DIR" "serve.port: must be in [0, 65535]" "'deep' is neither" \
  -- "$dsla" validate "$tmp/v4.yaml"
printf 'schema: blueprint\n' > "$tmp/v5.yaml"
expect "validate unknown schema" 1 "$tmp/v5.yaml" "schema 'blueprint' is not one of" -- "$dsla" validate "$tmp/v5.yaml"
expect "serve flag out of range" 1 "serve.port: must be in [0, 65535], got 99999" -- "$dsla" serve --model "$good" --port 99999
expect "serve device name" 1 "serve.device: 'cudaa' is not a device" -- "$dsla" serve --model "$good" --device cudaa
expect "serve flag of the wrong type" 1 "serve.max_batch: cannot read 'many' as an integer" \
  -- "$dsla" serve --model "$good" --max-batch many
expect "export of a missing run" 1 "$tmp/norun" "no such run directory" -- "$dsla" export --run "$tmp/norun" --out "$tmp/x"
expect "export without --out" 1 "--out is required" -- "$dsla" export --run "$tmp"

expect "eval without --task" 1 "--task is required" -- "$dsla" eval --out "$tmp/e"
printf 'name: t\nkind: generate\nformat: squad\ndata: %s\nmetrik: squad\n' "$tmp/nothere.json" > "$tmp/task.yaml"
expect "eval task typo" 1 "$tmp/task.yaml" "did you mean 'metric'" -- "$dsla" eval --task "$tmp/task.yaml" --out "$tmp/e"
printf 'name: t\nkind: generate\nformat: squad\ndata: %s\n' "$tmp/nothere.json" > "$tmp/task2.yaml"
expect "eval data file missing" 1 "$tmp/nothere.json" -- "$dsla" eval --task "$tmp/task2.yaml" --model "$good" --out "$tmp/e"
printf '{"text": "a", "summary": "b"}\nnot json\n' > "$tmp/items.jsonl"
printf 'name: t\nkind: generate\nformat: jsonl\ndata: %s\nreference_field: summary\nmetric: rouge\n' "$tmp/items.jsonl" > "$tmp/task3.yaml"
expect "eval malformed jsonl" 1 "$tmp/items.jsonl:2" -- "$dsla" eval --task "$tmp/task3.yaml" --model "$good" --out "$tmp/e"
expect "eval stages of a missing run" 1 "$tmp/norun" -- "$dsla" eval --task "$tmp/task3.yaml" --run "$tmp/norun" --out "$tmp/e"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
