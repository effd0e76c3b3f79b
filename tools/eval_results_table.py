#!/usr/bin/env python3
"""One wide Markdown table from the eval.json files of `dsla eval` sweeps (a row per model, a column per task metric).

Usage: python3 tools/eval_results_table.py runs/eval_smollm2/sweep/eval.json runs/eval_smollm2/long/eval.json
"""
import json
import sys

SHORT = {"exact": "EM", "f1": "F1", "rouge1": "R-1", "rouge2": "R-2", "rougeL": "R-L", "acc": "acc",
         "acc_norm": "acc_norm"}


def main(paths):
    rows, columns = {}, []
    for path in paths:
        try:
            data = json.load(open(path))["rows"]
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"{path}: not a dsla eval.json ({e})")
        for r in data:
            key = (r["converted"], r["model"])
            rows.setdefault(key, {"layers": r["num_layers"]})
            for metric, value in r["metrics"].items():
                col = f"{r['task']} {SHORT.get(metric, metric)}"
                if col not in columns:
                    columns.append(col)
                rows[key][col] = value
    print("| model | converted | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for (converted, model), vals in sorted(rows.items()):
        pct = 100 * converted / vals["layers"]
        cells = [f"{vals[c]:.2f}" if c in vals else "-" for c in columns]
        print(f"| {model} | {converted}/{vals['layers']} ({pct:.0f}%) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
