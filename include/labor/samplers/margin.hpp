#pragma once
/// @file margin.hpp
/// Margin baseline: the pixels whose two best classes under p̄ are closest.

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

/// Selects per image the `points` pixels with the smallest margin top-1 − top-2 of
/// p̄ = (p1 + p2)/2 (in double; with one class the margin is top-1; ties → lower linear index).
/// With an exclusion (pixels labeled in earlier rounds) the top k is taken among the other pixels
/// only, k = min(points, their count): an image with fewer candidates gets fewer pixels.
/// Query: pixels ascending, `classes` = ŷ, no scores.
struct MarginSampler : SelectForms<MarginSampler> {
  /// Pixels per image, 1 ≤ points ≤ H·W.
  std::int64_t points = 0;

  MarginSampler() = default;
  /// The sampler taking `points` per image.
  explicit MarginSampler(std::int64_t points) : points(points) {}

  [[nodiscard]] std::string_view name() const { return "margin"; }

  using SelectForms<MarginSampler>::select;

  /// The rule on maps `p1`, `p2` (N×C×H×W or C×H×W, same shape, probabilities) in the memory of
  /// device D, run by a Thrust execution policy of that device, among the pixels `exclude` leaves
  /// (N×H×W, or H×W for C×H×W maps, on D; non-zero = excluded; empty = nothing excluded): per image
  /// the min(points, candidates) candidates with the smallest margin. Throws labor::Error for
  /// mismatched shapes, values that are not probabilities, points outside [1, H·W], or a mask of
  /// another shape (naming "exclude").
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1, TensorView<T, D> p2,
                             std::type_identity_t<ExcludeView<D>> exclude) const {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "samplers take float probability maps");
    const auto s = detail::check_points_input<Policy, D>("margin", points, p1, p2, exclude);
    auto q = detail::empty_query(name(), s.g);
    detail::select_by_key<detail::stat_margin, double, thrust::less<double>, D>(
        policy, s.g, s.in, s.ex, thrust::less<double>(), std::numeric_limits<double>::infinity(), points, "margin", q);
    return q;
  }
};

}  // namespace labor::samplers
