#pragma once
/// @file for_each.cuh
/// for_each_index on the GPU: one grid-stride kernel per call, queued on labor's stream.

#include <cstdint>

#include <cuda_runtime.h>

#include "labor/backend/cuda/context.cuh"
#include "labor/backend/cuda/error.cuh"
#include "labor/core/for_each.hpp"

namespace labor {

namespace cuda_kernels {

/// Threads per block of labor's element-wise kernels.
inline constexpr unsigned block_threads = 256;

/// Blocks for `n` work items of `block` threads each, capped so a grid-stride loop covers the rest
/// (enough blocks to fill any current device several times over).
inline unsigned grid_blocks(std::int64_t n, unsigned block = block_threads) {
  const std::int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

template <class F>
__global__ void for_each_kernel(std::int64_t n, F f) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride) f(i);
}

/// Throws labor::Error naming `what` when the last kernel launch failed (bad configuration, no
/// device); does not wait for the kernel.
inline void check_launch(const char* what) {
  check(cudaGetLastError(), what);
}

}  // namespace cuda_kernels

namespace detail {
template <>
struct ForEach<cuda> {
  template <class F>
  static void run(std::int64_t n, F f, std::int64_t /*grain*/) {
    cuda_kernels::for_each_kernel<<<cuda_kernels::grid_blocks(n), cuda_kernels::block_threads, 0, cuda_stream()>>>(n,
                                                                                                                   f);
    cuda_kernels::check_launch("for_each_index kernel launch");
  }
};
}  // namespace detail

}  // namespace labor
