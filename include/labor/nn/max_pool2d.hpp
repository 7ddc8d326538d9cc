#pragma once
/// @file max_pool2d.hpp
/// labor::nn::MaxPool2d: 2-D max pooling with stride, padding and ceil_mode, as
/// torch.nn.MaxPool2d (dilation 1), on the host and the GPU: its contract, checks and per-element
/// rules (max_pool_window, max_pool_gather); the work is MaxPoolKernels<D>
/// (backend/cpu/max_pool2d.hpp, backend/cuda/max_pool2d.cuh).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/detail/buffers.hpp"
#include "labor/nn/detail/checks.hpp"
#include "labor/nn/layer.hpp"

namespace labor::nn {

/// Options of MaxPool2d (square window, same stride and padding on both axes).
struct MaxPool2dOptions {
  /// Window size (> 0).
  std::int64_t kernel_size = 2;
  /// Step between windows (> 0); 0 means kernel_size, as PyTorch's default.
  std::int64_t stride = 0;
  /// Implicit −∞ padding on each side, 0 <= padding <= kernel_size / 2.
  std::int64_t padding = 0;
  /// Round the output size up instead of down; a window must still start inside the input or
  /// the left padding.
  bool ceil_mode = false;
};

/// Output extent of max pooling along one axis, PyTorch's rule:
/// ⌊(in + 2p − k)/s⌋ + 1, or with ceil_mode ⌈(in + 2p − k)/s⌉ + 1 minus one when the last
/// window would start at or beyond in + p. Requires in + 2p >= k, k > 0, s > 0.
LABOR_HOST_DEVICE constexpr std::int64_t max_pool_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                                              std::int64_t padding, bool ceil_mode) {
  const std::int64_t span = in + 2 * padding - kernel;
  std::int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + padding) --out;
  return out;
}

namespace detail {

/// Sizes of one max-pooling problem (per N×C plane).
struct MaxPoolGeometry {
  std::int64_t height, width, out_height, out_width, kernel, stride, padding;
};

/// Max of the window of output (oh, ow) over the plane `x` (height×width), and the flat in-plane
/// index of the first maximum (a NaN wins, as PyTorch's CPU kernel). The window is clipped to the
/// input; it is never empty for a valid geometry.
template <class T>
LABOR_HOST_DEVICE inline void max_pool_window(const T* x, const MaxPoolGeometry& g, std::int64_t oh, std::int64_t ow,
                                              T& out, std::int32_t& arg) {
  std::int64_t h0 = oh * g.stride - g.padding, w0 = ow * g.stride - g.padding;
  const std::int64_t h1 = h0 + g.kernel < g.height ? h0 + g.kernel : g.height;
  const std::int64_t w1 = w0 + g.kernel < g.width ? w0 + g.kernel : g.width;
  h0 = h0 < 0 ? 0 : h0;
  w0 = w0 < 0 ? 0 : w0;
  T best = -std::numeric_limits<T>::infinity();
  std::int64_t best_i = h0 * g.width + w0;
  for (std::int64_t h = h0; h < h1; ++h) {
    const T* row = x + h * g.width;
    for (std::int64_t w = w0; w < w1; ++w) {
      const T v = row[w];
      const bool take = (v > best) | (v != v);  // no short-circuit branch: random data mispredicts
      best = take ? v : best;
      best_i = take ? h * g.width + w : best_i;
    }
  }
  out = best;
  arg = static_cast<std::int32_t>(best_i);
}

/// The outputs [begin, end) along one axis whose windows contain input index `i` (empty when the
/// stride skips it): oh·stride − padding <= i < oh·stride − padding + kernel, 0 <= oh < out.
struct WindowRange {
  std::int64_t begin, end;
};

/// WindowRange of input index `i` along an axis with `out` windows.
LABOR_HOST_DEVICE inline WindowRange max_pool_windows_containing(std::int64_t i, std::int64_t out, std::int64_t kernel,
                                                                 std::int64_t stride, std::int64_t padding) {
  const std::int64_t after_first = i + padding - kernel + 1;  // windows oh with oh·stride >= this
  const std::int64_t begin = after_first > 0 ? (after_first + stride - 1) / stride : 0;
  const std::int64_t last = (i + padding) / stride;  // i + padding >= 0
  return {begin, last + 1 < out ? last + 1 : out};
}

/// dLoss/dx at input (h, w) of one plane: the sum of the output gradients `g` whose window's
/// argmax (`arg`, flat in-plane indices) is (h, w), added in output order, as the backward
/// scatter adds them (so ties between overlapping windows give the same sums).
template <class T>
LABOR_HOST_DEVICE inline T max_pool_gather(const T* g, const std::int32_t* arg, const MaxPoolGeometry& geo,
                                           std::int64_t h, std::int64_t w) {
  const WindowRange rows = max_pool_windows_containing(h, geo.out_height, geo.kernel, geo.stride, geo.padding);
  const WindowRange cols = max_pool_windows_containing(w, geo.out_width, geo.kernel, geo.stride, geo.padding);
  const auto self = static_cast<std::int32_t>(h * geo.width + w);
  T acc = T(0);
  for (std::int64_t oh = rows.begin; oh < rows.end; ++oh)
    for (std::int64_t ow = cols.begin; ow < cols.end; ++ow) {
      const std::int64_t o = oh * geo.out_width + ow;
      if (arg[o] == self) acc += g[o];
    }
  return acc;
}

/// MaxPool2d's kernels on device D: `forward(x, y, argmax, g, planes)` (y and the argmax of every
/// window of the planes of x) and `backward(grad_out, argmax, dx, g, planes)` (dx written whole),
/// from max_pool_window and max_pool_gather's rules; cpu in backend/cpu/max_pool2d.hpp, cuda in
/// backend/cuda/max_pool2d.cuh.
template <Device D>
struct MaxPoolKernels;

}  // namespace detail

