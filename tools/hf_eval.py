#!/usr/bin/env python3
"""HF transformers reference for `dsla eval`: regenerate dsla's predictions with transformers and score both.

Usage: ~/.cache/dsla/torch-2.11.0/bin/python tools/hf_eval.py --model DIR --predictions FILE.jsonl --out OUT.json
           [--limit N] [--batch-size 8] [--threads 2]

Reads the predictions file `dsla eval` writes (JSONL, one object per item: task, index, id, prompt, add_bos,
max_new_tokens, stop, prediction, references, metric ("squad" or "rouge"), prompt_tokens, seconds), loads the same
model with AutoModelForCausalLM (float32, eval, CPU) and, for each record, generates greedily from the same prompt
with the record's settings: BOS only when add_bos is true, at most max_new_tokens new tokens, stopping at the
tokenizer's EOS and (early exit) at the record's stop strings. Records are batched with left padding and an attention
mask; records with different (add_bos, max_new_tokens, stop) go in different batches. Each generation is
post-processed as dsla does it: decode the new tokens with special tokens skipped, cut the text at the earliest
stop string after its leading whitespace, strip leading/trailing whitespace.

Both dsla's predictions and HF's are scored with tools/eval_reference_metrics.py (SQuAD exact match / F1, ROUGE-1/2/L
F-measure; means in percent). OUT.json (written atomically) holds both scores, their absolute differences, the
fraction of identical predictions, the fraction of prompts where HF's token count equals dsla's prompt_tokens, the
speeds and the first 10 differing predictions; when the records carry dsla's own "scores", their means
("dsla_reported") are compared with the reference scoring of the same predictions. A short summary goes to stdout,
a progress line per batch to stderr.

Tokenizer: tokenizer.json via AutoTokenizer (prompt encoded with add_special_tokens=add_bos). A directory with only a
SentencePiece tokenizer.model (stories260K) is encoded and decoded with the sentencepiece library itself (what HF's
slow LlamaTokenizer did; transformers 5 cannot convert it without protobuf, and a fast LlamaTokenizer does not apply
the model's remove_extra_whitespaces normalization): BOS id prepended when add_bos is true; a LlamaTokenizer built
from the same vocabulary serves only HF's stop-string matching.

Stop strings: HF's StopStringCriteria (what generate(stop_strings=..., tokenizer=...) builds; built here once per
stop list, outside the timing, and passed as stopping_criteria) also matches a stop string that begins in the prompt
and ends in the generated tokens, or one inside the answer's leading whitespace, which dsla's cut does not count. A
generation that HF stopped early but whose decoded new text holds no stop string dsla counts is regenerated without
stop strings (counted in
"hf_stop_string_reruns"), so the HF predictions follow dsla's definition exactly.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
MAX_MISMATCHES = 10
SQUAD_KEYS = ("exact", "f1")
ROUGE_KEYS = ("rouge1", "rouge2", "rougeL")


def fail(msg: str) -> None:
    sys.exit(f"hf_eval: error: {msg}")


def log(msg: str) -> None:
    print(f"[hf_eval] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# Input checks


def load_predictions(path: Path, limit: int | None) -> list[dict]:
    if not path.is_file():
        fail(f"predictions file {path} does not exist")
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read predictions file {path}: {e}")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            fail(f"{where}: not valid JSON ({e})")
        if not isinstance(r, dict):
            fail(f"{where}: expected a JSON object, got {type(r).__name__}")
        check_record(r, where)
        records.append(r)
        if limit is not None and len(records) >= limit:
            break
    if not records:
        fail(f"predictions file {path} holds no records")
    return records


def check_record(r: dict, where: str) -> None:
    def need(key, types, what):
        if key not in r:
            fail(f"{where}: missing field \"{key}\"")
        v = r[key]
        if not isinstance(v, types) or (isinstance(v, bool) and types is not bool):  # JSON true is not a number
            fail(f"{where}: field \"{key}\" must be {what}, got {json.dumps(v)[:80]}")
        return v

    need("prompt", str, "a string")
    need("add_bos", bool, "true or false")
    if need("max_new_tokens", int, "a positive integer") <= 0:
        fail(f"{where}: field \"max_new_tokens\" must be a positive integer, got {r['max_new_tokens']}")
    stop = need("stop", list, "a list of strings")
    if not all(isinstance(s, str) for s in stop):
        fail(f"{where}: field \"stop\" must be a list of strings")
    need("prediction", str, "a string")
    refs = need("references", list, "a list of strings")
    if not all(isinstance(s, str) for s in refs):
        fail(f"{where}: field \"references\" must be a list of strings")
    metric = need("metric", str, "\"squad\" or \"rouge\"")
    if metric not in ("squad", "rouge"):
        fail(f"{where}: field \"metric\" must be \"squad\" or \"rouge\", got {json.dumps(metric)}")
    if metric == "rouge" and len(refs) != 1:
        fail(f"{where}: a rouge record needs exactly one reference summary, got {len(refs)}")
    for key, types in (("index", int), ("prompt_tokens", int), ("seconds", (int, float))):
        if r.get(key) is not None and (isinstance(r[key], bool) or not isinstance(r[key], types)):
            fail(f"{where}: field \"{key}\" must be a number, got {json.dumps(r[key])[:80]}")


def check_model_dir(d: Path) -> None:
    if not d.is_dir():
        fail(f"model directory {d} does not exist")
    cfg_path = d / "config.json"
    if not cfg_path.is_file():
        fail(f"model directory {d} has no config.json")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"{cfg_path}: not valid JSON ({e})")
    if not isinstance(cfg, dict):
        fail(f"{cfg_path}: expected a JSON object")
    dsla = cfg.get("dsla")
    if isinstance(dsla, dict) and dsla.get("converted_layers", dsla.get("converted", [1])):
        fail(f"{cfg_path} is a dsla export with converted layers, which HF transformers cannot run (it would load "
             f"the teacher's attention and ignore the DSLA parameters); pass the teacher model directory")
    if not any(d.glob("*.safetensors")):
        fail(f"model directory {d} has no *.safetensors weights")
    if not (d / "tokenizer.json").is_file() and not (d / "tokenizer.model").is_file():
        fail(f"model directory {d} has neither tokenizer.json nor tokenizer.model")


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer: one interface over HF tokenizers (tokenizer.json) and sentencepiece (tokenizer.model only)


class Tok:
    def __init__(self, model_dir: Path):
        if (model_dir / "tokenizer.json").is_file():
            from transformers import AutoTokenizer
            try:
                self.hf = AutoTokenizer.from_pretrained(str(model_dir))
            except Exception as e:  # noqa: BLE001 - report which directory failed
                fail(f"cannot load the tokenizer of {model_dir}: {type(e).__name__}: {e}")
            self.kind = "tokenizers (tokenizer.json via AutoTokenizer)"
            self.sp = None
            self.eos_id = self.hf.eos_token_id
        else:
            import sentencepiece as spm
            from transformers import LlamaTokenizer
            from transformers.tokenization_utils_base import generate_merges
            path = model_dir / "tokenizer.model"
            try:
                self.sp = spm.SentencePieceProcessor(model_file=str(path))
            except Exception as e:  # noqa: BLE001
                fail(f"cannot load SentencePiece model {path}: {type(e).__name__}: {e}")
            sp = self.sp
            vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
            scores = {sp.id_to_piece(i): sp.get_score(i) for i in range(sp.get_piece_size())}
            piece = lambda i: sp.id_to_piece(i) if i >= 0 else None  # noqa: E731
            self.hf = LlamaTokenizer(vocab=vocab, merges=generate_merges(vocab, scores), legacy=True,
                                     add_prefix_space=True, unk_token=piece(sp.unk_id()) or "<unk>",
                                     bos_token=piece(sp.bos_id()) or "<s>", eos_token=piece(sp.eos_id()) or "</s>")
            self.kind = "sentencepiece (tokenizer.model); stop strings matched by a LlamaTokenizer of its vocabulary"
            self.eos_id = sp.eos_id() if sp.eos_id() >= 0 else None
            self.bos_id = sp.bos_id() if sp.bos_id() >= 0 else None
            self.skip = {i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)}
        if self.eos_id is None:
            fail(f"the tokenizer of {model_dir} has no EOS token")

    def encode(self, text: str, add_bos: bool) -> list[int]:
        if self.sp is None:
            return list(self.hf(text, add_special_tokens=add_bos)["input_ids"])
        ids = self.sp.encode(text)
        if add_bos:
            if self.bos_id is None:
                fail("add_bos is true but the SentencePiece model has no BOS token")
            ids = [self.bos_id] + ids
        return ids

    def decode(self, ids: list[int]) -> str:
        if self.sp is None:
            return self.hf.decode(ids, skip_special_tokens=True)
        return self.sp.decode([i for i in ids if i not in self.skip])


WHITESPACE = " \t\r\n\f\v\x1c\x1d\x1e\x1f"  # what dsla strips (ASCII only, as str.strip() does for ASCII)


def stop_position(text: str, stops: list[str]) -> int | None:
    """Where dsla cuts: the earliest stop string that starts after the text's leading whitespace (None: none)."""
    start = len(text) - len(text.lstrip(WHITESPACE))
    if start == len(text):
        return None
    found = [k for k in (text.find(s, start) for s in stops) if k >= 0]
    return min(found) if found else None


