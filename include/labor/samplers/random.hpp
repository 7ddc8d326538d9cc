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
#include "labor/samplers/detail/exclude.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/sampler.hpp"

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

/// Floyd's draw over the candidates of one image (the pixels i with excluded[i] == 0, in ascending
/// order): min(points, #candidates) distinct ranks of [0, #candidates) by
/// sample_without_replacement, mapped to the candidates of those ranks; ascending. With no pixel
/// excluded the ranks are the pixels, so the draw equals sample_without_replacement(rng, hw, points).
inline std::vector<std::int64_t> sample_candidates(Rng& rng, const std::uint8_t* excluded, std::int64_t hw,
                                                   std::int64_t points) {
  std::vector<std::int64_t> candidates;
  for (std::int64_t i = 0; i < hw; ++i)
    if (excluded[i] == 0) candidates.push_back(i);
  const auto m = static_cast<std::int64_t>(candidates.size());
  auto picked = sample_without_replacement(rng, m, std::min(points, m));
  for (auto& t : picked) t = candidates[static_cast<std::size_t>(t)];
  return picked;
}

}  // namespace detail

/// Selects per image `points` pixels uniformly without replacement. Image n draws from
/// labor::Rng(detail::image_seed(seed, n)) with Floyd's algorithm, so the result depends only on
/// (seed, n, H·W, points): not on the batch, the thread count or the device. With an exclusion
/// (pixels labeled in earlier rounds) image n draws from the same stream over its candidates, the
/// pixels not excluded: k = min(points, #candidates) ranks of [0, #candidates) by Floyd's algorithm,
/// mapped to the candidates in ascending linear-index order (detail::sample_candidates); without
/// one, the candidates are all pixels and the draw is the one above. Query: pixels ascending,
/// `classes` = ŷ, no scores.
struct RandomSampler : SelectForms<RandomSampler> {
  /// Pixels per image, 1 ≤ points ≤ H·W.
  std::int64_t points = 0;
  std::uint64_t seed = 0;

  RandomSampler() = default;
  /// The sampler drawing `points` per image from the streams of `seed`.
  explicit RandomSampler(std::int64_t points, std::uint64_t seed = 0) : points(points), seed(seed) {}

  [[nodiscard]] std::string_view name() const { return "random"; }

  using SelectForms<RandomSampler>::select;

  /// The rule on maps `p1`, `p2` (N×C×H×W or C×H×W, same shape, probabilities) in the memory of
  /// device D, run by a Thrust execution policy of that device, among the pixels `exclude` leaves
  /// (N×H×W, or H×W for C×H×W maps, on D; non-zero = excluded; empty = nothing excluded). An image
  /// with fewer candidates than `points` gets all of them. Throws labor::Error for mismatched
  /// shapes, values that are not probabilities, points outside [1, H·W], or a mask of another
  /// shape (naming "exclude").
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1, TensorView<T, D> p2,
                             std::type_identity_t<ExcludeView<D>> exclude) const {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "samplers take float probability maps");
    const auto [g, in, ex] = detail::check_points_input<Policy, D>("random", points, p1, p2, exclude);
    detail::validate_pair<D>(policy, g, in, "random");
    std::vector<std::uint8_t> excluded;  // the exclusion on the host, where the draws are made
    if (ex.active()) {
      excluded.resize(static_cast<std::size_t>(g.pixels()));
      detail::copy_to_host<D>(policy, excluded.data(), ex.mask, g.pixels());
    }
    auto q = detail::empty_query(name(), g);
    auto pixel = detail::scratch<std::int64_t, D>(points);
    auto cls = detail::scratch<std::int32_t, D>(points);
    for (std::int64_t n = 0; n < g.n; ++n) {
      Rng rng(detail::image_seed(seed, n));
      auto& im = q.images[static_cast<std::size_t>(n)];
      im.pixels = ex.active() ? detail::sample_candidates(rng, excluded.data() + n * g.hw, g.hw, points)
                              : detail::sample_without_replacement(rng, g.hw, points);
      const auto k = static_cast<std::int64_t>(im.pixels.size());
      std::vector<std::int64_t> global(im.pixels);
      for (auto& p : global) p += n * g.hw;
      detail::copy_from_host<D>(policy, pixel.data(), global.data(), k);
      detail::classes_at<D>(policy, in, pixel.data(), cls.data(), k);
      im.classes.resize(static_cast<std::size_t>(k));
      detail::copy_to_host<D>(policy, im.classes.data(), cls.data(), k);
    }
    return q;
  }
};

}  // namespace labor::samplers
