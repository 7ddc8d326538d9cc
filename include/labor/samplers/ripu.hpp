#pragma once
/// @file ripu.hpp
/// RIPU (Xie et al., CVPR 2022): region impurity × prediction uncertainty, in its region and its
/// pixel mode, the strongest published peer of LabOR's samplers.

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/exclude.hpp"
#include "labor/samplers/detail/ripu.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/sampler.hpp"

namespace labor::samplers {

/// RIPU on the mean prediction p̄ = (p1 + p2)/2 (a model with one head passes its map twice), with
/// ŷ = argmax p̄ and the window W(x) of (2k+1)² pixels centred on x, clipped to the image:
/// - region impurity I(x) = entropy of the histogram of ŷ over W(x);
/// - region mode (`Mode::region`, RIPU-RA): score(x) = I(x) × the mean over W(x) of the pixel
///   entropy −Σ_c p̄_c·log p̄_c; the best centre not yet suppressed is taken, its whole window is
///   labeled and the (4k+1)² neighbourhood around it is suppressed (so windows never overlap),
///   ⌈points / (2k+1)²⌉ windows per image (RIPU's count of regions for a budget);
/// - pixel mode (`Mode::pixel`, RIPU-PA): score(x) = I(x) × the pixel entropy at x; the best pixel
///   not yet suppressed is labeled and its window suppressed, `points` pixels per image.
/// The scores drop RIPU's constant factors (1/log C), which do not change the order. Ties go to
/// the lower linear index. With an exclusion (pixels labeled in earlier rounds) an excluded pixel is
/// never a centre and never labeled again (a window keeps its other pixels); an image with fewer
/// free centres gets fewer pixels. Pixel entropies are sums of fixed-point float terms
/// (detail::entropy24_term), so equal multisets of p̄ values tie exactly; the result is the same for
/// every thread count. Query: pixels ascending, `classes` = ŷ, no scores.
struct RipuSampler : SelectForms<RipuSampler> {
  enum class Mode { region, pixel };

  /// Region mode (label whole windows) or pixel mode (label one pixel per window).
  Mode mode = Mode::region;
  /// Labeled pixels per image the budget is stated in, 1 ≤ points ≤ H·W (region mode labels
  /// ⌈points / (2k+1)²⌉ whole windows, so up to (2k+1)² − 1 more, fewer at the borders).
  std::int64_t points = 0;
  /// k: windows of (2k+1)² pixels, 1 ≤ k ≤ 64 (RIPU's default and the issue's: 1, 3×3 regions).
  std::int64_t radius = 1;

  RipuSampler() = default;
  /// The sampler of `mode` with `points` pixels per image and windows of radius `radius`.
  RipuSampler(Mode mode, std::int64_t points, std::int64_t radius = 1) : mode(mode), points(points), radius(radius) {}

  [[nodiscard]] std::string_view name() const { return mode == Mode::region ? "ripu_region" : "ripu_pixel"; }

  using SelectForms<RipuSampler>::select;

  /// The rule on maps `p1`, `p2` (N×C×H×W or C×H×W, same shape, probabilities) in the memory of
  /// device D, run by a Thrust execution policy of that device, among the pixels `exclude` leaves
  /// (N×H×W, or H×W for C×H×W maps, on D; non-zero = excluded; empty = nothing excluded). Throws
  /// labor::Error for mismatched shapes, values that are not probabilities, points outside
  /// [1, H·W], a radius outside [1, 64], or a mask of another shape (naming "exclude").
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1, TensorView<T, D> p2,
                             std::type_identity_t<ExcludeView<D>> exclude) const {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "samplers take float probability maps");
    const std::string who(name());
    LABOR_CHECK(radius >= 1 && radius <= detail::ripu_max_radius, "{}: radius: expected 1 to {}, got {}", who,
                detail::ripu_max_radius, radius);
    const auto s = detail::check_points_input<Policy, D>(who, points, p1, p2, exclude);
    auto q = detail::empty_query(name(), s.g);
    detail::ripu_select<D>(policy, s.g, s.in, s.ex, {mode == Mode::region, points, radius}, who, q);
    return q;
  }
};

}  // namespace labor::samplers
