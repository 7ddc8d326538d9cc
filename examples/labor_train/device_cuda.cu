// labor_train on the GPU: the comparison instantiated for every model on labor::cuda (compiled by
// nvcc; builds without CUDA use device_cpu.cpp instead).

#include <cuda_runtime.h>

#include "comparison.hpp"

namespace labor_train {

std::string check_device(const std::string& device) {
  if (device == "cpu") return "";
  LABOR_CHECK(device == "cuda", "--device: expected cpu or cuda, got '{}'", device);
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    labor::fail("--device cuda: no CUDA device is available ({})", cudaGetErrorString(status));
  }
  LABOR_CHECK(count > 0, "--device cuda: no CUDA device is available (the driver reports 0 devices)");
  int current = 0;
  LABOR_CUDA_CHECK(cudaGetDevice(&current));
  cudaDeviceProp prop{};
  LABOR_CUDA_CHECK(cudaGetDeviceProperties(&prop, current));
  return prop.name;
}

RunOutput run_cuda(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals) {
  if (cfg.model == "small") return run_small_on<labor::cuda>(cfg, std::move(data), out, progress, visuals);
  return run_resnet_on<labor::cuda>(cfg, std::move(data), out, progress, visuals);
}

}  // namespace labor_train
