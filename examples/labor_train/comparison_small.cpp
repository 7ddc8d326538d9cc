// labor_train's comparison instantiated for the small backbone on the CPU (its own translation
// unit, so the model families compile in parallel).

#include "comparison.hpp"

namespace labor_train {

RunOutput run_small(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals) {
  return run_small_on<labor::cpu>(cfg, std::move(data), out, progress, visuals);
}

}  // namespace labor_train
