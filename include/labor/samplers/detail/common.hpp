#pragma once
/// @file common.hpp
/// Pieces every sampler shares: the empty Query of a batch, the checks of a pixel budget and the
/// common start of the k-pixels-per-image samplers.

#include <cstdint>
#include <string_view>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/exclude.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/query.hpp"

namespace labor::samplers::detail {

/// A Query for the images of `g` with no pixels selected yet.
inline Query empty_query(std::string_view strategy, const Geometry& g) {
  Query q;
  q.strategy = std::string(strategy);
  q.num_classes = static_cast<std::int32_t>(g.c);
  q.images.resize(static_cast<std::size_t>(g.n));
  for (auto& im : q.images) {
    im.height = g.h;
    im.width = g.w;
  }
  return q;
}

/// Throws unless 1 ≤ points ≤ H·W.
inline void check_points(std::string_view who, std::int64_t points, const Geometry& g) {
  LABOR_CHECK(points >= 1, "{}: points: expected >= 1, got {}", who, points);
  LABOR_CHECK(points <= g.hw, "{}: points: expected at most the {} pixels of an image ({}×{}), got {}", who, g.hw, g.h,
              g.w, points);
}

/// The checked inputs of a sampler that takes `points` pixels per image.
struct PointsInput {
  Geometry g;
  MapPair in;
  Exclusion ex;
};

/// Checks the maps' shapes (for the block size of `Policy`), 1 ≤ points ≤ H·W and the exclusion's
/// shape, in that order; `who` starts the messages. The maps' values are left to the caller's sweep.
template <class Policy, Device D>
PointsInput check_points_input(std::string_view who, std::int64_t points, TensorView<const float, D> p1,
                               TensorView<const float, D> p2, ExcludeView<D> exclude) {
  const auto g = blocked<Policy>(check_probability_pair(who, p1.shape(), p2.shape()));
  check_points(who, points, g);
  return {g, map_pair<D>(g, p1, p2), check_exclude<D>(who, p1.shape(), g, exclude)};
}

}  // namespace labor::samplers::detail
