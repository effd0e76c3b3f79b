#!/usr/bin/env bash
# Runs tools/fetch_smollm2.py (SmolLM2-135M-Instruct GGUF -> f32 HF directory) with the dsla venv's Python.
set -euo pipefail
DSLA_HOME="${DSLA_HOME:-$HOME/.cache/dsla}"
DSLA_VENV="${DSLA_VENV:-$DSLA_HOME/torch-2.11.0}"
if [ ! -x "$DSLA_VENV/bin/python" ]; then
  echo "fetch_smollm2.sh: error: no Python venv at $DSLA_VENV (run tools/setup.sh first, or set DSLA_VENV)" >&2
  exit 2
fi
exec "$DSLA_VENV/bin/python" "$(dirname "$(readlink -f "$0")")/fetch_smollm2.py" "$@"
