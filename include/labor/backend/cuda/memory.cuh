#pragma once
/// @file memory.cuh
/// GPU memory for Tensor<T, labor::cuda>: stream-ordered allocation from the device's memory pool,
/// fills, and host<->device copies, all on labor's stream (context.cuh).

#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>

#include <cuda_runtime.h>

#include "labor/backend/cuda/context.cuh"
#include "labor/backend/cuda/error.cuh"
#include "labor/core/device.hpp"
#include "labor/core/memory.hpp"

namespace labor {

namespace cuda_kernels {

/// The current device's default memory pool, set on first use to keep freed memory for reuse
/// (release threshold: everything), so a training step's allocations after the first cost no
/// cudaMalloc and no device synchronisation.
inline cudaMemPool_t memory_pool() {
  int device = 0;
  LABOR_CUDA_CHECK(cudaGetDevice(&device));
  cudaMemPool_t pool = nullptr;
  LABOR_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  static std::once_flag once;
  std::call_once(once, [pool] {
    std::uint64_t keep = std::numeric_limits<std::uint64_t>::max();
    LABOR_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  });
  return pool;
}

inline std::uint64_t pool_attribute(cudaMemPoolAttr attr) {
  std::uint64_t v = 0;
  LABOR_CUDA_CHECK(cudaMemPoolGetAttribute(memory_pool(), attr, &v));
  return v;
}

}  // namespace cuda_kernels

/// Device allocations through cudaMallocAsync on labor's stream: the driver's pool caches freed
/// blocks and orders their reuse on the stream, so freeing a tensor whose kernels are still queued
/// is safe. Fills and device copies are queued on the stream; copies to the host wait for it.
template <>
struct DeviceMemory<cuda> {
  /// Allocates `bytes` on the current device (nullptr for 0). Throws labor::Error when there is no
  /// device or the device is out of memory.
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    cuda_kernels::require_device("allocating device memory");
    (void)cuda_kernels::memory_pool();
    void* p = nullptr;
    cudaError_t status = cudaMallocAsync(&p, bytes, cuda_stream());
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      // Memory freed on the stream but not yet returned may satisfy a retry.
      (void)cudaStreamSynchronize(cuda_stream());
      status = cudaMallocAsync(&p, bytes, cuda_stream());
      if (status == cudaSuccess) return p;
      (void)cudaGetLastError();
      // The status is named: an earlier kernel's fault (a sticky error) also fails the allocation.
      std::size_t free_bytes = 0, total_bytes = 0;
      (void)cudaMemGetInfo(&free_bytes, &total_bytes);
      (void)cudaGetLastError();
      fail("cuda: allocating {} bytes failed: {} ({}; {} bytes free of {}; {} bytes held by labor's pool)", bytes,
           cudaGetErrorString(status), cudaGetErrorName(status), free_bytes, total_bytes,
           cuda_kernels::pool_attribute(cudaMemPoolAttrReservedMemCurrent));
    }
    return p;
  }
  static void deallocate(void* p) noexcept {
    if (p != nullptr) (void)cudaFreeAsync(p, cuda_stream());
  }
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes) LABOR_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream()));
  }
  static void zero(void* dst, std::size_t bytes) { fill_bytes(dst, 0, bytes); }
  static void fill_bytes(void* dst, unsigned char value, std::size_t bytes) {
    if (bytes) LABOR_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, cuda_stream()));
  }

  /// The pool keeps at most `bytes` of freed memory after a synchronisation (0: returns it all).
  static void set_cache_limit(std::size_t bytes) {
    std::uint64_t keep = bytes;
    LABOR_CUDA_CHECK(cudaMemPoolSetAttribute(cuda_kernels::memory_pool(), cudaMemPoolAttrReleaseThreshold, &keep));
  }
  /// Waits for labor's stream and returns the pool's unused memory to the device.
  static void release_cache() {
    LABOR_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
    LABOR_CUDA_CHECK(cudaMemPoolTrimTo(cuda_kernels::memory_pool(), 0));
  }
  /// Bytes the pool holds beyond those in use.
  static std::size_t cached_bytes() {
    return cuda_kernels::pool_attribute(cudaMemPoolAttrReservedMemCurrent) -
           cuda_kernels::pool_attribute(cudaMemPoolAttrUsedMemCurrent);
  }
};

template <>
struct CrossDeviceCopy<cpu, cuda> {
  static void copy(void* dst, const void* src, std::size_t bytes) {
    // From pageable memory the call returns once the source has been staged.
    if (bytes) LABOR_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_stream()));
  }
};

template <>
struct CrossDeviceCopy<cuda, cpu> {
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (!bytes) return;
    LABOR_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_stream()));
    LABOR_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
  }
};

}  // namespace labor
