// GPU samplers (Thrust CUDA system) on one Cityscapes-sized frame (19×1024×2048): SPL and PPL
// (40 points), next to a device-to-device copy of both maps (the bandwidth peer: reads and writes
// each map once). Timed with CUDA events; includes the copy of the Query back to the host.
// Skips when no device is present.
#include <benchmark/benchmark.h>

#include <labor/labor.hpp>

#include "cuda_timer.cuh"

namespace {

using labor::bench::CudaTimer;

struct DeviceMaps {
  labor::Tensor<float, labor::cuda> p1, p2;
};

/// p1 = softmax(z), p2 = softmax(z + e), z ~ 4·N(0, 1), e ~ 0.5·N(0, 1): ≈ 12% of pixels in M.
const DeviceMaps& maps() {
  static DeviceMaps m = [] {
    labor::Rng rng(2024);
    labor::Tensor<float> z(labor::Shape{1, 19, 1024, 2048}), e(labor::Shape{1, 19, 1024, 2048});
    labor::fill_normal(z.view(), rng, 0.0f, 4.0f);
    labor::fill_normal(e.view(), rng, 0.0f, 0.5f);
    for (std::int64_t i = 0; i < e.numel(); ++i) e[i] += z[i];
    return DeviceMaps{labor::nn::softmax_channels(z).to<labor::cuda>(),
                      labor::nn::softmax_channels(e).to<labor::cuda>()};
  }();
  return m;
}

template <class F>
void run_timed(benchmark::State& state, F&& work) {
  if (labor::cuda_detail::device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const auto& m = maps();
  CudaTimer timer;
  work(m);  // warm-up
  for (auto _ : state) {
    timer.start();
    work(m);
    state.SetIterationTime(timer.stop_seconds());
  }
  state.SetBytesProcessed(state.iterations() * 2 * m.p1.numel() * static_cast<std::int64_t>(sizeof(float)));
}

void BM_CopyBothMapsCuda(benchmark::State& state) {
  if (labor::cuda_detail::device_count() == 0) return run_timed(state, [](const DeviceMaps&) {});
  labor::Tensor<float, labor::cuda> a(maps().p1.shape()), b(maps().p1.shape());
  run_timed(state, [&](const DeviceMaps& m) {
    labor::DeviceMemory<labor::cuda>::copy(a.data(), m.p1.data(), m.p1.bytes());
    labor::DeviceMemory<labor::cuda>::copy(b.data(), m.p2.data(), m.p2.bytes());
  });
}

void BM_SplCuda(benchmark::State& state) {
  run_timed(state, [&](const DeviceMaps& m) {
    auto q = labor::samplers::SplSampler{}.select(thrust::cuda::par, m.p1.view(), m.p2.view());
    state.counters["selected"] = static_cast<double>(q.selected_pixels());
  });
}

void BM_SplCapCuda(benchmark::State& state) {
  run_timed(state, [&](const DeviceMaps& m) {
    auto q = labor::samplers::SplSampler{0.05}.select(thrust::cuda::par, m.p1.view(), m.p2.view());
    state.counters["selected"] = static_cast<double>(q.selected_pixels());
  });
}

void BM_PplCuda(benchmark::State& state) {
  run_timed(state, [&](const DeviceMaps& m) {
    auto q = labor::samplers::PplSampler{40}.select(thrust::cuda::par, m.p1.view(), m.p2.view());
    state.counters["selected"] = static_cast<double>(q.selected_pixels());
  });
}

BENCHMARK(BM_CopyBothMapsCuda)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SplCuda)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SplCapCuda)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PplCuda)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
