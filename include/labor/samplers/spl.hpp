#pragma once
/// @file spl.hpp
/// SPL, segment-based pixel labeling: query every pixel where the two heads disagree.

#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include <thrust/sort.h>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/query.hpp"

namespace labor::samplers {

/// Selects every pixel of the inconsistency mask M. With `cap`, keeps at most ⌊cap·H·W⌋ pixels per
/// image: those with the largest Σ_c |p1 − p2| (ties → lower linear index y·W + x).
/// Query: per image the selected pixels ascending, `classes` = ŷ = argmax (p1 + p2)/2, no scores.
struct SplSampler {
  /// Per-image cap as a fraction of H·W in (0, 1]; none: every pixel of M.
  std::optional<double> cap;

  [[nodiscard]] std::string_view name() const { return "spl"; }

  /// Selection on maps `p1`, `p2` (N×C×H×W or C×H×W, same shape, probabilities) in the memory of
  /// device D, run by a Thrust execution policy of that device (thrust::omp::par, thrust::cpp::par on
  /// host memory; thrust::cuda::par or par_nosync.on(stream) on GPU memory). Throws labor::Error for
  /// mismatched shapes, values that are not probabilities, or a cap outside (0, 1].
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1_in, TensorView<T, D> p2_in) const {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "samplers take float probability maps");
    const TensorView<const float, D> p1 = p1_in, p2 = p2_in;
    const auto g = detail::blocked<Policy>(detail::check_probability_pair("spl", p1.shape(), p2.shape()));
    if (cap) LABOR_CHECK(*cap > 0.0 && *cap <= 1.0, "spl: cap: expected a fraction in (0, 1], got {}", *cap);
    const auto in = detail::map_pair<D>(g, p1, p2);
    auto q = detail::empty_query(name(), g);
    auto sel = cap ? detail::compact_inconsistent<true, D>(policy, g, in, "spl")
                   : detail::compact_inconsistent<false, D>(policy, g, in, "spl");
    const std::int64_t limit = cap ? static_cast<std::int64_t>(std::floor(*cap * static_cast<double>(g.hw))) : g.hw;
    for (std::int64_t n = 0; n < g.n; ++n) {
      const std::int64_t s = sel.start[static_cast<std::size_t>(n)];
      std::int64_t count = sel.start[static_cast<std::size_t>(n + 1)] - s;
      std::int64_t* pixel = sel.pixel.data() + s;
      std::int32_t* cls = sel.cls.data() + s;
      if (count > limit) {
        // Largest key first; the stable sort keeps ascending pixel order among equal keys. ŷ of the
        // kept pixels is recomputed (sorting key/value pairs only: no zip iterators in sorts).
        std::int64_t* key = sel.key.data() + s;
        thrust::stable_sort_by_key(policy, key, key + count, pixel, thrust::greater<std::int64_t>());
        count = limit;
        thrust::sort(policy, pixel, pixel + count);
        detail::classes_at<D>(policy, in, pixel, cls, count);
      }
      auto& im = q.images[static_cast<std::size_t>(n)];
      im.pixels.resize(static_cast<std::size_t>(count));
      im.classes.resize(static_cast<std::size_t>(count));
      detail::copy_to_host<D>(policy, im.pixels.data(), pixel, count);
      detail::copy_to_host<D>(policy, im.classes.data(), cls, count);
      for (auto& p : im.pixels) p -= n * g.hw;
    }
    return q;
  }

  /// select on host maps with the OpenMP system.
  [[nodiscard]] Query select(TensorView<const float, cpu> p1, TensorView<const float, cpu> p2) const {
    return select(detail::host_policy(), p1, p2);
  }
};

}  // namespace labor::samplers
