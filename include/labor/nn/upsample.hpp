#pragma once
/// @file upsample.hpp
/// Bilinear resizing of N×C×H×W tensors to a given size, as
/// `torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=...)`:
/// the free functions upsample_bilinear / upsample_bilinear_backward and the layer
/// labor::nn::UpsampleBilinear, on the host and the GPU: the contract, the checks and the tap
/// functions both devices use; the work is UpsampleKernels<D> (backend/cpu/upsample.hpp: rows and
/// a scatter; backend/cuda/upsample.cuh: one output per work item and a gather per input).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/detail/checks.hpp"
#include "labor/nn/layer.hpp"

namespace labor::nn {

namespace detail {

/// The two source taps of one output coordinate: value = w0·x[i0] + w1·x[i1].
template <class T>
struct LinearTap {
  std::int64_t i0, i1;
  T w0, w1;
};

/// Source-to-output scale along one axis (PyTorch's area_pixel_compute_scale for a given size):
/// (in − 1)/(out − 1) with align_corners (0 when out == 1), in/out without.
template <class T>
LABOR_HOST_DEVICE inline T bilinear_scale(std::int64_t in, std::int64_t out, bool align_corners) {
  if (align_corners) return out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  return static_cast<T>(in) / static_cast<T>(out);
}

/// Taps of output index `dst` along an axis of `in` source elements, as PyTorch's CPU kernel
/// computes them (torch 1.13, checked against its weights): the scale is rounded to T, the source
/// coordinate computed in double, src = scale·dst with align_corners, scale·(dst + ½) − ½ clamped
/// at 0 without. i0 = ⌊src⌋ (at most in − 1), i1 = i0 + 1 unless i0 is the last element,
/// w1 = src − i0 rounded to T and clamped to [0, 1], w0 = 1 − w1.
template <class T>
LABOR_HOST_DEVICE inline LinearTap<T> bilinear_tap(std::int64_t dst, std::int64_t in, T scale, bool align_corners) {
  double src = align_corners ? static_cast<double>(scale) * static_cast<double>(dst)
                             : static_cast<double>(scale) * (static_cast<double>(dst) + 0.5) - 0.5;
  if (src < 0) src = 0;
  std::int64_t i0 = static_cast<std::int64_t>(src);  // src >= 0: truncation is floor
  if (i0 > in - 1) i0 = in - 1;
  T w1 = static_cast<T>(src - static_cast<double>(i0));
  w1 = w1 < T(0) ? T(0) : (w1 > T(1) ? T(1) : w1);
  return {i0, i0 < in - 1 ? i0 + 1 : i0, T(1) - w1, w1};
}

/// Taps for every output index of one axis.
template <class T>
std::vector<LinearTap<T>> bilinear_taps(std::int64_t in, std::int64_t out, bool align_corners) {
  std::vector<LinearTap<T>> taps(static_cast<std::size_t>(out));
  const T scale = bilinear_scale<T>(in, out, align_corners);
  for (std::int64_t i = 0; i < out; ++i)
    taps[static_cast<std::size_t>(i)] = bilinear_tap<T>(i, in, scale, align_corners);
  return taps;
}

/// One bilinear sample from rows r0 (weight wh0) and r1 (weight wh1) at column taps `c`,
/// summed in PyTorch's order.
template <class T>
LABOR_HOST_DEVICE inline T bilinear_sample(const T* r0, const T* r1, T wh0, T wh1, const LinearTap<T>& c) {
  return (r0[c.i0] * c.w0 + r0[c.i1] * c.w1) * wh0 + (r1[c.i0] * c.w0 + r1[c.i1] * c.w1) * wh1;
}

/// Throws labor::Error unless the output size of `op` is positive.
inline void check_upsample_size(const char* op, std::int64_t height, std::int64_t width) {
  LABOR_CHECK(height > 0 && width > 0, "{}: output size: expected height and width > 0, got {}×{}", op, height, width);
}

/// The outputs [begin, end) along one axis whose taps may read an input index.
struct OutputRange {
  std::int64_t begin, end;
};

/// The OutputRange of input index j from a bilinear_first_outputs table.
LABOR_HOST_DEVICE inline OutputRange bilinear_readers(const std::int64_t* first, std::int64_t j) {
  return {first[j > 0 ? j - 1 : 0], first[j + 1]};
}

/// dLoss/dx at input (iy, ix) of one plane, gathered from dLoss/dy `g` (rows of `out_width`) over
/// the outputs in `rows` × `cols` whose taps read it. The terms are added in the order
/// upsample_bilinear_backward_scatter adds them (output order, then the taps' order).
template <class T>
LABOR_HOST_DEVICE inline T bilinear_gather(const T* g, std::int64_t out_width, const LinearTap<T>* row_taps,
                                           const LinearTap<T>* col_taps, OutputRange rows, OutputRange cols,
                                           std::int64_t iy, std::int64_t ix) {
  T acc = T(0);
  for (std::int64_t oh = rows.begin; oh < rows.end; ++oh) {
    const LinearTap<T> r = row_taps[oh];
    const T* gr = g + oh * out_width;
    for (std::int64_t ow = cols.begin; ow < cols.end; ++ow) {
      const LinearTap<T> c = col_taps[ow];
      if (r.i0 == iy) {
        const T g0 = r.w0 * gr[ow];
        if (c.i0 == ix) acc += g0 * c.w0;
        if (c.i1 == ix) acc += g0 * c.w1;
      }
      if (r.i1 == iy) {
        const T g1 = r.w1 * gr[ow];
        if (c.i0 == ix) acc += g1 * c.w0;
        if (c.i1 == ix) acc += g1 * c.w1;
      }
    }
  }
  return acc;
}

/// Bilinear resizing on device D: `forward(x, out_height, out_width, align_corners)` and
/// `backward(grad_out, in_height, in_width, align_corners)`, from the tap functions above; cpu in
/// backend/cpu/upsample.hpp, cuda in backend/cuda/upsample.cuh.
template <Device D>
struct UpsampleKernels;

}  // namespace detail

/// Bilinear resize of `x` (N×C×H×W, non-empty, on device D) to N×C×out_height×out_width with
/// PyTorch's `F.interpolate(mode="bilinear", size=(out_height, out_width), align_corners=...)`
/// semantics (no antialiasing; coordinates computed in T). Throws labor::Error for a bad rank, an
/// empty input or a non-positive output size.
template <class T, Device D>
Tensor<T, D> upsample_bilinear(TensorView<const T, D> x, std::int64_t out_height, std::int64_t out_width,
                               bool align_corners = false) {
  detail::check_nchw("upsample_bilinear", "input", x.shape());
  detail::check_upsample_size("upsample_bilinear", out_height, out_width);
  return detail::UpsampleKernels<D>::forward(x, out_height, out_width, align_corners);
}

/// upsample_bilinear of a tensor.
template <class T, Device D>
Tensor<T, D> upsample_bilinear(const Tensor<T, D>& x, std::int64_t out_height, std::int64_t out_width,
                               bool align_corners = false) {
  return upsample_bilinear<T, D>(x.view(), out_height, out_width, align_corners);
}

/// Gradient of upsample_bilinear: `grad_out` is dLoss/dy (N×C×OH×OW, on device D), the result
/// dLoss/dx (N×C×in_height×in_width) for an input of that size resized with the same
/// `align_corners`. Throws labor::Error for a bad rank, an empty grad_out or a non-positive input size.
template <class T, Device D>
Tensor<T, D> upsample_bilinear_backward(TensorView<const T, D> grad_out, std::int64_t in_height, std::int64_t in_width,
                                        bool align_corners = false) {
  detail::check_nchw("upsample_bilinear_backward", "grad_out", grad_out.shape());
  LABOR_CHECK(in_height > 0 && in_width > 0,
              "upsample_bilinear_backward: input size: expected height and width > 0, got {}×{}", in_height, in_width);
  return detail::UpsampleKernels<D>::backward(grad_out, in_height, in_width, align_corners);
}

/// upsample_bilinear_backward of a tensor.
template <class T, Device D>
Tensor<T, D> upsample_bilinear_backward(const Tensor<T, D>& grad_out, std::int64_t in_height, std::int64_t in_width,
                                        bool align_corners = false) {
  return upsample_bilinear_backward<T, D>(grad_out.view(), in_height, in_width, align_corners);
}

/// Options of UpsampleBilinear: the output size and the coordinate convention.
struct UpsampleOptions {
  /// Output height (> 0).
  std::int64_t out_height = 0;
  /// Output width (> 0).
  std::int64_t out_width = 0;
  /// PyTorch's align_corners: corner pixels' centres of input and output coincide.
  bool align_corners = false;
};

/// Layer form of upsample_bilinear: N×C×H×W → N×C×out_height×out_width (any H, W; sizes fixed at
/// construction). Keeps only the input shape for backward.
template <class T, Device D = cpu>
class UpsampleBilinear : public Stateless {
 public:
  using value_type = T;
  using device_type = D;

