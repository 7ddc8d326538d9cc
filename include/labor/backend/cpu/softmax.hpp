#pragma once
/// @file softmax.hpp
/// The channel softmax on the host (SoftmaxKernels<cpu>): blocks of softmax_block pixels with the
/// channel loops outside, so that the pixel loops vectorise; the same formulas as softmax_pixel.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/softmax.hpp"

namespace labor::nn::detail {

/// Pixels handled together by the channel-softmax kernels (their per-pixel scratch stays on the stack).
inline constexpr std::int64_t softmax_block = 256;

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

template <>
struct SoftmaxKernels<cpu> {
  /// softmax_channels of the N×C×H×W values at px into py: blocks of softmax_block pixels with the channel loops outside,
  /// so that the pixel loops vectorise. py may be px (each value is read before its own output is
  /// written).
  template <class T>
  static void forward(const T* px, T* py, const Shape& s) {
    const std::int64_t n = s[0], c = s[1], hw = s[2] * s[3];
    for_each_pixel_block(n, hw, [&](std::int64_t i, std::int64_t p0, std::int64_t p1) {
      T m[softmax_block], s[softmax_block];
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

  /// softmax_channels_backward of checked maps, in blocks of softmax_block pixels.
  template <class T>
  static Tensor<T, cpu> backward(TensorView<const T, cpu> y, TensorView<const T, cpu> grad_out) {
    const std::int64_t n = y.size(0), c = y.size(1), hw = y.size(2) * y.size(3);
    auto dx = Tensor<T, cpu>::uninitialized(y.shape());
    const T* py = y.data();
    const T* pg = grad_out.data();
    T* pd = dx.data();
    for_each_pixel_block(n, hw, [&](std::int64_t i, std::int64_t p0, std::int64_t p1) {
      T dot[softmax_block] = {};
      const std::int64_t len = p1 - p0, off = i * c * hw + p0;
      for (std::int64_t k = 0; k < c; ++k)
        for (std::int64_t j = 0; j < len; ++j) dot[j] += py[off + k * hw + j] * pg[off + k * hw + j];
      for (std::int64_t k = 0; k < c; ++k)
        for (std::int64_t j = 0; j < len; ++j) {
          const std::int64_t e = off + k * hw + j;
          pd[e] = softmax_grad(py[e], pg[e], dot[j]);
        }
    });
    return dx;
  }
};

}  // namespace labor::nn::detail
