#pragma once
/// @file parameter.hpp
/// labor::nn::Parameter: a trainable tensor with its accumulated gradient.

#include "labor/core/tensor.hpp"

namespace labor::nn {

/// A learnable tensor and its gradient (same shape). Backward passes *add* to `grad`;
/// `zero_grad` clears it. A parameter with `trainable == false` gets no gradient and is skipped by
/// the optimizers (frozen batch norm, frozen backbones).
template <class T, Device D = cpu>
struct Parameter {
  Tensor<T, D> value;
  Tensor<T, D> grad;
  bool trainable = true;

  Parameter() = default;
  /// Zero value and gradient of `shape`.
  explicit Parameter(Shape shape) : value(shape), grad(shape) {}

  void zero_grad() { grad.zero(); }
};

}  // namespace labor::nn
