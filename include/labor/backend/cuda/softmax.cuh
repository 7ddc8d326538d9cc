#pragma once
/// @file softmax.cuh
/// The channel softmax on the GPU (SoftmaxKernels<cuda>): one work item per pixel running
/// softmax_pixel / softmax_pixel_backward with stride H·W, queued on labor's stream.

#include <cstdint>

#include "labor/core/for_each.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/softmax.hpp"

namespace labor::nn::detail {

/// softmax_channels of the N×C×H×W values at px into py, one work item per pixel. py may be px (each value is read
/// before its own output is written).
template <class T>
void softmax_channels_pixels(const T* px, T* py, const Shape& s) {
  const std::int64_t c = s[1], hw = s[2] * s[3];
  for_each_index<cuda>(s[0] * hw, [=] LABOR_HOST_DEVICE(std::int64_t pixel) {
    const std::int64_t off = (pixel / hw) * c * hw + pixel % hw;
    softmax_pixel(px + off, py + off, c, hw);
  });
}

/// softmax_channels_backward, one work item per pixel.
template <class T>
Tensor<T, cuda> softmax_channels_backward_pixels(TensorView<const T, cuda> y, TensorView<const T, cuda> grad_out) {
  const std::int64_t c = y.size(1), hw = y.size(2) * y.size(3);
  auto dx = Tensor<T, cuda>::uninitialized(y.shape());
  const T* py = y.data();
  const T* pg = grad_out.data();
  T* pd = dx.data();
  for_each_index<cuda>(y.size(0) * hw, [=] LABOR_HOST_DEVICE(std::int64_t pixel) {
    const std::int64_t off = (pixel / hw) * c * hw + pixel % hw;
    softmax_pixel_backward(py + off, pg + off, pd + off, c, hw);
  });
  return dx;
}

template <>
struct SoftmaxKernels<cuda> {
  /// softmax_channels of the N×C×H×W values at px into py (may be px).
  template <class T>
  static void forward(const T* px, T* py, const Shape& s) {
    softmax_channels_pixels<T>(px, py, s);
  }
  /// softmax_channels_backward of checked maps.
  template <class T>
  static Tensor<T, cuda> backward(TensorView<const T, cuda> y, TensorView<const T, cuda> grad_out) {
    return softmax_channels_backward_pixels<T>(y, grad_out);
  }
};

}  // namespace labor::nn::detail
