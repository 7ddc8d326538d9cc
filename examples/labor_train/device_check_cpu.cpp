// check_device for builds without CUDA (nvcc was not found when the build was configured):
// --device cuda is refused with a clear message. Shared by labor_train and labor.

#include "experiment.hpp"

namespace labor_train {

std::string check_device(const std::string& device) {
  LABOR_CHECK(device == "cpu" || device == "cuda", "--device: expected cpu or cuda, got '{}'", device);
  LABOR_CHECK(device == "cpu",
              "--device cuda: this program was built without CUDA (nvcc was not found when the build was "
              "configured; install the CUDA toolkit and configure again)");
  return "";
}

}  // namespace labor_train
