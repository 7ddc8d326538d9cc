#!/usr/bin/env python3
"""Runs a labor Google Benchmark program and times the same work in PyTorch in the same run.

Usage: compare_torch.py conv BENCH_BINARY [--out results.json] [--filter REGEX]

The two are timed in alternating rounds (ROUNDS), and each keeps its fastest round: both see the
same load on a shared machine, and the fastest round is the least disturbed. Prints a Markdown table (labor ms, PyTorch ms, PyTorch/labor ratio: > 1 means
labor is faster) and writes both sets of figures as JSON. PyTorch uses 2 threads (torch.set_num_threads(2)), labor
its OpenMP default; set OMP_NUM_THREADS to change both.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch


ROUNDS = 5


def time_torch(fn, min_time=0.3, warmup=2):
    """Mean time of calls over at least min_time seconds, after warmup calls."""
    for _ in range(warmup):
        fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and n >= 3:
            return elapsed / n * 1e3


def conv_case(direction, n, c, h, w, co, k, s, p, d):
    """A callable doing the work of one conv_bench.cpp case in PyTorch."""
    x = torch.randn(n, c, h, w, requires_grad=direction == "Backward")
    conv = torch.nn.Conv2d(c, co, k, stride=s, padding=p, dilation=d)
    if direction == "Forward":
        def forward():
            with torch.no_grad():
                conv(x)
        return forward
    y = conv(x)
    gy = torch.randn_like(y)
    return lambda: torch.autograd.grad(y, [x, conv.weight, conv.bias], gy, retain_graph=True)


def parse_conv(name):
    # BM_Conv2dForward/n:8/c:64/h:64/w:64/out:64/k:3/s:1/p:1/d:1/real_time (s, p, d default to 1, k // 2, 1)
    parts = name.split("/")
    direction = parts[0].replace("BM_Conv2d", "")
    vals = {p.split(":")[0]: int(p.split(":")[1]) for p in parts[1:] if ":" in p}
    k = vals["k"]
    return (direction, vals["n"], vals["c"], vals["h"], vals["w"], vals["out"], k, vals.get("s", 1),
            vals.get("p", k // 2), vals.get("d", 1))


def describe(key):
    """Shape column of the table: N×C×H×W → C_out, k×k, plus stride, padding and dilation when not 1, k // 2, 1."""
    _, n, c, h, w, co, k, s, p, d = key
    extra = "".join(f", {name}{v}" for name, v, default in (("s", s, 1), ("p", p, k // 2), ("d", d, 1))
                    if v != default)
    return f"{n}×{c}×{h}×{w} → {co}, {k}×{k}{extra}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("suite", choices=["conv"])
    ap.add_argument("binary")
    ap.add_argument("--out", default="conv_vs_torch.json")
    ap.add_argument("--filter", default="", help="only the benchmarks matching this regex (--benchmark_filter)")
    args = ap.parse_args()

    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    # Rounds alternate labor and PyTorch so both see the same machine load; each side keeps its
    # fastest round (the least disturbed by other work on a shared machine).
    fastest, torch_ms, torch_fns, context = {}, {}, {}, None
    for _ in range(ROUNDS):
        raw = subprocess.run([args.binary, "--benchmark_format=json", "--benchmark_min_time=0.3",
                              f"--benchmark_filter={args.filter}"], check=True,
                             capture_output=True, text=True, env=env)
        labor = json.loads(raw.stdout)
        context = labor["context"]
        for b in labor["benchmarks"]:
            name = b.get("run_name", b["name"])
            if name not in fastest or b["real_time"] < fastest[name]["real_time"]:
                fastest[name] = dict(b, name=name)
            key = parse_conv(name)
            if key not in torch_fns:
                torch_fns[key] = conv_case(*key)
            torch_ms[key] = min(torch_ms.get(key, float("inf")), time_torch(torch_fns[key]))
    cases = list(fastest.values())
    keys = [parse_conv(b["name"]) for b in cases]

    rows = []
    print(f"| op | shape (N×C×H×W → C_out, k×k[, stride, padding, dilation]) | labor ms | labor GFLOP/s | PyTorch {torch.__version__} ms | PyTorch / labor |")
    print("|---|---|---:|---:|---:|---:|")
    for b, key in zip(cases, keys):
        ms = b["real_time"] if b["time_unit"] == "ms" else b["real_time"] * {"ns": 1e-6, "us": 1e-3, "s": 1e3}[b["time_unit"]]
        t = torch_ms[key]
        rows.append({"op": key[0], "shape": key[1:], "labor_ms": ms, "labor_gflops": b.get("GFLOPS"), "torch_ms": t,
                     "ratio_torch_over_labor": t / ms})
        print(f"| {key[0].lower()} | {describe(key)} | {ms:.2f} | "
              f"{b.get('GFLOPS', 0):.0f} | {t:.2f} | {t / ms:.2f} |")
    with open(args.out, "w") as f:
        json.dump({"threads": threads, "rounds": ROUNDS, "torch_version": torch.__version__, "context": context,
                   "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
