#!/usr/bin/env bash
# Data-parallel scaling on this machine: the same distill job as 1 rank (all cores) and as --nproc 2 ranks
# (half the cores each), side by side; prints training tokens/s per stage and wall time, and the ratio.
# Usage: tools/bench_distributed.sh [stories|smollm2] [OUT_DIR]   (build first: tools/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-stories}"
out="${2:-runs/bench_distributed_$which}"
dsla=build/release/src/dsla
export DSLA_ASSETS="${DSLA_ASSETS:-$PWD/../shared/assets}" DSLA_HOME="${DSLA_HOME:-$HOME/.cache/dsla}"
case "$which" in
  stories) recipe=recipes/stories260k/distill.yaml
           sets=(--set distill.order=deepest_first --set distill.fraction=1.0) ;;
  smollm2) recipe=recipes/smollm2_135m/distill.yaml
           sets=(--set distill.order=deepest_first --set distill.fraction=0.067 --set distill.steps_per_layer=30
                 --set distill.e2e_steps=10) ;;
  *) echo "usage: $0 [stories|smollm2] [OUT_DIR]"; exit 2 ;;
esac
rm -rf "$out" && mkdir -p "$out"
cores=$(nproc)
run() {  # name, extra args...
  local name="$1"; shift
  local t0=$(date +%s.%N)
  "$dsla" distill "$recipe" "${sets[@]}" --run-dir "$out/$name" "$@" > "$out/$name.out" 2> "$out/$name.err"
  echo "$(date +%s.%N) - $t0" | bc > "$out/$name.seconds"
}
run one_rank --set run.threads="$cores"
run two_ranks --nproc 2
python3 - "$out" <<'EOT'
import json, sys, os
out = sys.argv[1]
def load(name):
    p = json.load(open(os.path.join(out, name, "progress.json")))
    return [s for s in p["stages"] if s["stage"] > 0], float(open(os.path.join(out, name + ".seconds")).read())
one, t1 = load("one_rank")
two, t2 = load("two_ranks")
print("| stage | layer | 1 rank tok/s | 2 ranks tok/s | ratio |")
print("|---|---|---|---|---|")
for a, b in zip(one, two):
    print(f"| {a['stage']} | {a['layer']} | {a['tokens_per_s']:.0f} | {b['tokens_per_s']:.0f} | {b['tokens_per_s']/a['tokens_per_s']:.2f}x |")
mean = lambda s: sum(x["tokens_per_s"] for x in s) / len(s)
print(f"| mean | | {mean(one):.0f} | {mean(two):.0f} | {mean(two)/mean(one):.2f}x |")
print(f"\nwall time: 1 rank {t1:.1f} s, 2 ranks {t2:.1f} s ({t1/t2:.2f}x), start-up and evaluation included")
EOT
