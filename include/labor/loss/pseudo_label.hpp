#pragma once
/// @file pseudo_label.hpp
/// IAST pseudo-labels with class-wise adaptive thresholds (LabOR eq. 5).

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "labor/core/config.hpp"
#include "labor/core/device.hpp"
#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/shape.hpp"
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

/// The per-class confidences of a batch in ascending order within each class, in device memory.
template <class T, Device D>
struct ClassSortedConfidences {
  /// All pixels' max-probabilities grouped by argmax class (class 0 first), ascending within a class.
  Tensor<T, D> conf;
  /// Host: class c occupies conf[begin[c], begin[c + 1]) (C + 1 offsets).
  std::vector<std::int64_t> begin;
};

/// The device code of PseudoLabeler (specialised for cuda in backend/cuda/pseudo_label.cuh):
/// `scan` (argmax class and max-probability per pixel, throwing for a non-finite value),
/// `sort_by_class` (a ClassSortedConfidences), `gather` (host copies of chosen sorted values) and
/// `label` (threshold_label per pixel).
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
  /// Per-pixel argmax class and max-probability, in host memory (cpu).
  struct HostScan {
    std::vector<std::int32_t> cls;
    std::vector<T> conf;
  };
  /// Per-pixel argmax class and max-probability, in device memory (cuda).
  struct DeviceScan {
    Tensor<std::int32_t, D> cls;
    Tensor<T, D> conf;
  };
  using Scan = std::conditional_t<std::is_same_v<D, cpu>, HostScan, DeviceScan>;
  using Kernels = detail::PseudoLabelKernels<D>;

  Scan scan(const char* fn, const Tensor<T, D>& probs) const {
    detail::check_nchw(fn, "probs", probs.shape());
    LABOR_CHECK(probs.size(1) == options_.num_classes,
                "{}: probs channels: expected num_classes = {}, got {} (shape {})", fn, options_.num_classes,
                probs.size(1), probs.shape());
    if constexpr (!std::is_same_v<D, cpu>) {
      const Shape pixels{probs.size(0) * probs.size(2) * probs.size(3)};
      Scan s{Tensor<std::int32_t, D>::uninitialized(pixels), Tensor<T, D>::uninitialized(pixels)};
      Kernels::scan(fn, probs, s.cls.data(), s.conf.data());
      return s;
    } else {
      const std::int64_t channels = probs.size(1), plane = probs.size(2) * probs.size(3);
      const std::int64_t pixels = probs.size(0) * plane;
      Scan s{std::vector<std::int32_t>(static_cast<std::size_t>(pixels)),
             std::vector<T>(static_cast<std::size_t>(pixels))};
      const T* p = probs.data();
      std::atomic<bool> non_finite{false};
      (void)detail::reduce_pixels<T, 1, 0>(
          probs.shape(), {p}, {}, [&](std::int64_t i, const std::array<const T*, 1>& in, const std::array<T*, 0>&) {
            bool finite = true;
            const auto best = channel_argmax(in[0], channels, 1, finite);
            if (!finite) non_finite.store(true, std::memory_order_relaxed);
            s.cls[static_cast<std::size_t>(i)] = best.index;
            s.conf[static_cast<std::size_t>(i)] = best.value;
            return 0.0;
          });
      if (non_finite.load()) detail::throw_non_finite(fn, "probs", p, probs.shape());
      return s;
    }
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
    if constexpr (!std::is_same_v<D, cpu>) {
      update_from_sorted(Kernels::sort_by_class(s.cls.data(), s.conf.data(), s.cls.numel(), options_.num_classes));
    } else {
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
        thresholds_[c] = next_threshold(theta, detail::percentile_linear(bucket, percentile_q(theta)));
      }
    }
  }

  /// The update from the batch's confidences sorted by class on the device: the ranks each class's
  /// percentile needs, their values fetched in one gather, then the same interpolation and update.
  void update_from_sorted(const detail::ClassSortedConfidences<T, D>& sorted) {
    const std::size_t classes = thresholds_.size();
    std::vector<detail::PercentileRank> rank(classes);
    std::vector<std::int64_t> index;  // per class with pixels: the positions of ranks lo and lo + 1
    for (std::size_t c = 0; c < classes; ++c) {
      const std::int64_t begin = sorted.begin[c], count = sorted.begin[c + 1] - begin;
      if (count == 0) continue;
      rank[c] = detail::percentile_rank(count, percentile_q(thresholds_[c]));
      index.push_back(begin + rank[c].lo);
      index.push_back(begin + rank[c].lo + (rank[c].interpolate ? 1 : 0));
    }
    const std::vector<double> value = Kernels::gather(sorted.conf, index);
    std::size_t k = 0;
    for (std::size_t c = 0; c < classes; ++c) {
      if (sorted.begin[c + 1] == sorted.begin[c]) continue;
      const double a = value[k], b = value[k + 1];
      k += 2;
      const double percentile = rank[c].interpolate ? detail::percentile_lerp(a, b, rank[c].t) : a;
      thresholds_[c] = next_threshold(thresholds_[c], percentile);
    }
  }

  Tensor<std::int32_t, D> label_from(const Scan& s, const Shape& shape) const {
    auto out = Tensor<std::int32_t, D>::uninitialized(Shape{shape[0], shape[2], shape[3]});
    std::vector<T> theta(thresholds_.size());
    for (std::size_t c = 0; c < theta.size(); ++c) theta[c] = static_cast<T>(thresholds_[c]);
    const std::int32_t ignore = options_.ignore_index;
    if constexpr (!std::is_same_v<D, cpu>) {
      Kernels::label(s.cls.data(), s.conf.data(), theta, ignore, out.data(), out.numel());
    } else {
      std::int32_t* o = out.data();
      parallel_for(0, out.numel(), [&](std::int64_t i) {
        const auto k = static_cast<std::size_t>(i);
        o[i] = detail::threshold_label(s.cls[k], s.conf[k], theta.data(), ignore);
      });
    }
    return out;
  }

  PseudoLabelOptions options_;
  std::vector<double> thresholds_;
};

}  // namespace labor::loss

#if defined(__CUDACC__)
#include "labor/backend/cuda/pseudo_label.cuh"
#endif
