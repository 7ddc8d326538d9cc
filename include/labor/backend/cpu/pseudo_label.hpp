#pragma once
/// @file pseudo_label.hpp
/// PseudoLabeler on the host (PseudoLabelKernels<cpu>). The scan finds each pixel's argmax class and
/// max-probability in one reduce_pixels pass; the update buckets the confidences by class (per-part
/// histograms, offsets, scatter: exact for any thread count) and takes each class's percentile by
/// selection (percentile_linear); labelling compares per pixel.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "labor/backend/cpu/loss_common.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/pseudo_label.hpp"

namespace labor::loss::detail {

template <>
struct PseudoLabelKernels<cpu> {
  /// Writes each pixel's argmax class (lowest index on ties) and max-probability of validated
  /// N×C×H×W `probs` to `cls` and `conf` (N·H·W each); throws for a non-finite value.
  template <class T>
  static void scan(const char* fn, const Tensor<T, cpu>& probs, std::int32_t* cls, T* conf) {
    const std::int64_t channels = probs.size(1);
    const T* p = probs.data();
    std::atomic<bool> non_finite{false};
    (void)reduce_pixels<T, 1, 0>(probs.shape(), {p}, {},
                                 [&](std::int64_t i, const std::array<const T*, 1>& in, const std::array<T*, 0>&) {
                                   bool finite = true;
                                   const auto best = channel_argmax(in[0], channels, 1, finite);
                                   if (!finite) non_finite.store(true, std::memory_order_relaxed);
                                   cls[i] = best.index;
                                   conf[i] = best.value;
                                   return 0.0;
                                 });
    if (non_finite.load()) throw_non_finite(fn, "probs", p, probs.shape());
  }

  /// Per class c with pixels the percentile_linear at q[c] of its pixels' confidences (nothing for
  /// a class without pixels).
  template <class T>
  static std::vector<std::optional<double>> class_percentiles(const std::int32_t* cls, const T* conf,
                                                              std::int64_t pixels, const std::vector<double>& q) {
    const std::size_t classes = q.size();
    // Bucket the confidences by class: per-part histograms, offsets, scatter.
    const std::int64_t parts = std::clamp<std::int64_t>(pixels / 65536, 1, 64);
    std::vector<std::int64_t> count(static_cast<std::size_t>(parts) * classes, 0);
    parallel_for(
        0, parts,
        [&](std::int64_t part) {
          std::int64_t* c = count.data() + part * static_cast<std::int64_t>(classes);
          for (std::int64_t i = pixels * part / parts; i < pixels * (part + 1) / parts; ++i) ++c[cls[i]];
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
            sorted[static_cast<std::size_t>(cur[cls[i]]++)] = conf[i];
        },
        1);

    std::vector<std::optional<double>> out(classes);
    std::vector<T> bucket;
    for (std::size_t c = 0; c < classes; ++c) {
      if (start[c + 1] == start[c]) continue;
      bucket.assign(sorted.begin() + start[c], sorted.begin() + start[c + 1]);
      out[c] = percentile_linear(bucket, q[c]);
    }
    return out;
  }

  /// out[i] = threshold_label(cls[i], conf[i], θ, ignore) for the `pixels` pixels (θ: C values).
  template <class T>
  static void label(const std::int32_t* cls, const T* conf, const std::vector<T>& theta, std::int32_t ignore,
                    std::int32_t* out, std::int64_t pixels) {
    const T* t = theta.data();
    parallel_for(0, pixels, [&](std::int64_t i) { out[i] = threshold_label(cls[i], conf[i], t, ignore); });
  }
};

}  // namespace labor::loss::detail
