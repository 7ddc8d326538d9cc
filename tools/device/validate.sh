#!/bin/bash
# Runs labor's GPU checks on a machine with an NVIDIA GPU, from binaries staged by
# tools/device/stage.sh, and writes JSON results to OUT (default ./gpu-results):
#   gpu_tests.json        every `gpu`-labelled test (labor_gpu_tests)
#   bench_*.json          the GPU benchmarks (Google Benchmark JSON, CUDA-event times)
#   torch_*.json          the same work in PyTorch CUDA (benchmarks/compare_torch_gpu.py)
#   train_quick.log       labor_train --device cuda --preset quick, end to end
# Run from the repository root:  bash .device/validate.sh [.device] [OUT]
set -uo pipefail
bin=${1:-.device}
out=${2:-${OUT:-gpu-results}}
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/$bin/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"
echo "== gpu tests"
"$bin/labor_gpu_tests" --gtest_output="json:$out/gpu_tests.json" 2>&1 | grep -E "^\[  (FAILED|PASSED|SKIPPED) |^\[==========\]|Failure|error" | head -60
for b in conv train samplers core; do
  echo "== bench $b"
  timeout 240 "$bin/labor_bench_${b}_gpu" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/bench_$b.json" --benchmark_out_format=json 2>&1 | grep -E "median|ERROR" | head -30
done
for suite in conv train; do
  echo "== pytorch vs labor: $suite"
  timeout 300 python3 benchmarks/compare_torch_gpu.py $suite "$bin/labor_bench_${suite}_gpu" --rounds 2 \
    --out "$out/torch_$suite.json" 2>&1 | tail -20
done
echo "== labor_train --device cuda --preset quick"
( time timeout 600 "$bin/labor_train" --device cuda --preset quick --quiet --out /tmp/labor_gpu_quick ) >"$out/train_quick.log" 2>&1
tail -20 "$out/train_quick.log"
