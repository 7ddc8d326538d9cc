// labor_train's comparison instantiated for the DeepLab-v2 ResNet presets (its own translation unit,
// so the model families compile in parallel).

#include <type_traits>

#include "comparison.hpp"

namespace labor_train {

RunOutput run_resnet(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals) {
  auto options = labor::models::deeplabv2_options(resnet_depth(cfg.model));
  // DeepLab-v2 freezes batch norm at the statistics of its pretrained weights; a network trained
  // from scratch has no statistics to freeze, so there it is trained.
  options.frozen_bn = !cfg.weights.empty();
  const auto make = [options]<class B>(std::type_identity<B>) {
    return [options](labor::Rng& rng) { return B(options, rng); };
  };
  using Basic = labor::models::BasicResNet<float>;
  using Bottleneck = labor::models::BottleneckResNet<float>;
  if (labor::models::resnet_uses_bottleneck(options.depth))
    return run_comparison<Bottleneck>(cfg, std::move(data), make(std::type_identity<Bottleneck>{}), out, progress,
                                      visuals);
  return run_comparison<Basic>(cfg, std::move(data), make(std::type_identity<Basic>{}), out, progress, visuals);
}

}  // namespace labor_train
