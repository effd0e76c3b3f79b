#!/usr/bin/env bash
# Serving under a load ramp, side by side on one machine: the teacher (depth 0), fixed depths 25/50/75 %
# and the adaptive controller, each a fresh `dsla serve` of the same run driven by `dsla bench` with the
# same load recipe; then one table (bench_serve.md) and the depth plots.
# Every server prefills PREFILL_CHUNK (default 128) prompt tokens between two decode steps: the
# per-iteration token budget that bounds how long a prefill stalls running requests.
# Usage: [PREFILL_CHUNK=N] tools/bench_serve.sh [RUN_DIR] [LOAD_RECIPE] [OUT_DIR]   (build first)
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:-runs/smollm2_dual}"
load="${2:-recipes/serve/ramp_smollm2.yaml}"
out="${3:-runs/bench_serve}"
dsla=build/release/src/dsla
chunk="${PREFILL_CHUNK:-128}"
max=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plan"]["converted"])' "$run/progress.json")
slo=$(sed -n 's/^slo_tpot_ms: *//p' "$load")
# The adaptive server: deeper by three quarters of the layers (then to the deepest) when more than
# one request waits or the p99 time per output token exceeds the load's SLO; back when the queue is
# empty and the p99 is below half the SLO.
adaptive=(--depth auto --depth-step $(( (3 * max + 2) / 4 )) --cooldown 10 --queue-high 1 --queue-low 1
          --prompt-high 100000 --prompt-low 100000 --tpot-slo-ms "$slo")
rm -rf "$out" && mkdir -p "$out"
serve_and_bench() {  # label, serve args...
  local label="$1"; shift
  rm -f "$out/$label.port"
  "$dsla" serve --model "$run" --port 0 --port-file "$out/$label.port" --decisions "$out/$label.decisions.jsonl" \
    --prefill-chunk "$chunk" "$@" 2> "$out/$label.serve.log" &
  local pid=$!
  for _ in $(seq 600); do [ -s "$out/$label.port" ] && break; sleep 0.5; done
  "$dsla" bench --load "$load" --port "$(cat "$out/$label.port")" --label "$label" --out "$out/$label" \
    > /dev/null 2> "$out/$label.bench.log" || echo "[bench_serve] $label: some requests failed"
  kill -TERM "$pid"; wait "$pid" || true
  echo "[bench_serve] $label done"
}
serve_and_bench teacher --depth 0
for pct in 25 50 75; do serve_and_bench "fixed_$pct" --depth $(( (max * pct + 50) / 100 )); done
serve_and_bench adaptive "${adaptive[@]}"
python3 - "$out" <<'EOT'
import json, os, sys
out = sys.argv[1]
rows = []
for label in ["teacher", "fixed_25", "fixed_50", "fixed_75", "adaptive"]:
    p = os.path.join(out, label, "bench.json")
    if os.path.exists(p):
        rows.append(json.load(open(p)))
f = lambda v: "-" if v is None else f"{v:.0f}"
lines = ["| server | ok/all | output tok/s | TTFT p50 / p99 ms | TPOT p50 / p99 ms | latency p99 s | SLO (p99 TPOT) | mean depth (time) | max depth |",
         "|---|---|---|---|---|---|---|---|---|"]
for s in rows:
    slo = ("met" if s["slo_met"] else "missed") + f" ({s['slo_tpot_ms']:.0f} ms)" if "slo_met" in s else "-"
    lat = s["latency_ms"]["p99"]
    lines.append(f"| {s['label']} | {s['completed']}/{s['requests']} | {s['output_tokens_per_s']:.2f} | "
                 f"{f(s['ttft_ms']['p50'])} / {f(s['ttft_ms']['p99'])} | {f(s['tpot_ms']['p50'])} / {f(s['tpot_ms']['p99'])} | "
                 f"{'-' if lat is None else f'{lat/1000:.1f}'} | {slo} | {s['mean_depth_over_time']:.1f} | {s['max_depth_seen']:.0f} |")
open(os.path.join(out, "bench_serve.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOT
