#pragma once
/// @file softmax.hpp
/// Softmax over the channel dimension of N×C×H×W tensors: the free functions softmax_channels /
/// softmax_channels_backward and the layer labor::nn::Softmax (torch.softmax(x, dim=1)), on the host
/// (blocks of pixels, vectorised over the pixels: backend/cpu/softmax.hpp) and the GPU (one pixel
/// per work item: backend/cuda/softmax.cuh), both from the per-pixel rules here.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/detail/buffers.hpp"
#include "labor/nn/detail/checks.hpp"
#include "labor/nn/layer.hpp"

namespace labor::nn {

namespace detail {

/// dLoss/dx of softmax for one element: y·(g − Σ_c g·y).
template <class T>
LABOR_HOST_DEVICE inline T softmax_grad(T y, T g, T dot) {
  return y * (g - dot);
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

/// The channel softmax on device D: `forward(px, py, shape)` (py may be px) and
/// `backward(y, grad_out)`, from softmax_pixel / softmax_pixel_backward's rules; cpu in
/// backend/cpu/softmax.hpp, cuda in backend/cuda/softmax.cuh.
template <Device D>
struct SoftmaxKernels;

/// softmax_channels of the values at px into py (may be px) on device D.
template <class T, Device D>
void softmax_channels_into(const T* px, T* py, const Shape& s) {
  SoftmaxKernels<D>::forward(px, py, s);
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
  return detail::SoftmaxKernels<D>::backward(y, grad_out);
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

#include "labor/backend/cpu/softmax.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/softmax.cuh"
#endif
