#!/usr/bin/env bash
# dsla serve + dsla bench through the CLI on stories260K: the CI load ramp completes with every request
# answered and the report files written; SIGTERM during a stream and SIGINT both end the server with exit 0
# after the running request ends; bad input is refused with a message naming the problem.
# Usage: test_serve_cli.sh DSLA_BINARY REPO_ROOT STORIES260K_DIR
set -euo pipefail
dsla="$1"
repo="$2"
model="$3"
tmp=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill -9 "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
start_server() {  # log file, extra args...
  local log="$1"; shift
  rm -f "$tmp/port"
  "$dsla" serve --model "$model" --port 0 --port-file "$tmp/port" "$@" 2> "$log" &
  server=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && return 0; sleep 0.1; done
  cat "$log"; fail "the server did not start"
}

# 1. A load ramp: every request answered, report files written.
start_server "$tmp/serve1.log" --max-batch 4
port=$(cat "$tmp/port")
"$dsla" bench --load "$repo/recipes/serve/ramp_stories260k.yaml" --port "$port" --label ci --out "$tmp/bench" \
  > "$tmp/bench.json" 2> "$tmp/bench.err" || { cat "$tmp/bench.err"; fail "dsla bench reported failed requests"; }
for f in bench.json bench.md requests.jsonl timeline.jsonl; do [ -s "$tmp/bench/$f" ] || fail "no $f"; done
python3 - "$tmp/bench/bench.json" <<'EOT' || fail "bad bench.json"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["completed"] == s["requests"] > 10, s
assert s["output_tokens_per_s"] > 0 and s["ttft_ms"]["p99"] > 0, s
EOT
# 2. SIGTERM while a stream is open: the stream ends (finish_reason shutdown or its own end), exit 0.
python3 - "$port" > "$tmp/stream.out" <<'EOT' &
import json, sys, urllib.request
body = json.dumps({"prompt": "Once upon a time", "max_tokens": 400, "stream": True}).encode()
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/completions", body, {"Content-Type": "application/json"})
for line in urllib.request.urlopen(req):
    if line.startswith(b"data: "):
        print(line.decode().strip(), flush=True)
EOT
client=$!
for _ in $(seq 100); do grep -q "data: " "$tmp/stream.out" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$server"
wait "$server" || fail "dsla serve exited non-zero after SIGTERM: $(tail -3 "$tmp/serve1.log")"
server=""
wait "$client" || true
grep -q "data: \[DONE\]" "$tmp/stream.out" || fail "the open stream was not ended cleanly: $(tail -2 "$tmp/stream.out")"
grep -q "stopped" "$tmp/serve1.log" || fail "no shutdown message: $(tail -3 "$tmp/serve1.log")"
# 3. SIGINT on an idle server.
start_server "$tmp/serve2.log"
kill -INT "$server"
wait "$server" || fail "dsla serve exited non-zero after SIGINT"
server=""
grep -q "SIGINT" "$tmp/serve2.log" || fail "SIGINT not reported"
# 4. Bad input.
if "$dsla" serve --model "$tmp/nowhere" > /dev/null 2> "$tmp/e1"; then fail "a missing model was accepted"; fi
grep -q "nowhere" "$tmp/e1" || fail "the error does not name the directory: $(cat "$tmp/e1")"
if "$dsla" serve --model "$model" --depth 3 --port 0 > /dev/null 2> "$tmp/e2"; then fail "--depth 3 of a plain model was accepted"; fi
grep -q "depth 3 is outside" "$tmp/e2" || fail "bad --depth message: $(cat "$tmp/e2")"
printf 'arrivals: poisson\nphases: [{rate: 1, seconds: 1}]\nprompt_tokns: {min: 1, max: 2}\n' > "$tmp/bad.yaml"
if "$dsla" bench --load "$tmp/bad.yaml" --out "$tmp/x" > /dev/null 2> "$tmp/e3"; then fail "a bad load recipe was accepted"; fi
grep -q "unknown key 'prompt_tokns'" "$tmp/e3" || fail "bad recipe message: $(cat "$tmp/e3")"
if "$dsla" bench --load "$repo/recipes/serve/ramp_stories260k.yaml" --port 1 --out "$tmp/x" > /dev/null 2> "$tmp/e4"; then
  fail "bench without a server succeeded"
fi
grep -q "no dsla server answers" "$tmp/e4" || fail "bad no-server message: $(cat "$tmp/e4")"
echo PASS
