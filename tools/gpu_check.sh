#!/usr/bin/env bash
# The GPU check: one command for a bare H200 machine of the device tool (docs/gpu.md). Runs the binaries that
# tools/gpu_pack.sh built here: the CUDA kernel tests (custom kernels and the portable ATen path against the
# fp64 reference), DSLA vs SDPA vs flash-linear-attention's chunk_gla forward+backward timings, the teacher's
# greedy text on CUDA against the CPU's, and the stories260K recipe distilled, exported and scored on CUDA.
# Works in $GPU_CHECK_WORK (default /tmp/gpu_check); leaves three files in $work (the device tool returns at most
# eight): summary.json, gpu_check.log and results.tgz (every step's small outputs: JSON, text, gtest reports).
# On the device tool: carry [".gpu_carry", ".whl"], command "bash tools/gpu_check.sh", timeout_s 420.
# Rehearsal without a GPU: GPU_CHECK_DEVICE=cpu PYTHON=<python with torch> bash tools/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
final=${OUT:-$repo/out/gpu_check}
work=${GPU_CHECK_WORK:-/tmp/gpu_check}
rm -rf "$work"
mkdir -p "$work" "$final"
device=${GPU_CHECK_DEVICE:-cuda}
python=${PYTHON:-python3}
carry=$repo/.gpu_carry
exec > >(tee "$final/gpu_check.log") 2>&1
[ -x "$carry/bin/dsla" ] || { echo "gpu_check: no .gpu_carry/bin/dsla: run tools/gpu_pack.sh and carry .gpu_carry"; exit 2; }
echo "gpu_check: device $device, binaries of commit $(cat "$carry/commit"), $(date -u +%FT%TZ)"

# LibTorch and the CUDA libraries come from python3's torch and nvidia-* wheels; the rest from .gpu_carry/lib.tar.xz.
torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') || exit 2
site=$(dirname "$(dirname "$torch_lib")")
nv_libs=$(find "$site/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | tr '\n' ':')
mkdir -p "$work/lib" && tar xJf "$carry/lib.tar.xz" -C "$work/lib" || exit 2
export LD_LIBRARY_PATH="$torch_lib:$nv_libs$work/lib:${LD_LIBRARY_PATH:-}"
export DSLA_ASSETS=$carry/assets DSLA_HOME=$work/home
steps=$work/steps.jsonl
: > "$steps"

# The whole check stops starting steps at this many seconds, so that the summary and results.tgz are written
# inside the device call's timeout (device time is 15 minutes a session, machine start included).
deadline=${GPU_CHECK_DEADLINE_S:-390}
check_start=$(date +%s)

# step NAME SECONDS CMD...: runs CMD under a time limit (cut to what is left before the deadline); logs it and
# records its exit code and wall time, or that it was skipped because the deadline had passed.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((deadline - ($(date +%s) - check_start)))
  if ((left < 10)); then
    echo "=== $name: skipped, ${left} s left of the check's ${deadline} s: $*"
    printf '{"step":"%s","exit":124,"seconds":0,"skipped":true}\n' "$name" >> "$steps"
    return 124
  fi
  ((limit > left)) && limit=$left
  echo "=== $name (limit $limit s): $*"
  local t0 rc
  t0=$(date +%s%N)
  timeout "$limit" "$@"
  rc=$?
  local ms=$((($(date +%s%N) - t0) / 1000000))
  echo "=== $name: exit $rc after $((ms / 1000)) s"
  printf '{"step":"%s","exit":%d,"seconds":%d.%03d}\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000)) >> "$steps"
  return "$rc"
}
dsla=$carry/bin/dsla
cuda() { [ "$device" != cpu ]; }

step environment 60 bash -c "nvidia-smi -L 2>/dev/null || echo 'no nvidia-smi'; \
  '$python' -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.cuda.is_available())'; \
  ! ldd '$dsla' '$carry/bin/test_kernels_cuda' | grep 'not found'"

# 1. Kernels against the fp64 reference: the custom CUDA kernels and the ATen path on CUDA; the CPU suite.
cuda && step kernel_tests_cuda 240 "$carry/bin/test_kernels_cuda" --gtest_output="json:$work/test_kernels_cuda.json"
step kernel_tests_aten_cpu 120 "$carry/bin/test_kernels" --gtest_filter='*DslaAten*:*DslaKernelChoice*' \
  --gtest_output="json:$work/test_kernels_cpu.json"

