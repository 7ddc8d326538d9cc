// labor_train's comparison instantiated for the small CPU backbone (its own translation unit, so
// the model families compile in parallel).

#include <labor/io/weights.hpp>

#include "comparison.hpp"

namespace labor_train {

RunOutput run_small(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals) {
  using Backbone = labor::models::SmallBackbone<float>;
  Comparison<Backbone> c(
      cfg, std::move(data),
      [o = cfg.backbone, weights = cfg.weights](labor::Rng& rng) {
        Backbone backbone(o, rng);
        if (!weights.empty()) labor::io::load_weights(backbone, weights);
        return backbone;
      },
      out, progress, visuals);
  RunOutput r;
  r.rows = c.run();
  r.config = c.config_json();
  r.timing = c.timing();
  return r;
}

}  // namespace labor_train
