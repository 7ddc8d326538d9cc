// labor_train's comparison instantiated for the small CPU backbone (its own translation unit, so
// the model families compile in parallel).

#include "comparison.hpp"

namespace labor_train {

RunOutput run_small(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals) {
  using Backbone = labor::models::SmallBackbone<float>;
  return run_comparison<Backbone>(
      cfg, std::move(data), [o = cfg.backbone](labor::Rng& rng) { return Backbone(o, rng); }, out, progress,
      visuals);
}

}  // namespace labor_train
