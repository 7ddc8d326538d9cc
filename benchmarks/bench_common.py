"""Pieces shared by the PyTorch comparison scripts (compare_torch.py, compare_torch_gpu.py, shared_cores.py):
the convolution case encoded in a conv benchmark's name, its table label, Google Benchmark times, and
a run of a labor benchmark program.
Imports nothing beyond the standard library, so a script can report a missing PyTorch itself."""
import json
import subprocess


def parse_conv(name):
    """(direction, n, c, h, w, out, k, stride, pad, dilation) of a conv benchmark name such as
    BM_Conv2dForward/n:8/c:64/h:64/w:64/out:64/k:3/s:1/p:1/d:1/real_time or
    BM_Conv2dTrainCuda/.../manual_time (s, p, d default to 1, k // 2, 1)."""
    parts = name.split("/")
    direction = parts[0].replace("BM_Conv2d", "").replace("Cuda", "")
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


def to_ms(b):
    """A Google Benchmark JSON entry's real time in milliseconds."""
    return b["real_time"] * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]


def run_labor(binary, min_time, bench_filter):
    """labor's benchmarks of one run (skipped ones left out), as Google Benchmark JSON entries."""
    raw = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_min_time={min_time}",
                          f"--benchmark_filter={bench_filter}"], check=True, capture_output=True, text=True)
    labor = json.loads(raw.stdout)
    return labor["context"], [b for b in labor["benchmarks"] if not b.get("error_occurred") and not b.get("skipped")
                              and b.get("run_type", "iteration") == "iteration"]
