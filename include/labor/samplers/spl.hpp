#pragma once
/// @file spl.hpp
/// SPL, segment-based pixel labeling: query every pixel where the two heads disagree.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

#include <thrust/sort.h>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/dispatch.hpp"
#include "labor/samplers/detail/exclude.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/sampler.hpp"

namespace labor::samplers {

namespace detail {

/// SPL on the generic passes: compaction of M, then per capped image a stable sort by key.
template <Device D, class Policy>
void spl_generic(const Policy& policy, const Geometry& g, const MapPair& in, std::optional<double> cap, Query& q) {
  auto sel =
      cap ? compact_inconsistent<true, D>(policy, g, in, "spl") : compact_inconsistent<false, D>(policy, g, in, "spl");
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
      classes_at<D>(policy, in, pixel, cls, count);
    }
    auto& im = q.images[static_cast<std::size_t>(n)];
    im.pixels.resize(static_cast<std::size_t>(count));
    im.classes.resize(static_cast<std::size_t>(count));
    copy_to_host<D>(policy, im.pixels.data(), pixel, count);
    copy_to_host<D>(policy, im.classes.data(), cls, count);
    for (auto& p : im.pixels) p -= n * g.hw;
  }
}

/// SplSampler::select with the implementation chosen by `path` (tests compare the two). Under an
/// exclusion every path runs on exclude_from_mask's pair, whose M is M ∧ ¬exclude.
template <class Policy, Device D>
Query spl_select(const Policy& policy, std::optional<double> cap, TensorView<const float, D> p1,
                 TensorView<const float, D> p2, Path path, std::type_identity_t<ExcludeView<D>> exclude = {}) {
  const auto g = blocked<Policy>(check_probability_pair("spl", p1.shape(), p2.shape()));
  if (cap) LABOR_CHECK(*cap > 0.0 && *cap <= 1.0, "spl: cap: expected a fraction in (0, 1], got {}", *cap);
  const auto ex = check_exclude<D>("spl", p1.shape(), g, exclude);
  const auto pair = exclude_from_mask<D>(policy, g, map_pair<D>(g, p1, p2), ex, "spl");
  const MapPair& in = pair.in;
  auto q = empty_query("spl", g);
  dispatch<D>(
      policy, path, g, [&](const auto& p, auto fast) { decltype(fast)::type::spl(p, g, in, cap, q); },
      [&](const auto& p) { spl_generic<D>(p, g, in, cap, q); });
  return q;
}

}  // namespace detail

/// Selects every pixel of the inconsistency mask M. With `cap`, keeps at most ⌊cap·H·W⌋ pixels per
/// image: those with the largest Σ_c |p1 − p2| (ties → lower linear index y·W + x).
/// With an exclusion E (pixels labeled in earlier rounds) the rule runs on M' = M ∧ ¬E: every pixel
/// of M', the cap ⌊cap·H·W⌋ unchanged and applied over M'.
/// Query: per image the selected pixels ascending, `classes` = ŷ = argmax (p1 + p2)/2, no scores.
struct SplSampler : SelectForms<SplSampler> {
  /// Per-image cap as a fraction of H·W in (0, 1]; none: every pixel of M.
  std::optional<double> cap;

  SplSampler() = default;
  /// The sampler with per-image cap `cap` (none: every pixel of M).
  explicit SplSampler(std::optional<double> cap) : cap(cap) {}

  [[nodiscard]] std::string_view name() const { return "spl"; }

  using SelectForms<SplSampler>::select;

  /// The rule on maps `p1`, `p2` (N×C×H×W or C×H×W, same shape, probabilities) in the memory of
  /// device D, run by a Thrust execution policy of that device (thrust::omp::par, thrust::cpp::par on
  /// host memory; thrust::cuda::par or par_nosync.on(stream) on GPU memory), without the pixels of
  /// `exclude` (N×H×W, or H×W for C×H×W maps, on D; non-zero = excluded; empty = nothing excluded):
  /// the rule on M' = M ∧ ¬exclude. The path (host fast, CUDA fast, generic Thrust) is chosen by
  /// detail::dispatch; all give the same Query. Throws labor::Error for mismatched shapes, values
  /// that are not probabilities, a cap outside (0, 1], or a mask of another shape (naming "exclude").
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1, TensorView<T, D> p2,
                             std::type_identity_t<ExcludeView<D>> exclude) const {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "samplers take float probability maps");
    return detail::spl_select<Policy, D>(policy, cap, p1, p2, detail::Path::automatic, exclude);
  }
};

}  // namespace labor::samplers

#include "labor/backend/cpu/samplers.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/samplers.cuh"
#endif
