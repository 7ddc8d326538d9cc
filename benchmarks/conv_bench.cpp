// Conv2d forward and backward throughput on CPU (float forward: implicit-GEMM AVX-512 kernel where
// available; backward: im2col + GEMM).
// Compare with PyTorch in the same run: benchmarks/compare_torch.py.
#include <benchmark/benchmark.h>

#include <labor/nn/conv2d.hpp>

#include "conv_shape.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::bench::ConvShape;
using labor::bench::conv_flops;
using labor::bench::shape_of;

labor::nn::Conv2d<float> make_conv(const ConvShape& s, labor::Rng& rng) {
  return labor::nn::Conv2d<float>({.in_channels = s.c,
                                   .out_channels = s.out,
                                   .kernel_size = s.k,
                                   .stride = s.stride,
                                   .padding = s.pad,
                                   .dilation = s.dilation},
                                  rng);
}

void BM_Conv2dForward(benchmark::State& state) {
  const auto s = shape_of(state);
  labor::Rng rng(1);
  auto conv = make_conv(s, rng);
  Tensor<float> x(Shape{s.n, s.c, s.h, s.w});
  fill_normal(x.view(), rng);
  for (auto _ : state) {
    auto y = conv.forward(x);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(conv_flops(s) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = labor::num_threads();
}

// Backward: input gradient and weight/bias gradients (2× the forward FLOPs).
void BM_Conv2dBackward(benchmark::State& state) {
  const auto s = shape_of(state);
  labor::Rng rng(1);
  auto conv = make_conv(s, rng);
  Tensor<float> x(Shape{s.n, s.c, s.h, s.w});
  fill_normal(x.view(), rng);
  auto y = conv.forward(x);
  Tensor<float> gy(y.shape());
  fill_normal(gy.view(), rng);
  for (auto _ : state) {
    auto dx = conv.backward(gy);
    benchmark::DoNotOptimize(dx.data());
  }
  state.counters["GFLOPS"] =
      benchmark::Counter(2 * conv_flops(s) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = labor::num_threads();
}

// Args: N, C_in, H, W, C_out, kernel, stride, padding, dilation.
void conv_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "c", "h", "w", "out", "k", "s", "p", "d"});
  b->Args({8, 64, 64, 64, 64, 3, 1, 1, 1});     // the reference shape
  b->Args({1, 256, 65, 129, 256, 3, 1, 1, 1});  // one DeepLab feature map
  b->Args({8, 256, 32, 32, 64, 1, 1, 0, 1});    // 1×1 projection
  // The small networks' layers: encoder, dilated context, classifier heads, discriminator.
  b->Args({8, 3, 128, 128, 16, 3, 1, 1, 1});
  b->Args({8, 16, 64, 64, 32, 3, 1, 1, 1});
  b->Args({8, 32, 32, 32, 64, 3, 1, 2, 2});
  b->Args({4, 64, 33, 33, 10, 3, 1, 6, 6});
  b->Args({4, 64, 33, 33, 10, 3, 1, 24, 24});
  b->Args({8, 10, 64, 64, 64, 4, 2, 1, 1});
  b->Args({8, 64, 32, 32, 128, 4, 2, 1, 1});
  b->Args({1, 64, 64, 64, 64, 3, 1, 1, 1});  // batch of one
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Conv2dForward)->Apply(conv_shapes);
BENCHMARK(BM_Conv2dBackward)->Apply(conv_shapes);

}  // namespace
