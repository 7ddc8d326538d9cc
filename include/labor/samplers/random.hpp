#pragma once
/// @file random.hpp
/// Random baseline: uniform pixels without replacement.

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/query.hpp"

namespace labor::samplers {

namespace detail {

/// Seed of image `image`'s stream: splitmix64 of (seed, image), so images draw independent streams.
inline std::uint64_t image_seed(std::uint64_t seed, std::int64_t image) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (static_cast<std::uint64_t>(image) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// `k` distinct values of [0, n), uniform over the k-subsets (Floyd's algorithm), ascending.
inline std::vector<std::int64_t> sample_without_replacement(Rng& rng, std::int64_t n, std::int64_t k) {
  std::unordered_set<std::int64_t> seen;
  seen.reserve(static_cast<std::size_t>(k) * 2);
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(k));
  for (std::int64_t j = n - k; j < n; ++j) {
    const auto t = static_cast<std::int64_t>(rng.uniform_int(static_cast<std::uint64_t>(j + 1)));
    const std::int64_t v = seen.insert(t).second ? t : j;
    if (v == j) seen.insert(j);
    out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace detail

/// Selects per image `points` pixels uniformly without replacement. Image n draws from
/// labor::Rng(detail::image_seed(seed, n)) with Floyd's algorithm, so the result depends only on
/// (seed, n, H·W, points): not on the batch, the thread count or the device. Query: pixels
/// ascending, `classes` = ŷ, no scores.
struct RandomSampler {
  /// Pixels per image, 1 ≤ points ≤ H·W.
  std::int64_t points = 0;
  std::uint64_t seed = 0;

  [[nodiscard]] std::string_view name() const { return "random"; }

  /// Selection on maps `p1`, `p2` (N×C×H×W or C×H×W, same shape, probabilities) in the memory of
  /// device D, run by a Thrust execution policy of that device. Throws labor::Error for mismatched
  /// shapes, values that are not probabilities or points outside [1, H·W].
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1_in, TensorView<T, D> p2_in) const {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "samplers take float probability maps");
    const TensorView<const float, D> p1 = p1_in, p2 = p2_in;
    const auto g = detail::blocked<Policy>(detail::check_probability_pair("random", p1.shape(), p2.shape()));
    detail::check_points("random", points, g);
    const auto in = detail::map_pair<D>(g, p1, p2);
    detail::validate_pair<D>(policy, g, in, "random");
    auto q = detail::empty_query(name(), g);
    auto pixel = detail::scratch<std::int64_t, D>(points);
    auto cls = detail::scratch<std::int32_t, D>(points);
    for (std::int64_t n = 0; n < g.n; ++n) {
      Rng rng(detail::image_seed(seed, n));
      auto& im = q.images[static_cast<std::size_t>(n)];
      im.pixels = detail::sample_without_replacement(rng, g.hw, points);
      std::vector<std::int64_t> global(im.pixels);
      for (auto& p : global) p += n * g.hw;
      detail::copy_from_host<D>(policy, pixel.data(), global.data(), points);
      detail::classes_at<D>(policy, in, pixel.data(), cls.data(), points);
      im.classes.resize(static_cast<std::size_t>(points));
      detail::copy_to_host<D>(policy, im.classes.data(), cls.data(), points);
    }
    return q;
  }

  /// select on host maps with the OpenMP system.
  [[nodiscard]] Query select(TensorView<const float, cpu> p1, TensorView<const float, cpu> p2) const {
    return select(detail::host_policy(), p1, p2);
  }
};

}  // namespace labor::samplers
