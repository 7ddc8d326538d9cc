#pragma once
/// @file discriminator.hpp
/// The Discriminator concept: the domain classifier D of output-level adversarial adaptation.

#include "labor/nn/layer.hpp"

namespace labor::models {

/// A domain discriminator: a Layer from N×C×H×W class-probability maps to N×1×h×w logits of
/// "this map comes from the target domain" (trained with BCE-with-logits; source = 0, target = 1).
template <class D>
concept Discriminator = nn::Layer<D>;

}  // namespace labor::models
