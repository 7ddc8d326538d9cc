#pragma once
/// @file upsample.hpp
/// Bilinear resizing of N×C×H×W tensors to a given size, as
/// `torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=...)`:
/// the free functions upsample_bilinear / upsample_bilinear_backward and the layer
/// labor::nn::UpsampleBilinear, on the host and the GPU. The GPU computes one output element per
/// work item and the backward as a gather per input element (no atomics: each input sums its terms
/// in the order the host's scatter adds them), from the same tap functions as the host.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/parallel.hpp"
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

/// upsample_bilinear on the host: one task per output row, taps precomputed per axis.
template <class T>
Tensor<T, cpu> upsample_bilinear_rows(TensorView<const T, cpu> x, std::int64_t out_height, std::int64_t out_width,
                                      bool align_corners) {
  const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const auto rows = detail::bilinear_taps<T>(h, out_height, align_corners);
  const auto cols = detail::bilinear_taps<T>(w, out_width, align_corners);
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
          out[ow] = detail::bilinear_sample(r0, r1, r.w0, r.w1, cols[static_cast<std::size_t>(ow)]);
      },
      16);
  return y;
}

/// upsample_bilinear_backward on the host: each plane's output gradients scattered to their taps
/// in output order.
template <class T>
Tensor<T, cpu> upsample_bilinear_backward_scatter(TensorView<const T, cpu> grad_out, std::int64_t in_height,
                                                  std::int64_t in_width, bool align_corners) {
  const std::int64_t planes = grad_out.size(0) * grad_out.size(1);
  const std::int64_t oh_n = grad_out.size(2), ow_n = grad_out.size(3);
  const auto rows = detail::bilinear_taps<T>(in_height, oh_n, align_corners);
  const auto cols = detail::bilinear_taps<T>(in_width, ow_n, align_corners);
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

/// bilinear_taps in a tensor on device D.
template <class T, Device D>
Tensor<LinearTap<T>, D> bilinear_tap_table(std::int64_t in, std::int64_t out, bool align_corners) {
  auto taps = Tensor<LinearTap<T>, D>::uninitialized(Shape{out});
  LinearTap<T>* p = taps.data();
  const T scale = bilinear_scale<T>(in, out, align_corners);
  for_each_index<D>(out,
                    [=] LABOR_HOST_DEVICE(std::int64_t i) { p[i] = bilinear_tap<T>(i, in, scale, align_corners); });
  return taps;
}

/// For the taps of one axis (i0 non-decreasing in the output index) and each j in [0, in], the first
/// output index whose tap i0 is >= j (the output count when there is none). The outputs reading input
/// index j (i0 or i1 equal to j) are then those in [first[max(j − 1, 0)], first[j + 1]).
template <class T, Device D>
Tensor<std::int64_t, D> bilinear_first_outputs(const Tensor<LinearTap<T>, D>& taps, std::int64_t in) {
  auto first = Tensor<std::int64_t, D>::uninitialized(Shape{in + 1});
  const LinearTap<T>* t = taps.data();
  const std::int64_t out = taps.numel();
  std::int64_t* f = first.data();
  for_each_index<D>(in + 1, [=] LABOR_HOST_DEVICE(std::int64_t j) {
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

/// upsample_bilinear on any device, one work item per output element (the GPU path).
template <class T, Device D>
Tensor<T, D> upsample_bilinear_elements(TensorView<const T, D> x, std::int64_t out_height, std::int64_t out_width,
                                        bool align_corners) {
  const std::int64_t h = x.size(2), w = x.size(3);
  const auto rows = bilinear_tap_table<T, D>(h, out_height, align_corners);
  const auto cols = bilinear_tap_table<T, D>(w, out_width, align_corners);
  auto y = Tensor<T, D>::uninitialized(Shape{x.size(0), x.size(1), out_height, out_width});
  const LinearTap<T>* pr = rows.data();
  const LinearTap<T>* pc = cols.data();
  const T* px = x.data();
  T* py = y.data();
  for_each_index<D>(y.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) {
    const std::int64_t ow = i % out_width, row = i / out_width;
    const std::int64_t oh = row % out_height, p = row / out_height;
    const LinearTap<T> r = pr[oh];
    const T* plane = px + p * h * w;
    py[i] = bilinear_sample(plane + r.i0 * w, plane + r.i1 * w, r.w0, r.w1, pc[ow]);
  });
  return y;
}

/// upsample_bilinear_backward on any device as a gather, one work item per input element (the GPU
/// path: deterministic, no atomics).
template <class T, Device D>
Tensor<T, D> upsample_bilinear_backward_gather(TensorView<const T, D> grad_out, std::int64_t in_height,
                                               std::int64_t in_width, bool align_corners) {
  const std::int64_t oh_n = grad_out.size(2), ow_n = grad_out.size(3);
  const auto rows = bilinear_tap_table<T, D>(in_height, oh_n, align_corners);
  const auto cols = bilinear_tap_table<T, D>(in_width, ow_n, align_corners);
  const auto row_first = bilinear_first_outputs<T, D>(rows, in_height);
  const auto col_first = bilinear_first_outputs<T, D>(cols, in_width);
  auto dx = Tensor<T, D>::uninitialized(Shape{grad_out.size(0), grad_out.size(1), in_height, in_width});
  const LinearTap<T>* pr = rows.data();
  const LinearTap<T>* pc = cols.data();
  const std::int64_t* rf = row_first.data();
  const std::int64_t* cf = col_first.data();
  const T* pg = grad_out.data();
  T* pd = dx.data();
  for_each_index<D>(dx.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) {
    const std::int64_t ix = i % in_width, row = i / in_width;
    const std::int64_t iy = row % in_height, p = row / in_height;
    pd[i] =
        bilinear_gather(pg + p * oh_n * ow_n, ow_n, pr, pc, bilinear_readers(rf, iy), bilinear_readers(cf, ix), iy, ix);
  });
  return dx;
}

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
  if constexpr (std::is_same_v<D, cpu>) {
    return detail::upsample_bilinear_rows<T>(x, out_height, out_width, align_corners);
  } else {
    return detail::upsample_bilinear_elements<T, D>(x, out_height, out_width, align_corners);
  }
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
  if constexpr (std::is_same_v<D, cpu>) {
    return detail::upsample_bilinear_backward_scatter<T>(grad_out, in_height, in_width, align_corners);
  } else {
    return detail::upsample_bilinear_backward_gather<T, D>(grad_out, in_height, in_width, align_corners);
  }
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
