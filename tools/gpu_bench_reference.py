#!/usr/bin/env python3
"""The GPU check's reference timings: flash-linear-attention's chunk_gla (two calls = two states) and
causal SDPA, forward+backward, same shapes as dsla_bench_device. One JSON line per (path, T)."""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def median_ms(fn, repeat):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def leaf(t):
    return t.detach().requires_grad_(True)


def two_gla_ms(b, t, h, d, dtype, repeat):
    from fla.ops.gla import chunk_gla

    torch.manual_seed(0)
    shape = (b, t, h, d)
    q, k, v = (leaf(torch.randn(shape, device="cuda", dtype=dtype)) for _ in range(3))
    g1 = leaf(F.logsigmoid(torch.randn(shape, device="cuda") + 6).to(dtype) / 16)
    g2 = leaf(F.logsigmoid(torch.randn(shape, device="cuda") - 2).to(dtype) / 16)
    grad = torch.randn(shape, device="cuda", dtype=dtype)

    def step():
        o1, _ = chunk_gla(q, k, v, g1)
        o2, _ = chunk_gla(q, k, v, g2)
        (0.5 * o1 + 0.5 * o2).backward(grad)

    return median_ms(step, repeat)


def sdpa_ms(b, t, h, d, dtype, repeat):
    torch.manual_seed(0)
    q, k, v = (leaf(torch.randn(b, h, t, d, device="cuda", dtype=dtype)) for _ in range(3))
    grad = torch.randn(b, h, t, d, device="cuda", dtype=dtype)
    return median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(grad), repeat)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=9)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--tokens", default="2048,8192,32768")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    dtype = torch.bfloat16
    for t in (int(x) for x in a.tokens.split(",")):
        for path, fn in (("two_chunk_gla", two_gla_ms), ("sdpa_python", sdpa_ms)):
            row = {"device": "cuda", "dtype": "bfloat16", "path": path, "B": a.batch, "H": a.heads,
                   "d": a.dim, "T": t}
            try:
                row["fwd_bwd_ms"] = round(fn(a.batch, t, a.heads, a.dim, dtype, a.repeat), 3)
            except Exception as e:  # reported, not fatal: the other rows still run
                row["error"] = f"{type(e).__name__}: {e}"[:500]
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
