// GPU samplers on one Cityscapes-sized frame (19×1024×2048) and on a batch of two 19×512×1024
// frames: SPL, SPL with a cap, PPL (40 points) and the inconsistency mask through the CUDA fast paths
// (what select() runs on device maps), the same samplers through the Thrust CUDA passes they replace
// (Path::generic), and two bandwidth peers: a kernel that reads both maps once and writes one value
// (BM_ReadBothMapsCuda, the lower bound of any sampler) and a device-to-device copy of both maps.
// Timed with CUDA events; sampler times include copying the Query to the host. Skips when no device
// is present.
#include <benchmark/benchmark.h>

#include <optional>

#include <cub/block/block_reduce.cuh>

#include <labor/labor.hpp>

#include "cuda_timer.cuh"

namespace {

using labor::bench::CudaTimer;
namespace S = labor::samplers;

struct DeviceMaps {
  labor::Tensor<float, labor::cuda> p1, p2;
};

/// p1 = softmax(z), p2 = softmax(z + e), z ~ 4·N(0, 1), e ~ 0.5·N(0, 1): ≈ 12% of pixels in M.
DeviceMaps make_maps(labor::Shape shape) {
  labor::Rng rng(2024);
  labor::Tensor<float> z(shape), e(shape);
  labor::fill_normal(z.view(), rng, 0.0f, 4.0f);
  labor::fill_normal(e.view(), rng, 0.0f, 0.5f);
  for (std::int64_t i = 0; i < e.numel(); ++i) e[i] += z[i];
  return DeviceMaps{labor::nn::softmax_channels(z).to<labor::cuda>(), labor::nn::softmax_channels(e).to<labor::cuda>()};
}

/// One 19×1024×2048 frame.
const DeviceMaps& frame() {
  static const DeviceMaps m = make_maps(labor::Shape{1, 19, 1024, 2048});
  return m;
}

/// Two 19×512×1024 frames.
const DeviceMaps& batch2() {
  static const DeviceMaps m = make_maps(labor::Shape{2, 19, 512, 1024});
  return m;
}

using Maps = const DeviceMaps& (*)();

template <class F>
void run_timed(benchmark::State& state, Maps maps, F&& work) {
  if (labor::cuda_kernels::device_count() == 0) {
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

/// Sums `n4` float4 of each map into *out (one atomic per block): both maps read once, 128-bit loads.
__global__ void read_both_kernel(const float4* a, const float4* b, std::int64_t n4, float* out) {
  using Reduce = cub::BlockReduce<float, 256>;
  __shared__ typename Reduce::TempStorage temp;
  float s = 0.0f;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
#pragma unroll 4
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float4 x = a[i], y = b[i];
    s += (x.x + x.y) + (x.z + x.w) + (y.x + y.y) + (y.z + y.w);
  }
  const float total = Reduce(temp).Sum(s);
  if (threadIdx.x == 0) atomicAdd(out, total);
}

void read_both(benchmark::State& state, Maps maps) {
  if (labor::cuda_kernels::device_count() == 0) return run_timed(state, maps, [](const DeviceMaps&) {});
  labor::Tensor<float, labor::cuda> sum(labor::Shape{1});
  int device = 0, sms = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  run_timed(state, maps, [&](const DeviceMaps& m) {
    const std::int64_t n4 = m.p1.numel() / 4;  // numel is a multiple of 4 for both map sets
    read_both_kernel<<<static_cast<unsigned>(sms * 8), 256, 0, labor::cuda_stream()>>>(
        reinterpret_cast<const float4*>(m.p1.data()), reinterpret_cast<const float4*>(m.p2.data()), n4, sum.data());
    labor::cuda_kernels::check_launch("read_both_kernel");
  });
}

void BM_ReadBothMapsCuda(benchmark::State& state) {
  read_both(state, frame);
}
void BM_ReadBothMapsCudaBatch2(benchmark::State& state) {
  read_both(state, batch2);
}

void BM_CopyBothMapsCuda(benchmark::State& state) {
  if (labor::cuda_kernels::device_count() == 0) return run_timed(state, frame, [](const DeviceMaps&) {});
  labor::Tensor<float, labor::cuda> a(frame().p1.shape()), b(frame().p1.shape());
  run_timed(state, frame, [&](const DeviceMaps& m) {
    labor::DeviceMemory<labor::cuda>::copy(a.data(), m.p1.data(), m.p1.bytes());
    labor::DeviceMemory<labor::cuda>::copy(b.data(), m.p2.data(), m.p2.bytes());
  });
}

using S::detail::Path;

void spl(benchmark::State& state, Maps maps, std::optional<double> cap, Path path) {
  run_timed(state, maps, [&](const DeviceMaps& m) {
    const auto q = S::detail::spl_select(thrust::cuda::par, cap, m.p1.view(), m.p2.view(), path);
    state.counters["selected"] = static_cast<double>(q.selected_pixels());
  });
}

void ppl(benchmark::State& state, Maps maps, double min_distance, Path path) {
  run_timed(state, maps, [&](const DeviceMaps& m) {
    const auto q = S::detail::ppl_select(thrust::cuda::par, 40, min_distance, m.p1.view(), m.p2.view(), path);
    state.counters["selected"] = static_cast<double>(q.selected_pixels());
  });
}

void mask(benchmark::State& state, Maps maps, Path path) {
  run_timed(state, maps, [&](const DeviceMaps& m) {
    const auto mk = S::detail::mask_select(thrust::cuda::par, m.p1.view(), m.p2.view(), path);
    benchmark::DoNotOptimize(mk.data());
  });
}

// The fast paths (what select() runs on device maps).
void BM_SplCuda(benchmark::State& state) {
  spl(state, frame, std::nullopt, Path::automatic);
}
void BM_SplCapCuda(benchmark::State& state) {
  spl(state, frame, 0.05, Path::automatic);
}
void BM_PplCuda(benchmark::State& state) {
  ppl(state, frame, 0.0, Path::automatic);
}
void BM_PplMinDistanceCuda(benchmark::State& state) {
  ppl(state, frame, 3.0, Path::automatic);
}
void BM_MaskCuda(benchmark::State& state) {
  mask(state, frame, Path::automatic);
}

// Two 19×512×1024 frames in one call.
void BM_SplCudaBatch2(benchmark::State& state) {
  spl(state, batch2, std::nullopt, Path::automatic);
}
void BM_SplCapCudaBatch2(benchmark::State& state) {
  spl(state, batch2, 0.05, Path::automatic);
}
void BM_PplCudaBatch2(benchmark::State& state) {
  ppl(state, batch2, 0.0, Path::automatic);
}

// The Thrust CUDA passes (the reference implementation).
void BM_SplCudaThrust(benchmark::State& state) {
  spl(state, frame, std::nullopt, Path::generic);
}
void BM_SplCapCudaThrust(benchmark::State& state) {
  spl(state, frame, 0.05, Path::generic);
}
void BM_PplCudaThrust(benchmark::State& state) {
  ppl(state, frame, 0.0, Path::generic);
}
void BM_MaskCudaThrust(benchmark::State& state) {
  mask(state, frame, Path::generic);
}

#define LABOR_GPU_BENCH(name) BENCHMARK(name)->UseManualTime()->Unit(benchmark::kMillisecond)
LABOR_GPU_BENCH(BM_ReadBothMapsCuda);
LABOR_GPU_BENCH(BM_CopyBothMapsCuda);
LABOR_GPU_BENCH(BM_SplCuda);
LABOR_GPU_BENCH(BM_SplCapCuda);
LABOR_GPU_BENCH(BM_PplCuda);
LABOR_GPU_BENCH(BM_PplMinDistanceCuda);
LABOR_GPU_BENCH(BM_MaskCuda);
LABOR_GPU_BENCH(BM_ReadBothMapsCudaBatch2);
LABOR_GPU_BENCH(BM_SplCudaBatch2);
LABOR_GPU_BENCH(BM_SplCapCudaBatch2);
LABOR_GPU_BENCH(BM_PplCudaBatch2);
LABOR_GPU_BENCH(BM_SplCudaThrust);
LABOR_GPU_BENCH(BM_SplCapCudaThrust);
LABOR_GPU_BENCH(BM_PplCudaThrust);
LABOR_GPU_BENCH(BM_MaskCudaThrust);

}  // namespace
