#pragma once
// CUDA-event timing for the GPU benchmarks (Google Benchmark manual time).

#include <labor/backend/cuda/error.cuh>

namespace labor::bench {

/// Times GPU work between start() and stop_seconds() with CUDA events recorded on `stream` (default:
/// the legacy default stream, which is ordered with labor's blocking stream).
class CudaTimer {
 public:
  explicit CudaTimer(cudaStream_t stream = nullptr) : stream_(stream) {
    LABOR_CUDA_CHECK(cudaEventCreate(&start_));
    LABOR_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~CudaTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  void start() { LABOR_CUDA_CHECK(cudaEventRecord(start_, stream_)); }
  double stop_seconds() {
    LABOR_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    LABOR_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    LABOR_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms * 1e-3;
  }

 private:
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_{}, stop_{};
};

}  // namespace labor::bench
