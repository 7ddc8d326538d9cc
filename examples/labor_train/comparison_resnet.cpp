// labor_train's comparison instantiated for the DeepLab-v2 ResNet presets (its own translation unit,
// so the model families compile in parallel).

#include <labor/io/weights.hpp>

#include "comparison.hpp"

namespace labor_train {

namespace {

template <class B>
RunOutput run_with(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals) {
  const auto options = labor::models::deeplabv2_options(resnet_depth(cfg.model));
  Comparison<B> c(
      cfg, std::move(data),
      [options, weights = cfg.weights](labor::Rng& rng) {
        B backbone(options, rng);
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

}  // namespace

RunOutput run_resnet(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals) {
  if (labor::models::resnet_uses_bottleneck(resnet_depth(cfg.model)))
    return run_with<labor::models::BottleneckResNet<float>>(cfg, std::move(data), out, progress, visuals);
  return run_with<labor::models::BasicResNet<float>>(cfg, std::move(data), out, progress, visuals);
}

}  // namespace labor_train
