#!/usr/bin/env python3
"""Compares two distill run directories: logged losses, stage perplexities and stage weights.

Usage: compare_runs.py RUN_A RUN_B LOSS_RTOL WEIGHT_RTOL
Pure Python (the safetensors files are read by hand), so the test needs no extra packages.
Exits non-zero, naming the first difference over tolerance.
"""
import array
import json
import math
import os
import struct
import sys


def steps(run):
    lines = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    return [(l["stage"], l["phase"], l["step"], l["loss"]) for l in lines if l.get("event") == "step"]


def stage_records(run):
    return json.load(open(os.path.join(run, "progress.json")))["stages"]


def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{path}: {name} is {info['dtype']}"
        begin, end = info["data_offsets"]
        out[name] = array.array("f", data[begin:end])
    return out


def rel_l2(a, b):
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    den = math.sqrt(sum(x * x for x in a))
    return num / max(den, 1e-12)


def main():
    run_a, run_b, loss_rtol, weight_rtol = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    sa, sb = steps(run_a), steps(run_b)
    assert len(sa) == len(sb) and len(sa) > 0, f"{len(sa)} vs {len(sb)} logged steps"
    worst = 0.0
    for x, y in zip(sa, sb):
        assert x[:3] == y[:3], f"step records differ: {x[:3]} vs {y[:3]}"
        d = abs(x[3] - y[3]) / abs(x[3])
        worst = max(worst, d)
        assert d <= loss_rtol, f"loss at stage {x[0]} {x[1]} step {x[2]}: {x[3]} vs {y[3]} (rel {d:.2e})"
    ra, rb = stage_records(run_a), stage_records(run_b)
    assert len(ra) == len(rb), f"{len(ra)} vs {len(rb)} stage records"
    for x, y in zip(ra, rb):
        assert x["layer"] == y["layer"], f"stage {x['stage']}: layer {x['layer']} vs {y['layer']}"
        for name, value in x["perplexity"].items():
            d = abs(value - y["perplexity"][name]) / value
            assert d <= loss_rtol, f"stage {x['stage']} {name} ppl {value} vs {y['perplexity'][name]}"
    worst_w = 0.0
    stages = sorted(os.listdir(os.path.join(run_a, "stages")))
    assert stages == sorted(os.listdir(os.path.join(run_b, "stages"))), "different stage files"
    for stage in stages:
        ta = tensors(os.path.join(run_a, "stages", stage))
        tb = tensors(os.path.join(run_b, "stages", stage))
        assert ta.keys() == tb.keys(), f"{stage}: different tensors"
        for name in ta:
            d = rel_l2(ta[name], tb[name])
            worst_w = max(worst_w, d)
            assert d <= weight_rtol, f"{stage} {name}: relative L2 difference {d:.2e}"
    print(f"{len(sa)} logged steps, worst loss rel diff {worst:.2e}; {len(stages)} stages, "
          f"worst weight rel L2 diff {worst_w:.2e}")


if __name__ == "__main__":
    main()
