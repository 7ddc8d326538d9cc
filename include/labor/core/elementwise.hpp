#pragma once
/// @file elementwise.hpp
/// Element-wise operations on whole tensors of one device, the ones every module uses: scale,
/// axpy, add, add_inplace, copy_into (with ensure_shape, the storage reuse it rests on) and is_finite.
/// Each is one loop for both devices (for_each_index, or the host's parallel chunks) and gives the
/// same bits on any thread count.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "labor/core/config.hpp"
#include "labor/core/device.hpp"
#include "labor/core/error.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"

namespace labor {

/// True when `x` is neither NaN nor ±Inf, on the host and in device code.
template <class T>
LABOR_HOST_DEVICE inline bool is_finite(T x) {
#if defined(__CUDA_ARCH__)
  return isfinite(x);
#else
  return std::isfinite(x);
#endif
}

/// t ← a·t on t's device.
template <class T, Device D>
void scale(Tensor<T, D>& t, T a) {
  T* p = t.data();
  for_each_index<D>(t.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) { p[i] *= a; });
}

/// y ← y + a·x on their device. @throws labor::Error for different shapes.
template <class T, Device D>
void axpy(Tensor<T, D>& y, T a, const Tensor<T, D>& x) {
  check_shape("axpy", x.shape(), y.shape());
  T* py = y.data();
  const T* px = x.data();
  for_each_index<D>(y.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) { py[i] += a * px[i]; });
}


/// a += b element-wise on device D (any rank). @throws labor::Error unless the shapes are equal.
template <class T, Device D>
void add_inplace(Tensor<T, D>& a, const Tensor<T, D>& b) {
  LABOR_CHECK(a.shape() == b.shape(), "add: shapes: expected equal, got {} and {}", a.shape(), b.shape());
  T* LABOR_RESTRICT pa = a.data();
  const T* LABOR_RESTRICT pb = b.data();
  if constexpr (std::is_same_v<D, cpu>) {
    parallel_chunks(
        0, a.numel(),
        [&](std::int64_t lo, std::int64_t hi) {
          for (std::int64_t i = lo; i < hi; ++i) pa[i] += pb[i];
        },
        std::int64_t{1} << 15);
  } else {
    for_each_index<D>(a.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) { pa[i] += pb[i]; });
  }
}

/// a + b element-wise on device D (any rank). @throws labor::Error unless the shapes are equal.
template <class T, Device D>
Tensor<T, D> add(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  Tensor<T, D> y = a;
  add_inplace(y, b);
  return y;
}

/// Makes `t` a tensor of `shape` with unspecified contents, reusing its storage when the element
/// count is unchanged (large tensors come from fresh pages on every allocation, so a tensor that is
/// refilled with the same shape each step keeps its storage instead).
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

}  // namespace labor
