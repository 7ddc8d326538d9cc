#!/usr/bin/env python3
"""Runs a labor Google Benchmark program and times the same work in PyTorch in the same run.

Usage: compare_torch.py conv BENCH_BINARY [--out results.json] [--filter REGEX]
       compare_torch.py resnet BENCH_BINARY [--rounds 2] [--min-time 0.1]

Suites: conv (labor_bench_conv: one convolution, forward or backward) and resnet
(labor_bench_resnet: a DeepLab-v2 ResNet-101 + ASPP training step, images/s and peak RSS; the
PyTorch network comes from tools/torch_models.py).

The two are timed in alternating rounds (--rounds), and each keeps its fastest round: both see the
same load on a shared machine, and the fastest round is the least disturbed. Prints a Markdown table (labor ms, PyTorch ms, PyTorch/labor ratio: > 1 means
labor is faster) and writes both sets of figures as JSON. PyTorch uses 2 threads (torch.set_num_threads(2)), labor
its OpenMP default; set OMP_NUM_THREADS to change both.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

from bench_common import describe, parse_conv, to_ms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))


def time_torch(fn, min_time=0.3, warmup=2, min_calls=3):
    """Mean time of calls over at least min_time seconds and min_calls calls, after warmup calls."""
    for _ in range(warmup):
        fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and n >= min_calls:
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


def parse_resnet(name):
    # BM_DeepLabV2Train/depth:101/classes:19/h:256/w:512/real_time
    vals = {p.split(":")[0]: int(p.split(":")[1]) for p in name.split("/")[1:] if ":" in p}
    return ("Train", vals["depth"], vals["classes"], vals["h"], vals["w"])


def resnet_case(_, depth, classes, h, w):
    """A callable doing one resnet_bench.cpp step in PyTorch: zero the gradients, forward, backward.
    Batch norm as DeepLab-v2 trains it: running statistics (eval mode), weight and bias frozen."""
    from torch_models import DeepLabV2

    model = DeepLabV2(depth, classes).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.requires_grad_(False)
            m.bias.requires_grad_(False)
    x = torch.randn(1, 3, h, w)
    with torch.no_grad():
        gy = torch.randn_like(model(x))

    def step():
        model.zero_grad(set_to_none=True)
        model(x).backward(gy)
    return step


def describe_resnet(key):
    _, depth, classes, h, w = key
    return f"DeepLab-v2 ResNet-{depth} + ASPP ({classes} classes), 1×3×{h}×{w}, forward + backward"


def peak_rss_mib():
    """This process's peak resident memory (ru_maxrss, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_conv(cases, keys, torch_ms):
    rows = []
    print(f"| op | shape (N×C×H×W → C_out, k×k[, stride, padding, dilation]) | labor ms | labor GFLOP/s | PyTorch {torch.__version__} ms | PyTorch / labor |")
    print("|---|---|---:|---:|---:|---:|")
    for b, key in zip(cases, keys):
        ms = to_ms(b)
        t = torch_ms[key]
        rows.append({"op": key[0], "shape": key[1:], "labor_ms": ms, "labor_gflops": b.get("GFLOPS"), "torch_ms": t,
                     "ratio_torch_over_labor": t / ms})
        print(f"| {key[0].lower()} | {describe(key)} | {ms:.2f} | "
              f"{b.get('GFLOPS', 0):.0f} | {t:.2f} | {t / ms:.2f} |")
    return rows


def print_resnet(cases, keys, torch_ms):
    rows = []
    torch_rss = peak_rss_mib()
    print(f"| network | labor ms | labor images/s | labor peak RSS MiB | PyTorch {torch.__version__} ms | "
          "PyTorch images/s | PyTorch peak RSS MiB | PyTorch / labor (time) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for b, key in zip(cases, keys):
        ms, t = to_ms(b), torch_ms[key]
        rows.append({"network": describe_resnet(key), "labor_ms": ms, "labor_images_per_s": 1e3 / ms,
                     "labor_peak_rss_mib": b.get("peak_rss_MiB"), "torch_ms": t, "torch_images_per_s": 1e3 / t,
                     "torch_peak_rss_mib": torch_rss, "ratio_torch_over_labor": t / ms})
        print(f"| {describe_resnet(key)} | {ms:.0f} | {1e3 / ms:.3f} | {b.get('peak_rss_MiB', 0):.0f} | {t:.0f} | "
              f"{1e3 / t:.3f} | {torch_rss:.0f} | {t / ms:.2f} |")
    return rows


# suite → (parse a benchmark name into a key, make the PyTorch callable of a key, print the table,
#          PyTorch timing settings)
SUITES = {
    "conv": (parse_conv, lambda key: conv_case(*key), print_conv, {}),
    "resnet": (parse_resnet, lambda key: resnet_case(*key), print_resnet,
               {"min_time": 0.0, "warmup": 1, "min_calls": 1}),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("suite", choices=sorted(SUITES))
    ap.add_argument("binary")
    ap.add_argument("--out", help="JSON results (default SUITE_vs_torch.json)")
    ap.add_argument("--filter", default="", help="only the benchmarks matching this regex (--benchmark_filter)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds; each side keeps its fastest")
    ap.add_argument("--min-time", type=float, default=0.3, help="labor's --benchmark_min_time per round, seconds")
    args = ap.parse_args()
    parse, make, print_table, torch_timing = SUITES[args.suite]
    out = args.out or f"{args.suite}_vs_torch.json"

    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    # Rounds alternate labor and PyTorch so both see the same machine load; each side keeps its
    # fastest round (the least disturbed by other work on a shared machine).
    fastest, torch_ms, torch_fns, context = {}, {}, {}, None
    for _ in range(args.rounds):
        raw = subprocess.run([args.binary, "--benchmark_format=json", f"--benchmark_min_time={args.min_time}",
                              f"--benchmark_filter={args.filter}"], check=True,
                             capture_output=True, text=True, env=env)
        labor = json.loads(raw.stdout)
        context = labor["context"]
        for b in labor["benchmarks"]:
            name = b.get("run_name", b["name"])
            if name not in fastest or b["real_time"] < fastest[name]["real_time"]:
                fastest[name] = dict(b, name=name)
            key = parse(name)
            if key not in torch_fns:
                torch_fns[key] = make(key)
            torch_ms[key] = min(torch_ms.get(key, float("inf")), time_torch(torch_fns[key], **torch_timing))
    cases = list(fastest.values())
    keys = [parse(b["name"]) for b in cases]
    rows = print_table(cases, keys, torch_ms)
    with open(out, "w") as f:
        json.dump({"suite": args.suite, "threads": threads, "rounds": args.rounds, "torch_version": torch.__version__,
                   "context": context, "rows": rows}, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
