#!/usr/bin/env python3
# Checks that the HF remote code (src/model/hf_remote) loads a dsla export and matches dsla's C++ outputs.
"""Parity of the HF remote code (transformers, trust_remote_code) with dsla's C++ on one export.

Usage: hf_remote_parity.py EXPORT_DIR [--out JSON] [--in-place] [--dsla BIN] [--prompt TEXT ...] [--new-tokens N]

An export written by `dsla export` carries the remote code and `auto_map` and is loaded as it is (its two files must
equal src/model/hf_remote's). An older export is copied to a temporary directory (every file symlinked except
config.json, which gets `auto_map`, and the two remote-code files, which are copied in); --in-place writes the files
and auto_map into the export itself.
dsla's CLI prints no logits, so the C++ side is read through what it does print:
  nll        `dsla ppl --max-tokens k` for k = 1..K gives the summed NLL of each prompt's first k tokens (double
             precision); differences give dsla's per-token NLL, compared with the NLL from HF's logits. Since
             |dNLL| <= 2 max|dlogit|, the bound checked is max|dNLL| / logit range <= 2e-4 (<=> 1e-4 on logits).
  greedy     `dsla generate --temperature 0 --ignore-eos -n N` (text) against HF generate(do_sample=False) with EOS
             off, decoded: must be identical.
  batch      `dsla eval` on a generate task (all prompts in one left-padded batch, stops at EOS) against HF generate
             on the left-padded batch (attention_mask): identical texts.
HF-internal logit checks (max|dlogit| / logit range <= 1e-4): the chunked prefill against the token recurrence,
cached decoding (prefill half, then token by token) against one full forward, and a left-padded batch against each
prompt alone. Writes a JSON summary (--out) and exits 1 when a check fails.
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REMOTE = REPO / "src" / "model" / "hf_remote"
AUTO_MAP = {"AutoConfig": "configuration_dsla.DslaConfig", "AutoModelForCausalLM": "modeling_dsla.DslaForCausalLM"}
DEFAULT_PROMPTS = [
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog.",
    "Tom and his dog went to the park. They played with a red ball all day.",
    "The sun was hot, so",
    "One day, a little bird named Blue flew over the big hill to find food for her babies. She saw a boy with a "
    "bag of bread. The boy was sad because he lost his toy car. Blue wanted to help him, so she looked under the "
    "trees and behind the rocks. At last she found the red car near the pond and brought it to the boy.",
]
LOGIT_TOL = 1e-4
NLL_TOL = 2e-4


def prepare(export: Path, in_place: bool) -> Path:
    """A directory transformers can load with trust_remote_code: the export itself when `dsla export` wrote the
    remote code into it (which must then equal src/model/hf_remote), else the export plus the code and auto_map."""
    config = json.loads((export / "config.json").read_text())
    if config.get("auto_map") == AUTO_MAP:
        for name in ("configuration_dsla.py", "modeling_dsla.py"):
            if (export / name).read_text() != (REMOTE / name).read_text():
                raise SystemExit(f"{export / name} differs from {REMOTE / name}: rebuild dsla and export again")
        return export
    target = export if in_place else Path(tempfile.mkdtemp(prefix="dsla_hf_remote_"))
    if not in_place:
        for f in export.iterdir():
            if f.name != "config.json" and f.is_file():
                os.symlink(f.resolve(), target / f.name)
    for name in ("configuration_dsla.py", "modeling_dsla.py"):
        shutil.copyfile(REMOTE / name, target / name)
    config = json.loads((export / "config.json").read_text())
    config["auto_map"] = AUTO_MAP
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return target


class Tok:
    """encode (no special tokens) / decode over the export's tokenizer.json, or tokenizer.model via sentencepiece."""

    def __init__(self, export: Path):
        if (export / "tokenizer.json").exists():
            from transformers import AutoTokenizer

            t = AutoTokenizer.from_pretrained(str(export))
            self.encode = lambda s: t.encode(s, add_special_tokens=False)
            self.decode = lambda ids: t.decode(ids, skip_special_tokens=True)
        else:
            import sentencepiece as spm

            sp = spm.SentencePieceProcessor(model_file=str(export / "tokenizer.model"))
            self.encode = lambda s: sp.encode(s)
            self.decode = lambda ids: sp.decode(ids)


