#!/usr/bin/env python3
"""summary.json of a tools/gpu_check.sh run: steps' exit codes and times, kernel test counts and failures,
forward+backward times with the ratios the CUDA issue sets goals for, CPU/device parity, distill tokens/s.
Usage: gpu_check_summary.py OUT_DIR"""
import json
import sys
from pathlib import Path


def lines(path):
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a step's stray output line
    return rows


def gtest(path):
    if not path.exists():
        return None
    report = json.loads(path.read_text())
    failed = [f"{s['name']}.{t['name']}" for s in report.get("testsuites", []) for t in s.get("testsuite", [])
              if t.get("failures")]
    return {"tests": report.get("tests"), "failures": report.get("failures"), "failed": failed[:50]}


def timings(out):
    rows = lines(out / "bench_dsla.jsonl") + lines(out / "bench_reference.jsonl")
    by = {(r["path"], r["T"]): r.get("fwd_bwd_ms") for r in rows}
    ratios = {}
    for t in sorted({r["T"] for r in rows}):
        dsla = by.get(("dsla_auto", t))
        row = {}
        if dsla and by.get(("two_chunk_gla", t)):
            row["dsla_over_two_chunk_gla"] = round(dsla / by[("two_chunk_gla", t)], 3)  # goal <= 1.5
        if dsla and by.get(("sdpa", t)):
            row["sdpa_over_dsla"] = round(by[("sdpa", t)] / dsla, 3)  # goal > 1 from T = 8192
        ratios[str(t)] = row
    return rows, ratios


def tokens_per_s(run):
    rates = [r["tokens_per_s"] for r in lines(run / "metrics.jsonl")
             if r.get("event") == "step" and r.get("tokens_per_s")]
    return {"transfer_steps": len(rates), "mean_tokens_per_s": round(sum(rates) / len(rates), 1)} if rates else None


def main():
    out = Path(sys.argv[1])
    rows, ratios = timings(out)
    ppl = {}
    for f in out.glob("ppl_export_*.json"):
        try:
            ppl[f.stem.removeprefix("ppl_export_")] = json.loads(f.read_text())["perplexity"]
        except (json.JSONDecodeError, KeyError):
            ppl[f.stem] = None
    values = [v for v in ppl.values() if v]
    summary = {
        "steps": lines(out / "steps.jsonl"),
        "kernel_tests_cuda": gtest(out / "test_kernels_cuda.json"),
        "kernel_tests_cpu": gtest(out / "test_kernels_cpu.json"),
        "fwd_bwd_ms": rows,
        "ratios": ratios,
        "export_perplexity": ppl,
        "perplexity_relative_spread": (max(values) - min(values)) / min(values) if len(values) > 1 else None,
        "distill_stories260k": tokens_per_s(out / "run260"),
        "distill_smollm2_random": tokens_per_s(out / "run_smollm2"),
        "decode": {f.stem: lines(f) for f in sorted(out.glob("decode_*.jsonl"))},
        "bench_decode": json.loads((out / "bench_decode.json").read_text()).get("rows")
        if (out / "bench_decode.json").exists() else None,
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
