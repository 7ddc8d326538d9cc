#pragma once
/// @file common.hpp
/// Pieces every sampler shares: the empty Query of a batch and the checks of a pixel budget.

#include <cstdint>
#include <string_view>

#include "labor/core/error.hpp"
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

}  // namespace labor::samplers::detail
