#!/usr/bin/env python3
"""labor and PyTorch on two cores, alone and beside a busy process, in the same run.

Usage: shared_cores.py LABOR_BENCH_SHARED_CORES [--rounds 3] [--min-time 3] [--pin-competitor CPU]
                       [--out shared_cores.json]

The work: labor_train's small-preset training iteration (benchmarks/shared_cores_bench.cpp) and the
same iteration in PyTorch (benchmarks/torch_train_step.py, on the CPU), both with the machine's
default thread count (labor: its default; PyTorch: torch.set_num_threads(os.cpu_count())). The
competitor is `yes > /dev/null` (one process that never sleeps), started before and killed after
each timing that has it. Rounds alternate alone / beside the competitor and labor / PyTorch, so all
four see the same drift of a shared machine; each figure is the median over the rounds.

Prints a Markdown table (ms per iteration alone and beside the competitor, and the slowdown: the
fair share of two cores with one taken is 2×) and the targets of the issue: labor's slowdown at most
2.5× and no more than PyTorch's. Writes all figures as JSON.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import torch

from bench_common import run_labor, to_ms
from compare_torch import time_torch
import torch_train_step


def start_competitor(cpu):
    """`yes` writing to /dev/null, on processor `cpu` when it is not None."""
    pre = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    return subprocess.Popen(["yes"], stdout=subprocess.DEVNULL, preexec_fn=pre)


def timed(busy, cpu, fn):
    competitor = start_competitor(cpu) if busy else None
    try:
        return fn()
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", help="labor_bench_shared_cores")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=3.0, help="seconds of timing per figure and round")
    ap.add_argument("--pin-competitor", type=int, default=None, metavar="CPU",
                    help="pin the competitor to this processor (default: the scheduler places it)")
    ap.add_argument("--out", default="shared_cores.json")
    args = ap.parse_args()

    threads = os.cpu_count()
    torch.set_num_threads(threads)
    step = torch_train_step.make_step("small", "cpu")
    figures = {(who, busy): [] for who in ("labor", "torch") for busy in (False, True)}
    for r in range(args.rounds):
        for busy in (False, True):
            _, runs = timed(busy, args.pin_competitor,
                            lambda: run_labor(args.binary, args.min_time, "BM_SmallPresetIteration"))
            figures[("labor", busy)].append(to_ms(runs[0]))
            figures[("torch", busy)].append(timed(busy, args.pin_competitor,
                                                  lambda: time_torch(step, min_time=args.min_time)))
            print(f"round {r + 1}/{args.rounds} {'busy' if busy else 'alone'}: labor "
                  f"{figures[('labor', busy)][-1]:.1f} ms, PyTorch {figures[('torch', busy)][-1]:.1f} ms",
                  file=sys.stderr)
    med = {k: statistics.median(v) for k, v in figures.items()}
    slow = {who: med[(who, True)] / med[(who, False)] for who in ("labor", "torch")}
    print(f"small-preset training iteration (4 + 4 images of 64×128), {threads} threads, "
          f"competitor `yes > /dev/null`{'' if args.pin_competitor is None else f' on CPU {args.pin_competitor}'}, "
          f"median of {args.rounds} rounds\n")
    print("| | alone ms | beside a busy process ms | slowdown |")
    print("|---|---:|---:|---:|")
    for who, name in (("labor", "labor"), ("torch", f"PyTorch {torch.__version__}")):
        print(f"| {name} | {med[(who, False)]:.1f} | {med[(who, True)]:.1f} | {slow[who]:.2f}× |")
    ok_share = slow["labor"] <= 2.5
    ok_peer = slow["labor"] <= slow["torch"]
    print(f"\nlabor's slowdown {slow['labor']:.2f}× (target ≤ 2.5×: {'met' if ok_share else 'NOT met'}); "
          f"PyTorch's {slow['torch']:.2f}× (labor no worse: {'met' if ok_peer else 'NOT met'})")
    with open(args.out, "w") as f:
        json.dump({"threads": threads, "rounds": args.rounds, "min_time_s": args.min_time,
                   "pin_competitor": args.pin_competitor, "torch_version": torch.__version__,
                   "ms": {f"{w}_{'busy' if b else 'alone'}": v for (w, b), v in figures.items()},
                   "median_ms": {f"{w}_{'busy' if b else 'alone'}": v for (w, b), v in med.items()},
                   "slowdown": slow}, f, indent=1)


if __name__ == "__main__":
    main()
