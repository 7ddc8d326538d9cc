#pragma once
/// @file answers.hpp
/// What an oracle returns for a selection round: per queried image, the label of every queried
/// pixel, in the query's pixel order.

#include <cstdint>
#include <vector>

#include "labor/annotate/detail/checks.hpp"
#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"

namespace labor::annotate {

// An oracle answers labor::ignore_label (core/labels.hpp) for a pixel it cannot or will not
// classify (void, ambiguous). It is a valid answer; see LabelStore for how it is kept.

/// The answers for one queried image.
struct ImageAnswers {
  /// The dataset index of the image (the id the query's image was selected from).
  std::int64_t image = 0;
  /// Size of the image's label map.
  std::int64_t height = 0;
  std::int64_t width = 0;
  /// The queried pixels as linear indices y·W + x, strictly ascending (copied from the query).
  std::vector<std::int64_t> pixels;
  /// labels[j] is the label of pixels[j]: in [0, C) or ignore_label.
  std::vector<std::int32_t> labels;

  friend bool operator==(const ImageAnswers&, const ImageAnswers&) = default;
};

/// The answers for one selection round, one entry per queried image in query order.
struct Answers {
  std::vector<ImageAnswers> images;

  /// Total number of answered pixels.
  [[nodiscard]] std::int64_t size() const {
    std::int64_t n = 0;
    for (const auto& im : images) n += static_cast<std::int64_t>(im.labels.size());
    return n;
  }

  friend bool operator==(const Answers&, const Answers&) = default;
};

/// Throws labor::Error unless every image of `answers` has a positive size, strictly ascending
/// pixels inside the image, as many labels as pixels, and labels in [0, num_classes) or
/// ignore_label. Messages name the image, the pixel (y, x) and the value.
inline void validate_answers(const Answers& answers, std::int32_t num_classes) {
  LABOR_CHECK(num_classes > 0 && num_classes <= ignore_label,
              "validate_answers: num_classes: expected in [1, {}], got {}", ignore_label, num_classes);
  for (const auto& im : answers.images) {
    detail::check_image_pixels("answers", im.image, im.height, im.width, im.pixels);
    LABOR_CHECK(im.labels.size() == im.pixels.size(),
                "answers: image {}: label count: expected {} (one per queried pixel), got {}", im.image,
                im.pixels.size(), im.labels.size());
    for (std::size_t j = 0; j < im.labels.size(); ++j)
      detail::check_label("answers", im.image, im.pixels[j], im.width, im.labels[j], num_classes);
  }
}

}  // namespace labor::annotate
