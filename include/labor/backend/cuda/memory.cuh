#pragma once
/// @file memory.cuh
/// GPU memory for Tensor<T, labor::cuda>: allocation, fill, and host<->device copies.

#include <cstddef>

#include <cuda_runtime.h>

#include "labor/backend/cuda/error.cuh"
#include "labor/core/device.hpp"
#include "labor/core/memory.hpp"

namespace labor {

namespace cuda_detail {
/// cudaMalloc / cudaFree on the current device; nullptr when the device has no room (or none).
struct CudaRaw {
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    return p;
  }
  static void deallocate(void* p) noexcept { (void)cudaFree(p); }
};
}  // namespace cuda_detail

/// Device allocations through cudaMalloc, blocks of 1 MiB and more through a cache of freed blocks
/// (detail::BlockCache: cudaMalloc and cudaFree synchronise the device). A cached block is reused on
/// any stream: work that used it must be ordered before the next user (one stream, or an event).
/// Copies and fills are synchronous with respect to the host.
template <>
struct DeviceMemory<cuda> {
  using Cache = detail::BlockCache<cuda_detail::CudaRaw>;

  /// Allocates `bytes` on the current device (nullptr for 0). Throws labor::Error when there is no
  /// device or the device is out of memory.
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = Cache::instance().allocate(bytes);
    if (p == nullptr) {
      const int devices = cuda_detail::device_count();
      if (devices == 0) fail("cuda: cannot allocate {} bytes: no CUDA device is available", bytes);
      std::size_t free_bytes = 0, total_bytes = 0;
      (void)cudaMemGetInfo(&free_bytes, &total_bytes);
      (void)cudaGetLastError();
      fail("cuda: out of memory allocating {} bytes ({} bytes free of {})", bytes, free_bytes, total_bytes);
    }
    return p;
  }
  static void deallocate(void* p) noexcept { Cache::instance().deallocate(p); }
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes) LABOR_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
  }
  static void zero(void* dst, std::size_t bytes) {
    if (bytes) LABOR_CUDA_CHECK(cudaMemset(dst, 0, bytes));
  }
};

template <>
struct CrossDeviceCopy<cpu, cuda> {
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes) LABOR_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
  }
};

template <>
struct CrossDeviceCopy<cuda, cpu> {
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes) LABOR_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
  }
};

}  // namespace labor
