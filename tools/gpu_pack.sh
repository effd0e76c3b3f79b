#!/usr/bin/env bash
# Prepares what tools/gpu_check.sh needs on a bare GPU machine of the device tool, which has python3 with
# LibTorch's CUDA build but none of dsla's Debian libraries: stripped binaries built here (CUDA compiled in),
# the shared libraries they need that are neither LibTorch's, CUDA's nor glibc's, the stories260K assets,
# and the flash-linear-attention wheels. Writes .gpu_carry/ and .whl/ (both git-ignored); pass them as
# `carry` to the device tool. Usage: tools/gpu_pack.sh   (docs/gpu.md)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${DSLA_BUILD_DIR:-build/release}
python=${PYTHON:-${HOME}/.cache/dsla/torch-2.11.0/bin/python}
assets=${DSLA_ASSETS:-$(cd .. && pwd)/shared/assets}
grep -q "^DSLA_WITH_CUDA:BOOL=ON" "$build/CMakeCache.txt" || {
  echo "gpu_pack: $build is not a CUDA build (DSLA_WITH_CUDA=OFF): the check needs the CUDA kernels" >&2
  exit 1
}
ninja -C "$build" dsla test_kernels test_kernels_cuda dsla_bench_device bench_decode >/dev/null
rm -rf .gpu_carry
mkdir -p .gpu_carry/bin .gpu_carry/lib .gpu_carry/assets/datasets/tinystories_val_sample
for b in src/dsla tests/kernels/test_kernels tests/kernels/test_kernels_cuda tools/dsla_bench_device \
  tools/bench_decode; do
  strip -o ".gpu_carry/bin/$(basename "$b")" "$build/$b"
done
# The libraries ld.so resolves here that the GPU machine's python3 (torch, nvidia-* wheels) and glibc do not
# provide: yaml-cpp, sentencepiece, fmt, ICU, ...
ldd .gpu_carry/bin/* | awk '/=> \// {print $3}' | sort -u |
  grep -v -E '/torch/|/nvidia/|/cuda|/lib(c|m|dl|rt|util|pthread|gcc_s|stdc\+\+|z)\.so|ld-linux' |
  while read -r lib; do cp -L "$lib" .gpu_carry/lib/; done
strip --strip-unneeded .gpu_carry/lib/* 2>/dev/null || true
# xz: ICU's data alone is 31 MB, and a device call carries 64 MiB in all.
tar cJf .gpu_carry/lib.tar.xz -C .gpu_carry/lib . && rm -r .gpu_carry/lib
cp -r "$assets/stories260K" .gpu_carry/assets/
cp "$assets"/datasets/tinystories_val_sample/*.txt .gpu_carry/assets/datasets/tinystories_val_sample/
# SmolLM2-135M's shapes without its weights (too large to carry): config, tokenizer, tensor list; and a 3 MB slice
# of the distillation corpus. gpu_check.sh makes random weights there and times the recipe's transfer on them.
smol=${DSLA_HOME:-$HOME/.cache/dsla}/models/SmolLM2-135M-Instruct
mkdir -p .gpu_carry/smollm2
for f in config.json generation_config.json special_tokens_map.json tokenizer.json tokenizer_config.json; do
  cp "$smol/$f" .gpu_carry/smollm2/
done
"$python" tools/random_weights.py manifest "$smol" .gpu_carry/smollm2_manifest.json >/dev/null
head -c 3000000 "$assets/datasets/distill_corpus/wikipedia_en.part2.jsonl" | head -n -1 \
  > .gpu_carry/assets/datasets/distill_slice.jsonl
chmod -R u+w .gpu_carry
mkdir -p .whl
[ -f .whl/fla_core-0.6.0-py3-none-any.whl ] || "$python" -m pip download -q --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 -d .whl \
  flash-linear-attention==0.6.0 fla-core==0.6.0
git rev-parse HEAD > .gpu_carry/commit
du -sh .gpu_carry .whl
echo "gpu_pack: ready; on the device: carry [.gpu_carry, .whl], command 'bash tools/gpu_check.sh'"
