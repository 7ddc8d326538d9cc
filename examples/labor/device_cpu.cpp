// labor without CUDA: --device cuda is refused by check_device before run_command_cuda is reached.

#include "workflow.hpp"

namespace labor_cli {

int run_command_cuda(const std::string&, const Common&, const Args&) {
  labor::fail("--device cuda: this labor was built without CUDA");
}

}  // namespace labor_cli
