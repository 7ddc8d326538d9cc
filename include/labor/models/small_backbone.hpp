#pragma once
/// @file small_backbone.hpp
/// A small residual backbone for CPU training: a strided stem and three basic-block stages.

#include <array>
#include <cstdint>
#include <string>

#include "labor/core/error.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/models/basic_block.hpp"
#include "labor/nn/activation.hpp"
#include "labor/nn/batch_norm2d.hpp"
#include "labor/nn/conv2d.hpp"

namespace labor::models {

/// Options of SmallBackbone; usable with designated initializers.
struct SmallBackboneOptions {
  /// Channels of the stem and of the three stages.
  std::array<std::int64_t, 4> channels = {16, 32, 64, 64};
  /// 4 or 8. Stride 4: stem /2, layer1 /2, layer2 and layer3 dilated 2 and 4; stride 8: layer2 /2,
  /// layer3 dilated 2 (DeepLab's way of keeping resolution).
  std::int64_t output_stride = 4;
  /// Frozen batch norm in every block and the stem.
  bool frozen_bn = false;
};

/// conv1 (3×3, stride 2) → bn1 → relu → layer1 → layer2 → layer3, each layer one BasicBlock.
/// Input N×3×H×W, output N×channels[3]×(H/s)×(W/s) (s = output_stride, rounded up per strided
/// layer). Satisfies Backbone. Parameter names "conv1.weight", "bn1.*", "layer1.conv1.weight", ...
template <class T, Device D = cpu>
class SmallBackbone {
 public:
  using value_type = T;
  using device_type = D;

  /// A backbone with Kaiming-normal convolutions drawn from `rng`.
  /// @throws labor::Error for an output stride other than 4 or 8 or non-positive channels.
  SmallBackbone(const SmallBackboneOptions& o, Rng& rng) : options_(o) {
    LABOR_CHECK(o.output_stride == 4 || o.output_stride == 8, "SmallBackbone: output_stride: expected 4 or 8, got {}",
                o.output_stride);
    for (auto c : o.channels) LABOR_CHECK(c > 0, "SmallBackbone: channels: expected > 0, got {}", c);
    const auto& c = o.channels;
    conv1_ = nn::Conv2d<T, D>(
        {.in_channels = 3, .out_channels = c[0], .kernel_size = 3, .stride = 2, .padding = 1, .bias = false});
    kaiming_normal_fan_out(conv1_, rng);
    bn1_ = nn::BatchNorm2d<T, D>({.num_features = c[0], .frozen = o.frozen_bn});
    const bool os8 = o.output_stride == 8;
    layer1_ = BasicBlock<T, D>({.in_channels = c[0], .out_channels = c[1], .stride = 2, .frozen_bn = o.frozen_bn}, rng);
    layer2_ = BasicBlock<T, D>({.in_channels = c[1],
                                .out_channels = c[2],
                                .stride = os8 ? 2 : 1,
                                .dilation = os8 ? 1 : 2,
                                .frozen_bn = o.frozen_bn},
                               rng);
    layer3_ = BasicBlock<T, D>(
        {.in_channels = c[2], .out_channels = c[3], .stride = 1, .dilation = os8 ? 2 : 4, .frozen_bn = o.frozen_bn},
        rng);
  }

  [[nodiscard]] const SmallBackboneOptions& options() const { return options_; }
  [[nodiscard]] std::int64_t out_channels() const { return options_.channels[3]; }
  [[nodiscard]] std::int64_t output_stride() const { return options_.output_stride; }

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    return layer3_.forward(layer2_.forward(layer1_.forward(relu_.forward(bn1_.forward(conv1_.forward(x))))));
  }

  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    return conv1_.backward(
        bn1_.backward(relu_.backward(layer1_.backward(layer2_.backward(layer3_.backward(grad_out))))));
  }

  void set_training(bool training) {
    bn1_.set_training(training);
    layer1_.set_training(training);
    layer2_.set_training(training);
    layer3_.set_training(training);
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    conv1_.visit(v, prefix + "conv1.");
    bn1_.visit(v, prefix + "bn1.");
    layer1_.visit(v, prefix + "layer1.");
    layer2_.visit(v, prefix + "layer2.");
    layer3_.visit(v, prefix + "layer3.");
  }

 private:
  SmallBackboneOptions options_;
  nn::Conv2d<T, D> conv1_{{.in_channels = 1, .out_channels = 1}};
  nn::BatchNorm2d<T, D> bn1_{{.num_features = 1}};
  nn::ReLU<T, D> relu_;
  BasicBlock<T, D> layer1_, layer2_, layer3_;
};

}  // namespace labor::models
