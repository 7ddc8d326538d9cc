#pragma once
/// @file pseudo_label.hpp
/// IAST pseudo-labels with class-wise adaptive thresholds (LabOR eq. 5).

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_loop.hpp"
#include "labor/loss/detail/pixel_math.hpp"

namespace labor::loss {

/// Options of PseudoLabeler; usable with designated initializers. `num_classes` is required.
struct PseudoLabelOptions {
  /// Number of classes C (the channel count of the probability maps), ≥ 1.
  int num_classes = 0;
  /// α in the percentile 100·(1 − α·θ_c^γ); in [0, 1].
  double alpha = 0.2;
  /// γ in the percentile 100·(1 − α·θ_c^γ); ≥ 0.
  double gamma = 8.0;
  /// Momentum m of the update θ_c ← m·θ_c + (1 − m)·percentile; in [0, 1].
  double momentum = 0.9;
  /// Initial threshold of every class; in [0, max_threshold].
  double init_threshold = 0.9;
  /// Upper clip of the thresholds: after every update θ_c ← min(θ_c, max_threshold). In (0, 1].
  double max_threshold = 0.999;
  /// Label written for pixels below their class threshold.
  std::int32_t ignore_index = 255;
};

namespace detail {

/// numpy's default (`method='linear'`) percentile of `values` at `q` ∈ [0, 100], computed with
/// selection instead of a full sort (reorders `values`). `values` must be non-empty.
template <class T>
double percentile_linear(std::vector<T>& values, double q) {
  const auto n = static_cast<std::int64_t>(values.size());
  const double position = q / 100.0 * static_cast<double>(n - 1);
  auto lo = static_cast<std::int64_t>(std::floor(position));
  lo = std::clamp<std::int64_t>(lo, 0, n - 1);
  const double t = position - static_cast<double>(lo);
  std::nth_element(values.begin(), values.begin() + lo, values.end());
  const double a = static_cast<double>(values[static_cast<std::size_t>(lo)]);
  if (lo + 1 >= n || t <= 0.0) return a;
  const double b = static_cast<double>(*std::min_element(values.begin() + lo + 1, values.end()));
  // numpy's _lerp: a + (b − a)·t, evaluated from the upper end when t ≥ 0.5.
  const double d = b - a;
  return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

}  // namespace detail

/// Generates IAST pseudo-labels from class-probability maps and keeps one adaptive confidence
/// threshold θ_c per class (the only state; save it with thresholds() and restore it with
/// set_thresholds() when checkpointing).
///
/// update: for each class c, conf_c = the max-probabilities of the batch's pixels whose argmax
/// (lowest index on ties) is c; θ_c ← m·θ_c + (1 − m)·percentile(conf_c, 100·(1 − α·θ_c^γ)) with the
/// previous θ_c in the percentile and numpy's linear-interpolation percentile; classes without pixels
/// keep their threshold; then θ_c ← min(θ_c, max_threshold).
/// label: argmax where max-prob ≥ θ_argmax, else ignore_index (compared in T after rounding θ to T).
template <class T, Device D = cpu>
class PseudoLabeler {
 public:
  /// @throws labor::Error for options outside the documented ranges.
  explicit PseudoLabeler(const PseudoLabelOptions& options) : options_(options) {
    constexpr const char* fn = "PseudoLabeler";
    LABOR_CHECK(options.num_classes >= 1, "{}: num_classes: expected >= 1, got {}", fn, options.num_classes);
    LABOR_CHECK(options.alpha >= 0 && options.alpha <= 1, "{}: alpha: expected in [0, 1], got {}", fn, options.alpha);
    LABOR_CHECK(options.gamma >= 0 && std::isfinite(options.gamma), "{}: gamma: expected a finite value >= 0, got {}",
                fn, options.gamma);
    LABOR_CHECK(options.momentum >= 0 && options.momentum <= 1, "{}: momentum: expected in [0, 1], got {}", fn,
                options.momentum);
    LABOR_CHECK(options.max_threshold > 0 && options.max_threshold <= 1,
                "{}: max_threshold: expected in (0, 1], got {}", fn, options.max_threshold);
    LABOR_CHECK(options.init_threshold >= 0 && options.init_threshold <= options.max_threshold,
                "{}: init_threshold: expected in [0, max_threshold = {}], got {}", fn, options.max_threshold,
                options.init_threshold);
    thresholds_.assign(static_cast<std::size_t>(options.num_classes), options.init_threshold);
  }

  /// The options this labeler was built with.
  [[nodiscard]] const PseudoLabelOptions& options() const { return options_; }

  /// The current per-class thresholds θ_c (C values).
  [[nodiscard]] const std::vector<double>& thresholds() const { return thresholds_; }

  /// Replaces the thresholds (checkpoint restore).
  /// @throws labor::Error unless there are C values, each in [0, 1].
  void set_thresholds(std::vector<double> thresholds) {
    LABOR_CHECK(static_cast<int>(thresholds.size()) == options_.num_classes,
                "PseudoLabeler::set_thresholds: thresholds: expected {} values, got {}", options_.num_classes,
                thresholds.size());
    for (std::size_t c = 0; c < thresholds.size(); ++c)
      LABOR_CHECK(thresholds[c] >= 0 && thresholds[c] <= 1,
                  "PseudoLabeler::set_thresholds: thresholds[{}]: expected in [0, 1], got {}", c, thresholds[c]);
    thresholds_ = std::move(thresholds);
  }

  /// Updates the thresholds from the batch `probs` (N×C×H×W probabilities) and returns its N×H×W
  /// pseudo-labels under the updated thresholds.
  /// @throws labor::Error for a rank other than 4, an empty tensor, C ≠ num_classes or a non-finite value.
  Tensor<std::int32_t, D> update_and_label(const Tensor<T, D>& probs) {
    const Scan s = scan("PseudoLabeler::update_and_label", probs);
    update_from(s);
    return label_from(s, probs.shape());
  }

