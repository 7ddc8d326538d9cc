// labor_train without CUDA (nvcc was not found when the build was configured): --device cuda is
// refused by check_device (device_check_cpu.cpp) before run_cuda could be reached.

#include "experiment.hpp"

namespace labor_train {

RunOutput run_cuda(const Config&, Splits, const fs::path&, Progress&, std::int64_t) {
  labor::fail("--device cuda: this labor_train was built without CUDA");
}

}  // namespace labor_train