def postprocess(text: str, stops: list[str]) -> str:
    """dsla's post-processing: cut at stop_position, then strip."""
    cut = stop_position(text, stops)
    return (text if cut is None else text[:cut]).strip(WHITESPACE)


# ----------------------------------------------------------------------------------------------------------------
# Generation


def generate_batch(model, tok: Tok, batch: list[dict], stops: list[str], stop_criteria) -> list[dict]:
    """Greedy generation for records sharing (add_bos, max_new_tokens, stop); returns per-record results.

    stop_criteria: None, or HF's StopStringCriteria for `stops` (what generate(stop_strings=..., tokenizer=...)
    builds on every call; built once per stop list here, since it walks the whole vocabulary)."""
    import torch
    from transformers import GenerationConfig, StoppingCriteriaList

    max_new = batch[0]["max_new_tokens"]
    ids = [r["_ids"] for r in batch]
    width = max(len(x) for x in ids)
    pad = tok.eos_id
    input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], dtype=torch.long)
    gc = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max_new, eos_token_id=tok.eos_id,
                          pad_token_id=tok.eos_id)
    kwargs = {"stopping_criteria": StoppingCriteriaList([stop_criteria])} if stop_criteria is not None else {}
    out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=gc, **kwargs)
    results = []
    for row in out[:, width:].tolist():
        hit_eos = tok.eos_id in row
        new = row[:row.index(tok.eos_id)] if hit_eos else row
        text = tok.decode(new)
        results.append({"new_tokens": len(new), "hit_eos": hit_eos, "text": text,
                        "prediction": postprocess(text, stops)})
    return results


