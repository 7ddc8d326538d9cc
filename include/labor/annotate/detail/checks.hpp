#pragma once
/// @file checks.hpp
/// Validation shared by the annotate module: pixel lists, labels, image ids.

#include <cstdint>
#include <span>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/samplers/query.hpp"

namespace labor::annotate::detail {

inline constexpr std::int32_t ignore_value = 255;

/// Throws unless H, W > 0 and `pixels` are strictly ascending linear indices inside H×W.
inline void check_image_pixels(std::string_view what, std::int64_t image, std::int64_t height, std::int64_t width,
                               std::span<const std::int64_t> pixels) {
  LABOR_CHECK(height > 0 && width > 0, "{}: image {}: size: expected positive height and width, got {}x{}", what, image,
              height, width);
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
  LABOR_CHECK((label >= 0 && label < num_classes) || label == ignore_value,
              "{}: image {}: pixel (y {}, x {}): label {}: expected in [0, {}) or {} (ignore)", what, image,
              pixel / width, pixel % width, label, num_classes, ignore_value);
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
