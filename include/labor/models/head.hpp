#pragma once
/// @file head.hpp
/// The Head concept: the pixel classifier F on top of a backbone.

#include <concepts>
#include <cstdint>

#include "labor/nn/layer.hpp"

namespace labor::models {

/// A classifier head: a Layer from N×F×h×w features to N×num_classes()×h×w logits (same h×w).
template <class H>
concept Head = nn::Layer<H> && requires(const H& h) {
  { h.num_classes() } -> std::convertible_to<std::int64_t>;
};

}  // namespace labor::models
