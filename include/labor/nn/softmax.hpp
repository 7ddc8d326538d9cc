#pragma once
/// @file softmax.hpp
/// Softmax over the channel dimension of N×C×H×W tensors: the free functions softmax_channels /
/// softmax_channels_backward and the layer labor::nn::Softmax (torch.softmax(x, dim=1)), on the host
/// (blocks of pixels, vectorised over the pixels) and the GPU (one pixel per work item).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/detail/buffers.hpp"
#include "labor/nn/detail/checks.hpp"
#include "labor/nn/layer.hpp"

namespace labor::nn {

namespace detail {

/// Pixels handled together by the channel-softmax kernels (their per-pixel scratch stays on the stack).
inline constexpr std::int64_t softmax_block = 256;

/// dLoss/dx of softmax for one element: y·(g − Σ_c g·y).
template <class T>
LABOR_HOST_DEVICE inline T softmax_grad(T y, T g, T dot) {
  return y * (g - dot);
}

/// Calls f(n, p0, p1) for every image n and block [p0, p1) of its hw pixels, in parallel.
template <class F>
void for_each_pixel_block(std::int64_t n, std::int64_t hw, F&& f) {
  const std::int64_t blocks = (hw + softmax_block - 1) / softmax_block;
  parallel_for(
      0, n * blocks,
      [&](std::int64_t job) {
        const std::int64_t i = job / blocks, b = job % blocks;
        f(i, b * softmax_block, std::min(hw, (b + 1) * softmax_block));
      },
      4);
}

/// Channel softmax of one pixel on any device: the `c` values x[k·stride], k < c, to y[k·stride]
/// (max subtracted, exponentials recomputed rather than stored and reread).
template <class T>
LABOR_HOST_DEVICE inline void softmax_pixel(const T* x, T* y, std::int64_t c, std::int64_t stride) {
  T m = x[0];
  for (std::int64_t k = 1; k < c; ++k) m = std::max(m, x[k * stride]);
  T s = T(0);
  for (std::int64_t k = 0; k < c; ++k) s += std::exp(x[k * stride] - m);
  const T inv = T(1) / s;
  for (std::int64_t k = 0; k < c; ++k) y[k * stride] = std::exp(x[k * stride] - m) * inv;
}

/// softmax_channels_backward of one pixel on any device: dx = y·(g − Σ_c g·y) over the `c`
/// values at k·stride, the dot product summed in channel order.
template <class T>
LABOR_HOST_DEVICE inline void softmax_pixel_backward(const T* y, const T* g, T* dx, std::int64_t c,
                                                     std::int64_t stride) {
  T dot = T(0);
  for (std::int64_t k = 0; k < c; ++k) dot += y[k * stride] * g[k * stride];
  for (std::int64_t k = 0; k < c; ++k) dx[k * stride] = softmax_grad(y[k * stride], g[k * stride], dot);
}

/// softmax_channels of the N×C×H×W values at px into py on any device, one work item per pixel
/// (the GPU path). py may be px (each value is read before its own output is written).
template <class T, Device D>
void softmax_channels_pixels(const T* px, T* py, const Shape& s) {
  const std::int64_t c = s[1], hw = s[2] * s[3];
  for_each_index<D>(s[0] * hw, [=] LABOR_HOST_DEVICE(std::int64_t pixel) {
    const std::int64_t off = (pixel / hw) * c * hw + pixel % hw;
    softmax_pixel(px + off, py + off, c, hw);
  });
}

/// softmax_channels_backward on any device, one work item per pixel (the GPU path).
template <class T, Device D>
Tensor<T, D> softmax_channels_backward_pixels(TensorView<const T, D> y, TensorView<const T, D> grad_out) {
  const std::int64_t c = y.size(1), hw = y.size(2) * y.size(3);
  auto dx = Tensor<T, D>::uninitialized(y.shape());
  const T* py = y.data();
  const T* pg = grad_out.data();
  T* pd = dx.data();
  for_each_index<D>(y.size(0) * hw, [=] LABOR_HOST_DEVICE(std::int64_t pixel) {
    const std::int64_t off = (pixel / hw) * c * hw + pixel % hw;
    softmax_pixel_backward(py + off, pg + off, pd + off, c, hw);
  });
  return dx;
}

/// softmax_channels on the host: blocks of softmax_block pixels with the channel loops outside,
/// so that the pixel loops vectorise. py may be px (each value is read before its own output is
/// written).
template <class T>
void softmax_channels_blocks(const T* px, T* py, const Shape& s) {
  const std::int64_t n = s[0], c = s[1], hw = s[2] * s[3];
  detail::for_each_pixel_block(n, hw, [&](std::int64_t i, std::int64_t p0, std::int64_t p1) {
    T m[detail::softmax_block], s[detail::softmax_block];
    const std::int64_t len = p1 - p0;
    const T* xi = px + i * c * hw + p0;
    T* yi = py + i * c * hw + p0;
    std::copy(xi, xi + len, m);
    for (std::int64_t k = 1; k < c; ++k)
      for (std::int64_t j = 0; j < len; ++j) m[j] = std::max(m[j], xi[k * hw + j]);
    std::fill(s, s + len, T(0));
    for (std::int64_t k = 0; k < c; ++k)
      for (std::int64_t j = 0; j < len; ++j) {
        const T e = std::exp(xi[k * hw + j] - m[j]);
        yi[k * hw + j] = e;
        s[j] += e;
      }
    for (std::int64_t j = 0; j < len; ++j) s[j] = T(1) / s[j];
    for (std::int64_t k = 0; k < c; ++k)
      for (std::int64_t j = 0; j < len; ++j) yi[k * hw + j] *= s[j];
  });
}

/// softmax_channels of the values at px into py (may be px) on device D.
template <class T, Device D>
void softmax_channels_into(const T* px, T* py, const Shape& s) {
  if constexpr (std::is_same_v<D, cpu>) {
    softmax_channels_blocks<T>(px, py, s);
  } else {
    softmax_channels_pixels<T, D>(px, py, s);
  }
}

/// softmax_channels_backward on the host, in blocks of softmax_block pixels.
template <class T>
Tensor<T, cpu> softmax_channels_backward_blocks(TensorView<const T, cpu> y, TensorView<const T, cpu> grad_out) {
  const std::int64_t n = y.size(0), c = y.size(1), hw = y.size(2) * y.size(3);
  auto dx = Tensor<T, cpu>::uninitialized(y.shape());
  const T* py = y.data();
  const T* pg = grad_out.data();
  T* pd = dx.data();
  detail::for_each_pixel_block(n, hw, [&](std::int64_t i, std::int64_t p0, std::int64_t p1) {
    T dot[detail::softmax_block] = {};
    const std::int64_t len = p1 - p0, off = i * c * hw + p0;
    for (std::int64_t k = 0; k < c; ++k)
      for (std::int64_t j = 0; j < len; ++j) dot[j] += py[off + k * hw + j] * pg[off + k * hw + j];
    for (std::int64_t k = 0; k < c; ++k)
      for (std::int64_t j = 0; j < len; ++j) {
        const std::int64_t e = off + k * hw + j;
        pd[e] = detail::softmax_grad(py[e], pg[e], dot[j]);
      }
  });
  return dx;
}

}  // namespace detail

/// y[n, c, h, w] = exp(x[n, c, h, w] − m) / Σ_k exp(x[n, k, h, w] − m), m the maximum over the
/// channels (numerically stable). Input and output N×C×H×W, non-empty, on device D; throws
/// labor::Error otherwise.
template <class T, Device D>
Tensor<T, D> softmax_channels(TensorView<const T, D> x) {
  detail::check_nchw("softmax_channels", "input", x.shape());
  auto y = Tensor<T, D>::uninitialized(x.shape());
  detail::softmax_channels_into<T, D>(x.data(), y.data(), x.shape());
  return y;
}

/// softmax_channels of a tensor.
template <class T, Device D>
Tensor<T, D> softmax_channels(const Tensor<T, D>& x) {
  return softmax_channels<T, D>(x.view());
}

/// softmax_channels of a tensor the caller gives up: computed in its storage (no allocation, one
/// pass over the memory instead of two), the same values as the copying form.
template <class T, Device D>
Tensor<T, D> softmax_channels(Tensor<T, D>&& x) {
  detail::check_nchw("softmax_channels", "input", x.shape());
  detail::softmax_channels_into<T, D>(x.data(), x.data(), x.shape());
  return std::move(x);
}

/// Gradient of softmax_channels from its output `y` and dLoss/dy `grad_out` (both N×C×H×W, same
/// shape, on device D): dx = y·(g − Σ_c g·y). Throws labor::Error for mismatched or empty shapes.
template <class T, Device D>
Tensor<T, D> softmax_channels_backward(TensorView<const T, D> y, TensorView<const T, D> grad_out) {
  detail::check_nchw("softmax_channels_backward", "output", y.shape());
  LABOR_CHECK(grad_out.shape() == y.shape(), "softmax_channels_backward: grad_out shape: expected {}, got {}",
              y.shape(), grad_out.shape());
  if constexpr (std::is_same_v<D, cpu>) {
    return detail::softmax_channels_backward_blocks<T>(y, grad_out);
  } else {
    return detail::softmax_channels_backward_pixels<T, D>(y, grad_out);
  }
}

/// softmax_channels_backward of tensors.
template <class T, Device D>
Tensor<T, D> softmax_channels_backward(const Tensor<T, D>& y, const Tensor<T, D>& grad_out) {
  return softmax_channels_backward<T, D>(y.view(), grad_out.view());
}

/// Layer form of softmax_channels: N×C×H×W → N×C×H×W, softmax over C. Keeps its output for backward
/// (not under NoGradGuard).
template <class T, Device D = cpu>
class Softmax : public Stateless {
 public:
  using value_type = T;
  using device_type = D;

  /// Softmax over the channels of `x`.
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    detail::check_nchw("Softmax", "input", x.shape());
    auto y = softmax_channels<T, D>(x.view());
    detail::keep_for_backward(output_, y);
    return y;
  }

  /// dLoss/dy (shape of the last output) → dLoss/dx.
  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    detail::check_backward("Softmax", !output_.empty(), grad_out.shape(), output_.shape());
    return softmax_channels_backward<T, D>(output_.view(), grad_out.view());
  }

 private:
  Tensor<T, D> output_;
};

}  // namespace labor::nn
