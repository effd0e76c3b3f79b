#!/usr/bin/env bash
# Runs tests/serve/test_openai_client.py (the official openai client) against `dsla serve` on stories260K, given
# SmolLM2's ChatML template (data/fixtures) so the chat endpoints work.
# Usage: test_openai_client.sh DSLA_BIN REPO_DIR MODEL_DIR
set -euo pipefail
dsla="$1"
repo="$2"
model_src="$3"
python="${DSLA_VENV:-${DSLA_HOME:-$HOME/.cache/dsla}/torch-2.11.0}/bin/python"
if ! "$python" -c 'import openai' 2>/dev/null; then
  echo "SKIP: no openai package in $python (tools/setup.sh installs it)"
  exit 77
fi
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill -9 "$server" 2>/dev/null; rm -rf "$work"' EXIT
model="$work/stories-chat"
mkdir "$model"
for f in "$model_src"/*; do ln -s "$f" "$model/$(basename "$f")"; done
rm -f "$model/tokenizer_config.json"
"$python" - "$repo/data/fixtures/chat_template_smollm2.json" "$model_src" "$model/tokenizer_config.json" <<'EOT'
import json, os, sys
template = json.load(open(sys.argv[1]))["chat_template"]
src = os.path.join(sys.argv[2], "tokenizer_config.json")
config = json.load(open(src)) if os.path.exists(src) else {}
config["chat_template"] = template
json.dump(config, open(sys.argv[3], "w"))
EOT
"$dsla" serve --model "$model" --port 0 --port-file "$work/port" --max-batch 2 2> "$work/serve.log" &
server=$!
for _ in $(seq 600); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { cat "$work/serve.log"; echo "FAIL: the server did not start"; exit 1; }
name=$("$python" -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health"))["model"])' "$(cat "$work/port")")
"$python" "$repo/tests/serve/test_openai_client.py" "$(cat "$work/port")" "$name" || { tail -20 "$work/serve.log"; exit 1; }
kill -TERM "$server"
wait "$server" || { echo "FAIL: dsla serve exited with status $?"; exit 1; }
server=""
