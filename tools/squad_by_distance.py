#!/usr/bin/env python3
"""SQuAD F1 by how far back the answer sits: per `dsla eval` squad.jsonl, mean F1 over the items whose gold
answer ends within / beyond a window of tokens before the prompt's end (the last occurrence of any reference
in the prompt's last context). Tells whether a converted model loses answers its exact window still sees.

Usage: tools/squad_by_distance.py TOKENIZER_DIR WINDOW NAME=squad.jsonl [NAME=squad.jsonl ...] [--json OUT]
"""
import argparse
import json
import sys


def answer_distance(tokenizer, prompt, references):
    """Tokens from the end of the last reference occurrence in the prompt to the prompt's end, or None."""
    context_start = prompt.rfind("Context:")
    best = None
    for ref in references:
        pos = prompt.rfind(ref, max(context_start, 0))
        if pos < 0:
            continue
        tail = prompt[pos + len(ref):]
        d = len(tokenizer(tail, add_special_tokens=False)["input_ids"])
        best = d if best is None else min(best, d)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tokenizer")
    ap.add_argument("window", type=int)
    ap.add_argument("runs", nargs="+", help="NAME=path/to/squad.jsonl")
    ap.add_argument("--json", help="write the table as JSON here")
    args = ap.parse_args()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    table = {}
    distances = None
    for spec in args.runs:
        name, _, path = spec.partition("=")
        if not path:
            sys.exit(f"squad_by_distance: expected NAME=FILE, got {spec!r}")
        try:
            items = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        except (OSError, json.JSONDecodeError) as e:
            sys.exit(f"squad_by_distance: {path}: {e}")
        if not items or "scores" not in items[0]:
            sys.exit(f"squad_by_distance: {path}: no scored items (a dsla eval squad.jsonl?)")
        if distances is None:
            distances = [answer_distance(tok, it["prompt"], it["references"]) for it in items]
        elif len(items) != len(distances):
            sys.exit(f"squad_by_distance: {path}: {len(items)} items, the first file has {len(distances)}")
        buckets = {"within": [], "beyond": [], "not found": []}
        for it, d in zip(items, distances):
            key = "not found" if d is None else ("within" if d < args.window else "beyond")
            buckets[key].append(100.0 * it["scores"]["f1"])
        table[name] = {k: (sum(v) / len(v) if v else None, len(v)) for k, v in buckets.items()}
    print(f"| model | F1, answer within {args.window} tokens of the end | beyond | not found in the prompt |")
    print("|---|---|---|---|")
    for name, row in table.items():
        cells = [f"{m:.2f} ({n})" if m is not None else f"- ({n})" for m, n in row.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"window": args.window, "table": table}, f, indent=1)


if __name__ == "__main__":
    main()
