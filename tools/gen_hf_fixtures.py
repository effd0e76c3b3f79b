#!/usr/bin/env python3
"""Generate HF-transformers reference fixtures (logits, greedy ids) for stories260K and SmolLM2 into data/fixtures/."""
# Every array is raw little-endian float32, row-major, in a .f32 file; its JSON sidecar (same stem) gives the shape,
# the token ids, the prompt, the stored positions, value ranges, the file's sha256 and the torch/transformers/numpy
# versions. Greedy continuations are JSON only. The C++ tests read them with nlohmann-json + fread.
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_smollm2 import MODEL_DIRNAME, atomic_write_bytes, atomic_write_json, dsla_home  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MAX_FIXTURE_BYTES = 2 * 1024 * 1024
SHARED = Path(os.environ.get("DSLA_SHARED", "/work/shared"))

STORIES_LILY = "Once upon a time, there was a little girl named Lily."
STORIES_SHORT = "Tom and his dog went to the park. They played with a red ball all day."
STORIES_LONG_ANCHOR = "Once upon a time, in a big forest, there lived a rhinoceros named Roxy."
STORIES_LONG_T = 300

SMOL_PLAIN = "Once upon a time, there was a little girl named Lily."
SMOL_CHAT = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
SMOL_LONG_T = 1280
SMOL_LONG_EXTRA_POS = [1023, 1024, 1100]


def log(msg: str) -> None:
    print(f"[gen_hf_fixtures] {msg}", flush=True)


def die(msg: str) -> None:
    print(f"gen_hf_fixtures: error: {msg}", file=sys.stderr)
    sys.exit(2)


def versions() -> dict:
    import numpy as np
    import torch
    import transformers
    import tokenizers
    v = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
         "numpy": np.__version__, "tokenizers": tokenizers.__version__, "torch_num_threads": torch.get_num_threads()}
    try:
        import sentencepiece
        v["sentencepiece"] = sentencepiece.__version__
    except ImportError:
        pass
    return v


def write_f32(out: Path, stem: str, arr, meta: dict) -> dict:
    """Writes `stem`.f32 (little-endian f32, row-major) and `stem`.json (meta + shape, ranges, sha256)."""
    import numpy as np
    a = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
    blob = a.tobytes(order="C")
    if len(blob) > MAX_FIXTURE_BYTES:
        raise SystemExit(f"gen_hf_fixtures: error: {stem}.f32 would be {len(blob)} bytes (> 2 MiB)")
    side = dict(meta)
    side.update({"file": f"{stem}.f32", "dtype": "float32", "byte_order": "little", "layout": "row-major",
                 "shape": list(a.shape), "nbytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
                 "min": float(a.min()), "max": float(a.max()), "max_abs": float(np.abs(a).max())})
    atomic_write_bytes(out / f"{stem}.f32", blob)
    atomic_write_json(out / f"{stem}.json", side)
    log(f"wrote {stem}.f32 {list(a.shape)} ({len(blob) / 1024:.0f} KiB), |x| <= {side['max_abs']:.2f}")
    return side


# --------------------------------------------------------------------------------------------------- stories260K