def run_hf(model, tok: Tok, records: list[dict], batch_size: int) -> tuple[float, int]:
    """Fills r["_hf"] for every record; returns (generation seconds, number of stop-string reruns)."""
    import torch
    from transformers import StopStringCriteria

    groups: dict[tuple, list[dict]] = {}
    criteria: dict[tuple, object] = {}
    for r in records:
        r["_stops"] = [s for s in r["stop"] if s]
        groups.setdefault((r["add_bos"], r["max_new_tokens"], tuple(r["_stops"])), []).append(r)
        if r["_stops"] and tuple(r["_stops"]) not in criteria:  # setup, like the model load: not timed
            criteria[tuple(r["_stops"])] = StopStringCriteria(tokenizer=tok.hf, stop_strings=r["_stops"])
    batches = []
    for group in groups.values():
        group = sorted(group, key=lambda r: -len(r["_ids"]))  # longest first: less padding, memory peak early
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]

    total, done, seconds, reruns = len(records), 0, 0.0, 0
    with torch.inference_mode():
        for batch in batches:
            stops = batch[0]["_stops"]
            t0 = time.perf_counter()
            res = generate_batch(model, tok, batch, stops, criteria.get(tuple(stops)))
            # HF stopped early on a stop string the dsla cut does not count (it began inside the prompt, or in the
            # answer's leading whitespace): regenerate.
            again = [i for i, x in enumerate(res) if stops and not x["hit_eos"]
                     and x["new_tokens"] < batch[0]["max_new_tokens"] and stop_position(x["text"], stops) is None]
            if again:
                redo = generate_batch(model, tok, [batch[i] for i in again], stops, None)
                for i, x in zip(again, redo):
                    res[i] = x
                reruns += len(again)
            seconds += time.perf_counter() - t0
            for r, x in zip(batch, res):
                r["_hf"] = x
            done += len(batch)
            log(f"{done}/{total} done, {done / seconds:.2f} examples/s"
                + (f" ({len(again)} regenerated without stop strings)" if again else ""))
    return seconds, reruns


