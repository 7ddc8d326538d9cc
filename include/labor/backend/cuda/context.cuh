#pragma once
/// @file context.cuh
/// The stream every labor kernel, copy and cuBLAS call runs on, and the cuBLAS handle bound to it.
///
/// labor orders all its GPU work on one stream per process (`labor::cuda_stream()`): kernels,
/// stream-ordered allocations (memory.cuh), device-to-device copies and cuBLAS. Work is queued
/// without waiting; the host waits only where it reads a result (a copy to the host, a loss value).
/// The stream is created blocking, so it is also ordered with work a caller queues on the legacy
/// default stream. Programs that run their own streams can hand labor one with set_cuda_stream.

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <mutex>

#include "labor/backend/cuda/error.cuh"
#include "labor/core/error.hpp"

namespace labor {

namespace cuda_kernels {

/// cuBLAS status names (the library has no string function before 11.4 of its own API).
inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    default:
      return "CUBLAS_STATUS_UNKNOWN";
  }
}

/// Throws labor::Error naming `what` and the cuBLAS status when `status` is not success.
inline void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) fail("cublas: {}: {}", what, cublas_status_name(status));
}

/// Throws labor::Error when the process sees no CUDA device; `what` names the caller.
inline void require_device(const char* what) {
  if (device_count() == 0) fail("cuda: {}: no CUDA device is available", what);
}

/// The process-wide stream and cuBLAS handle (created on first use, never destroyed: tensors with
/// static lifetime may still free memory on the stream at exit).
struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;

  static Context& instance() {
    static Context* ctx = [] {
      require_device("creating labor's stream");
      auto* c = new Context;
      LABOR_CUDA_CHECK(cudaStreamCreate(&c->stream));
      return c;
    }();
    return *ctx;
  }

  cublasHandle_t blas() {
    std::call_once(blas_once_, [this] {
      check_cublas(cublasCreate(&cublas), "cublasCreate");
      check_cublas(cublasSetStream(cublas, stream), "cublasSetStream");
    });
    return cublas;
  }

 private:
  std::once_flag blas_once_;
};

}  // namespace cuda_kernels

/// The stream labor's GPU work is queued on.
inline cudaStream_t cuda_stream() {
  return cuda_kernels::Context::instance().stream;
}

/// Makes labor queue its GPU work on `stream` from now on (the caller keeps it alive). Work already
/// queued on the previous stream is waited for first.
inline void set_cuda_stream(cudaStream_t stream) {
  auto& ctx = cuda_kernels::Context::instance();
  LABOR_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  ctx.stream = stream;
  cuda_kernels::check_cublas(cublasSetStream(ctx.blas(), stream), "cublasSetStream");
}

/// Waits until every piece of work labor queued is done; throws labor::Error for a failed kernel.
inline void cuda_synchronize() {
  LABOR_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
}

/// The cuBLAS handle labor uses, bound to cuda_stream().
inline cublasHandle_t cublas_handle() {
  return cuda_kernels::Context::instance().blas();
}

}  // namespace labor
