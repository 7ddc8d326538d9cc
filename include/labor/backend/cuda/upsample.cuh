#pragma once
/// @file upsample.cuh
/// Bilinear resizing on the GPU (UpsampleKernels<cuda>): one output element per work item, and the
/// backward as a gather per input element (bilinear_gather: no atomics, each input sums its terms in
/// the order the host's scatter adds them), from the same tap functions as the host.

#include <cstdint>

#include "labor/core/for_each.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/upsample.hpp"

namespace labor::nn::detail {

/// bilinear_taps in a tensor on the GPU.
template <class T>
Tensor<LinearTap<T>, cuda> bilinear_tap_table(std::int64_t in, std::int64_t out, bool align_corners) {
  auto taps = Tensor<LinearTap<T>, cuda>::uninitialized(Shape{out});
  LinearTap<T>* p = taps.data();
  const T scale = bilinear_scale<T>(in, out, align_corners);
  for_each_index<cuda>(out,
                       [=] LABOR_HOST_DEVICE(std::int64_t i) { p[i] = bilinear_tap<T>(i, in, scale, align_corners); });
  return taps;
}

/// For the taps of one axis (i0 non-decreasing in the output index) and each j in [0, in], the first
/// output index whose tap i0 is >= j (the output count when there is none). The outputs reading input
/// index j (i0 or i1 equal to j) are then those in [first[max(j − 1, 0)], first[j + 1]).
template <class T>
Tensor<std::int64_t, cuda> bilinear_first_outputs(const Tensor<LinearTap<T>, cuda>& taps, std::int64_t in) {
  auto first = Tensor<std::int64_t, cuda>::uninitialized(Shape{in + 1});
  const LinearTap<T>* t = taps.data();
  const std::int64_t out = taps.numel();
  std::int64_t* f = first.data();
  for_each_index<cuda>(in + 1, [=] LABOR_HOST_DEVICE(std::int64_t j) {
    std::int64_t lo = 0, hi = out;
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      if (t[mid].i0 < j) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    f[j] = lo;
  });
  return first;
}

/// upsample_bilinear, one work item per output element.
template <class T>
Tensor<T, cuda> upsample_bilinear_elements(TensorView<const T, cuda> x, std::int64_t out_height, std::int64_t out_width,
                                           bool align_corners) {
  const std::int64_t h = x.size(2), w = x.size(3);
  const auto rows = bilinear_tap_table<T>(h, out_height, align_corners);
  const auto cols = bilinear_tap_table<T>(w, out_width, align_corners);
  auto y = Tensor<T, cuda>::uninitialized(Shape{x.size(0), x.size(1), out_height, out_width});
  const LinearTap<T>* pr = rows.data();
  const LinearTap<T>* pc = cols.data();
  const T* px = x.data();
  T* py = y.data();
  for_each_index<cuda>(y.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) {
    const std::int64_t ow = i % out_width, row = i / out_width;
    const std::int64_t oh = row % out_height, p = row / out_height;
    const LinearTap<T> r = pr[oh];
    const T* plane = px + p * h * w;
    py[i] = bilinear_sample(plane + r.i0 * w, plane + r.i1 * w, r.w0, r.w1, pc[ow]);
  });
  return y;
}

/// upsample_bilinear_backward as a gather, one work item per input element (deterministic, no
/// atomics).
template <class T>
Tensor<T, cuda> upsample_bilinear_backward_gather(TensorView<const T, cuda> grad_out, std::int64_t in_height,
                                                  std::int64_t in_width, bool align_corners) {
  const std::int64_t oh_n = grad_out.size(2), ow_n = grad_out.size(3);
  const auto rows = bilinear_tap_table<T>(in_height, oh_n, align_corners);
  const auto cols = bilinear_tap_table<T>(in_width, ow_n, align_corners);
  const auto row_first = bilinear_first_outputs<T>(rows, in_height);
  const auto col_first = bilinear_first_outputs<T>(cols, in_width);
  auto dx = Tensor<T, cuda>::uninitialized(Shape{grad_out.size(0), grad_out.size(1), in_height, in_width});
  const LinearTap<T>* pr = rows.data();
  const LinearTap<T>* pc = cols.data();
  const std::int64_t* rf = row_first.data();
  const std::int64_t* cf = col_first.data();
  const T* pg = grad_out.data();
  T* pd = dx.data();
  for_each_index<cuda>(dx.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) {
    const std::int64_t ix = i % in_width, row = i / in_width;
    const std::int64_t iy = row % in_height, p = row / in_height;
    pd[i] =
        bilinear_gather(pg + p * oh_n * ow_n, ow_n, pr, pc, bilinear_readers(rf, iy), bilinear_readers(cf, ix), iy, ix);
  });
  return dx;
}

template <>
struct UpsampleKernels<cuda> {
  template <class T>
  static Tensor<T, cuda> forward(TensorView<const T, cuda> x, std::int64_t out_height, std::int64_t out_width,
                                 bool align_corners) {
    return upsample_bilinear_elements<T>(x, out_height, out_width, align_corners);
  }
  template <class T>
  static Tensor<T, cuda> backward(TensorView<const T, cuda> grad_out, std::int64_t in_height, std::int64_t in_width,
                                  bool align_corners) {
    return upsample_bilinear_backward_gather<T>(grad_out, in_height, in_width, align_corners);
  }
};

}  // namespace labor::nn::detail
