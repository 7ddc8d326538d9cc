#pragma once
/// @file transforms.hpp
/// Geometric transforms of one (image, label map) item: resizing (bilinear images, nearest labels,
/// both with PyTorch's `F.interpolate` semantics), cropping with padding, horizontal flips, and the
/// random augmentation the loader applies (scale jitter → random crop → flip), drawn from a
/// counter-based stream so that it depends only on the stream, never on the thread that runs it.
///
/// Images are C×H×W float tensors, label maps H×W int32 tensors. The functions run serially: the
/// loader parallelises over items.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/upsample.hpp"

namespace labor::data {

/// Bilinear resize of a C×H×W image to C×height×width, as
/// `F.interpolate(x[None], size=(height, width), mode="bilinear", align_corners=False)[0]`
/// (no antialiasing). Returns a copy when the size is unchanged.
/// @throws labor::Error for a tensor that is not a non-empty C×H×W or a non-positive size.
inline Tensor<float, cpu> resize_bilinear(const Tensor<float, cpu>& image, std::int64_t height, std::int64_t width) {
  LABOR_CHECK(image.rank() == 3 && image.numel() > 0, "resize_bilinear: image: expected a non-empty C×H×W, got {}",
              image.shape());
  LABOR_CHECK(height > 0 && width > 0, "resize_bilinear: size: expected height and width > 0, got {}×{}", height,
              width);
  const std::int64_t c = image.size(0), h = image.size(1), w = image.size(2);
  if (h == height && w == width) return image;
  const auto rows = nn::detail::bilinear_taps<float>(h, height, false);
  const auto cols = nn::detail::bilinear_taps<float>(w, width, false);
  auto out = Tensor<float, cpu>::uninitialized(Shape{c, height, width});
  for (std::int64_t p = 0; p < c; ++p)
    for (std::int64_t y = 0; y < height; ++y) {
      const auto& r = rows[static_cast<std::size_t>(y)];
      const float* r0 = image.data() + (p * h + r.i0) * w;
      const float* r1 = image.data() + (p * h + r.i1) * w;
      float* dst = out.data() + (p * height + y) * width;
      for (std::int64_t x = 0; x < width; ++x)
        dst[x] = nn::detail::bilinear_sample(r0, r1, r.w0, r.w1, cols[static_cast<std::size_t>(x)]);
    }
  return out;
}

namespace detail {

/// Source index of output index `dst` for PyTorch's mode="nearest" (torch 1.13 CPU kernel):
/// identity for equal sizes, dst/2 for an exact doubling, else min(⌊dst·(in/out)⌋, in − 1) in float.
inline std::int64_t nearest_source(std::int64_t dst, std::int64_t in, std::int64_t out) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  return std::min(static_cast<std::int64_t>(std::floor(static_cast<float>(dst) * scale)), in - 1);
}

}  // namespace detail

/// Nearest-neighbour resize of an H×W label map to height×width, as
/// `F.interpolate(y[None, None].float(), size=(height, width), mode="nearest")[0, 0]`.
/// @throws labor::Error for a tensor that is not a non-empty H×W or a non-positive size.
inline Tensor<std::int32_t, cpu> resize_nearest(const Tensor<std::int32_t, cpu>& label, std::int64_t height,
                                                std::int64_t width) {
  LABOR_CHECK(label.rank() == 2 && label.numel() > 0, "resize_nearest: label map: expected a non-empty H×W, got {}",
              label.shape());
  LABOR_CHECK(height > 0 && width > 0, "resize_nearest: size: expected height and width > 0, got {}×{}", height,
              width);
  const std::int64_t h = label.size(0), w = label.size(1);
  if (h == height && w == width) return label;
  std::vector<std::int64_t> cols(static_cast<std::size_t>(width));
  for (std::int64_t x = 0; x < width; ++x) cols[static_cast<std::size_t>(x)] = detail::nearest_source(x, w, width);
  auto out = Tensor<std::int32_t, cpu>::uninitialized(Shape{height, width});
  for (std::int64_t y = 0; y < height; ++y) {
    const std::int32_t* src = label.data() + detail::nearest_source(y, h, height) * w;
    std::int32_t* dst = out.data() + y * width;
    for (std::int64_t x = 0; x < width; ++x) dst[x] = src[cols[static_cast<std::size_t>(x)]];
  }
  return out;
}