def gen_stories(out: Path, hf_dir: Path, common: dict) -> dict:
    import numpy as np
    import sentencepiece as spm
    import torch
    from transformers import LlamaForCausalLM

    for f in ("config.json", "model.safetensors", "tokenizer.model"):
        if not (hf_dir / f).is_file():
            die(f"{hf_dir / f} not found (is --stories-dir right?)")
    sp = spm.SentencePieceProcessor(model_file=str(hf_dir / "tokenizer.model"))
    bos = sp.bos_id()
    model = LlamaForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32, local_files_only=True).eval()
    V = model.config.vocab_size

    ts = (SHARED / "assets/datasets/tinystories_val_sample/tinystories_val.txt").read_text(encoding="utf-8")
    k = ts.find(STORIES_LONG_ANCHOR)
    if k < 0:
        die("anchor story not found in tinystories_val.txt")
    long_ids = ([bos] + sp.encode(ts[k:k + 4000]))[:STORIES_LONG_T]
    prompts = [
        ("lily", STORIES_LILY, [bos] + sp.encode(STORIES_LILY), "reference prompt (same ids as "
         "stories260K/reference/prompt_logits.json)"),
        ("park", STORIES_SHORT, [bos] + sp.encode(STORIES_SHORT), "short prompt"),
        ("long300", sp.decode(long_ids[1:]), long_ids,
         f"first {STORIES_LONG_T} tokens (BOS included) of the TinyStories validation story starting "
         f"'{STORIES_LONG_ANCHOR}' in /work/shared/assets/datasets/tinystories_val_sample/tinystories_val.txt; "
         "ids are truncated, so 'prompt' is their decoding and may not re-encode to exactly these ids"),
    ]
    summary = {}
    with torch.inference_mode():
        for name, text, ids, note in prompts:
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
            assert logits.shape == (len(ids), V)
            meta = dict(common)
            meta.update({"model": "stories260K", "model_dir": str(hf_dir), "prompt_name": name, "prompt": text,
                         "note": note, "tokenizer": "sentencepiece tokenizer.model, BOS prepended, no EOS",
                         "ids": [int(i) for i in ids], "T": len(ids), "vocab_size": V,
                         "positions": list(range(len(ids))), "rows": "all positions: logits[t] predicts ids[t+1]",
                         "argmax": [int(x) for x in logits.argmax(-1)]})
            write_f32(out, f"hf_stories260k_logits_{name}", logits, meta)
            summary[name] = {"T": len(ids), "logits": logits, "ids": ids}

        # HF vs the project's float64-derived reference logits
        ref_dir = SHARED / "assets/stories260K/reference"
        ref_meta = json.loads((ref_dir / "prompt_logits.json").read_text())
        ref = np.fromfile(ref_dir / "prompt_logits.f32", dtype="<f4").reshape(ref_meta["shape"])
        mine = summary["lily"]["logits"]
        ids_same = [int(i) for i in summary["lily"]["ids"]] == [int(i) for i in ref_meta["tokens"]]
        cmp = {"ids_identical": ids_same, "max_abs_diff": float(np.abs(mine - ref).max()) if ids_same else None,
               "mean_abs_diff": float(np.abs(mine - ref).mean()) if ids_same else None,
               "argmax_identical": bool((mine.argmax(-1) == ref.argmax(-1)).all()) if ids_same else None,
               "max_abs_logit": float(np.abs(ref).max())}
        log(f"stories260K HF vs reference/prompt_logits.f32: {cmp}")

        # greedy continuation
        prompt = summary["lily"]["ids"]
        gen = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             max_new_tokens=64, do_sample=False, num_beams=1)
        new = [int(x) for x in gen[0, len(prompt):]]
        eos = model.generation_config.eos_token_id
        # the project's llama2.c-derived greedy run from BOS passes through this prompt: continuations must agree
        gref = json.loads((ref_dir / "greedy_from_bos_200.json").read_text())["tokens_including_bos"]
        seq = [int(i) for i in prompt] + new
        greedy_cmp = {"reference": "stories260K/reference/greedy_from_bos_200.json",
                      "prompt_is_prefix_of_reference": gref[:len(prompt)] == seq[:len(prompt)],
                      "n_compared": min(len(seq), len(gref)),
                      "identical": gref[:len(seq)] == seq[:len(gref)]}
        log(f"stories260K HF greedy vs reference greedy_from_bos_200: {greedy_cmp}")
        gmeta = dict(common)
        gmeta.update({"model": "stories260K", "model_dir": str(hf_dir), "prompt_name": "lily", "prompt": STORIES_LILY,
                      "prompt_ids": [int(i) for i in prompt], "max_new_tokens": 64,
                      "generate_kwargs": {"do_sample": False, "num_beams": 1, "eos_token_id": eos},
                      "new_ids": new, "n_new": len(new), "stopped_at_eos": bool(new and new[-1] == eos),
                      "text": sp.decode([int(i) for i in prompt[1:]] + new),
                      "compare_reference_logits": cmp, "compare_reference_greedy": greedy_cmp})
        atomic_write_json(out / "hf_stories260k_greedy_lily.json", gmeta)
        log(f"wrote hf_stories260k_greedy_lily.json ({len(new)} new ids): {gmeta['text']!r}")
    return cmp