# ----------------------------------------------------------------------------------------------------------------
# Scoring


def import_metrics():
    sys.path.insert(0, str(TOOLS))
    try:
        import eval_reference_metrics  # noqa: PLC0415
    except ImportError as e:
        fail(f"cannot import {TOOLS / 'eval_reference_metrics.py'}: {e}")
    return eval_reference_metrics


def score(metrics, prediction: str, r: dict) -> dict:
    if r["metric"] == "squad":
        em, f1 = metrics.squad_scores(prediction, r["references"])
        return {"exact": float(em), "f1": float(f1)}
    s = metrics.rouge_scores(prediction, r["references"][0])
    return {k: float(s[k][2]) for k in ROUGE_KEYS}


def means_percent(rows: list[dict]) -> dict:
    keys = [k for k in SQUAD_KEYS + ROUGE_KEYS if any(k in x for x in rows)]
    out = {}
    for k in keys:
        vals = [x[k] for x in rows if k in x]
        out[k] = 100.0 * sum(vals) / len(vals)
    return out


def atomic_write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="HF model directory (config.json, *.safetensors, "
                    "tokenizer.json or tokenizer.model)")
    ap.add_argument("--predictions", type=Path, required=True, help="predictions JSONL written by `dsla eval`")
    ap.add_argument("--out", type=Path, required=True, help="output JSON (written atomically)")
    ap.add_argument("--limit", type=int, default=None, help="evaluate only the first N records")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = ap.parse_args()
    if args.limit is not None and args.limit <= 0:
        fail("--limit must be positive")
    if args.batch_size <= 0:
        fail("--batch-size must be positive")
    if args.threads <= 0:
        fail("--threads must be positive")

    records = load_predictions(args.predictions, args.limit)
    check_model_dir(args.model)
    metrics = import_metrics()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()

    t0 = time.perf_counter()
    tok = Tok(args.model)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(str(args.model), dtype=torch.float32,
                                                           output_loading_info=True)
    except Exception as e:  # noqa: BLE001
        fail(f"cannot load the model in {args.model}: {type(e).__name__}: {e}")
    if info.get("missing_keys"):
        fail(f"model in {args.model} lacks weights {sorted(info['missing_keys'])[:8]} (they would be random)")
    if info.get("unexpected_keys"):
        log(f"warning: ignored weights in {args.model}: {sorted(info['unexpected_keys'])[:8]}")
    model.eval()
    log(f"loaded {args.model} in {time.perf_counter() - t0:.1f}s; tokenizer: {tok.kind}; "
        f"{len(records)} records, batch size {args.batch_size}, {args.threads} threads")

    for r in records:
        r["_ids"] = tok.encode(r["prompt"], r["add_bos"])
    hf_seconds, reruns = run_hf(model, tok, records, args.batch_size)

    records.sort(key=lambda r: (r.get("index") if r.get("index") is not None else math.inf))
    dsla_rows, hf_rows, mismatches, same = [], [], [], 0
    same_ids, counted_ids = 0, 0
    for r in records:
        hf_pred = r["_hf"]["prediction"]
        dsla_rows.append(score(metrics, r["prediction"], r))
        hf_rows.append(score(metrics, hf_pred, r))
        if hf_pred == r["prediction"]:
            same += 1
        elif len(mismatches) < MAX_MISMATCHES:
            mismatches.append({"index": r.get("index"), "id": r.get("id"), "dsla": r["prediction"], "hf": hf_pred})
        if r.get("prompt_tokens") is not None:
            counted_ids += 1
            same_ids += int(r["prompt_tokens"] == len(r["_ids"]))

    n = len(records)
    dsla_m, hf_m = means_percent(dsla_rows), means_percent(hf_rows)
    # dsla's own per-record scores (its C++ metrics), when the file has them: a check of those against the reference.
    reported = None
    if all(isinstance(r.get("scores"), dict) for r in records):
        rows = [{k: float(v) for k, v in r["scores"].items()
                 if k in SQUAD_KEYS + ROUGE_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)}
                for r in records]
        reported = means_percent(rows)
    secs = [r.get("seconds") for r in records]
    dsla_total = sum(secs) if all(s is not None for s in secs) else None
    tasks = sorted({str(r.get("task")) for r in records if r.get("task") is not None})
    result = {
        "model": str(args.model),
        "predictions_file": str(args.predictions),
        "task": tasks[0] if len(tasks) == 1 else (tasks or None),
        "n": n,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "same_prediction_fraction": same / n,
        "same_prompt_ids_fraction": same_ids / counted_ids if counted_ids else None,
        "dsla": dsla_m,
        "hf": hf_m,
        "metric_abs_diff": {k: abs(dsla_m[k] - hf_m[k]) for k in dsla_m},
        "dsla_reported": reported,
        "dsla_reported_abs_diff": ({k: abs(reported[k] - dsla_m[k]) for k in dsla_m if k in reported}
                                   if reported is not None else None),
        "hf_seconds": hf_seconds,
        "hf_examples_per_second": n / hf_seconds if hf_seconds > 0 else None,
        "dsla_examples_per_second": n / dsla_total if dsla_total else None,
        "hf_stop_string_reruns": reruns,
        "tokenizer": tok.kind,
        "mismatches": mismatches,
    }
    atomic_write_json(args.out, result)

    print(f"hf_eval: {args.model} on {args.predictions} (task {result['task']}, n={n})")
    print(f"  same predictions {100 * same / n:.1f}%"
          + (f", same prompt token counts {100 * same_ids / counted_ids:.1f}%" if counted_ids else ""))
    for k in dsla_m:
        print(f"  {k:8s} dsla {dsla_m[k]:7.2f}  hf {hf_m[k]:7.2f}  |diff| {abs(dsla_m[k] - hf_m[k]):.2f}")
    if reported is not None:
        worst = max(result["dsla_reported_abs_diff"].values(), default=0.0)
        print(f"  dsla's own scores vs the reference metrics on its predictions: max |diff| {worst:.4f}")
    speed = f"  hf {result['hf_examples_per_second']:.2f} examples/s ({hf_seconds:.1f}s)"
    if result["dsla_examples_per_second"] is not None:
        speed += f", dsla {result['dsla_examples_per_second']:.2f} examples/s"
    print(speed)
    print(f"  wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