namespace detail {

/// The window [top, top + height) × [left, left + width) of `planes` H×W planes; pixels outside the
/// source get `fill`.
template <class T>
Tensor<T, cpu> crop_planes(const T* src, std::int64_t planes, std::int64_t h, std::int64_t w, std::int64_t top,
                           std::int64_t left, std::int64_t height, std::int64_t width, T fill, Shape shape) {
  auto out = Tensor<T, cpu>::full(shape, fill);
  const std::int64_t x0 = std::max<std::int64_t>(left, 0), x1 = std::min(left + width, w);
  for (std::int64_t p = 0; p < planes; ++p)
    for (std::int64_t y = std::max<std::int64_t>(top, 0); y < std::min(top + height, h); ++y)
      if (x1 > x0) std::copy(src + (p * h + y) * w + x0, src + (p * h + y) * w + x1,
                             out.data() + (p * height + y - top) * width + (x0 - left));
  return out;
}

}  // namespace detail

/// The height×width window of a C×H×W image whose top-left corner is (top, left); the window may
/// extend past the image (or start before it), and those pixels are `fill` (0 by default).
/// @throws labor::Error for a bad rank or a non-positive window size.
inline Tensor<float, cpu> crop_image(const Tensor<float, cpu>& image, std::int64_t top, std::int64_t left,
                                     std::int64_t height, std::int64_t width, float fill = 0.0f) {
  LABOR_CHECK(image.rank() == 3, "crop_image: image: expected C×H×W, got {}", image.shape());
  LABOR_CHECK(height > 0 && width > 0, "crop_image: window: expected height and width > 0, got {}×{}", height, width);
  return detail::crop_planes(image.data(), image.size(0), image.size(1), image.size(2), top, left, height, width, fill,
                             Shape{image.size(0), height, width});
}

/// The height×width window of an H×W label map at (top, left); pixels outside the map are `fill`
/// (255, ignore, by default). @throws labor::Error for a bad rank or a non-positive window size.
inline Tensor<std::int32_t, cpu> crop_label(const Tensor<std::int32_t, cpu>& label, std::int64_t top, std::int64_t left,
                                            std::int64_t height, std::int64_t width, std::int32_t fill = ignore_label) {
  LABOR_CHECK(label.rank() == 2, "crop_label: label map: expected H×W, got {}", label.shape());
  LABOR_CHECK(height > 0 && width > 0, "crop_label: window: expected height and width > 0, got {}×{}", height, width);
  return detail::crop_planes(label.data(), 1, label.size(0), label.size(1), top, left, height, width, fill,
                             Shape{height, width});
}

/// Mirrors a C×H×W image left to right in place.
inline void flip_image(Tensor<float, cpu>& image) {
  LABOR_CHECK(image.rank() == 3, "flip_image: image: expected C×H×W, got {}", image.shape());
  const std::int64_t rows = image.size(0) * image.size(1), w = image.size(2);
  for (std::int64_t r = 0; r < rows; ++r) std::reverse(image.data() + r * w, image.data() + (r + 1) * w);
}

/// Mirrors an H×W label map left to right in place.
inline void flip_label(Tensor<std::int32_t, cpu>& label) {
  LABOR_CHECK(label.rank() == 2, "flip_label: label map: expected H×W, got {}", label.shape());
  const std::int64_t h = label.size(0), w = label.size(1);
  for (std::int64_t r = 0; r < h; ++r) std::reverse(label.data() + r * w, label.data() + (r + 1) * w);
}

/// Random augmentation of one item, applied in this order: scale jitter → random crop → flip.
struct AugmentOptions {
  /// Crop window; 0, 0: no crop. A window larger than the (rescaled) item is padded: image 0,
  /// labels 255. Both or neither must be positive.
  std::int64_t crop_height = 0, crop_width = 0;
  /// Scale factor drawn uniformly from [scale_min, scale_max] (0 < min ≤ max); the item is resized
  /// to round(H·s)×round(W·s) (at least 1×1), image bilinear, labels nearest. 1, 1: no rescale.
  double scale_min = 1.0, scale_max = 1.0;
  /// Mirror left to right with probability ½.
  bool flip = false;
};

