// labor_train on the GPU: the comparison instantiated for every model on labor::cuda (compiled by
// nvcc; builds without CUDA use device_cpu.cpp instead).

#include "comparison.hpp"

namespace labor_train {

RunOutput run_cuda(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals) {
  if (cfg.model == "small") return run_small_on<labor::cuda>(cfg, std::move(data), out, progress, visuals);
  return run_resnet_on<labor::cuda>(cfg, std::move(data), out, progress, visuals);
}

}  // namespace labor_train
