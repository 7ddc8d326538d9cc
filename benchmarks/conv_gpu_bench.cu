// Conv2d<float, cuda> throughput (im2col / col2im kernels + cuBLAS FP32 GEMMs) on ResNet/DeepLab-
// like layers at batch 2: the forward pass, and a training step's forward + backward (input,
// weight and bias gradients). Timed with CUDA events on labor's stream (manual time). Skips when no
// device is present. Compare with PyTorch on the same GPU: benchmarks/compare_torch_gpu.py.
#include <benchmark/benchmark.h>

#include <labor/labor.hpp>

#include "conv_shape.hpp"
#include "cuda_timer.cuh"

namespace {

using labor::cuda;
using labor::Shape;
using labor::Tensor;
using labor::bench::conv_flops;
using labor::bench::ConvShape;
using labor::bench::CudaTimer;
using labor::bench::shape_of;

/// Times `work` (after one warm-up call) with CUDA events; reports GFLOP/s for `flops` per call.
template <class F>
void run_timed(benchmark::State& state, double flops, F&& work) {
  CudaTimer timer(labor::cuda_stream());
  work();
  for (auto _ : state) {
    timer.start();
    work();
    state.SetIterationTime(timer.stop_seconds());
  }
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

/// A layer of shape `s` on the GPU, initialised as torch.nn.Conv2d, and a normal input.
struct Setup {
  labor::nn::Conv2d<float, cuda> conv;
  Tensor<float, cuda> x;

  explicit Setup(const ConvShape& s, labor::Rng& rng)
      : conv({.in_channels = s.c,
              .out_channels = s.out,
              .kernel_size = s.k,
              .stride = s.stride,
              .padding = s.pad,
              .dilation = s.dilation},
             rng),
        x(Shape{s.n, s.c, s.h, s.w}) {
    labor::fill_normal(x.view(), rng);
  }
};

bool have_device(benchmark::State& state) {
  if (labor::cuda_kernels::device_count() > 0) return true;
  state.SkipWithError("no CUDA device");
  return false;
}

void BM_Conv2dForwardCuda(benchmark::State& state) {
  if (!have_device(state)) return;
  const auto s = shape_of(state);
  labor::Rng rng(1);
  Setup setup(s, rng);
  run_timed(state, conv_flops(s), [&] {
    auto y = setup.conv.forward(setup.x);
    benchmark::DoNotOptimize(y.data());
  });
}

// Forward + backward: the input gradient and the weight and bias gradients (3× the forward FLOPs).
void BM_Conv2dTrainCuda(benchmark::State& state) {
  if (!have_device(state)) return;
  const auto s = shape_of(state);
  labor::Rng rng(1);
  Setup setup(s, rng);
  Tensor<float, cuda> gy(setup.conv.forward(setup.x).shape());
  labor::fill_normal(gy.view(), rng);
  run_timed(state, 3 * conv_flops(s), [&] {
    auto y = setup.conv.forward(setup.x);
    auto dx = setup.conv.backward(gy);
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(dx.data());
  });
}

// Args: N, C_in, H, W, C_out, kernel, stride, padding, dilation.
void conv_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "c", "h", "w", "out", "k", "s", "p", "d"});
  b->Args({2, 64, 128, 256, 64, 3, 1, 1, 1});    // ResNet layer1 3×3
  b->Args({2, 256, 64, 128, 64, 1, 1, 0, 1});    // bottleneck 1×1 reduction
  b->Args({2, 3, 256, 512, 64, 7, 2, 3, 1});     // ResNet stem
  b->Args({2, 256, 128, 256, 512, 1, 2, 0, 1});  // stride-2 1×1 downsample
  b->Args({2, 512, 32, 64, 512, 3, 1, 2, 2});    // dilated layer4 3×3
  b->Args({2, 2048, 32, 64, 19, 3, 1, 6, 6});    // ASPP branch, dilation 6
  b->Args({2, 2048, 32, 64, 19, 3, 1, 12, 12});  // ASPP branch, dilation 12
  b->UseManualTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_Conv2dForwardCuda)->Apply(conv_shapes);
BENCHMARK(BM_Conv2dTrainCuda)->Apply(conv_shapes);

}  // namespace