class Dsla:
    def __init__(self, binary: str, export: Path, work: Path):
        self.binary, self.export, self.work = binary, export, work

    def run(self, *args) -> str:
        r = subprocess.run([self.binary, *args, "--threads", "1"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"dsla {' '.join(args)} failed: {r.stderr[-2000:]}")
        return r.stdout, r.stderr

    def nll_sums(self, text: str, ks: range) -> tuple[list[float], int, bool]:
        """Summed NLL of the first k scored text tokens for each k in ks, the text's tokens, and whether ppl put BOS
        first (it does whenever the tokenizer has a BOS id, even where generate's encode adds none)."""
        f = self.work / "nll.txt"
        f.write_text(text)
        sums, text_tokens, bos = [], None, None
        for k in ks:
            if k == 0:  # --max-tokens 0 means all tokens
                sums.append(0.0)
                continue
            out, _ = self.run("ppl", "--model", str(self.export), "-f", str(f), "--max-tokens", str(k), "--json")
            j = json.loads(out)
            assert j["windows"] == 1 and j["scored_tokens"] == k, j
            sums.append(j["mean_nll_nats"] * j["scored_tokens"])
            text_tokens, bos = j["text_tokens"], j["protocol"].startswith("windows of BOS")
        return sums, text_tokens, bos

    def generate(self, prompt: str, n: int) -> tuple[str, dict]:
        out, err = self.run("generate", "--model", str(self.export), "-p", prompt, "-n", str(n), "--temperature",
                            "0", "--ignore-eos", "--stats-json")
        stats = json.loads([line for line in err.splitlines() if line.startswith("{")][-1])
        return out[:-1] if out.endswith("\n") else out, stats

    def batch_generate(self, prompts: list[str], n: int) -> list[str]:
        data, task, out = self.work / "prompts.jsonl", self.work / "task.yaml", self.work / "eval"
        data.write_text("".join(json.dumps({"id": str(i), "text": p, "answer": "-"}) + "\n"
                                for i, p in enumerate(prompts)))
        task.write_text(f"schema: eval_task\nname: parity_gen\nkind: generate\nformat: jsonl\ndata: {data}\n"
                        f"reference_field: answer\nprompt: \"{{text}}\"\nfew_shot: 0\nmetric: rouge\n"
                        f"max_new_tokens: {n}\nstop: []\n")
        shutil.rmtree(out, ignore_errors=True)
        self.run("eval", "-t", str(task), "--model", str(self.export), "-o", str(out),
                 "--batch-size", str(len(prompts)))
        rows = [json.loads(line) for line in next(out.glob("*/parity_gen.jsonl")).read_text().splitlines()]
        return [r["prediction"] for r in sorted(rows, key=lambda r: r["index"])]


def rel(a, b):
    """max |a - b| / (max b - min b)."""
    return float((a - b).abs().max() / (b.max() - b.min()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("export", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--in-place", action="store_true", help="write the remote code and auto_map into the export")
    ap.add_argument("--dsla", default=os.environ.get("DSLA_BIN", str(REPO / "build/release/src/dsla")))
    ap.add_argument("--prompt", action="append", help="prompt text (repeatable; default: three short stories)")
    ap.add_argument("--new-tokens", type=int, default=24, help="greedy tokens generated per prompt")
    ap.add_argument("--nll-tokens", type=int, default=64, help="score each prompt's last N tokens (dsla ppl N+1 times)")
    ap.add_argument("--prompt-file", action="append", type=Path, help="a prompt read from a file (repeatable)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from transformers import AutoModelForCausalLM

    export = args.export.resolve()
    prompts = (args.prompt or []) + [f.read_text().strip() for f in args.prompt_file or []] or DEFAULT_PROMPTS
    work = Path(tempfile.mkdtemp(prefix="dsla_parity_"))
    model_dir = prepare(export, args.in_place)
    model, info = AutoModelForCausalLM.from_pretrained(str(model_dir), trust_remote_code=True, dtype=torch.float32,
                                                       output_loading_info=True)
    model.eval()
    modeling = sys.modules[type(model).__module__]
    tok, dsla = Tok(export), Dsla(args.dsla, export, work)
    cfg = model.config
    summary = {"export": str(export), "converted_layers": cfg.dsla_layers,
               "dsla": {k: v for k, v in cfg.dsla.items() if k not in ("order", "sensitivity", "converted_layers")},
               "loading": {k: sorted(map(str, v)) for k, v in info.items() if v}, "checks": {}}
    checks = summary["checks"]

    def check(name, ok, **numbers):
        checks[name] = {"ok": bool(ok), **numbers}
        print(f"[{'ok' if ok else 'FAIL'}] {name}: {json.dumps(numbers)}", flush=True)

    check("load", not summary["loading"], problems=summary["loading"])
    bos = cfg.bos_token_id
    ids, gen_texts = [], []
    for p in prompts:  # dsla generate first: its prompt token count says whether dsla prepends BOS
        text, stats = dsla.generate(p, args.new_tokens)
        body = tok.encode(p)
        use_bos = stats["prompt_tokens"] == len(body) + 1
        if not use_bos and stats["prompt_tokens"] != len(body):
            raise RuntimeError(f"dsla's prompt has {stats['prompt_tokens']} tokens, HF's {len(body)}: {p!r}")
        ids.append(([bos] if use_bos else []) + body)
        gen_texts.append(text)
    with torch.no_grad():
        full = [model(torch.tensor([x])).logits[0] for x in ids]  # [T, V] each
        # (a) per-token NLL against dsla ppl
        worst, worst_rel = 0.0, 0.0
        for p in prompts:
            body = tok.encode(p)
            # logits at i - 1 predict x[i]; without BOS dsla does not score x[0] either. The last `count` targets.
            ppl_bos = dsla.nll_sums(p, range(1, 2))[2]
            count = min(args.nll_tokens, len(body) - (0 if ppl_bos else 1))
            last = len(body) - (0 if ppl_bos else 1)  # scored tokens of the whole prompt
            sums, text_tokens, _ = dsla.nll_sums(p, range(last - count, last + 1))
            x = ([bos] if ppl_bos else []) + body
            logits = model(torch.tensor([x])).logits[0]
            logp = torch.log_softmax(logits.double(), -1)
            hf = [-float(logp[i - 1, x[i]]) for i in range(len(x) - count, len(x))]
            cpp = [sums[i] - sums[i - 1] for i in range(1, count + 1)]
            diff = max(abs(a - b) for a, b in zip(hf, cpp))
            rng = float(logits.max() - logits.min())
            worst, worst_rel = max(worst, diff), max(worst_rel, diff / rng)
            if text_tokens != len(tok.encode(p)):
                check("tokenizer", False, prompt=p, dsla_tokens=text_tokens, hf_tokens=len(tok.encode(p)))
        check("nll_vs_dsla_ppl", worst_rel <= NLL_TOL, max_abs_nll_diff=worst, max_nll_diff_over_logit_range=worst_rel)
        # (b) HF-internal logit checks
        modeling.DSLA_FORCE_RECURRENT = True
        recurrent = [model(torch.tensor([x])).logits[0] for x in ids]
        modeling.DSLA_FORCE_RECURRENT = False
        r = max(rel(a, b) for a, b in zip(recurrent, full))
        check("chunked_vs_recurrent_logits", r <= LOGIT_TOL, max_diff_over_range=r)
        r = 0.0
        for x, logits in zip(ids, full):
            half = max(1, len(x) // 2)
            out = model(torch.tensor([x[:half]]), use_cache=True)
            steps, cache = [out.logits[0]], out.past_key_values
            for i in range(half, len(x)):
                out = model(torch.tensor([[x[i]]]), past_key_values=cache, use_cache=True)
                steps.append(out.logits[0])
            r = max(r, rel(torch.cat(steps), logits))
        check("cached_decode_vs_full_logits", r <= LOGIT_TOL, max_diff_over_range=r)
        width = max(map(len, ids))
        batch = torch.tensor([[0] * (width - len(x)) + x for x in ids])
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids])
        padded = model(batch, attention_mask=mask).logits
        r = max(rel(padded[i, width - len(x):], full[i]) for i, x in enumerate(ids))
        check("left_padded_batch_vs_single_logits", r <= LOGIT_TOL, max_diff_over_range=r)
        # (c) greedy generation, one prompt at a time, EOS off
        gen_config = copy.deepcopy(model.generation_config)
        gen_config.max_new_tokens, gen_config.do_sample = args.new_tokens, False
        gen_config.eos_token_id, gen_config.pad_token_id = None, cfg.pad_token_id or 0
        mismatches = []
        for p, x, text in zip(prompts, ids, gen_texts):
            out = model.generate(torch.tensor([x]), generation_config=gen_config)
            new = tok.decode(out[0, len(x):].tolist())
            if not (text.endswith(new) and text[: len(text) - len(new)].strip().endswith(p.strip())):
                mismatches.append({"prompt": p, "dsla": text, "hf_new": new})
        check("greedy_vs_dsla_generate", not mismatches, prompts=len(prompts), tokens=args.new_tokens,
              mismatches=mismatches)
        # (d) greedy generation of the left-padded batch, stopping at EOS, against dsla eval
        eos = cfg.eos_token_id if isinstance(cfg.eos_token_id, int) else cfg.eos_token_id[0]
        gen_config.eos_token_id, gen_config.pad_token_id = eos, eos
        out = model.generate(batch, attention_mask=mask, generation_config=gen_config)
        hf_texts = []
        for row in out[:, width:].tolist():
            hf_texts.append(tok.decode(row[: row.index(eos)] if eos in row else row).strip())
        cpp_texts = dsla.batch_generate(prompts, args.new_tokens)
        mismatches = [{"prompt": p, "dsla": a, "hf": b} for p, a, b in zip(prompts, cpp_texts, hf_texts) if a != b]
        check("left_padded_batch_greedy_vs_dsla_eval", not mismatches, mismatches=mismatches)
    summary["ok"] = all(c["ok"] for c in checks.values())
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    if model_dir != export:  # a temporary copy
        shutil.rmtree(model_dir, ignore_errors=True)
    print("PASS" if summary["ok"] else "FAIL")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
