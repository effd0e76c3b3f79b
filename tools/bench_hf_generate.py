#!/usr/bin/env python3
"""Benchmark HF transformers prefill and greedy-decode tokens/s (fp32, CPU) for a model dir; one JSON line per setting."""
# Prefill = one forward over the prompt with a fresh KV cache; decode = N greedy steps of one token each with the
# cache (EOS ignored, so exactly N tokens), the same work model.generate() does, timed without its Python overhead.
# Reported numbers are the median over --repeats runs after one untimed warm-up. The 1-minute load average is
# recorded: on a busy 2-core machine, 2 intra-op threads get far slower than 1 (OpenMP threads wait on each other).
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_smollm2 import MODEL_DIRNAME, dsla_home  # noqa: E402

ASSETS = Path(os.environ.get("DSLA_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))
TEXT = ASSETS / "datasets" / "wikitext2" / "wiki.test.raw.hfjoin.txt"


def prompt_ids(model_dir: Path, n: int, vocab: int) -> list:
    """n token ids of real text (WikiText-2, repeated if needed); falls back to fixed pseudo-random ids."""
    ids = []
    text = TEXT.read_text(encoding="utf-8")[:max(4000, n * 8)] if TEXT.is_file() else ""
    try:
        if text and (model_dir / "tokenizer.json").is_file():
            from tokenizers import Tokenizer
            chunk = Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(text, add_special_tokens=False).ids
        elif text and (model_dir / "tokenizer.model").is_file():
            import sentencepiece as spm
            chunk = spm.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model")).encode(text)
        else:
            chunk = []
        while chunk and len(ids) < n:
            ids += chunk
    except Exception as e:  # noqa: BLE001 - any tokenizer problem -> synthetic ids
        print(f"[bench] tokenizer unusable ({type(e).__name__}: {e}); using synthetic ids", file=sys.stderr)
        ids = []
    if len(ids) < n:
        import torch
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(3, vocab, (n,), generator=g).tolist()
    return ids[:n]


def run_once(model, ids, new_tokens: int):
    import torch
    from transformers import DynamicCache
    x = torch.tensor([ids])
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        t0 = time.perf_counter()
        out = model(input_ids=x, past_key_values=cache, use_cache=True, logits_to_keep=1)
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        t1 = time.perf_counter()
        cache = out.past_key_values
        toks = [int(nxt)]
        pos = len(ids)
        for _ in range(new_tokens - 1):
            out = model(input_ids=nxt, past_key_values=cache, use_cache=True,
                        cache_position=torch.tensor([pos]), logits_to_keep=1)
            cache = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            toks.append(int(nxt))
            pos += 1
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1, toks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Measure HF transformers prefill tokens/s and greedy decode tokens/s (float32, CPU) for a "
                    "LlamaForCausalLM directory at the given prompt lengths; prints one JSON line per length.")
    ap.add_argument("--model", type=Path, default=dsla_home() / "models" / MODEL_DIRNAME,
                    help="HF model directory (default $DSLA_HOME/models/SmolLM2-135M-Instruct)")
    ap.add_argument("--prompt-len", type=int, nargs="+", default=[512], help="prompt lengths in tokens (default 512)")
    ap.add_argument("--new-tokens", type=int, default=64, help="greedy tokens to decode (default 64)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per length; the median is reported (default 3)")
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="attn_implementation (default sdpa)")
    args = ap.parse_args(argv)

    if not (args.model / "config.json").is_file():
        print(f"bench_hf_generate: error: {args.model} has no config.json", file=sys.stderr)
        return 2
    if args.new_tokens < 1 or args.repeats < 1 or args.threads < 1 or min(args.prompt_len) < 1:
        print("bench_hf_generate: error: --new-tokens, --repeats, --threads and --prompt-len must be >= 1",
              file=sys.stderr)
        return 2

    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(args.model), dtype=torch.float32,
                                                 attn_implementation=args.attn).eval()
    load_s = time.perf_counter() - t0
    maxpos = getattr(model.config, "max_position_embeddings", None)
    for L in args.prompt_len:
        if maxpos is not None and L + args.new_tokens > maxpos:
            print(f"bench_hf_generate: error: prompt {L} + {args.new_tokens} new tokens exceeds "
                  f"max_position_embeddings {maxpos}", file=sys.stderr)
            return 2
    for L in args.prompt_len:
        ids = prompt_ids(args.model, L, model.config.vocab_size)
        run_once(model, ids[:min(L, 32)], min(args.new_tokens, 4))  # warm-up
        pre, dec, toks = [], [], None
        for _ in range(args.repeats):
            p, d, toks = run_once(model, ids, args.new_tokens)
            pre.append(p)
            dec.append(d)
        p, d = statistics.median(pre), statistics.median(dec)
        n_dec = args.new_tokens - 1  # the first new token comes out of the prefill forward
        rec = {"model": str(args.model), "prompt_len": L, "new_tokens": args.new_tokens, "threads": args.threads,
               "dtype": "float32", "device": "cpu", "attn_implementation": args.attn, "repeats": args.repeats,
               "prefill_s": round(p, 4), "prefill_tok_s": round(L / p, 1),
               "decode_s": round(d, 4), "decode_steps": n_dec,
               "decode_tok_s": round(n_dec / d, 2) if n_dec else None,
               "decode_ms_per_tok": round(1000 * d / n_dec, 2) if n_dec else None,
               "prefill_s_all": [round(x, 4) for x in pre], "decode_s_all": [round(x, 4) for x in dec],
               "first_new_ids": toks[:8], "load_s": round(load_s, 2),
               "loadavg_1m_after": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count(),
               "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                                   "MKL_NUM_THREADS") if k in os.environ},
               "torch": torch.__version__, "transformers": transformers.__version__}
        print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
