#pragma once
/// @file im2col.hpp
/// Unfolding of convolution windows into columns (im2col) and its adjoint (col2im), host memory.
/// Channels run in parallel when called outside an OpenMP parallel region.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "labor/core/parallel.hpp"

namespace labor::cpu_kernels {

/// Geometry of a 2-D convolution over one image: input C×H×W, kernel KH×KW, output OH×OW.
struct ConvGeometry {
  std::int64_t channels, height, width;
  std::int64_t kernel_h, kernel_w;
  std::int64_t stride_h, stride_w;
  std::int64_t pad_h, pad_w;
  std::int64_t dilation_h, dilation_w;

  [[nodiscard]] std::int64_t out_height() const {
    return (height + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
  }
  [[nodiscard]] std::int64_t out_width() const {
    return (width + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
  }
  /// Rows of the column matrix: C·KH·KW.
  [[nodiscard]] std::int64_t col_rows() const { return channels * kernel_h * kernel_w; }
  /// Columns of the column matrix: OH·OW.
  [[nodiscard]] std::int64_t col_cols() const { return out_height() * out_width(); }
  /// True when the column matrix equals the input (1×1 kernel, stride 1, no padding).
  [[nodiscard]] bool is_identity() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }
};

namespace detail {
/// Output positions [lo, hi) along one axis whose input coordinate o·stride − pad + offset lies in [0, size).
inline void valid_range(std::int64_t size, std::int64_t out, std::int64_t stride, std::int64_t pad, std::int64_t offset,
                        std::int64_t& lo, std::int64_t& hi) {
  const std::int64_t shift = pad - offset;  // o·stride >= shift  and  o·stride < size + shift
  lo = shift <= 0 ? 0 : (shift + stride - 1) / stride;
  hi = size + shift <= 0 ? 0 : (size + shift + stride - 1) / stride;
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
}

/// One kernel tap (c, i, j) of the columns for output rows [row_begin, row_end): column row `row`,
/// and the output rectangle [oy0, oy1) × [ox0, ox1) whose input pixels lie inside the image.
struct Tap {
  std::int64_t c, i, j, row;
  std::int64_t oy0, oy1, ox0, ox1;
};

/// Calls `f(tap)` for every kernel tap, channels in parallel when called outside a parallel region.
template <class F>
void for_each_tap(const ConvGeometry& g, std::int64_t row_begin, std::int64_t row_end, F&& f) {
  parallel_for(
      0, g.channels,
      [&](std::int64_t c) {
        for (std::int64_t i = 0; i < g.kernel_h; ++i) {
          std::int64_t oy0, oy1;
          valid_range(g.height, g.out_height(), g.stride_h, g.pad_h, i * g.dilation_h, oy0, oy1);
          oy0 = std::clamp(oy0, row_begin, row_end);
          oy1 = std::clamp(oy1, oy0, row_end);
          for (std::int64_t j = 0; j < g.kernel_w; ++j) {
            std::int64_t ox0, ox1;
            valid_range(g.width, g.out_width(), g.stride_w, g.pad_w, j * g.dilation_w, ox0, ox1);
            f(Tap{c, i, j, (c * g.kernel_h + i) * g.kernel_w + j, oy0, oy1, ox0, ox1});
          }
        }
      },
      2);
}

/// Offset in one image of the input row read by output row `oy` of tap `t`, and its first column.
inline std::int64_t tap_input_row(const ConvGeometry& g, const Tap& t, std::int64_t oy) {
  return (t.c * g.height + oy * g.stride_h - g.pad_h + t.i * g.dilation_h) * g.width;
}
inline std::int64_t tap_input_col(const ConvGeometry& g, const Tap& t) {
  return t.ox0 * g.stride_w - g.pad_w + t.j * g.dilation_w;
}
}  // namespace detail

/// Columns for the output rows [row_begin, row_end) of one C×H×W image `x`:
/// col[(c·KH + i)·KW + j][(oy − row_begin)·OW + ox] = x[c][oy·sh − ph + i·dh][ox·sw − pw + j·dw],
/// 0 outside the image. `col` has col_rows() × (row_end − row_begin)·OW elements.
template <class T>
void im2col(const T* x, const ConvGeometry& g, T* col, std::int64_t row_begin, std::int64_t row_end) {
  const std::int64_t ow = g.out_width(), rows = row_end - row_begin;
  detail::for_each_tap(g, row_begin, row_end, [&](const detail::Tap& t) {
    T* row = col + t.row * rows * ow;  // output row row_begin
    const std::int64_t ix0 = detail::tap_input_col(g, t);
    std::fill(row, row + (t.oy0 - row_begin) * ow, T(0));
    for (std::int64_t oy = t.oy0; oy < t.oy1; ++oy) {
      T* out = row + (oy - row_begin) * ow;
      const T* in = x + detail::tap_input_row(g, t, oy);
      std::fill(out, out + t.ox0, T(0));
      if (g.stride_w == 1) {
        std::memcpy(out + t.ox0, in + ix0, static_cast<std::size_t>(t.ox1 - t.ox0) * sizeof(T));
      } else {
        for (std::int64_t ox = t.ox0; ox < t.ox1; ++ox) out[ox] = in[ix0 + (ox - t.ox0) * g.stride_w];
      }
      std::fill(out + t.ox1, out + ow, T(0));
    }
    std::fill(row + (t.oy1 - row_begin) * ow, row + rows * ow, T(0));
  });
}

/// Columns for the whole image: col_rows() × col_cols().
template <class T>
void im2col(const T* x, const ConvGeometry& g, T* col) {
  im2col(x, g, col, 0, g.out_height());
}

/// Adjoint of im2col over the output rows [row_begin, row_end): adds every column entry back to the
/// input position it was read from. `dx` (one C×H×W image) is accumulated into, not overwritten.
/// Channels are independent, so the parallel split over channels never writes one element twice.
template <class T>
void col2im(const T* col, const ConvGeometry& g, T* dx, std::int64_t row_begin, std::int64_t row_end) {
  const std::int64_t ow = g.out_width(), rows = row_end - row_begin;
  detail::for_each_tap(g, row_begin, row_end, [&](const detail::Tap& t) {
    const T* row = col + t.row * rows * ow;  // output row row_begin
    const std::int64_t ix0 = detail::tap_input_col(g, t);
    for (std::int64_t oy = t.oy0; oy < t.oy1; ++oy) {
      const T* in = row + (oy - row_begin) * ow;
      T* out = dx + detail::tap_input_row(g, t, oy);
      for (std::int64_t ox = t.ox0; ox < t.ox1; ++ox) out[ix0 + (ox - t.ox0) * g.stride_w] += in[ox];
    }
  });
}

/// Adjoint of the whole-image im2col.
template <class T>
void col2im(const T* col, const ConvGeometry& g, T* dx) {
  col2im(col, g, dx, 0, g.out_height());
}

}  // namespace labor::cpu_kernels