  /// Updates the thresholds from the batch `probs` without labelling it.
  void update(const Tensor<T, D>& probs) { update_from(scan("PseudoLabeler::update", probs)); }

  /// Pseudo-labels (N×H×W) of `probs` under the current thresholds, without updating them.
  [[nodiscard]] Tensor<std::int32_t, D> label(const Tensor<T, D>& probs) const {
    const Scan s = scan("PseudoLabeler::label", probs);
    return label_from(s, probs.shape());
  }

 private:
  static_assert(detail::is_cpu<D>, "PseudoLabeler: only the cpu device is implemented");

  /// Per-pixel argmax class and max-probability.
  struct Scan {
    std::vector<std::int32_t> cls;
    std::vector<T> conf;
  };

  Scan scan(const char* fn, const Tensor<T, D>& probs) const {
    detail::check_nchw(fn, "probs", probs.shape());
    LABOR_CHECK(probs.size(1) == options_.num_classes,
                "{}: probs channels: expected num_classes = {}, got {} (shape {})", fn, options_.num_classes,
                probs.size(1), probs.shape());
    const std::int64_t channels = probs.size(1), plane = probs.size(2) * probs.size(3);
    const std::int64_t pixels = probs.size(0) * plane;
    Scan s{std::vector<std::int32_t>(static_cast<std::size_t>(pixels)),
           std::vector<T>(static_cast<std::size_t>(pixels))};
    const T* p = probs.data();
    std::atomic<bool> non_finite{false};
    (void)detail::reduce_pixels<T, 1, 0>(
        probs.shape(), {p}, {}, [&](std::int64_t i, const std::array<const T*, 1>& in, const std::array<T*, 0>&) {
          bool finite = true;
          const auto best = detail::channel_argmax(in[0], channels, 1, finite);
          if (!finite) non_finite.store(true, std::memory_order_relaxed);
          s.cls[static_cast<std::size_t>(i)] = best.index;
          s.conf[static_cast<std::size_t>(i)] = best.value;
          return 0.0;
        });
    if (non_finite.load()) detail::throw_non_finite(fn, "probs", p, probs.shape());
    return s;
  }

  void update_from(const Scan& s) {
    const std::size_t classes = thresholds_.size();
    const auto pixels = static_cast<std::int64_t>(s.cls.size());
    // Bucket the confidences by class: per-part histograms, offsets, scatter (exact, any thread count).
    const std::int64_t parts = std::clamp<std::int64_t>(pixels / 65536, 1, 64);
    std::vector<std::int64_t> count(static_cast<std::size_t>(parts) * classes, 0);
    parallel_for(
        0, parts,
        [&](std::int64_t part) {
          std::int64_t* c = count.data() + part * static_cast<std::int64_t>(classes);
          for (std::int64_t i = pixels * part / parts; i < pixels * (part + 1) / parts; ++i)
            ++c[s.cls[static_cast<std::size_t>(i)]];
        },
        1);
    std::vector<std::int64_t> start(classes + 1, 0);
    for (std::size_t c = 0; c < classes; ++c) {
      std::int64_t total = 0;
      for (std::int64_t part = 0; part < parts; ++part) total += count[static_cast<std::size_t>(part) * classes + c];
      start[c + 1] = start[c] + total;
    }
    std::vector<std::int64_t> cursor(count.size());
    for (std::size_t c = 0; c < classes; ++c) {
      std::int64_t at = start[c];
      for (std::int64_t part = 0; part < parts; ++part) {
        cursor[static_cast<std::size_t>(part) * classes + c] = at;
        at += count[static_cast<std::size_t>(part) * classes + c];
      }
    }
    std::vector<T> sorted(static_cast<std::size_t>(pixels));
    parallel_for(
        0, parts,
        [&](std::int64_t part) {
          std::int64_t* cur = cursor.data() + part * static_cast<std::int64_t>(classes);
          for (std::int64_t i = pixels * part / parts; i < pixels * (part + 1) / parts; ++i)
            sorted[static_cast<std::size_t>(cur[s.cls[static_cast<std::size_t>(i)]]++)] =
                s.conf[static_cast<std::size_t>(i)];
        },
        1);

    std::vector<T> bucket;
    for (std::size_t c = 0; c < classes; ++c) {
      if (start[c + 1] == start[c]) continue;
      bucket.assign(sorted.begin() + start[c], sorted.begin() + start[c + 1]);
      const double theta = thresholds_[c];
      const double q = 100.0 * (1.0 - options_.alpha * std::pow(theta, options_.gamma));
      const double updated =
          options_.momentum * theta + (1.0 - options_.momentum) * detail::percentile_linear(bucket, q);
      thresholds_[c] = std::min(updated, options_.max_threshold);
    }
  }

  Tensor<std::int32_t, D> label_from(const Scan& s, const Shape& shape) const {
    auto out = Tensor<std::int32_t, D>::uninitialized(Shape{shape[0], shape[2], shape[3]});
    std::vector<T> theta(thresholds_.size());
    for (std::size_t c = 0; c < theta.size(); ++c) theta[c] = static_cast<T>(thresholds_[c]);
    std::int32_t* o = out.data();
    const std::int32_t ignore = options_.ignore_index;
    parallel_for(0, out.numel(), [&](std::int64_t i) {
      const auto k = static_cast<std::size_t>(i);
      o[i] = s.conf[k] >= theta[static_cast<std::size_t>(s.cls[k])] ? s.cls[k] : ignore;
    });
    return out;
  }

  PseudoLabelOptions options_;
  std::vector<double> thresholds_;
};

}  // namespace labor::loss
