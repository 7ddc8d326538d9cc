#pragma once
/// @file pseudo_label.hpp
/// IAST pseudo-labels with class-wise adaptive thresholds (LabOR eq. 5).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "labor/core/config.hpp"
#include "labor/core/device.hpp"
#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
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
  std::int32_t ignore_index = ignore_label;
};

namespace detail {

/// Where numpy's default (`method='linear'`) percentile at q ∈ [0, 100] of n ≥ 1 values falls in
/// their ascending order: the lower rank `lo`, the interpolation weight `t` towards rank lo + 1, and
/// whether rank lo + 1 takes part at all.
struct PercentileRank {
  std::int64_t lo;
  double t;
  bool interpolate;
};

/// The PercentileRank of the q-th percentile of n values.
inline PercentileRank percentile_rank(std::int64_t n, double q) {
  const double position = q / 100.0 * static_cast<double>(n - 1);
  auto lo = static_cast<std::int64_t>(std::floor(position));
  lo = std::clamp<std::int64_t>(lo, 0, n - 1);
  const double t = position - static_cast<double>(lo);
  return {lo, t, !(lo + 1 >= n || t <= 0.0)};
}

/// numpy's _lerp between the values `a` and `b` of ranks lo and lo + 1: a + (b − a)·t, evaluated
/// from the upper end when t ≥ 0.5.
inline double percentile_lerp(double a, double b, double t) {
  const double d = b - a;
  return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

/// numpy's default (`method='linear'`) percentile of `values` at `q` ∈ [0, 100], computed with
/// selection instead of a full sort (reorders `values`). `values` must be non-empty.
template <class T>
double percentile_linear(std::vector<T>& values, double q) {
  const auto n = static_cast<std::int64_t>(values.size());
  const PercentileRank rank = percentile_rank(n, q);
  std::nth_element(values.begin(), values.begin() + rank.lo, values.end());
  const double a = static_cast<double>(values[static_cast<std::size_t>(rank.lo)]);
  if (!rank.interpolate) return a;
  const double b = static_cast<double>(*std::min_element(values.begin() + rank.lo + 1, values.end()));
  return percentile_lerp(a, b, rank.t);
}

/// The pseudo-label of a pixel with argmax class `cls` and max-probability `conf` under the
/// thresholds `theta`: cls where conf ≥ θ_cls, else `ignore`.
template <class T>
LABOR_HOST_DEVICE inline std::int32_t threshold_label(std::int32_t cls, T conf, const T* theta, std::int32_t ignore) {
  return conf >= theta[cls] ? cls : ignore;
}

/// The device code of PseudoLabeler: `scan` (argmax class and max-probability per pixel, throwing
/// for a non-finite value), `class_percentiles` (per class the percentile_linear of its pixels'
/// confidences) and `label` (threshold_label per pixel); cpu in backend/cpu/pseudo_label.hpp, cuda
/// in backend/cuda/pseudo_label.cuh.
template <Device D>
struct PseudoLabelKernels;

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
///
/// On cuda the thresholds stay on the host and the maps on the device: every call waits for the
/// finite-value check of `probs`, and an update also for the class offsets of the sorted
/// confidences and for the two values each class's percentile needs. The thresholds are the CPU's
/// exactly (same ranks, same values, same host arithmetic), and so are the labels.
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
  /// Per-pixel argmax class and max-probability (N·H·W each), in the memory of D.
  struct Scan {
    Tensor<std::int32_t, D> cls;
    Tensor<T, D> conf;
  };
  using Kernels = detail::PseudoLabelKernels<D>;

  Scan scan(const char* fn, const Tensor<T, D>& probs) const {
    detail::check_nchw(fn, "probs", probs.shape());
    LABOR_CHECK(probs.size(1) == options_.num_classes,
                "{}: probs channels: expected num_classes = {}, got {} (shape {})", fn, options_.num_classes,
                probs.size(1), probs.shape());
    const Shape pixels{probs.size(0) * probs.size(2) * probs.size(3)};
    Scan s{Tensor<std::int32_t, D>::uninitialized(pixels), Tensor<T, D>::uninitialized(pixels)};
    Kernels::scan(fn, probs, s.cls.data(), s.conf.data());
    return s;
  }

  /// q = 100·(1 − α·θ^γ), the percentile that updates the threshold θ.
  [[nodiscard]] double percentile_q(double theta) const {
    return 100.0 * (1.0 - options_.alpha * std::pow(theta, options_.gamma));
  }

  /// min(m·θ + (1 − m)·percentile, max_threshold), the updated threshold.
  [[nodiscard]] double next_threshold(double theta, double percentile) const {
    const double updated = options_.momentum * theta + (1.0 - options_.momentum) * percentile;
    return std::min(updated, options_.max_threshold);
  }

  void update_from(const Scan& s) {
    std::vector<double> q(thresholds_.size());
    for (std::size_t c = 0; c < q.size(); ++c) q[c] = percentile_q(thresholds_[c]);
    const auto percentile = Kernels::class_percentiles(s.cls.data(), s.conf.data(), s.cls.numel(), q);
    for (std::size_t c = 0; c < q.size(); ++c)
      if (percentile[c]) thresholds_[c] = next_threshold(thresholds_[c], *percentile[c]);
  }

  Tensor<std::int32_t, D> label_from(const Scan& s, const Shape& shape) const {
    auto out = Tensor<std::int32_t, D>::uninitialized(Shape{shape[0], shape[2], shape[3]});
    std::vector<T> theta(thresholds_.size());
    for (std::size_t c = 0; c < theta.size(); ++c) theta[c] = static_cast<T>(thresholds_[c]);
    const std::int32_t ignore = options_.ignore_index;
    Kernels::label(s.cls.data(), s.conf.data(), theta, ignore, out.data(), out.numel());
    return out;
  }

  PseudoLabelOptions options_;
  std::vector<double> thresholds_;
};

}  // namespace labor::loss

#include "labor/backend/cpu/pseudo_label.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/pseudo_label.cuh"
#endif
