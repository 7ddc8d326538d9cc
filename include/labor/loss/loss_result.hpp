#pragma once
/// @file loss_result.hpp
/// The value-and-gradient results the loss functions return.

#include "labor/core/device.hpp"
#include "labor/core/tensor.hpp"

namespace labor::loss {

/// A scalar loss and its gradient with respect to the (single) differentiable input.
/// `grad` has the input's shape; pass it to the network's backward.
template <class T, Device D = cpu>
struct LossResult {
  /// The loss value.
  T value{};
  /// d value / d input, same shape as the input.
  Tensor<T, D> grad;
};

/// A scalar loss of two inputs and the gradients with respect to both.
template <class T, Device D = cpu>
struct PairLossResult {
  /// The loss value.
  T value{};
  /// d value / d first input.
  Tensor<T, D> grad_a;
  /// d value / d second input.
  Tensor<T, D> grad_b;
};

}  // namespace labor::loss