/// Throws labor::Error for inconsistent augmentation options.
inline void check_augment_options(const AugmentOptions& o) {
  LABOR_CHECK((o.crop_height == 0 && o.crop_width == 0) || (o.crop_height > 0 && o.crop_width > 0),
              "augment: crop size: expected both 0 (no crop) or both > 0, got {}×{}", o.crop_height, o.crop_width);
  LABOR_CHECK(o.scale_min > 0 && o.scale_min <= o.scale_max && std::isfinite(o.scale_max),
              "augment: scale range: expected 0 < scale_min <= scale_max, got [{}, {}]", o.scale_min, o.scale_max);
}

/// The random choices of one augmentation.
struct AugmentDraw {
  std::int64_t height = 0, width = 0;  ///< size after scale jitter
  std::int64_t top = 0, left = 0;      ///< crop corner in the rescaled item (when cropping)
  bool flip = false;
};

/// Draws the augmentation of an h×w item from `stream`, using its counters 0 (scale), 1 (crop row),
/// 2 (crop column) and 3 (flip) only; crop corners are uniform over [0, max(H' − crop, 0)].
inline AugmentDraw draw_augment(const AugmentOptions& o, std::int64_t h, std::int64_t w, const PhiloxStream& stream) {
  AugmentDraw d{.height = h, .width = w};
  if (o.scale_min != 1.0 || o.scale_max != 1.0) {
    const double s = o.scale_min + (o.scale_max - o.scale_min) * stream.uniform<double>(0);
    d.height = std::max<std::int64_t>(1, std::llround(static_cast<double>(h) * s));
    d.width = std::max<std::int64_t>(1, std::llround(static_cast<double>(w) * s));
  }
  const auto offset = [&](std::uint64_t counter, std::int64_t span) {
    if (span <= 0) return std::int64_t{0};
    const auto k = static_cast<std::int64_t>(stream.uniform<double>(counter) * static_cast<double>(span + 1));
    return std::min(k, span);
  };
  if (o.crop_height > 0) {
    d.top = offset(1, d.height - o.crop_height);
    d.left = offset(2, d.width - o.crop_width);
  }
  d.flip = o.flip && stream.uniform<double>(3) < 0.5;
  return d;
}

/// Applies one drawn augmentation to an item in place: resize (image bilinear, labels nearest),
/// crop (pad 0 / 255), flip. The label map must have the image's height and width.
/// @throws labor::Error when the shapes disagree.
inline void apply_augment(const AugmentOptions& o, const AugmentDraw& d, Tensor<float, cpu>& image,
                          Tensor<std::int32_t, cpu>& label) {
  LABOR_CHECK(image.rank() == 3 && label.shape() == Shape({image.size(1), image.size(2)}),
              "augment: label map: expected {}×{} (the image's size), got {}", image.rank() == 3 ? image.size(1) : 0,
              image.rank() == 3 ? image.size(2) : 0, label.shape());
  if (d.height != image.size(1) || d.width != image.size(2)) {
    image = resize_bilinear(image, d.height, d.width);
    label = resize_nearest(label, d.height, d.width);
  }
  if (o.crop_height > 0) {
    image = crop_image(image, d.top, d.left, o.crop_height, o.crop_width, 0.0f);
    label = crop_label(label, d.top, d.left, o.crop_height, o.crop_width, ignore_label);
  }
  if (d.flip) {
    flip_image(image);
    flip_label(label);
  }
}

/// Draws and applies one augmentation (draw_augment, then apply_augment).
inline void augment(const AugmentOptions& o, const PhiloxStream& stream, Tensor<float, cpu>& image,
                    Tensor<std::int32_t, cpu>& label) {
  check_augment_options(o);
  LABOR_CHECK(image.rank() == 3, "augment: image: expected C×H×W, got {}", image.shape());
  apply_augment(o, draw_augment(o, image.size(1), image.size(2), stream), image, label);
}

}  // namespace labor::data
