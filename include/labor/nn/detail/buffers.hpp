#pragma once
/// @file buffers.hpp
/// Reuse of the tensors a layer keeps between forward and backward (labor::nn::detail): large
/// tensors come from fresh pages on every allocation, so a layer that runs on the same shape each
/// step keeps its storage instead.

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/grad_mode.hpp"

namespace labor::nn::detail {

/// Makes `t` a tensor of `shape` with unspecified contents, reusing its storage when the element
/// count is unchanged.
template <class T, Device D>
void ensure_shape(Tensor<T, D>& t, const Shape& shape) {
  if (t.numel() == shape.numel() && !t.empty()) {
    t.reshape(shape);
  } else {
    t = Tensor<T, D>::uninitialized(shape);
  }
}

/// dst = src (shape and elements), reusing dst's storage when it has the same element count;
/// copies in parallel on the host, as one queued copy on the GPU.
template <class T, Device D>
void copy_into(Tensor<T, D>& dst, const Tensor<T, D>& src) {
  ensure_shape(dst, src.shape());
  if constexpr (!std::is_same_v<D, cpu>) {
    DeviceMemory<D>::copy(dst.data(), src.data(), src.bytes());
    return;
  }
  const T* s = src.data();
  T* d = dst.data();
  parallel_chunks(
      0, src.numel(), [&](std::int64_t lo, std::int64_t hi) { std::copy(s + lo, s + hi, d + lo); },
      std::int64_t{1} << 16);
}

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