# 2. Forward+backward timings: DSLA (ATen path, custom kernels) and SDPA from C++, chunk_gla and SDPA from Python.
if cuda; then
  step bench_dsla 150 bash -c "'$carry/bin/dsla_bench_device' --device $device > '$work/bench_dsla.jsonl'"
  step fla_install 60 "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/fla_site \
    "$repo"/.whl/*.whl
  step bench_reference 150 bash -c "PYTHONPATH=/tmp/fla_site '$python' '$repo/tools/gpu_bench_reference.py' \
    > '$work/bench_reference.jsonl'"
else
  step bench_dsla 150 bash -c "'$carry/bin/dsla_bench_device' --device cpu --batch 1 --tokens 512 \
    --custom-max-tokens 512 --repeat 2 > '$work/bench_dsla.jsonl'"
fi

# 3. The teacher's greedy text on the device equals the CPU's (stories260K, 200 tokens from BOS).
teacher=$DSLA_ASSETS/stories260K/hf
step greedy_cpu 60 bash -c "'$dsla' generate --model '$teacher' -n 200 --device cpu > '$work/greedy_cpu.txt'"
step greedy_device 60 bash -c "'$dsla' generate --model '$teacher' -n 200 --device $device > '$work/greedy_device.txt'"
step greedy_parity 10 cmp "$work/greedy_cpu.txt" "$work/greedy_device.txt"

# 4. The stories260K recipe on the device: distill (tokens/s in metrics.jsonl), export, generate, perplexity.
sample=$DSLA_ASSETS/datasets/tinystories_val_sample/cs336_tinystories_sample.txt
run=$work/run260
step distill 240 "$dsla" distill "$repo/recipes/stories260k/distill.yaml" --run-dir "$run" --device "$device"
step export 60 "$dsla" export --run "$run" --out "$run/export"
for d in cpu "$device"; do
  step "ppl_export_$d" 60 bash -c "'$dsla' ppl --model '$run/export' --file '$sample' --context 255 --json \
    --device $d > '$work/ppl_export_$d.json'"
done
step generate_export 60 "$dsla" generate --model "$run/export" -p "Once upon a time" -n 60 --device "$device"

# 5. SmolLM2-135M's shapes (random weights made here): the recipe's parallel transfer on the device (tokens/s),
#    bench_decode over its depths, then greedy decode of the teacher and of the converted model (--stats-json).
smol=$work/smollm2
smol_steps=${GPU_CHECK_SMOL_STEPS:-10}
smol_fraction=${GPU_CHECK_SMOL_FRACTION:-1.0}
step smollm2_weights 120 bash -c "cp -r '$carry/smollm2' '$smol' && \
  '$python' '$repo/tools/random_weights.py' make '$carry/smollm2_manifest.json' '$smol'"
step smollm2_distill 240 "$dsla" distill "$repo/recipes/smollm2_135m/distill.yaml" --run-dir "$work/run_smollm2" \
  --device "$device" --set model.path="$smol" --set "data.train_files=[$DSLA_ASSETS/datasets/distill_slice.jsonl]" \
  --set "data.train_weights=[1]" --set "data.eval_files=[$sample]" --set distill.steps_per_layer="$smol_steps" \
  --set distill.eval_every=0 --set distill.fraction="$smol_fraction"
step smollm2_export 120 "$dsla" export --run "$work/run_smollm2" --out "$work/run_smollm2/export"
# Decode steps of the run's depths (teacher .. all converted) against the teacher, batch 8, synthetic caches.
contexts=${GPU_CHECK_DECODE_CONTEXTS:-4096,8192}
step bench_decode 180 "$carry/bin/bench_decode" "$work/run_smollm2" --device "$device" --contexts "$contexts" \
  --depths 0,0.5,1 --steps 6 --json "$work/bench_decode.json"
for m in "$smol" "$work/run_smollm2/export"; do
  name=decode_$(basename "$m")
  step "$name" 120 bash -c "'$dsla' generate --model '$m' --device $device --prompt-tokens 1024 \
    -p 'The history of the city' -n 64 --ignore-eos --stats-json 2> '$work/$name.jsonl'"
done

"$python" "$repo/tools/gpu_check_summary.py" "$work" > "$final/summary.json"
(cd "$work" && tar czf "$final/results.tgz" --exclude='*.safetensors' --exclude='*.bin' \
  $(ls -d ./*.json* ./*.txt run260/*.jsonl run260/*.md run_smollm2/*.jsonl run_smollm2/*.md 2>/dev/null))
cat "$final/summary.json"
