#!/usr/bin/env python3
"""Times labor's SPL and PPL (benchmarks/samplers_bench.cpp) against the same work written plainly in PyTorch.

Usage: compare_torch_samplers.py BENCH_BINARY [--out samplers_vs_torch.json]

BENCH_BINARY is labor_bench_samplers. Labor and PyTorch are timed in alternating rounds (ROUNDS) and each keeps
its fastest round, as in compare_torch.py. The maps follow the benchmark's recipe (p1 = softmax(z), p2 = softmax(z + e),
z ~ 4·N(0, 1), e ~ 0.5·N(0, 1), about 12% of pixels inconsistent), drawn by torch's own generator. Prints a Markdown
table (labor ms, also per 1024×2048 pixels, labor on its generic Thrust passes, the read-both-maps floor, PyTorch ms,
PyTorch/labor: > 1 means labor is faster) and writes JSON.
PyTorch uses 2 threads (torch.set_num_threads), labor its OpenMP default; OMP_NUM_THREADS changes both.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_torch  # noqa: E402  (shared timing helper)

ROUNDS = 5
CASES = ("Spl", "Ppl")


def time_torch(fn):
    return compare_torch.time_torch(fn, min_time=0.5, warmup=1)


def make_maps(n, c, h, w):
    g = torch.Generator().manual_seed(2024)
    z = 4 * torch.randn(n, c, h, w, generator=g)
    e = z + 0.5 * torch.randn(n, c, h, w, generator=g)
    return torch.softmax(z, 1), torch.softmax(e, 1)


def spl(p1, p2):
    """Every pixel where the heads disagree, with ŷ = argmax of the mean."""
    m = p1.argmax(1) != p2.argmax(1)
    yhat = ((p1 + p2) / 2).argmax(1)
    out = []
    for i in range(p1.shape[0]):
        pixels = m[i].flatten().nonzero().squeeze(1)
        out.append((pixels, yhat[i].flatten()[pixels]))
    return out


def allocate(sizes, points):
    """DESIGN §1 allocation rounds over class sizes (a list), plain Python."""
    order = sorted((k for k, s in enumerate(sizes) if s > 0), key=lambda k: (-sizes[k], k))
    got = [0] * len(sizes)
    if points <= len(order):
        for k in order[:points]:
            got[k] = 1
        return got
    for k in order:
        got[k] = 1
    rest = points - len(order)
    while rest > 0:
        open_ = [k for k in order if got[k] < sizes[k]]
        if not open_:
            break
        total = sum(sizes[k] for k in open_)
        add = {k: rest * sizes[k] // total for k in open_}
        frac = {k: rest * sizes[k] % total for k in open_}
        for k in sorted(open_, key=lambda k: (-frac[k], k))[: rest - sum(add.values())]:
            add[k] += 1
        rest = 0
        for k in open_:
            got[k] += add[k]
            if got[k] > sizes[k]:
                rest += got[k] - sizes[k]
                got[k] = sizes[k]
    return got


def ppl(p1, p2, points=40):
    """Prototype scores over M per class, allocation, lowest scores per class (ties by index via a stable sort)."""
    c = p1.shape[1]
    pbar = (p1 + p2) / 2
    m = p1.argmax(1) != p2.argmax(1)
    yhat = pbar.argmax(1)
    out = []
    for i in range(p1.shape[0]):
        mask = m[i].flatten()
        pixels = mask.nonzero().squeeze(1)
        cls = yhat[i].flatten()[pixels]
        feats = pbar[i].flatten(1)[:, pixels].double()  # C × |M|
        counts = torch.bincount(cls, minlength=c)
        sums = torch.zeros(c, c, dtype=torch.float64).index_add_(1, cls, feats)
        protos = sums / counts.clamp(min=1)
        score = ((feats - protos[:, cls]) ** 2).sum(0)
        quota = allocate(counts.tolist(), points)
        chosen = []
        for k in range(c):
            if quota[k] == 0:
                continue
            members = (cls == k).nonzero().squeeze(1)
            order = torch.sort(score[members], stable=True).indices[: quota[k]]
            chosen.append(pixels[members[order]])
        out.append(torch.sort(torch.cat(chosen)).values if chosen else pixels[:0])
    return out


def parse(name):
    parts = name.split("/")
    vals = {p.split(":")[0]: int(p.split(":")[1]) for p in parts[1:] if ":" in p}
    return parts[0].replace("BM_", ""), (vals["n"], vals["c"], vals["h"], vals["w"])


def to_ms(b):
    return b["real_time"] * {"ms": 1.0, "ns": 1e-6, "us": 1e-3, "s": 1e3}[b["time_unit"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--out", default="samplers_vs_torch.json")
    args = ap.parse_args()

    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    filt = "BM_(ReadBothMaps|Spl|Ppl|SplGenericPath|PplGenericPath)/"
    labor_ms, torch_ms, maps, context = {}, {}, {}, None
    for _ in range(ROUNDS):
        raw = subprocess.run([args.binary, "--benchmark_format=json", "--benchmark_min_time=0.5",
                              f"--benchmark_filter={filt}"], check=True, capture_output=True, text=True, env=env)
        result = json.loads(raw.stdout)
        context = result["context"]
        for b in result["benchmarks"]:
            key = parse(b.get("run_name", b["name"]))
            labor_ms[key] = min(labor_ms.get(key, math.inf), to_ms(b))
        for op, shape in list(labor_ms):
            if op not in CASES:
                continue
            if shape not in maps:
                maps[shape] = make_maps(*shape)
            p1, p2 = maps[shape]
            fn = (lambda: spl(p1, p2)) if op == "Spl" else (lambda: ppl(p1, p2))
            torch_ms[(op, shape)] = min(torch_ms.get((op, shape), math.inf), time_torch(fn))

    rows = []
    print(f"| sampler | maps (N×C×H×W) | labor ms | labor ms per 1024×2048 pixels | generic passes ms | read both maps ms | PyTorch {torch.__version__} ms | PyTorch / labor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (op, shape), t in sorted(torch_ms.items()):
        ms = labor_ms[(op, shape)]
        floor = labor_ms.get(("ReadBothMaps", shape), math.nan)
        generic = labor_ms.get((op + "GenericPath", shape), math.nan)
        frames = shape[0] * shape[2] * shape[3] / (1024 * 2048)  # in 1024×2048 frame equivalents
        rows.append({"sampler": op.lower(), "shape": shape, "labor_ms": ms, "labor_ms_per_frame": ms / frames,
                     "generic_passes_ms": generic, "read_both_maps_ms": floor, "torch_ms": t,
                     "ratio_torch_over_labor": t / ms})
        print(f"| {op.lower()} | {'×'.join(map(str, shape))} | {ms:.1f} | {ms / frames:.1f} | {generic:.1f} | {floor:.1f} | {t:.1f} | {t / ms:.1f} |")
    with open(args.out, "w") as f:
        json.dump({"threads": threads, "rounds": ROUNDS, "torch_version": torch.__version__, "context": context,
                   "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
