// check_device for builds with CUDA: --device cuda needs a visible GPU. Shared by labor_train and labor.

#include <cuda_runtime.h>

#include "experiment.hpp"

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

}  // namespace labor_train
