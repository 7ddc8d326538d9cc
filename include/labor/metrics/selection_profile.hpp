#pragma once
/// @file selection_profile.hpp
/// What a selection of pixels is made of, against the pool it was drawn from: how many lie on
/// class boundaries, how many where the model that selected them is wrong, how many sit next to
/// another selected pixel, and how they spread over the classes. The measurements that say why one
/// strategy's labels are worth more than another's at the same budget.

#include <cstdint>
#include <span>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/tensor.hpp"

namespace labor::metrics {

/// Accumulates, image by image, a selection (pixel indices into H×W maps) against the ground truth
/// and the prediction of the model that selected it. Pixels whose truth is the ignore label count
/// only for closeness. The base rates are the same quantities over every pixel of the images added,
/// so a share reads against what uniform sampling would give.
///
/// - boundary: a pixel with a class whose 3×3 neighbourhood (clipped to the image) holds another
///   class (ignore pixels do not count as a class);
/// - wrong: the prediction differs from the truth;
/// - close: a selected pixel with another selected pixel of the same image at Chebyshev distance
///   ≤ close_distance (the spatial redundancy of the selection).
class SelectionProfile {
 public:
  /// A profile for label maps of `num_classes` classes (1 to 255), closeness within `close_distance`
  /// pixels (1 to 64). @throws labor::Error naming the argument outside its range.
  explicit SelectionProfile(std::int32_t num_classes, std::int64_t close_distance = 2)
      : classes_(num_classes), close_(close_distance) {
    LABOR_CHECK(num_classes >= 1 && num_classes <= ignore_label,
                "SelectionProfile: num_classes: expected in [1, {}], got {}", ignore_label, num_classes);
    LABOR_CHECK(close_distance >= 1 && close_distance <= 64,
                "SelectionProfile: close_distance: expected 1 to 64, got {}", close_distance);
    selected_per_class_.assign(static_cast<std::size_t>(num_classes), 0);
    pixels_per_class_.assign(static_cast<std::size_t>(num_classes), 0);
  }

  /// Adds one image: `truth` and `prediction` are H×W class maps, `selected` the selected pixels as
  /// distinct linear indices in [0, H·W). Nothing is added when it throws.
  /// @throws labor::Error for maps of other shapes, a truth value outside [0, C) that is not the
  /// ignore label, a prediction outside [0, C), or a selected index out of range or repeated.
  void add(TensorView<const std::int32_t, cpu> truth, TensorView<const std::int32_t, cpu> prediction,
           std::span<const std::int64_t> selected) {
    LABOR_CHECK(truth.rank() == 2, "SelectionProfile: truth: expected an H×W map, got shape {}", truth.shape());
    LABOR_CHECK(prediction.shape() == truth.shape(), "SelectionProfile: prediction: expected shape {}, got {}",
                truth.shape(), prediction.shape());
    const std::int64_t h = truth.size(0), w = truth.size(1), hw = h * w;
    const std::int32_t* t = truth.data();
    const std::int32_t* p = prediction.data();
    for (std::int64_t i = 0; i < hw; ++i) {
      LABOR_CHECK(t[i] == ignore_label || (t[i] >= 0 && t[i] < classes_),
                  "SelectionProfile: truth: expected classes in [0, {}) or {}, got {} at pixel {}", classes_,
                  ignore_label, t[i], i);
      LABOR_CHECK(p[i] >= 0 && p[i] < classes_,
                  "SelectionProfile: prediction: expected classes in [0, {}), got {} at pixel {}", classes_, p[i], i);
    }
    std::vector<std::uint8_t> mark(static_cast<std::size_t>(hw), 0);
    for (const std::int64_t s : selected) {
      LABOR_CHECK(s >= 0 && s < hw, "SelectionProfile: selected: expected pixel indices in [0, {}), got {}", hw, s);
      LABOR_CHECK(mark[static_cast<std::size_t>(s)] == 0, "SelectionProfile: selected: pixel {} is listed twice", s);
      mark[static_cast<std::size_t>(s)] = 1;
    }
    const auto boundary = [&](std::int64_t i) {
      const std::int32_t c = t[i];
      const std::int64_t y = i / w, x = i - y * w;
      for (std::int64_t yy = y > 0 ? y - 1 : 0; yy <= (y + 1 < h ? y + 1 : y); ++yy)
        for (std::int64_t xx = x > 0 ? x - 1 : 0; xx <= (x + 1 < w ? x + 1 : x); ++xx) {
          const std::int32_t o = t[yy * w + xx];
          if (o != c && o != ignore_label) return true;
        }
      return false;
    };
    for (std::int64_t i = 0; i < hw; ++i) {
      if (t[i] == ignore_label) continue;
      const bool b = boundary(i), wrong = p[i] != t[i];
      ++pixels_;
      pixels_boundary_ += b;
      pixels_wrong_ += wrong;
      ++pixels_per_class_[static_cast<std::size_t>(t[i])];
      if (mark[static_cast<std::size_t>(i)] == 0) continue;
      ++labeled_;
      selected_boundary_ += b;
      selected_wrong_ += wrong;
      ++selected_per_class_[static_cast<std::size_t>(t[i])];
    }
    for (const std::int64_t s : selected) {
      const std::int64_t y = s / w, x = s - y * w;
      bool near = false;
      for (std::int64_t yy = y - close_; yy <= y + close_ && !near; ++yy) {
        if (yy < 0 || yy >= h) continue;
        for (std::int64_t xx = x - close_; xx <= x + close_; ++xx)
          if (xx >= 0 && xx < w && (yy != y || xx != x) && mark[static_cast<std::size_t>(yy * w + xx)] != 0) {
            near = true;
            break;
          }
      }
      selected_close_ += near;
    }
    selected_ += static_cast<std::int64_t>(selected.size());
    ++images_;
  }

