#pragma once
/// @file validate.hpp
/// Checks that a map holds probabilities: every value finite and >= 0, every pixel's channel sum
/// within 1e-3 of 1.

#include <string_view>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/passes.hpp"

namespace labor::samplers {

/// Throws labor::Error unless `p` (N×C×H×W or C×H×W, non-empty, on the policy's device D) holds a
/// probability vector at every pixel: values finite and >= 0, channel sum (in double) within 1e-3 of 1.
/// The message names the map (`name`), the image, the pixel (y, x) and the offending value or sum;
/// the first bad pixel in N, y, x order is reported.
template <class Policy, Device D>
void validate_probabilities(const Policy& policy, TensorView<const float, D> p, std::string_view name) {
  LABOR_CHECK(p.rank() == 4 || p.rank() == 3, "{}: rank: expected 4 (N×C×H×W) or 3 (C×H×W), got {} (shape {})", name,
              p.rank(), p.shape());
  LABOR_CHECK(p.numel() > 0, "{}: expected a non-empty map, got shape {}", name, p.shape());
  const auto g = detail::blocked<Policy>(detail::check_probability_pair(name, p.shape(), p.shape()));
  detail::validate_pair<D>(policy, g, detail::map_pair<D>(g, p, p), "", name, name);
}

/// validate_probabilities on a host map with the OpenMP system.
inline void validate_probabilities(TensorView<const float, cpu> p, std::string_view name) {
  validate_probabilities(detail::host_policy(), p, name);
}

/// Throws labor::Error unless p1 and p2 have the same N×C×H×W (or C×H×W) non-empty shape.
/// `who` (e.g. "spl") starts the message.
inline void check_same_shape(const Shape& p1, const Shape& p2, std::string_view who = "samplers") {
  (void)detail::check_probability_pair(who, p1, p2);
}

}  // namespace labor::samplers
