#pragma once
/// @file checks.hpp
/// Validation shared by the annotate module: pixel lists, labels, image ids.

#include <cstdint>
#include <span>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"
#include "labor/samplers/query.hpp"

namespace labor::annotate::detail {

/// The largest height or width of a queried or labeled image: PNG's limit 2^31 − 1, so that every
/// mask and label map can be written, and H·W and every linear index y·W + x fit in int64.
inline constexpr std::int64_t max_image_side = 0x7fffffff;
/// The most pixels H·W of a queried or labeled image (2^32): a dense label map of it can exist.
inline constexpr std::int64_t max_image_pixels = std::int64_t{1} << 32;

/// The one rule for an image's size, applied by every path a size takes (a query's export and
/// import, answers, LabelStore::merge, a label store file): H and W in [1, max_image_side] and
/// H·W ≤ max_image_pixels. So whatever is merged or saved can be loaded again.
/// @throws labor::Error "WHAT: image I: size: expected ..., got HxW" otherwise.
inline void check_image_size(std::string_view what, std::int64_t image, std::int64_t height, std::int64_t width) {
  LABOR_CHECK(height > 0 && width > 0 && height <= max_image_side && width <= max_image_side &&
                  height <= max_image_pixels / width,
              "{}: image {}: size: expected height and width in [1, {}] and at most {} pixels, got {}x{}", what, image,
              max_image_side, max_image_pixels, height, width);
}

/// Throws unless H×W satisfies check_image_size and `pixels` are strictly ascending linear indices
/// inside H×W.
inline void check_image_pixels(std::string_view what, std::int64_t image, std::int64_t height, std::int64_t width,
                               std::span<const std::int64_t> pixels) {
  check_image_size(what, image, height, width);
  const std::int64_t n = height * width;
  for (std::size_t j = 0; j < pixels.size(); ++j) {
    const std::int64_t p = pixels[j];
    LABOR_CHECK(p >= 0 && p < n, "{}: image {}: pixel {} (linear index {}): outside the {}x{} image", what, image, j, p,
                height, width);
    LABOR_CHECK(j == 0 || pixels[j - 1] < p,
                "{}: image {}: pixel {} (y {}, x {}): pixels must be strictly ascending in y*W + x, got {} after {}",
                what, image, j, p / width, p % width, p, pixels[j - 1]);
  }
}

/// Throws unless `label` is in [0, num_classes) or the ignore label 255.
inline void check_label(std::string_view what, std::int64_t image, std::int64_t pixel, std::int64_t width,
                        std::int64_t label, std::int32_t num_classes) {
  LABOR_CHECK((label >= 0 && label < num_classes) || label == ignore_label,
              "{}: image {}: pixel (y {}, x {}): label {}: expected in [0, {}) or {} (ignore)", what, image,
              pixel / width, pixel % width, label, num_classes, ignore_label);
}

/// The dataset ids of a query's images: `ids` when given (one per image, unique, non-negative),
/// else 0..N-1.
inline std::vector<std::int64_t> resolve_ids(std::string_view what, const samplers::Query& query,
                                             std::span<const std::int64_t> ids) {
  std::vector<std::int64_t> out;
  if (ids.empty()) {
    for (std::size_t i = 0; i < query.images.size(); ++i) out.push_back(static_cast<std::int64_t>(i));
    return out;
  }
  LABOR_CHECK(ids.size() == query.images.size(), "{}: image ids: expected {} (one per queried image), got {}", what,
              query.images.size(), ids.size());
  std::unordered_set<std::int64_t> seen;
  for (auto id : ids) {
    LABOR_CHECK(id >= 0, "{}: image id: expected >= 0, got {}", what, id);
    LABOR_CHECK(seen.insert(id).second, "{}: image id {} appears twice", what, id);
    out.push_back(id);
  }
  return out;
}

/// Throws unless every image of `query` has a positive size and valid pixels, and `classes` is
/// empty or has one entry per pixel.
inline void check_query(std::string_view what, const samplers::Query& query, std::span<const std::int64_t> ids) {
  for (std::size_t i = 0; i < query.images.size(); ++i) {
    const auto& im = query.images[i];
    check_image_pixels(what, ids[i], im.height, im.width, im.pixels);
    LABOR_CHECK(im.classes.empty() || im.classes.size() == im.pixels.size(),
                "{}: image {}: classes: expected none or {} (one per pixel), got {}", what, ids[i], im.pixels.size(),
                im.classes.size());
  }
}

}  // namespace labor::annotate::detail
