#pragma once
// The convolution cases of the conv benchmarks (CPU and GPU): arguments
// n, c, h, w, out, k, stride, pad, dilation, and the FLOPs of one forward pass.

#include <benchmark/benchmark.h>

#include <cstdint>

namespace labor::bench {

struct ConvShape {
  std::int64_t n, c, h, w, out, k, stride, pad, dilation;
};

/// The case of a benchmark run (its nine arguments, in ConvShape's order).
inline ConvShape shape_of(const benchmark::State& state) {
  return {state.range(0), state.range(1), state.range(2), state.range(3), state.range(4),
          state.range(5), state.range(6), state.range(7), state.range(8)};
}

/// Multiply-adds ×2 of one forward pass.
inline double conv_flops(const ConvShape& s) {
  const std::int64_t oh = (s.h + 2 * s.pad - s.dilation * (s.k - 1) - 1) / s.stride + 1;
  const std::int64_t ow = (s.w + 2 * s.pad - s.dilation * (s.k - 1) - 1) / s.stride + 1;
  return 2.0 * static_cast<double>(s.n * s.out * oh * ow) * static_cast<double>(s.c * s.k * s.k);
}

}  // namespace labor::bench