# --------------------------------------------------------------------------------------------------- SmolLM2

def gen_smollm2(out: Path, model_dir: Path, common: dict) -> dict:
    import numpy as np
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (model_dir / f).is_file():
            die(f"{model_dir / f} not found: run tools/fetch_smollm2.sh first (or pass --smollm2-dir)")
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = LlamaForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, local_files_only=True).eval()
    V = model.config.vocab_size
    stamp = {}
    if (model_dir / ".dsla_convert.json").is_file():
        stamp = json.loads((model_dir / ".dsla_convert.json").read_text())

    chat_text = tok.apply_chat_template(SMOL_CHAT, tokenize=False, add_generation_prompt=True)
    wiki = (SHARED / "assets/datasets/wikitext2/wiki.test.raw.hfjoin.txt").read_text(encoding="utf-8")
    wiki = wiki.lstrip()
    long_ids = tok.encode(wiki[:20000], add_special_tokens=False)[:SMOL_LONG_T]
    if len(long_ids) < SMOL_LONG_T:
        die("wikitext2 text too short for the long prompt")
    prompts = [
        ("plain", SMOL_PLAIN, tok.encode(SMOL_PLAIN, add_special_tokens=False), "plain text, no BOS (SmolLM2 "
         "adds none)"),
        ("chat", chat_text, tok.encode(chat_text, add_special_tokens=False),
         f"chat template from tokenizer_config.json applied to {json.dumps(SMOL_CHAT)} with "
         "add_generation_prompt=True (the template inserts the default system prompt)"),
        ("long1280", tok.decode(long_ids), long_ids,
         f"first {SMOL_LONG_T} tokens of /work/shared/assets/datasets/wikitext2/wiki.test.raw.hfjoin.txt "
         "(leading whitespace stripped); ids are truncated, so 'prompt' is their decoding"),
    ]
    info = {}
    with torch.inference_mode():
        for name, text, ids, note in prompts:
            T = len(ids)
            pos = {0, 1, 2, T // 2, T - 3, T - 2, T - 1}
            if name.startswith("long"):
                pos |= set(SMOL_LONG_EXTRA_POS)
            pos = sorted(p for p in pos if 0 <= p < T)
            t0 = time.time()
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
            dt = time.time() - t0
            full_argmax = logits.argmax(-1)
            rows = logits[pos]
            meta = dict(common)
            meta.update({"model": "SmolLM2-135M-Instruct (f32, converted by tools/fetch_smollm2.py)",
                         "model_dir": str(model_dir), "model_source_sha256": stamp.get("source_sha256"),
                         "prompt_name": name, "prompt": text, "note": note,
                         "tokenizer": "tokenizer.json via AutoTokenizer, add_special_tokens=False",
                         "ids": [int(i) for i in ids], "T": T, "vocab_size": V, "positions": pos,
                         "rows": "row r = logits at position positions[r] (predicts ids[positions[r]+1])",
                         "argmax": [int(full_argmax[p]) for p in pos],
                         "argmax_all_positions": [int(x) for x in full_argmax],
                         "all_positions_min": float(logits.min()), "all_positions_max": float(logits.max()),
                         "forward_seconds": round(dt, 2)})
            write_f32(out, f"hf_smollm2_logits_{name}", rows, meta)
            info[name] = {"T": T, "positions": pos}

        greedy = []
        for name, ids in (("plain", prompts[0][2]), ("chat", prompts[1][2])):
            gen = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 max_new_tokens=32, do_sample=False, num_beams=1)
            new = [int(x) for x in gen[0, len(ids):]]
            eos = model.generation_config.eos_token_id
            greedy.append({"prompt_name": name, "prompt_ids": [int(i) for i in ids], "max_new_tokens": 32,
                           "new_ids": new, "n_new": len(new),
                           "stopped_at_eos": bool(new and new[-1] in (eos if isinstance(eos, list) else [eos])),
                           "text": tok.decode(new, skip_special_tokens=False)})
            log(f"greedy {name}: {len(new)} new ids: {greedy[-1]['text']!r}")
        gmeta = dict(common)
        gmeta.update({"model": "SmolLM2-135M-Instruct (f32, converted by tools/fetch_smollm2.py)",
                      "model_dir": str(model_dir), "model_source_sha256": stamp.get("source_sha256"),
                      "generate_kwargs": {"do_sample": False, "num_beams": 1,
                                          "eos_token_id": model.generation_config.eos_token_id},
                      "continuations": greedy})
        atomic_write_json(out / "hf_smollm2_greedy.json", gmeta)
        log("wrote hf_smollm2_greedy.json")

    # tokenizer cases: ids from tokenizer.json (HF tokenizers), cross-checked with llama.cpp's tokenizer when
    # llama-cpp-python is importable (it reads the vocabulary straight from the GGUF)
    from check_smollm2 import TEST_STRINGS
    lcpp = None
    gguf = (stamp.get("source") or "")
    try:
        import llama_cpp  # type: ignore
        if gguf and Path(gguf).is_file():
            lcpp = llama_cpp.Llama(model_path=gguf, vocab_only=True, verbose=False)
    except Exception as e:  # noqa: BLE001 - optional cross-check
        log(f"llama.cpp tokenizer unavailable ({type(e).__name__}); tokenizer cases not cross-checked")
    cases, n_agree = [], 0
    for text in TEST_STRINGS:
        ids = tok.encode(text, add_special_tokens=False)
        c = {"text": text, "ids": [int(i) for i in ids], "decoded": tok.decode(ids, skip_special_tokens=False)}
        if lcpp is not None:
            c["llama_cpp_agrees"] = [int(i) for i in lcpp.tokenize(text.encode("utf-8"), add_bos=False,
                                                                     special=True)] == c["ids"]
            n_agree += c["llama_cpp_agrees"]
        cases.append(c)
    tmeta = dict(common)
    tmeta.update({"model": "SmolLM2-135M-Instruct tokenizer.json (written by tools/fetch_smollm2.py)",
                  "model_dir": str(model_dir), "model_source_sha256": stamp.get("source_sha256"),
                  "encode": "add_special_tokens=False (SmolLM2 adds no BOS); special tokens in the text are matched",
                  "llama_cpp_cross_check": None if lcpp is None else f"{n_agree}/{len(cases)} identical",
                  "cases": cases})
    atomic_write_json(out / "hf_smollm2_tokenizer.json", tmeta)
    log(f"wrote hf_smollm2_tokenizer.json ({len(cases)} strings"
        + ("" if lcpp is None else f", llama.cpp agrees on {n_agree}/{len(cases)}") + ")")
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Write HF transformers reference fixtures (float32 logits as raw little-endian .f32 + JSON "
                    "sidecars, greedy continuations as JSON) for stories260K and SmolLM2-135M-Instruct.")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "fixtures", help="output dir (default data/fixtures)")
    ap.add_argument("--stories-dir", type=Path, default=SHARED / "assets/stories260K/hf",
                    help="stories260K HF directory (default /work/shared/assets/stories260K/hf)")
    ap.add_argument("--smollm2-dir", type=Path, default=dsla_home() / "models" / MODEL_DIRNAME,
                    help="converted SmolLM2 directory (default $DSLA_HOME/models/SmolLM2-135M-Instruct)")
    ap.add_argument("--only", choices=["stories260k", "smollm2"], default=None, help="generate only one model's set")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    args = ap.parse_args(argv)

    for d, what in ((args.stories_dir, "stories260K"), (args.smollm2_dir, "SmolLM2")):
        if args.only in (None, what.lower()) and not d.is_dir():
            die(f"{what} directory not found: {d}")

    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    args.out.mkdir(parents=True, exist_ok=True)
    common = {"generated_by": "tools/gen_hf_fixtures.py", "versions": versions(),
              "dtype_compute": "float32 (CPU)",
              "generated_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    t0 = time.time()
    if args.only in (None, "stories260k"):
        gen_stories(args.out, args.stories_dir, common)
    if args.only in (None, "smollm2"):
        gen_smollm2(args.out, args.smollm2_dir, common)
    log(f"done in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
