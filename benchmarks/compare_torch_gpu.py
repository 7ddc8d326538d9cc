#!/usr/bin/env python3
"""Runs one of labor's GPU benchmarks and times the same work with PyTorch on the same GPU.

Usage: compare_torch_gpu.py {conv,train} BENCH_BINARY [--out FILE.json] [--filter REGEX] [--rounds 3]

conv:  BENCH_BINARY is labor_bench_conv_gpu (benchmarks/conv_gpu_bench.cu): Conv2d<float, cuda>
       forward (BM_Conv2dForwardCuda) and forward + backward with input, weight and bias gradients
       (BM_Conv2dTrainCuda), timed with CUDA events.
train: BENCH_BINARY is labor_bench_train_gpu (benchmarks/train_gpu_bench.cu): one LabOR adaptation
       iteration of the small preset and of DeepLab-v2 ResNet-101 at 256×512; the PyTorch side is
       benchmarks/torch_train_step.py.

PyTorch runs each case in FP32 as labor does (torch.backends.cuda.matmul.allow_tf32 = False,
torch.backends.cudnn.allow_tf32 = False), timed with torch.cuda.Event around every call (the mean,
as Google Benchmark's manual time), twice: with cudnn.benchmark False (PyTorch's default, cuDNN's
heuristic algorithm) and True (cuDNN times its algorithms first). labor and PyTorch run in
alternating rounds (--rounds) and each keeps its fastest round. Prints a Markdown table (labor ms,
PyTorch ms, PyTorch / labor ratio: > 1 means labor is faster) and writes the figures as JSON.
Exits with a message, and status 0, where no CUDA device is available.
"""
import argparse
import json
import os
import sys

from bench_common import describe, parse_conv, run_labor, to_ms

TRAIN_CASES = {"BM_SmallPresetIterationCuda": "small", "BM_DeepLabV2IterationCuda": "deeplabv2-r101"}


def conv_case(torch, direction, n, c, h, w, co, k, s, p, d):
    """A callable doing the work of one conv_gpu_bench.cu case in PyTorch on the GPU."""
    dev = torch.device("cuda")
    conv = torch.nn.Conv2d(c, co, k, stride=s, padding=p, dilation=d).to(dev)
    x = torch.randn(n, c, h, w, device=dev, requires_grad=direction == "Train")
    if direction == "Forward":
        def forward():
            with torch.no_grad():
                conv(x)
        return forward
    with torch.no_grad():
        gy = torch.randn_like(conv(x))

    def train():
        y = conv(x)
        torch.autograd.grad(y, [x, conv.weight, conv.bias], gy)
    return train


def time_cuda(torch, fn, warmup=3, min_time=0.3, min_calls=5):
    """Mean GPU time in ms of calls timed one by one with CUDA events, over at least min_time seconds
    and min_calls calls, after warmup calls (which also run cuDNN's autotuning when enabled)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    total_ms, calls = 0.0, 0
    while total_ms * 1e-3 < min_time or calls < min_calls:
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        total_ms += start.elapsed_time(stop)
        calls += 1
    return total_ms / calls


def print_table(torch, cases, keys, torch_ms):
    rows = []
    print(f"| op | shape (N×C×H×W → C_out, k×k[, stride, padding, dilation]) | labor ms | labor GFLOP/s | "
          f"PyTorch {torch.__version__} ms | PyTorch cudnn.benchmark ms | PyTorch / labor | "
          "PyTorch (cudnn.benchmark) / labor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for b, key in zip(cases, keys):
        ms = to_ms(b)
        t, tb = torch_ms[(key, False)], torch_ms[(key, True)]
        rows.append({"op": key[0], "shape": key[1:], "labor_ms": ms, "labor_gflops": b.get("GFLOPS"),
                     "torch_ms": t, "torch_cudnn_benchmark_ms": tb, "ratio_torch_over_labor": t / ms,
                     "ratio_torch_cudnn_benchmark_over_labor": tb / ms})
        print(f"| {key[0].lower()} | {describe(key)} | {ms:.3f} | {b.get('GFLOPS', 0):.0f} | {t:.3f} | {tb:.3f} | "
              f"{t / ms:.2f} | {tb / ms:.2f} |")
    return rows


def train_case(name):
    """The PyTorch iteration of a train_gpu_bench.cu case."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_train_step
    return torch_train_step.make_step(TRAIN_CASES[name.split("/")[0]])


