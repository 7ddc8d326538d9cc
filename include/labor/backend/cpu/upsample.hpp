#pragma once
/// @file upsample.hpp
/// Bilinear resizing on the host (UpsampleKernels<cpu>): one task per output row with the taps
/// precomputed per axis (bilinear_taps); backward scatters each plane's output gradients to their
/// taps in output order.

#include <cstdint>

#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/upsample.hpp"

namespace labor::nn::detail {

template <>
struct UpsampleKernels<cpu> {
  /// upsample_bilinear on the host: one task per output row, taps precomputed per axis.
  template <class T>
  static Tensor<T, cpu> forward(TensorView<const T, cpu> x, std::int64_t out_height, std::int64_t out_width,
                                bool align_corners) {
    const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
    const auto rows = bilinear_taps<T>(h, out_height, align_corners);
    const auto cols = bilinear_taps<T>(w, out_width, align_corners);
    auto y = Tensor<T, cpu>::uninitialized(Shape{x.size(0), x.size(1), out_height, out_width});
    const T* px = x.data();
    T* py = y.data();
    parallel_for(
        0, planes * out_height,
        [&](std::int64_t job) {
          const std::int64_t p = job / out_height, oh = job % out_height;
          const auto& r = rows[static_cast<std::size_t>(oh)];
          const T* r0 = px + (p * h + r.i0) * w;
          const T* r1 = px + (p * h + r.i1) * w;
          T* out = py + job * out_width;
          for (std::int64_t ow = 0; ow < out_width; ++ow)
            out[ow] = bilinear_sample(r0, r1, r.w0, r.w1, cols[static_cast<std::size_t>(ow)]);
        },
        16);
    return y;
  }

  /// upsample_bilinear_backward on the host: each plane's output gradients scattered to their taps
  /// in output order.
  template <class T>
  static Tensor<T, cpu> backward(TensorView<const T, cpu> grad_out, std::int64_t in_height, std::int64_t in_width,
                                 bool align_corners) {
    const std::int64_t planes = grad_out.size(0) * grad_out.size(1);
    const std::int64_t oh_n = grad_out.size(2), ow_n = grad_out.size(3);
    const auto rows = bilinear_taps<T>(in_height, oh_n, align_corners);
    const auto cols = bilinear_taps<T>(in_width, ow_n, align_corners);
    Tensor<T, cpu> dx(Shape{grad_out.size(0), grad_out.size(1), in_height, in_width});
    const T* pg = grad_out.data();
    T* pd = dx.data();
    parallel_for(
        0, planes,
        [&](std::int64_t p) {
          const T* gs = pg + p * oh_n * ow_n;
          T* ds = pd + p * in_height * in_width;
          for (std::int64_t oh = 0; oh < oh_n; ++oh) {
            const auto& r = rows[static_cast<std::size_t>(oh)];
            T* d0 = ds + r.i0 * in_width;
            T* d1 = ds + r.i1 * in_width;
            const T* g = gs + oh * ow_n;
            for (std::int64_t ow = 0; ow < ow_n; ++ow) {
              const auto& c = cols[static_cast<std::size_t>(ow)];
              const T g0 = r.w0 * g[ow], g1 = r.w1 * g[ow];
              d0[c.i0] += g0 * c.w0;
              d0[c.i1] += g0 * c.w1;
              d1[c.i0] += g1 * c.w0;
              d1[c.i1] += g1 * c.w1;
            }
          }
        },
        1);
    return dx;
  }
};

}  // namespace labor::nn::detail
