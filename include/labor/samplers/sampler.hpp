#pragma once
/// @file sampler.hpp
/// The Sampler concept: anything that turns a pair of probability maps into a Query.

#include <concepts>
#include <string_view>

#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/system.hpp"  // device_policy<D>(), the policy select() takes on device maps
#include "labor/samplers/query.hpp"

namespace labor::samplers {

/// A pixel sampler. `select(p1, p2)` takes two N×C×H×W probability maps on the host (the two
/// heads of LabOR's pixel selector; a model with one head passes the same map twice) and returns
/// the selection for every image. Deterministic: the same inputs and options give the same Query.
template <class S>
concept Sampler = requires(const S& s, TensorView<const float, cpu> p) {
  { s.name() } -> std::convertible_to<std::string_view>;
  { s.select(p, p) } -> std::same_as<Query>;
};

}  // namespace labor::samplers
