#pragma once
/// @file rng.cuh
/// Random fills of GPU tensors with the same counter-based stream as the host fills in core/rng.hpp:
/// element i gets the value the CPU would give it for the same Rng state.

#include <cstdint>

#include <cuda_runtime.h>

#include "labor/backend/cuda/error.cuh"
#include "labor/backend/cuda/memory.cuh"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"

namespace labor {

namespace cuda_detail {
template <class T>
__global__ void fill_uniform_kernel(T* p, std::int64_t n, PhiloxStream s, T lo, T hi) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    p[i] = s.uniform<T>(static_cast<std::uint64_t>(i), lo, hi);
}
template <class T>
__global__ void fill_normal_kernel(T* p, std::int64_t n, PhiloxStream s, T mean, T stddev) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    p[i] = s.normal<T>(static_cast<std::uint64_t>(i), mean, stddev);
}
inline unsigned grid_for(std::int64_t n, unsigned block) {
  const std::int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}
}  // namespace cuda_detail

/// Fills a GPU tensor with uniform values in [lo, hi); same values as the host fill_uniform.
template <class T>
void fill_uniform(TensorView<T, cuda> t, Rng& rng, T lo = T(0), T hi = T(1)) {
  const PhiloxStream s = rng.take(static_cast<std::uint64_t>(t.numel()));
  if (t.numel() == 0) return;
  cuda_detail::fill_uniform_kernel<<<cuda_detail::grid_for(t.numel(), 256), 256>>>(t.data(), t.numel(), s, lo, hi);
  LABOR_CUDA_CHECK(cudaGetLastError());
}

/// Fills a GPU tensor with N(mean, stddev²) values; same values as the host fill_normal up to the
/// last bits of the device's log/cos.
template <class T>
void fill_normal(TensorView<T, cuda> t, Rng& rng, T mean = T(0), T stddev = T(1)) {
  const PhiloxStream s = rng.take(static_cast<std::uint64_t>(t.numel()));
  if (t.numel() == 0) return;
  cuda_detail::fill_normal_kernel<<<cuda_detail::grid_for(t.numel(), 256), 256>>>(t.data(), t.numel(), s, mean, stddev);
  LABOR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace labor
