#!/usr/bin/env bash
# Builds dsla's libFuzzer targets (tests/fuzz: clang, ASan + UBSan, no LibTorch) in build/fuzz and runs each
# for SECONDS over its seed corpus (tests/fuzz/corpus plus the repo's recipes and tokenizer fixtures).
# Fails when any target finds an input that crashes, aborts, leaks past the RSS limit or hangs.
# Usage: tools/fuzz.sh [SECONDS per target, default 30] [target ...]   (default: every target)
# Writes build/fuzz/corpus/<target>/ (the corpus, grown by each run), build/fuzz/findings/<target>/ (inputs
# that failed), build/fuzz/logs/<target>.log and build/fuzz/summary.jsonl (one line per target and run).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors hf_config tokenizer_json sentencepiece yaml api)
out=build/fuzz

command -v clang++ >/dev/null || { echo "[fuzz] clang++ not found: run tools/setup.sh (it installs clang)" >&2; exit 2; }
if [ ! -f "$out/build.ninja" ]; then
  launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S tests/fuzz -B "$out" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "${launcher[@]}" >/dev/null
fi
echo "[fuzz] building ${targets[*]/#/fuzz_}"
cmake --build "$out" -j2 --target "${targets[@]/#/fuzz_}"

# seed_corpus TARGET DIR: the committed seeds, plus files of the repo that are valid inputs today.
seed_corpus() {
  local t="$1" dir="$2"
  mkdir -p "$dir"
  cp tests/fuzz/corpus/"$t"/* "$dir"/ 2>/dev/null || true
  case "$t" in
    tokenizer_json) cp data/fixtures/tokenizer_*.json "$dir"/ ;;
    yaml)  # the first byte picks the loader: 0 distill recipe, 1 eval task, 2 load-test recipe
      for f in recipes/*/distill.yaml; do { printf '\x00'; cat "$f"; } > "$dir/recipe_$(basename "$(dirname "$f")")"; done
      for f in recipes/eval/*.yaml; do { printf '\x01'; cat "$f"; } > "$dir/task_$(basename "$f" .yaml)"; done
      for f in recipes/serve/ramp_*.yaml; do { printf '\x02'; cat "$f"; } > "$dir/load_$(basename "$f" .yaml)"; done ;;
  esac
}

failed=()
mkdir -p "$out/logs"
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t" findings="$out/findings/$t" log="$out/logs/$t.log"
  seed_corpus "$t" "$corpus"
  mkdir -p "$findings"
  echo "[fuzz] fuzz_$t for ${seconds} s (corpus $(ls "$corpus" | wc -l) files)"
  rc=0
  TMPDIR="${TMPDIR:-/tmp}" "$out/fuzz_$t" "$corpus" -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -dict=tests/fuzz/dsla.dict -artifact_prefix="$findings/" \
    > "$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  result=$([ "$rc" -eq 0 ] && echo ok || echo "failed (exit $rc)")
  printf '{"target": "fuzz_%s", "seconds": %s, "runs": %s, "coverage": %s, "corpus": %s, "result": "%s", "date": "%s"}\n' \
    "$t" "$seconds" "${runs:-0}" "${cov:-0}" "$(ls "$corpus" | wc -l)" "$result" "$(date -u +%FT%TZ)" \
    >> "$out/summary.jsonl"
  echo "[fuzz] fuzz_$t: ${runs:-0} runs, coverage ${cov:-0}: $result"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    grep -E "ERROR|SUMMARY|terminate|what\(\)|Test unit written" "$log" | head -20 >&2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "[fuzz] FAILED: ${failed[*]} (inputs in $out/findings, logs in $out/logs)" >&2
  exit 1
fi
echo "[fuzz] all ${#targets[@]} targets ran ${seconds} s without a finding"
