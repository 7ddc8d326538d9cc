#pragma once
/// @file max_pool2d.hpp
/// MaxPool2d on the host (MaxPoolKernels<cpu>): one task per output row, the columns whose window
/// lies inside the input on a vectorised path that visits each window in max_pool_window's order;
/// backward scatters each plane's output gradients to their argmax in output order.

#include <algorithm>
#include <cstdint>

#include "labor/core/config.hpp"
#include "labor/core/parallel.hpp"
#include "labor/nn/max_pool2d.hpp"

namespace labor::nn::detail {

/// max_pool_window for the outputs ow in [lo, hi) of row oh whose windows lie inside the input
/// columns: the window elements are visited in the same (row, column) order for each output, with
/// the outputs in the inner loop so that the loop vectorises.
template <class T>
inline void max_pool_row_inner(const T* x, const MaxPoolGeometry& g, std::int64_t oh, std::int64_t lo, std::int64_t hi,
                               T* LABOR_RESTRICT out, std::int32_t* LABOR_RESTRICT arg) {
  if (lo >= hi) return;
  std::int64_t h0 = oh * g.stride - g.padding;
  const std::int64_t h1 = h0 + g.kernel < g.height ? h0 + g.kernel : g.height;
  h0 = h0 < 0 ? 0 : h0;
  const auto s = static_cast<std::int32_t>(g.stride);
  for (std::int64_t ow = lo; ow < hi; ++ow) {
    out[ow] = -std::numeric_limits<T>::infinity();
    arg[ow] = static_cast<std::int32_t>(h0 * g.width + ow * g.stride - g.padding);
  }
  for (std::int64_t h = h0; h < h1; ++h) {
    const T* row = x + h * g.width;
    const auto row_index = static_cast<std::int32_t>(h * g.width - g.padding);
    for (std::int64_t kw = 0; kw < g.kernel; ++kw) {
      const auto k = static_cast<std::int32_t>(kw);
      const std::int64_t shift = kw - g.padding;
      LABOR_OMP_SIMD
      for (std::int64_t ow = lo; ow < hi; ++ow) {
        const T v = row[ow * g.stride + shift];
        const bool take = (v > out[ow]) | (v != v);
        out[ow] = take ? v : out[ow];
        arg[ow] = take ? row_index + static_cast<std::int32_t>(ow) * s + k : arg[ow];
      }
    }
  }
}

/// MaxPool2d's forward on the host, one task per output row: y and the argmax of every window of
/// the `planes` planes of x.
template <class T>
void max_pool_forward_rows(const T* px, T* py, std::int32_t* pa, const MaxPoolGeometry& g, std::int64_t planes) {
  const std::int64_t in_plane = g.height * g.width;
  // Columns whose window lies inside the input take a vectorisable path over a whole output row.
  const std::int64_t inner_lo = std::min(g.out_width, (g.padding + g.stride - 1) / g.stride);
  const std::int64_t inner_hi =
      std::max(inner_lo, std::min(g.out_width, (g.width + g.padding - g.kernel) / g.stride + 1));
  parallel_for(
      0, planes * g.out_height,
      [&](std::int64_t job) {
        const std::int64_t p = job / g.out_height, oh = job % g.out_height;
        const T* xs = px + p * in_plane;
        T* ys = py + job * g.out_width;
        std::int32_t* as = pa + job * g.out_width;
        for (std::int64_t ow = 0; ow < inner_lo; ++ow) max_pool_window(xs, g, oh, ow, ys[ow], as[ow]);
        for (std::int64_t ow = inner_hi; ow < g.out_width; ++ow) max_pool_window(xs, g, oh, ow, ys[ow], as[ow]);
        max_pool_row_inner(xs, g, oh, inner_lo, inner_hi, ys, as);
      },
      8);
}

/// MaxPool2d's backward on the host: each plane's output gradients scattered to their argmax in
/// output order, into the zeroed dx.
template <class T>
void max_pool_backward_scatter(const T* pg, const std::int32_t* pa, T* pd, const MaxPoolGeometry& g,
                               std::int64_t planes) {
  const std::int64_t in_plane = g.height * g.width;
  const std::int64_t out_plane = g.out_height * g.out_width;
  parallel_for(
      0, planes,
      [&](std::int64_t p) {
        const T* gs = pg + p * out_plane;
        const std::int32_t* as = pa + p * out_plane;
        T* ds = pd + p * in_plane;
        for (std::int64_t o = 0; o < out_plane; ++o) ds[as[o]] += gs[o];
      },
      1);
}

template <>
struct MaxPoolKernels<cpu> {
  template <class T>
  static void forward(const T* x, T* y, std::int32_t* argmax, const MaxPoolGeometry& g, std::int64_t planes) {
    max_pool_forward_rows(x, y, argmax, g, planes);
  }
  template <class T>
  static void backward(const T* grad_out, const std::int32_t* argmax, T* dx, const MaxPoolGeometry& g,
                       std::int64_t planes) {
    std::fill(dx, dx + planes * g.height * g.width, T(0));
    max_pool_backward_scatter(grad_out, argmax, dx, g, planes);
  }
};

}  // namespace labor::nn::detail
