#!/usr/bin/env python3
"""Side-by-side prefill/decode speed of `dsla generate` and HF transformers on the same model, prompts and threads.

Runs, in one go and alternating per prompt length: `dsla generate --prompt-tokens L -n N --ignore-eos --stats-json`
(`--repeats` times, median) and tools/bench_hf_generate.py (same L, N, threads, repeats). Prints a Markdown table
with the dsla/HF ratios and writes the raw JSON lines to --out (JSONL).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("DSLA_ASSETS", REPO.parent / "shared" / "assets"))
TEXT = ASSETS / "datasets" / "wikitext2" / "wiki.test.raw.hfjoin.txt"


def run_dsla(dsla: Path, model: Path, length: int, new: int, threads: int, repeats: int) -> dict:
    # The same text the HF script tokenizes: the first max(4000, 8 L) characters of WikiText-2.
    text = TEXT.read_text(encoding="utf-8")[: max(4000, length * 8)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(text)
    runs = []
    for _ in range(repeats):
        cmd = [str(dsla), "generate", "--model", str(model), "--prompt-file", f.name, "--prompt-tokens",
               str(length), "-n", str(new), "--ignore-eos", "--no-bos", "--threads", str(threads), "--stats-json"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"bench_generate: dsla failed ({p.returncode}): {p.stderr[-2000:]}")
        runs.append(json.loads(p.stderr.strip().splitlines()[-1]))
    os.unlink(f.name)
    return {"prefill_tok_s": statistics.median(r["prefill_tokens_per_second"] for r in runs),
            "decode_tok_s": statistics.median(r["decode_tokens_per_second"] for r in runs), "runs": runs}


def run_hf(model: Path, length: int, new: int, threads: int, repeats: int) -> dict:
    cmd = [sys.executable, str(REPO / "tools" / "bench_hf_generate.py"), "--model", str(model), "--prompt-len",
           str(length), "--new-tokens", str(new), "--threads", str(threads), "--repeats", str(repeats)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench_generate: HF script failed ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    home = Path(os.environ.get("DSLA_HOME", Path.home() / ".cache" / "dsla"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsla", type=Path, default=REPO / "build" / "release" / "src" / "dsla")
    ap.add_argument("--model", type=Path, default=home / "models" / "SmolLM2-135M-Instruct")
    ap.add_argument("--prompt-len", type=int, nargs="+", default=[512, 2048])
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench_generate.jsonl"))
    a = ap.parse_args()
    for p, what in ((a.dsla, "dsla binary"), (a.model / "config.json", "model"), (TEXT, "WikiText-2 text")):
        if not p.exists():
            sys.exit(f"bench_generate: {what} not found: {p}")
    rows = []
    with open(a.out, "w") as out:
        for length in a.prompt_len:
            d = run_dsla(a.dsla, a.model, length, a.new_tokens, a.threads, a.repeats)
            h = run_hf(a.model, length, a.new_tokens, a.threads, a.repeats)
            rec = {"prompt_len": length, "new_tokens": a.new_tokens, "threads": a.threads, "dsla": d, "hf": h,
                   "loadavg_1m": os.getloadavg()[0]}
            out.write(json.dumps(rec) + "\n")
            rows.append(rec)
    print("| prompt | dsla prefill tok/s | HF prefill tok/s | ratio | dsla decode tok/s | HF decode tok/s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        d, h = r["dsla"], r["hf"]
        print(f"| {r['prompt_len']} | {d['prefill_tok_s']:.1f} | {h['prefill_tok_s']:.1f} | "
              f"{d['prefill_tok_s'] / h['prefill_tok_s']:.2f} | {d['decode_tok_s']:.2f} | {h['decode_tok_s']:.2f} | "
              f"{d['decode_tok_s'] / h['decode_tok_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
