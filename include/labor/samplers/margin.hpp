#pragma once
/// @file margin.hpp
/// Margin baseline: the pixels whose two best classes under p̄ are closest.

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/topk.hpp"
#include "labor/samplers/query.hpp"

namespace labor::samplers {

/// Selects per image the `points` pixels with the smallest margin top-1 − top-2 of
/// p̄ = (p1 + p2)/2 (in double; with one class the margin is top-1; ties → lower linear index).
/// Query: pixels ascending, `classes` = ŷ, no scores.
struct MarginSampler {
  /// Pixels per image, 1 ≤ points ≤ H·W.
  std::int64_t points = 0;

  [[nodiscard]] std::string_view name() const { return "margin"; }

  /// Selection on maps `p1`, `p2` (N×C×H×W or C×H×W, same shape, probabilities) in the memory of
  /// device D, run by a Thrust execution policy of that device. Throws labor::Error for mismatched
  /// shapes, values that are not probabilities or points outside [1, H·W].
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1_in, TensorView<T, D> p2_in) const {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "samplers take float probability maps");
    const TensorView<const float, D> p1 = p1_in, p2 = p2_in;
    const auto g = detail::blocked<Policy>(detail::check_probability_pair("margin", p1.shape(), p2.shape()));
    detail::check_points("margin", points, g);
    auto q = detail::empty_query(name(), g);
    detail::select_by_key<detail::stat_margin, double, thrust::less<double>, D>(
        policy, g, detail::map_pair<D>(g, p1, p2), thrust::less<double>(), points, "margin", q);
    return q;
  }

  /// select on host maps with the OpenMP system.
  [[nodiscard]] Query select(TensorView<const float, cpu> p1, TensorView<const float, cpu> p2) const {
    return select(detail::host_policy(), p1, p2);
  }
};

}  // namespace labor::samplers
