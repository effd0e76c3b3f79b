#!/usr/bin/env bash
# Soak test: starts `dsla serve` on MODEL and holds tools/soak.py's mixed load (streams, plain and chat
# completions, abandoned requests, bad requests) for SECONDS, then stops the server with SIGTERM. Writes
# OUT/summary.json, OUT/soak.jsonl, OUT/soak.png and OUT/serve.log; exit 1 on a crash, a failed /health, an
# unexpected response or a non-zero server exit.
# Usage: tools/soak.sh [MODEL] [SECONDS] [OUT]   (defaults: SmolLM2-135M-Instruct, 600, runs/soak)
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-${DSLA_HOME:-$HOME/.cache/dsla}/models/SmolLM2-135M-Instruct}"
seconds="${2:-600}"
out="${3:-runs/soak}"
dsla="${DSLA_BIN:-build/release/src/dsla}"
python="${DSLA_PYTHON:-$HOME/.cache/dsla/torch-2.11.0/bin/python}"
[ -x "$python" ] || python=python3
mkdir -p "$out"
rm -f "$out/port"
"$dsla" serve --model "$model" --port 0 --port-file "$out/port" --max-batch 4 --prefill-chunk 128 \
  2> "$out/serve.log" &
server=$!
trap 'kill -9 $server 2>/dev/null || true' EXIT
for _ in $(seq 600); do [ -s "$out/port" ] && break; sleep 0.1; done
[ -s "$out/port" ] || { cat "$out/serve.log"; echo "soak: the server did not start"; exit 1; }
status=0
"$python" tools/soak.py --port "$(cat "$out/port")" --pid "$server" --seconds "$seconds" --out "$out" || status=1
kill -TERM "$server"
wait "$server" || { echo "soak: dsla serve exited with status $?"; status=1; }
trap - EXIT
exit $status