  /// Throws labor::Error for a non-positive output size.
  explicit UpsampleBilinear(const UpsampleOptions& options) : options_(options) {
    detail::check_upsample_size("UpsampleBilinear", options.out_height, options.out_width);
  }

  [[nodiscard]] const UpsampleOptions& options() const { return options_; }

  /// N×C×H×W → N×C×out_height×out_width.
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    detail::check_nchw("UpsampleBilinear", "input", x.shape());
    input_shape_ = x.shape();
    return upsample_bilinear<T, D>(x.view(), options_.out_height, options_.out_width, options_.align_corners);
  }

  /// dLoss/dy (N×C×out_height×out_width) → dLoss/dx (N×C×H×W of the last forward).
  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    const bool have = input_shape_.rank() == 4;
    detail::check_backward(
        "UpsampleBilinear", have, grad_out.shape(),
        have ? Shape{input_shape_[0], input_shape_[1], options_.out_height, options_.out_width} : Shape{0});
    return upsample_bilinear_backward<T, D>(grad_out.view(), input_shape_[2], input_shape_[3], options_.align_corners);
  }

 private:
  UpsampleOptions options_;
  Shape input_shape_{0};
};

}  // namespace labor::nn

#include "labor/backend/cpu/upsample.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/upsample.cuh"
#endif