/// Max pooling of N×C×H×W inputs to N×C×OH×OW, OH = max_pool_output_size(H, k, s, p, ceil_mode)
/// (likewise OW), padding acting as −∞. Backward routes each output gradient to the first maximum
/// of its window (PyTorch's CPU behaviour on ties). Keeps the argmax indices (int32) for backward
/// (not under NoGradGuard).
template <class T, Device D = cpu>
class MaxPool2d : public Stateless {
 public:
  using value_type = T;
  using device_type = D;

  /// Throws labor::Error for kernel_size <= 0, stride < 0, padding < 0 or padding > kernel_size / 2.
  explicit MaxPool2d(const MaxPool2dOptions& options) : options_(options) {
    auto& o = options_;
    LABOR_CHECK(o.kernel_size > 0, "MaxPool2d: kernel_size: expected > 0, got {}", o.kernel_size);
    LABOR_CHECK(o.stride >= 0, "MaxPool2d: stride: expected > 0 (or 0 for kernel_size), got {}", o.stride);
    if (o.stride == 0) o.stride = o.kernel_size;
    LABOR_CHECK(o.padding >= 0 && o.padding <= o.kernel_size / 2,
                "MaxPool2d: padding: expected in [0, kernel_size / 2 = {}], got {}", o.kernel_size / 2, o.padding);
  }

  /// Options with the stride resolved (never 0).
  [[nodiscard]] const MaxPool2dOptions& options() const { return options_; }

  /// N×C×H×W → N×C×OH×OW. Throws labor::Error for a wrong rank, an empty input, or an input
  /// smaller than the window (H + 2p < k).
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    detail::check_nchw("MaxPool2d", "input", x.shape());
    const auto g = geometry(x.shape());
    const std::int64_t planes = x.size(0) * x.size(1);
    const Shape out_shape{x.size(0), x.size(1), g.out_height, g.out_width};
    auto y = Tensor<T, D>::uninitialized(out_shape);
    ensure_shape(argmax_, out_shape);
    input_shape_ = x.shape();
    detail::MaxPoolKernels<D>::forward(x.data(), y.data(), argmax_.data(), g, planes);
    if (!grad_enabled()) argmax_ = Tensor<std::int32_t, D>();  // under NoGradGuard nothing is kept
    return y;
  }

  /// dLoss/dy (N×C×OH×OW of the last forward) → dLoss/dx (N×C×H×W): each output gradient is
  /// added at its window's argmax, zero elsewhere.
  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    detail::check_backward("MaxPool2d", !argmax_.empty(), grad_out.shape(), argmax_.shape());
    const std::int64_t planes = input_shape_[0] * input_shape_[1];
    auto dx = Tensor<T, D>::uninitialized(input_shape_);
    detail::MaxPoolKernels<D>::backward(grad_out.data(), argmax_.data(), dx.data(), geometry(input_shape_), planes);
    return dx;
  }

 private:
  [[nodiscard]] detail::MaxPoolGeometry geometry(const Shape& s) const {
    const auto& o = options_;
    const std::int64_t h = s[2], w = s[3];
    LABOR_CHECK(h + 2 * o.padding >= o.kernel_size && w + 2 * o.padding >= o.kernel_size,
                "MaxPool2d: input size: expected H and W + 2·padding >= kernel_size = {}, got {}×{} with padding {}",
                o.kernel_size, h, w, o.padding);
    LABOR_CHECK(h * w <= std::numeric_limits<std::int32_t>::max(),
                "MaxPool2d: input plane size: expected at most 2^31 − 1 elements, got {}×{}", h, w);
    return {h,
            w,
            max_pool_output_size(h, o.kernel_size, o.stride, o.padding, o.ceil_mode),
            max_pool_output_size(w, o.kernel_size, o.stride, o.padding, o.ceil_mode),
            o.kernel_size,
            o.stride,
            o.padding};
  }

  MaxPool2dOptions options_;
  Shape input_shape_{0};
  Tensor<std::int32_t, D> argmax_;
};

}  // namespace labor::nn

#include "labor/backend/cpu/max_pool2d.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/max_pool2d.cuh"
#endif
