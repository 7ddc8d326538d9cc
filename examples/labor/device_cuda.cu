// labor's commands with the networks on the GPU (compiled by nvcc; builds without CUDA use
// device_cpu.cpp instead).

#include "workflow.hpp"

namespace labor_cli {

int run_command_cuda(const std::string& name, const Common& common, const Args& args) {
  return run_command<labor::cuda>(name, common, args);
}

}  // namespace labor_cli