  [[nodiscard]] std::int32_t num_classes() const { return classes_; }
  [[nodiscard]] std::int64_t close_distance() const { return close_; }
  /// Images added, selected pixels (all), selected pixels with a class, pixels with a class.
  [[nodiscard]] std::int64_t images() const { return images_; }
  [[nodiscard]] std::int64_t selected() const { return selected_; }
  [[nodiscard]] std::int64_t selected_with_class() const { return labeled_; }
  [[nodiscard]] std::int64_t pixels() const { return pixels_; }

  /// Share of the selected pixels with a class that lie on a boundary (0 when there are none), and
  /// the same share over every pixel with a class.
  [[nodiscard]] double boundary_share() const { return ratio(selected_boundary_, labeled_); }
  [[nodiscard]] double boundary_base() const { return ratio(pixels_boundary_, pixels_); }
  /// Share of the selected pixels with a class where the prediction is wrong, and the model's error
  /// rate over every pixel with a class.
  [[nodiscard]] double error_share() const { return ratio(selected_wrong_, labeled_); }
  [[nodiscard]] double error_base() const { return ratio(pixels_wrong_, pixels_); }
  /// Share of the selected pixels with another selected pixel within close_distance().
  [[nodiscard]] double close_share() const { return ratio(selected_close_, selected_); }
  /// Per class: share of the selected pixels with a class, and of every pixel with a class.
  [[nodiscard]] std::vector<double> class_shares() const { return shares(selected_per_class_, labeled_); }
  [[nodiscard]] std::vector<double> class_base() const { return shares(pixels_per_class_, pixels_); }

 private:
  static double ratio(std::int64_t a, std::int64_t b) {
    return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
  }
  static std::vector<double> shares(const std::vector<std::int64_t>& counts, std::int64_t total) {
    std::vector<double> out;
    out.reserve(counts.size());
    for (const auto c : counts) out.push_back(ratio(c, total));
    return out;
  }

  std::int32_t classes_;
  std::int64_t close_;
  std::int64_t images_ = 0, selected_ = 0, labeled_ = 0, pixels_ = 0;
  std::int64_t selected_boundary_ = 0, pixels_boundary_ = 0, selected_wrong_ = 0, pixels_wrong_ = 0;
  std::int64_t selected_close_ = 0;
  std::vector<std::int64_t> selected_per_class_, pixels_per_class_;
};

}  // namespace labor::metrics