def print_train_table(torch, cases, torch_ms):
    rows = []
    print(f"| iteration | labor ms | PyTorch {torch.__version__} ms | PyTorch cudnn.benchmark ms | PyTorch / labor | "
          "PyTorch (cudnn.benchmark) / labor |")
    print("|---|---:|---:|---:|---:|---:|")
    for b in cases:
        ms, key = to_ms(b), b["name"]
        t, tb = torch_ms[(key, False)], torch_ms[(key, True)]
        rows.append({"case": TRAIN_CASES[key.split("/")[0]], "labor_ms": ms, "torch_ms": t,
                     "torch_cudnn_benchmark_ms": tb, "ratio_torch_over_labor": t / ms,
                     "ratio_torch_cudnn_benchmark_over_labor": tb / ms})
        print(f"| {TRAIN_CASES[key.split('/')[0]]} | {ms:.2f} | {t:.2f} | {tb:.2f} | {t / ms:.2f} | {tb / ms:.2f} |")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("suite", choices=["conv", "train"])
    ap.add_argument("binary", help="labor_bench_conv_gpu or labor_bench_train_gpu")
    ap.add_argument("--out", default="", help="JSON results (default SUITE_gpu_vs_torch.json)")
    ap.add_argument("--filter", default="", help="only the benchmarks matching this regex (--benchmark_filter)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; each side keeps its fastest")
    ap.add_argument("--min-time", type=float, default=0.3, help="labor's --benchmark_min_time per round, seconds")
    args = ap.parse_args()

    try:
        import torch
    except ImportError:
        print("compare_torch_gpu.py: PyTorch is not installed; nothing to compare")
        return 0
    if not torch.cuda.is_available():
        print("compare_torch_gpu.py: no CUDA device is available to PyTorch; nothing to compare")
        return 0
    # FP32 on both sides: labor's cuBLAS calls do not use TF32.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)

    fastest, torch_ms, torch_fns, context = {}, {}, {}, None
    for _ in range(args.rounds):
        context, benchmarks = run_labor(args.binary, args.min_time, args.filter)
        if not benchmarks:
            print("compare_torch_gpu.py: the labor benchmark ran no case (no CUDA device, or the filter matched none)")
            return 0
        for b in benchmarks:
            name = b.get("run_name", b["name"])
            if name not in fastest or b["real_time"] < fastest[name]["real_time"]:
                fastest[name] = dict(b, name=name)
            key = parse_conv(name) if args.suite == "conv" else name
            if key not in torch_fns:
                torch_fns[key] = conv_case(torch, *key) if args.suite == "conv" else train_case(name)
            for cudnn_benchmark in (False, True):
                torch.backends.cudnn.benchmark = cudnn_benchmark
                ms = time_cuda(torch, torch_fns[key])
                torch_ms[(key, cudnn_benchmark)] = min(torch_ms.get((key, cudnn_benchmark), float("inf")), ms)
    cases = list(fastest.values())
    print(f"GPU: {torch.cuda.get_device_name()}")
    if args.suite == "conv":
        rows = print_table(torch, cases, [parse_conv(b["name"]) for b in cases], torch_ms)
    else:
        rows = print_train_table(torch, cases, torch_ms)
    args.out = args.out or f"{args.suite}_gpu_vs_torch.json"
    with open(args.out, "w") as f:
        json.dump({"suite": f"{args.suite}_gpu", "rounds": args.rounds, "torch_version": torch.__version__,
                   "device": torch.cuda.get_device_name(), "tf32": False, "context": context, "rows": rows}, f,
                  indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
