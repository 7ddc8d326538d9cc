#pragma once
/// @file exclude.hpp
/// The exclusion mask of the samplers (pixels labeled in earlier rounds): its shape check, per-image
/// candidate counts, and the map pair SPL and PPL run on so that M' = M ∧ ¬exclude with every path
/// (host, Thrust, CUDA) unchanged.

#include <cstdint>
#include <string_view>
#include <vector>

#include <thrust/count.h>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/detail/system.hpp"
#include "labor/samplers/sampler.hpp"

namespace labor::samplers::detail {

/// The exclusion of a batch as raw device bytes: nullptr when nothing is excluded.
struct Exclusion {
  const std::uint8_t* mask = nullptr;  ///< [n·hw + i] non-zero = pixel i of image n is excluded
  [[nodiscard]] bool active() const { return mask != nullptr; }
};

/// Checks `exclude` against maps of shape `maps` (extents `g`): an empty view (numel() == 0)
/// excludes nothing; otherwise its shape must be N×H×W for N×C×H×W maps, H×W for C×H×W maps.
/// Throws labor::Error "`who`: exclude: expected shape [..], got [..]".
template <Device D>
Exclusion check_exclude(std::string_view who, const Shape& maps, const Geometry& g, ExcludeView<D> exclude) {
  if (exclude.numel() == 0) return {};
  const Shape want = maps.rank() == 4 ? Shape{g.n, g.h, g.w} : Shape{g.h, g.w};
  LABOR_CHECK(exclude.shape() == want, "{}: exclude: expected shape {}, got {}", who, want, exclude.shape());
  return {exclude.data()};
}

/// True for a non-zero mask byte.
struct IsExcluded {
  LABOR_HOST_DEVICE bool operator()(std::uint8_t v) const { return v != 0; }
};

/// Candidates (pixels not excluded) of every image: H·W each without an exclusion.
template <Device D, class Policy>
std::vector<std::int64_t> candidates_per_image(const Policy& policy, const Geometry& g, Exclusion ex) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(g.n), g.hw);
  if (!ex.active()) return out;
  for (std::int64_t n = 0; n < g.n; ++n)
    out[static_cast<std::size_t>(n)] -=
        thrust::count_if(policy, ex.mask + n * g.hw, ex.mask + (n + 1) * g.hw, IsExcluded{});
  return out;
}

/// out[e] = p1[e] at excluded pixels, p2[e] elsewhere, for every element e of the N×C×H×W maps.
/// There argmax p1 = argmax p2, so the pixel leaves M; every other pixel keeps both maps' values.
struct TakeP1WhereExcluded {
  MapPair in;
  const std::uint8_t* mask;
  float* out;
  LABOR_HOST_DEVICE void operator()(std::int64_t e) const {
    const std::int64_t n = e / in.chw, i = e % in.hw;
    out[e] = mask[n * in.hw + i] != 0 ? in.p1[e] : in.p2[e];
  }
};

/// The map pair SPL and PPL select on under an exclusion, and the storage of its p2.
template <Device D>
struct ExcludedPair {
  MapPair in;
  Tensor<float, D> p2;  ///< p2 with p1's values at excluded pixels (empty when `in` is the input)
};

/// The pair whose inconsistency mask is M' = M ∧ ¬exclude: the input itself when nothing is
/// excluded; otherwise both maps are validated first (so that a bad value of p2 at an excluded pixel
/// is still reported, as the first bad pixel in N, y, x order), then p2 is copied with p1's values
/// at the excluded pixels. Pixels outside the exclusion keep p1 and p2 bit for bit, so their ŷ,
/// SPL key and p̄ do not change.
template <Device D, class Policy>
ExcludedPair<D> exclude_from_mask(const Policy& policy, const Geometry& g, const MapPair& in, Exclusion ex,
                                  std::string_view who) {
  ExcludedPair<D> out{in, {}};
  if (!ex.active() || thrust::count_if(policy, ex.mask, ex.mask + g.pixels(), IsExcluded{}) == 0) return out;
  validate_pair<D>(policy, g, in, who);
  const std::int64_t elements = g.n * g.c * g.hw;
  out.p2 = Tensor<float, D>::uninitialized(Shape{elements});
  after_labor_stream(policy);
  thrust::for_each(policy, items(0), items(elements), TakeP1WhereExcluded{in, ex.mask, out.p2.data()});
  out.in.p2 = out.p2.data();
  return out;
}

}  // namespace labor::samplers::detail
