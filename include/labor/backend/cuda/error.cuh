#pragma once
/// @file error.cuh
/// CUDA status checks that turn failures into labor::Error with the CUDA error string.

#include <cuda_runtime.h>

#include "labor/core/error.hpp"

namespace labor::cuda_kernels {

/// Throws labor::Error naming `what` and the CUDA error when `status` is not cudaSuccess.
inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear a sticky non-fatal error so later calls report their own
    fail("cuda: {}: {} ({})", what, cudaGetErrorString(status), cudaGetErrorName(status));
  }
}

/// Number of CUDA devices visible to this process (0 when there is no driver or device).
inline int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

}  // namespace labor::cuda_kernels

/// Evaluates a CUDA runtime call and throws labor::Error if it fails.
#define LABOR_CUDA_CHECK(call) ::labor::cuda_kernels::check((call), #call)
