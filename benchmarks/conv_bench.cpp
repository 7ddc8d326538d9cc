// Conv2d forward and backward throughput on CPU (im2col + Eigen GEMM).
// Compare with PyTorch in the same run: benchmarks/compare_torch.py.
#include <benchmark/benchmark.h>

#include <labor/nn/conv2d.hpp>

namespace {

using labor::Shape;
using labor::Tensor;

struct ConvShape {
  std::int64_t n, c, h, w, out, k, stride, pad, dilation;
};

ConvShape shape_of(const benchmark::State& state) {
  return {state.range(0),
          state.range(1),
          state.range(2),
          state.range(3),
          state.range(4),
          state.range(5),
          1,
          state.range(5) / 2,
          1};
}

double conv_flops(const ConvShape& s) {
  return 2.0 * static_cast<double>(s.n * s.out * s.h * s.w) * static_cast<double>(s.c * s.k * s.k);
}

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

// Args: N, C_in, H, W, C_out, kernel (stride 1, "same" padding).
void conv_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "c", "h", "w", "out", "k"});
  b->Args({8, 64, 64, 64, 64, 3});     // the reference shape
  b->Args({1, 256, 65, 129, 256, 3});  // one DeepLab feature map
  b->Args({8, 256, 32, 32, 64, 1});    // 1×1 projection
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Conv2dForward)->Apply(conv_shapes);
BENCHMARK(BM_Conv2dBackward)->Apply(conv_shapes);

}  // namespace
