#pragma once
/// @file memory.cuh
/// GPU memory for Tensor<T, labor::cuda>: allocation, fill, and host<->device copies.

#include <cstddef>

#include <cuda_runtime.h>

#include "labor/backend/cuda/error.cuh"
#include "labor/core/device.hpp"
#include "labor/core/memory.hpp"

namespace labor {

/// Device allocations through cudaMalloc; copies and fills are synchronous with respect to the host.
template <>
struct DeviceMemory<cuda> {
  /// Allocates `bytes` on the current device (nullptr for 0). Throws labor::Error when there is no
  /// device or the device is out of memory.
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, bytes);
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      fail("cuda: cannot allocate {} bytes: {} ({})", bytes, cudaGetErrorString(status), cudaGetErrorName(status));
    }
    return p;
  }
  static void deallocate(void* p) noexcept {
    if (p) (void)cudaFree(p);
  }
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
