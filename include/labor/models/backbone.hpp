#pragma once
/// @file backbone.hpp
/// The Backbone concept: the feature extractor G of a segmenter.

#include <concepts>
#include <cstdint>

#include "labor/nn/layer.hpp"

namespace labor::models {

/// A feature extractor: a Layer from N×3×H×W images to N×out_channels()×⌈H/s⌉×⌈W/s⌉ features with
/// s = output_stride() (up to rounding of the strided layers). Heads read out_channels(); the
/// trainer upsamples the head's logits to the label size, so the exact feature size is free.
template <class B>
concept Backbone = nn::Layer<B> && requires(const B& b) {
  { b.out_channels() } -> std::convertible_to<std::int64_t>;
  { b.output_stride() } -> std::convertible_to<std::int64_t>;
};

}  // namespace labor::models
