// labor_train without CUDA (nvcc was not found when the build was configured): --device cuda is
// refused with a clear message.

#include "experiment.hpp"

namespace labor_train {

std::string check_device(const std::string& device) {
  LABOR_CHECK(device == "cpu" || device == "cuda", "--device: expected cpu or cuda, got '{}'", device);
  LABOR_CHECK(device == "cpu",
              "--device cuda: this labor_train was built without CUDA (nvcc was not found when the build was "
              "configured; install the CUDA toolkit and configure again)");
  return "";
}

RunOutput run_cuda(const Config&, Splits, const fs::path&, Progress&, std::int64_t) {
  labor::fail("--device cuda: this labor_train was built without CUDA");
}

}  // namespace labor_train
