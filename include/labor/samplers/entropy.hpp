#pragma once
/// @file entropy.hpp
/// Entropy baseline: the pixels whose mean prediction p̄ is most uncertain.

#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>

#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/exclude.hpp"
#include "labor/samplers/detail/topk.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/sampler.hpp"

namespace labor::samplers {

/// Selects per image the `points` pixels with the largest entropy −Σ_c p̄_c·log p̄_c of
/// p̄ = (p1 + p2)/2 (0·log 0 = 0; ties → lower linear index). The entropy is a sum of per-channel
/// terms rounded to multiples of 2^-48, so equal multisets of p̄ values tie exactly. With an
/// exclusion (pixels labeled in earlier rounds) the top k is taken among the other pixels only,
/// k = min(points, their count): an image with fewer candidates gets fewer pixels.
/// Query: pixels ascending, `classes` = ŷ, no scores.
struct EntropySampler : SelectForms<EntropySampler> {
  /// Pixels per image, 1 ≤ points ≤ H·W.
  std::int64_t points = 0;

  EntropySampler() = default;
  /// The sampler taking `points` per image.
  explicit EntropySampler(std::int64_t points) : points(points) {}

  [[nodiscard]] std::string_view name() const { return "entropy"; }

  using SelectForms<EntropySampler>::select;

  /// The rule on maps `p1`, `p2` (N×C×H×W or C×H×W, same shape, probabilities) in the memory of
  /// device D, run by a Thrust execution policy of that device, among the pixels `exclude` leaves
  /// (N×H×W, or H×W for C×H×W maps, on D; non-zero = excluded; empty = nothing excluded): per image
  /// the min(points, candidates) candidates with the largest entropy. Throws labor::Error for
  /// mismatched shapes, values that are not probabilities, points outside [1, H·W], or a mask of
  /// another shape (naming "exclude").
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1, TensorView<T, D> p2,
                             std::type_identity_t<ExcludeView<D>> exclude) const {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "samplers take float probability maps");
    const auto s = detail::check_points_input<Policy, D>("entropy", points, p1, p2, exclude);
    auto q = detail::empty_query(name(), s.g);
    detail::select_by_key<detail::stat_entropy, std::int64_t, thrust::greater<std::int64_t>, D>(
        policy, s.g, s.in, s.ex, thrust::greater<std::int64_t>(), std::numeric_limits<std::int64_t>::min(), points,
        "entropy", q);
    return q;
  }
};

}  // namespace labor::samplers
