#!/bin/bash
# Builds labor's GPU programs (the `ci` preset) and copies them, with the shared libraries a bare
# GPU machine lacks (fmt, libgomp, Google Benchmark), into DIR (default .device/), ready to be run
# there by tools/device/validate.sh. The GPU machine has the CUDA toolkit (cudart, cuBLAS) and
# PyTorch with CUDA; nothing else is assumed.
#
#   tools/device/stage.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-.device}
targets=(labor_gpu_tests labor_bench_core_gpu labor_bench_samplers_gpu labor_bench_conv_gpu labor_bench_train_gpu
         labor_train)
cmake --preset ci >/dev/null
cmake --build build/ci --target "${targets[@]}" -j"$(nproc)"
mkdir -p "$dir/lib"
for t in "${targets[@]}"; do
  f=$(find build/ci -name "$t" -type f -perm -u+x | head -1)
  cp "$f" "$dir/"
done
for lib in libfmt.so.9 libgomp.so.1 libbenchmark.so.1debian libpng16.so.16; do
  src=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
  [ -n "$src" ] && cp -L "$src" "$dir/lib/"
done
cp tools/device/validate.sh "$dir/"
du -sh "$dir"
