// GPU core benchmarks: the counter-based random fill against a plain device memset of the same
// buffer (the bandwidth peer). Timed with CUDA events. Skips when no device is present.
#include <benchmark/benchmark.h>

#include <labor/labor.hpp>

#include "cuda_timer.cuh"

namespace {

using labor::bench::CudaTimer;

template <class F>
void run_timed(benchmark::State& state, std::int64_t bytes, F&& work) {
  if (labor::cuda_kernels::device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  CudaTimer timer;
  work();  // warm-up
  for (auto _ : state) {
    timer.start();
    work();
    state.SetIterationTime(timer.stop_seconds());
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}

void BM_FillUniformCuda(benchmark::State& state) {
  if (labor::cuda_kernels::device_count() == 0) return run_timed(state, 0, [] {});
  labor::Tensor<float, labor::cuda> t(labor::Shape{state.range(0)});
  labor::Rng rng(1);
  run_timed(state, t.numel() * 4, [&] { labor::fill_uniform(t.view(), rng); });
}

void BM_MemsetCuda(benchmark::State& state) {
  if (labor::cuda_kernels::device_count() == 0) return run_timed(state, 0, [] {});
  labor::Tensor<float, labor::cuda> t(labor::Shape{state.range(0)});
  run_timed(state, t.numel() * 4, [&] { t.zero(); });
}

BENCHMARK(BM_FillUniformCuda)->Arg(1 << 28)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MemsetCuda)->Arg(1 << 28)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
