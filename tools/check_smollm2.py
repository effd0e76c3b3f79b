#!/usr/bin/env python3
"""Check the converted SmolLM2 directory against transformers' own GGUF loader (tensors, tokenizer ids, logits)."""
# transformers can read a GGUF itself (from_pretrained(dir, gguf_file=...)): it dequantizes with the gguf package and
# un-permutes q/k with its own code, so it is an independent implementation of what tools/fetch_smollm2.py does.
# When llama-cpp-python is importable, its tokenizer (llama.cpp's own, from the same GGUF) is a third reference.
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fetch_smollm2 as fs  # noqa: E402

TEST_STRINGS = [
    "Hello, world!",
    "Once upon a time, there was a little girl named Lily.",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces and trailing spaces   ",
    "tabs\tand\nnewlines\n\nand\r\nCRLF",
    "I bought 3 apples and 12 oranges for $4.99 on 2024-01-15.",
    "Pi is 3.14159265358979 and e is 2.718281828.",
    "1234567890 0987654321 000 007",
    "Phone: +1 (555) 123-4567, ext. 89",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 40))",
    "for (int i = 0; i < 10; ++i) { x[i] = i * i; }",
    "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
    "<|endoftext|>text after end of text",
    "special tokens inline: <|im_end|><|im_start|><repo_name><file_sep>",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade co\u00f6perate",
    "\u00dcber gr\u00f6\u00dfe Stra\u00dfe M\u00fcnchen",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
    "\u4e2d\u6587\u6587\u672c\uff0c\u5305\u542b\u6807\u70b9\u7b26\u53f7\u3002",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043a\u0430\u043a \u0434\u0435\u043b\u0430?",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "Emoji: \U0001f600\U0001f680\U0001f44d\U0001f3fd \u2764\ufe0f",
    "Math: \u2200x\u2208\u211d, x\u00b2 \u2265 0; \u2211_{i=1}^{n} i = n(n+1)/2",
    "It's, they're, we've, I'm, you'll, he'd, DON'T, 'quoted'",
    "URL: https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct?x=1&y=2#frag",
    "email: someone@example.com; path: /usr/local/bin/python3",
    "ALLCAPS and MixedCase and snake_case and camelCaseWords",
    "!!!??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((()))",
    "                                                            ",
    "a",
    "",
    "The year 1999 ended; 2000 began. Values: 0.5, -17, 1e-5, 6.02e23.",
    "Tom had 100 marbles. He gave 25 to Sam and 13 to Ann. How many were left?",
    "Wikipedia: The Battle of Hastings was fought on 14 October 1066.",
    "  \n  \t mixed   whitespace \u00a0 nbsp \u2009 thin space",
    "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\nWaves fold into foam",
    "SmolLM2 is a family of compact language models available in three sizes: 135M, 360M, and 1.7B parameters.",
    # whitespace runs before digits: here the Digits pre-tokenizer matters (SmolLM2's 'smollm' pre-tokenizer);
    # transformers' GGUF tokenizer has no entry for 'smollm' and falls back to plain GPT-2 splitting
    "Total:  42",
    "    1. indented list",
    "x = [\n    10,\n    20]",
    "a   123",
]

