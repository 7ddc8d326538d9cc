#pragma once
/// @file buffers.hpp
/// What a layer keeps between forward and backward (labor::nn::detail): copied into storage it
/// reuses (labor::copy_into), or nothing under NoGradGuard.

#include "labor/core/elementwise.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/grad_mode.hpp"

namespace labor::nn::detail {

/// What a forward keeps for its backward: dst = src as copy_into while gradients are enabled;
/// under NoGradGuard nothing is copied and dst is released (empty), so backward finds no forward.
template <class T, Device D>
void keep_for_backward(Tensor<T, D>& dst, const Tensor<T, D>& src) {
  if (grad_enabled()) {
    copy_into(dst, src);
  } else {
    dst = Tensor<T, D>();
  }
}

}  // namespace labor::nn::detail
