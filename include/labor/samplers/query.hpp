#pragma once
/// @file query.hpp
/// What a sampler returns: per image, the pixels a human (or the simulated oracle) should label,
/// and the budget accounting of a selection round.

#include <cstdint>
#include <string>
#include <vector>

namespace labor::samplers {

/// The selection for one image.
struct ImageQuery {
  std::int64_t height = 0;
  std::int64_t width = 0;
  /// Selected pixels as linear indices y·W + x, strictly ascending.
  std::vector<std::int64_t> pixels;
  /// For each selected pixel (same order): the predicted class ŷ = argmax of (p1 + p2)/2, lowest
  /// index on ties. For PPL this is the class the point was chosen for.
  std::vector<std::int32_t> classes;
  /// PPL only (empty otherwise): each point's score ‖p̄(x) − μ_k‖², same order as `pixels`.
  std::vector<float> scores;
};

/// The selection for a batch of images, in input order.
struct Query {
  /// "spl", "ppl", "random", "entropy", "margin", "ripu_region" or "ripu_pixel".
  std::string strategy;
  /// Number of classes C of the probability maps the query was made from.
  std::int32_t num_classes = 0;
  std::vector<ImageQuery> images;

  /// Total selected pixels over all images.
  [[nodiscard]] std::int64_t selected_pixels() const {
    std::int64_t n = 0;
    for (const auto& im : images) n += static_cast<std::int64_t>(im.pixels.size());
    return n;
  }
  /// Total pixels of all images (the pool the budget is measured against).
  [[nodiscard]] std::int64_t pool_pixels() const {
    std::int64_t n = 0;
    for (const auto& im : images) n += im.height * im.width;
    return n;
  }
  /// selected_pixels() / pool_pixels(), 0 for an empty pool.
  [[nodiscard]] double fraction() const {
    const auto pool = pool_pixels();
    return pool > 0 ? static_cast<double>(selected_pixels()) / static_cast<double>(pool) : 0.0;
  }
  /// Mean number of selected pixels per image, 0 without images.
  [[nodiscard]] double points_per_image() const {
    return images.empty() ? 0.0 : static_cast<double>(selected_pixels()) / static_cast<double>(images.size());
  }
  /// Selected pixels per predicted class (size num_classes).
  [[nodiscard]] std::vector<std::int64_t> per_class_counts() const {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(num_classes > 0 ? num_classes : 0), 0);
    for (const auto& im : images)
      for (auto k : im.classes)
        if (k >= 0 && k < num_classes) ++counts[static_cast<std::size_t>(k)];
    return counts;
  }
};

}  // namespace labor::samplers