LOGIT_PROMPTS = [
    "Once upon a time, there was a little girl named Lily.",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Verify a directory written by tools/fetch_smollm2.py against transformers' GGUF loader: "
                    "tensor-by-tensor weights, tokenizer ids on a few dozen strings, and logits.")
    ap.add_argument("--model", type=Path, default=fs.dsla_home() / "models" / fs.MODEL_DIRNAME,
                    help="converted HF directory (default: $DSLA_HOME/models/SmolLM2-135M-Instruct)")
    ap.add_argument("--gguf", default=None, help="the GGUF it was converted from (default: located like fetch_smollm2)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)

    if not (args.model / "config.json").is_file() or not (args.model / "model.safetensors").is_file():
        print(f"check_smollm2: error: {args.model} is not a converted model directory "
              "(run tools/fetch_smollm2.sh first)", file=sys.stderr)
        return 2
    try:
        gguf_path = fs.locate_gguf(args.gguf, fs.dsla_home() / "downloads")
    except fs.ConvertError as e:
        print(f"check_smollm2: error: {e}", file=sys.stderr)
        return 2

    import numpy as np
    import torch
    import transformers
    from safetensors.torch import load_file
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    torch.set_num_threads(args.threads)
    t0 = time.time()
    res = {"model": str(args.model), "gguf": str(gguf_path), "torch": torch.__version__,
           "transformers": transformers.__version__, "numpy": np.__version__}
    ok = True

    # ---- 1. tensors
    print(f"[check] loading {gguf_path.name} with transformers (gguf_file=...)", flush=True)
    ref = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                               dtype=torch.float32).eval()
    ref_sd = {k: v for k, v in ref.state_dict().items()}
    ours = load_file(str(args.model / "model.safetensors"))
    tied_ref = ref.config.tie_word_embeddings
    worst, n_exact, per = 0.0, 0, {}
    for k, v in ours.items():
        if k not in ref_sd:
            print(f"[check] FAIL: {k} not in transformers' GGUF model", flush=True)
            ok = False
            continue
        r = ref_sd[k].float()
        if tuple(r.shape) != tuple(v.shape):
            print(f"[check] FAIL: {k} shape {tuple(v.shape)} vs {tuple(r.shape)}", flush=True)
            ok = False
            continue
        d = (v - r).abs().max().item()
        per[k] = d
        worst = max(worst, d)
        n_exact += int(torch.equal(v, r))
    extra = sorted(set(ref_sd) - set(ours) - ({"lm_head.weight"} if tied_ref else set()))
    if extra:
        print(f"[check] FAIL: transformers has tensors we lack: {extra[:5]}", flush=True)
        ok = False
    worst_k = max(per, key=per.get) if per else None
    res["tensors"] = {"n": len(ours), "n_bitwise_equal": n_exact, "max_abs_diff": worst, "worst_tensor": worst_k,
                      "transformers_tie_word_embeddings": bool(tied_ref)}
    print(f"[check] tensors: {n_exact}/{len(ours)} bitwise equal, max |diff| = {worst:.3g} ({worst_k})", flush=True)
    ok &= worst <= 1e-6
    # config fields transformers derived from the GGUF vs ours
    our_cfg = json.loads((args.model / "config.json").read_text())
    cfg_keys = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "max_position_embeddings", "rms_norm_eps", "vocab_size", "bos_token_id", "eos_token_id",
                "tie_word_embeddings"]
    cfg_diff = {k: (our_cfg.get(k), getattr(ref.config, k, None)) for k in cfg_keys
                if our_cfg.get(k) != getattr(ref.config, k, None)}
    rp = getattr(ref.config, "rope_parameters", None) or {}
    ref_theta = rp.get("rope_theta", getattr(ref.config, "rope_theta", None))
    if ref_theta is not None and float(ref_theta) != float(our_cfg["rope_theta"]):
        cfg_diff["rope_theta"] = (our_cfg["rope_theta"], ref_theta)
    res["config_differences"] = {k: list(v) for k, v in cfg_diff.items()}
    print(f"[check] config fields differing from transformers' GGUF config: {cfg_diff or 'none'}", flush=True)

    # ---- 2. tokenizer
    print("[check] tokenizers: ours (tokenizer.json raw + AutoTokenizer) vs transformers' GGUF tokenizer", flush=True)
    our_raw = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    our_auto = AutoTokenizer.from_pretrained(str(args.model))
    ref_tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    try:
        import llama_cpp  # type: ignore
        lcpp = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    except Exception as e:  # noqa: BLE001 - optional third reference
        print(f"[check] llama-cpp-python not usable ({type(e).__name__}: {e}); skipping llama.cpp's tokenizer",
              flush=True)
        lcpp = None
    rows, n_ref_same, n_auto_same, n_lcpp_same, n_rt = [], 0, 0, 0, 0
    for s in TEST_STRINGS:
        a = our_raw.encode(s, add_special_tokens=False).ids
        b = our_auto.encode(s, add_special_tokens=False)
        c = ref_tok.encode(s, add_special_tokens=False)
        row = {"text": s, "n_ours": len(a), "auto_same": a == b, "gguf_same": a == c}
        n_auto_same += a == b
        n_ref_same += a == c
        if lcpp is not None:
            d = lcpp.tokenize(s.encode("utf-8"), add_bos=False, special=True)
            row["llama_cpp_same"] = a == d
            n_lcpp_same += a == d
            if a != d:
                row["llama_cpp_ids"] = d
        rt = our_raw.decode(a, skip_special_tokens=False) == s
        row["roundtrip"] = rt
        n_rt += rt
        if a != c:
            row["ours_ids"], row["gguf_ids"] = a, c
        rows.append(row)
    n = len(TEST_STRINGS)
    res["tokenizer"] = {"n_strings": n, "ours_vs_our_AutoTokenizer": n_auto_same,
                        "ours_vs_transformers_gguf": n_ref_same,
                        "ours_vs_llama_cpp": n_lcpp_same if lcpp is not None else None,
                        "decode_roundtrip": n_rt, "rows": rows}
    print(f"[check] tokenizer: identical ids ours vs our AutoTokenizer {n_auto_same}/{n}, "
          f"vs transformers' GGUF tokenizer {n_ref_same}/{n}"
          + (f", vs llama.cpp {n_lcpp_same}/{n}" if lcpp is not None else "")
          + f"; decode round-trip {n_rt}/{n}", flush=True)
    if n_ref_same != n:
        print("[check]   note: transformers' GGUF tokenizer does not know tokenizer.ggml.pre='smollm' (no Digits "
              "pre-tokenizer), so it splits whitespace before digits differently; llama.cpp is the reference here",
              flush=True)
    for r in rows:
        if not r["gguf_same"] or not r.get("llama_cpp_same", True):
            print(f"[check]   differs: {r['text']!r}: ours {r.get('ours_ids', '')} transformers-gguf "
                  f"{r.get('gguf_ids', '')} llama.cpp-same={r.get('llama_cpp_same')}", flush=True)
    ok &= n_auto_same == n
    if lcpp is not None:
        ok &= n_lcpp_same == n

    # ---- 3. logits
    print("[check] logits: LlamaForCausalLM.from_pretrained(ours) vs transformers' GGUF model", flush=True)
    mine = LlamaForCausalLM.from_pretrained(str(args.model), dtype=torch.float32).eval()
    lrows = []
    with torch.inference_mode():
        for p in LOGIT_PROMPTS:
            ids = torch.tensor([our_raw.encode(p, add_special_tokens=False).ids])
            la = mine(ids).logits[0].float()
            lb = ref(ids).logits[0].float()
            d = (la - lb).abs().max().item()
            agree = (la.argmax(-1) == lb.argmax(-1)).float().mean().item()
            lrows.append({"prompt": p, "T": ids.shape[1], "max_abs_diff": d, "argmax_agreement": agree,
                          "max_abs_logit": la.abs().max().item()})
            print(f"[check]   T={ids.shape[1]:3d} max|diff|={d:.3g} argmax agreement {agree:.3f} "
                  f"(max|logit| {la.abs().max().item():.1f})", flush=True)
    res["logits"] = lrows
    ok &= all(r["max_abs_diff"] <= 1e-3 for r in lrows)

    # ---- 4. logits vs llama.cpp (optional): a third implementation that runs the *quantized* GGUF with llama.cpp's
    # own RoPE layout, so it checks the q/k un-permutation independently of transformers. llama.cpp quantizes the
    # activations to 8 bits for Q4_1 matmuls, so logits differ by ~1 at most; the control (q/k rows left in
    # llama.cpp's permuted order) shows what a wrong permutation looks like.
    if lcpp is not None:
        print("[check] logits vs llama.cpp on the Q4_1 GGUF (and a wrong-permutation control)", flush=True)
        try:
            lcpp_full = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=512, logits_all=True,
                                        n_threads=args.threads, verbose=False)
        except Exception as e:  # noqa: BLE001
            print(f"[check] llama.cpp model load failed ({e}); skipping", flush=True)
            lcpp_full = None
        if lcpp_full is not None:
            import copy
            wrong = copy.deepcopy(mine)
            nh, nkv = mine.config.num_attention_heads, mine.config.num_key_value_heads

            def perm(w, n):  # llama.cpp's convert_hf_to_gguf permute (the forward direction)
                return w.reshape(n, 2, w.shape[0] // n // 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)

            with torch.no_grad():
                for layer in wrong.model.layers:
                    layer.self_attn.q_proj.weight.copy_(perm(layer.self_attn.q_proj.weight, nh))
                    layer.self_attn.k_proj.weight.copy_(perm(layer.self_attn.k_proj.weight, nkv))

            def cmp(a, b):
                la, lb = torch.log_softmax(a, -1), torch.log_softmax(b, -1)
                kl = (la.exp() * (la - lb)).sum(-1)  # KL(llama.cpp || HF) per position
                return {"max_abs_diff": (a - b).abs().max().item(), "kl_mean": kl.mean().item(),
                        "kl_max": kl.max().item(), "argmax_agreement": (a.argmax(-1) == b.argmax(-1)).float().mean().item()}

            crow = []
            prompts = LOGIT_PROMPTS + ["The quick brown fox jumps over the lazy dog. " * 8]
            with torch.inference_mode():
                for p in prompts:
                    ids = our_raw.encode(p, add_special_tokens=False).ids
                    lcpp_full.reset()
                    lcpp_full.eval(ids)
                    a = torch.from_numpy(np.array(lcpp_full.scores[:len(ids)], dtype=np.float32))
                    x = torch.tensor([ids])
                    r_ok, r_bad = cmp(a, mine(x).logits[0].float()), cmp(a, wrong(x).logits[0].float())
                    crow.append({"T": len(ids), "ours": r_ok, "wrong_permutation_control": r_bad})
                    print(f"[check]   T={len(ids):3d} ours: max|diff| {r_ok['max_abs_diff']:.3f} KL mean "
                          f"{r_ok['kl_mean']:.4f} argmax {r_ok['argmax_agreement']:.3f} | control: max|diff| "
                          f"{r_bad['max_abs_diff']:.1f} KL mean {r_bad['kl_mean']:.3f} argmax "
                          f"{r_bad['argmax_agreement']:.3f}", flush=True)
            res["logits_vs_llama_cpp"] = crow
            ok &= all(r["ours"]["kl_mean"] < 0.05 and r["ours"]["kl_mean"] * 20 < r["wrong_permutation_control"]["kl_mean"]
                      for r in crow)
    res["ok"] = bool(ok)
    res["seconds"] = round(time.time() - t0, 1)
    if args.json_out:
        fs.atomic_write_json(args.json_out, res)
    print(f"[check] {'PASS' if ok else 'FAIL'} in {res['seconds']} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
