#!/usr/bin/env python3
"""Perplexity against converted layers for several dsla distill runs: a markdown table and one PNG.

Usage: tools/results_table.py OUT.png RUN_DIR [RUN_DIR ...]
Reads each run's progress.json (written by `dsla distill`); prints the table to stdout. Stages a run did not
evaluate (distill.eval_every) are "-" in the table and left out of the plot.
"""
import json
import sys
from pathlib import Path


def load(run_dir: Path):
    progress = json.loads((run_dir / "progress.json").read_text())
    plan = progress["plan"]
    label = f"{run_dir.name} ({plan['variant']})"
    return label, plan, progress["stages"]


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out_png = Path(sys.argv[1])
    runs = [load(Path(d)) for d in sys.argv[2:]]
    evals = sorted(runs[0][2][0]["perplexity"].keys())
    layers = len(runs[0][1]["order"])
    checkpoints = sorted({0, *[int(layers * f + 0.5) for f in (0.25, 0.5, 0.75, 1.0)]})
    for e in evals:
        print(f"\n{e} perplexity after k converted layers (of {layers}):\n")
        print("| run | order (first 8) | " + " | ".join(
            f"k={k} ({100 * k / layers:.0f}%)" for k in checkpoints) + " |")
        print("|---|---|" + "---|" * len(checkpoints))
        for label, plan, stages in runs:
            by_stage = {s["stage"]: s["perplexity"] for s in stages}
            cells = [f"{by_stage[k][e]:.2f}" if e in by_stage.get(k, {}) else "-" for k in checkpoints]
            print(f"| {label} | {' '.join(map(str, plan['order'][:8]))} | " + " | ".join(cells) + " |")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(evals), figsize=(6 * len(evals), 4.2), squeeze=False)
    for ax, e in zip(axes[0], evals):
        for label, _, stages in runs:
            scored = [s for s in stages if e in s["perplexity"]]  # distill.eval_every skips stages
            ax.plot([s["stage"] for s in scored], [s["perplexity"][e] for s in scored], marker="o", ms=3,
                    label=label)
        ax.set_title(f"{e}: perplexity vs converted layers")
        ax.set_xlabel("converted layers")
        ax.set_ylabel("perplexity")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = out_png.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(out_png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
