#pragma once
/// @file resnet.hpp
/// ResNet backbones (18, 34, 50, 101) with torchvision's parameter names, in torchvision's layout
/// (output stride 32 or 8) and in DeepLab-v2's.
///
/// Names are exactly torchvision's `resnetNN().state_dict()` keys without the classifier:
/// "conv1.weight", "bn1.{weight,bias,running_mean,running_var}", "layer<L>.<b>.conv<k>.weight",
/// "layer<L>.<b>.bn<k>.*", "layer<L>.0.downsample.0.weight", "layer<L>.0.downsample.1.*"
/// (torchvision's "fc.*" and "*.num_batches_tracked" have no counterpart; io::load_weights skips
/// them by default). DeepLab-v2's layout changes strides and dilations, not names, so a
/// torchvision checkpoint loads into it as well.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/models/basic_block.hpp"
#include "labor/models/bottleneck.hpp"
#include "labor/nn/activation.hpp"
#include "labor/nn/batch_norm2d.hpp"
#include "labor/nn/conv2d.hpp"
#include "labor/nn/max_pool2d.hpp"
#include "labor/nn/residual.hpp"

namespace labor::models {

/// Where a ResNet keeps resolution and how its blocks are built.
enum class ResNetLayout {
  /// torchvision: layer2..4 stride 2, output stride 32, stride on the 3×3 convolution, floor-mode
  /// max pooling, trainable batch norm.
  torchvision,
  /// torchvision with `replace_stride_with_dilation=[False, True, True]`: layer3 and layer4 have
  /// stride 1 and dilation 2 and 4, except their first block, which keeps the previous dilation
  /// (1 and 2); output stride 8. (torchvision refuses dilation in basic blocks; labor's ResNet-18/34
  /// dilate both 3×3 convolutions of a block.)
  torchvision_os8,
  /// DeepLab-v2 (Caffe ResNet): stride on the first 1×1 convolution of a bottleneck, layer3 and
  /// layer4 with stride 1 and dilation 2 and 4 on every block including the first, output stride
  /// 8, ceil-mode max pooling, frozen batch norm (set frozen_bn = false to train it).
  deeplabv2,
};

/// Options of ResNet; usable with designated initializers, usually made by resnet_options().
struct ResNetOptions {
  /// 18, 34 (basic blocks), 50, 101 (bottlenecks), or 0 for a custom `blocks` list of either kind.
  std::int64_t depth = 0;
  /// Blocks in layer1..layer4.
  std::array<std::int64_t, 4> blocks = {2, 2, 2, 2};
  /// Image channels.
  std::int64_t in_channels = 3;
  /// Channels of the stem and width of layer1; layer L has width base·2^(L−1) (torchvision: 64).
  /// Other values only for small test networks: the names stay, the shapes change.
  std::int64_t base_channels = 64;
  /// Stride of the first block of each layer.
  std::array<std::int64_t, 4> strides = {1, 2, 2, 2};
  /// Dilation of the first block of each layer.
  std::array<std::int64_t, 4> first_dilations = {1, 1, 1, 1};
  /// Dilation of the other blocks of each layer.
  std::array<std::int64_t, 4> dilations = {1, 1, 1, 1};
  /// Bottlenecks stride on their first 1×1 convolution (DeepLab-v2) instead of the 3×3 one.
  bool stride_in_1x1 = false;
  /// ceil_mode of the stem's 3×3/2 max pooling (DeepLab-v2: true).
  bool ceil_mode = false;
  /// Frozen batch norm everywhere (running statistics only, affine parameters not trained).
  bool frozen_bn = false;
};

/// Blocks per layer of a standard depth: 18 → 2,2,2,2; 34 → 3,4,6,3; 50 → 3,4,6,3 (bottlenecks);
/// 101 → 3,4,23,3 (bottlenecks). @throws labor::Error for any other depth.
inline std::array<std::int64_t, 4> resnet_blocks(std::int64_t depth) {
  switch (depth) {
    case 18:
      return {2, 2, 2, 2};
    case 34:
    case 50:
      return {3, 4, 6, 3};
    case 101:
      return {3, 4, 23, 3};
    default:
      fail("resnet: depth: expected 18, 34, 50 or 101, got {}", depth);
  }
}

/// Whether a standard depth uses bottleneck blocks (50, 101) rather than basic ones (18, 34).
/// @throws labor::Error for a depth other than 18, 34, 50, 101.
inline bool resnet_uses_bottleneck(std::int64_t depth) {
  (void)resnet_blocks(depth);
  return depth >= 50;
}

/// The options of a standard ResNet of `depth` ∈ {18, 34, 50, 101} in `layout` (see ResNetLayout).
/// @throws labor::Error for another depth.
inline ResNetOptions resnet_options(std::int64_t depth, ResNetLayout layout = ResNetLayout::torchvision) {
  ResNetOptions o{.depth = depth, .blocks = resnet_blocks(depth)};
  switch (layout) {
    case ResNetLayout::torchvision:
      break;
    case ResNetLayout::torchvision_os8:
      o.strides = {1, 2, 1, 1};
      o.first_dilations = {1, 1, 1, 2};
      o.dilations = {1, 1, 2, 4};
      break;
    case ResNetLayout::deeplabv2:
      o.strides = {1, 2, 1, 1};
      o.first_dilations = {1, 1, 2, 4};
      o.dilations = {1, 1, 2, 4};
      o.stride_in_1x1 = true;
      o.ceil_mode = true;
      o.frozen_bn = true;
      break;
  }
  return o;
}

/// DeepLab-v2's backbone options: resnet_options(depth, ResNetLayout::deeplabv2) (depth 101 in the paper).
inline ResNetOptions deeplabv2_options(std::int64_t depth = 101) {
  return resnet_options(depth, ResNetLayout::deeplabv2);
}

/// A ResNet over residual blocks of type `Block` (BasicBlock<T, D> or Bottleneck<T, D>, or any block
/// with the same constructor options and a static `expansion`):
/// conv1 (7×7/2, pad 3) → bn1 → relu → maxpool (3×3/2, pad 1) → layer1 → layer2 → layer3 → layer4.
/// Input N×in_channels×H×W, output N×out_channels()×h×w with h ≈ H/output_stride() (each strided
/// step rounds as its convolution or pooling does). Satisfies Backbone.
///
/// Multi-level training: forward keeps layer3's output (layer3_features()), and
/// backward(grad_out, grad_layer3) adds the gradient of an auxiliary head on it.
template <class Block>
class ResNet {
 public:
  using value_type = typename Block::value_type;
  using device_type = typename Block::device_type;
  using TensorT = Tensor<value_type, device_type>;

  /// A network with Kaiming-normal (fan-out) convolutions drawn from `rng`, batch norm weight 1 and
  /// bias 0, as torchvision initialises it.
  /// @throws labor::Error for a depth other than 0, 18, 34, 50, 101, a depth whose block kind is not
  ///         `Block`, or non-positive block counts, channels, strides or dilations.
  ResNet(const ResNetOptions& o, Rng& rng) : options_(o) {
    LABOR_CHECK(o.depth == 0 || o.depth == 18 || o.depth == 34 || o.depth == 50 || o.depth == 101,
                "ResNet: depth: expected 18, 34, 50, 101 (or 0 for custom blocks), got {}", o.depth);
    if (o.depth != 0)
      LABOR_CHECK(resnet_uses_bottleneck(o.depth) == (Block::expansion != 1),
                  "ResNet: depth {} uses {} blocks, got a ResNet over blocks of expansion {}", o.depth,
                  resnet_uses_bottleneck(o.depth) ? "bottleneck" : "basic", Block::expansion);
    LABOR_CHECK(o.base_channels > 0, "ResNet: base_channels: expected > 0, got {}", o.base_channels);
    for (int l = 0; l < 4; ++l) {
      LABOR_CHECK(o.blocks[l] > 0, "ResNet: blocks of layer{}: expected > 0, got {}", l + 1, o.blocks[l]);
      LABOR_CHECK(o.strides[l] > 0 && o.dilations[l] > 0 && o.first_dilations[l] > 0,
                  "ResNet: layer{}: expected positive stride and dilations, got stride {}, dilations {} and {}", l + 1,
                  o.strides[l], o.first_dilations[l], o.dilations[l]);
    }
    conv1_ = nn::Conv2d<value_type, device_type>({.in_channels = o.in_channels,
                                                  .out_channels = o.base_channels,
                                                  .kernel_size = 7,
                                                  .stride = 2,
                                                  .padding = 3,
                                                  .bias = false});
    kaiming_normal_fan_out(conv1_, rng);
    bn1_ = nn::BatchNorm2d<value_type, device_type>({.num_features = o.base_channels, .frozen = o.frozen_bn});
    maxpool_ =
        nn::MaxPool2d<value_type, device_type>({.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = o.ceil_mode});
    std::int64_t in = o.base_channels;
    for (int l = 0; l < 4; ++l) {
      const std::int64_t planes = o.base_channels << l;
      for (std::int64_t b = 0; b < o.blocks[l]; ++b) {
        const bool first = b == 0;
        layers_[l].push_back(
            make_block(in, planes, first ? o.strides[l] : 1, first ? o.first_dilations[l] : o.dilations[l], rng));
        in = planes * Block::expansion;
      }
    }
  }

  [[nodiscard]] const ResNetOptions& options() const { return options_; }
  /// Channels of the output: 8·base_channels·expansion (512 for 18/34, 2048 for 50/101).
  [[nodiscard]] std::int64_t out_channels() const { return 8 * options_.base_channels * Block::expansion; }
  /// Channels of layer3's output: 4·base_channels·expansion (256 or 1024).
  [[nodiscard]] std::int64_t layer3_channels() const { return 4 * options_.base_channels * Block::expansion; }
  /// 4 · the product of the layers' strides (32 for torchvision, 8 for the dilated layouts).
  [[nodiscard]] std::int64_t output_stride() const {
    std::int64_t s = 4;
    for (auto v : options_.strides) s *= v;
    return s;
  }
  /// Output stride of layer3's features.
  [[nodiscard]] std::int64_t layer3_output_stride() const { return output_stride() / options_.strides[3]; }

  /// Layer3's output of the last forward (N×layer3_channels()×…); empty before the first forward.
  [[nodiscard]] const TensorT& layer3_features() const { return layer3_out_; }

  TensorT forward(const TensorT& x) {
    TensorT y = maxpool_.forward(relu_.forward(bn1_.forward(conv1_.forward(x))));
    for (int l = 0; l < 3; ++l)
      for (auto& block : layers_[l]) y = block.forward(y);
    layer3_out_ = y;
    for (auto& block : layers_[3]) y = block.forward(y);
    return y;
  }

  /// dLoss/d(output) → dLoss/dx; accumulates every trainable parameter's gradient.
  TensorT backward(const TensorT& grad_out) { return backward(grad_out, TensorT{}); }

  /// As backward(grad_out), with `grad_layer3` = dLoss/d(layer3_features()) of a second loss on
  /// layer3 added where layer3's output enters layer4. An empty `grad_layer3` adds nothing.
  /// @throws labor::Error when grad_layer3 is non-empty and its shape is not layer3's output shape.
  TensorT backward(const TensorT& grad_out, const TensorT& grad_layer3) {
    TensorT g = backward_layer(3, grad_out);
    if (!grad_layer3.empty()) {
      LABOR_CHECK(grad_layer3.shape() == layer3_out_.shape(),
                  "ResNet: backward: grad_layer3 shape: expected {} (layer3's output), got {}", layer3_out_.shape(),
                  grad_layer3.shape());
      labor::add_inplace(g, grad_layer3);
    }
    for (int l = 2; l >= 0; --l) g = backward_layer(l, g);
    return conv1_.backward(bn1_.backward(relu_.backward(maxpool_.backward(g))));
  }

  void set_training(bool training) {
    bn1_.set_training(training);
    for (auto& layer : layers_)
      for (auto& block : layer) block.set_training(training);
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    conv1_.visit(v, prefix + "conv1.");
    bn1_.visit(v, prefix + "bn1.");
    for (int l = 0; l < 4; ++l)
      for (std::size_t b = 0; b < layers_[l].size(); ++b)
        layers_[l][b].visit(v, prefix + "layer" + std::to_string(l + 1) + "." + std::to_string(b) + ".");
  }

 private:
  Block make_block(std::int64_t in, std::int64_t planes, std::int64_t stride, std::int64_t dilation, Rng& rng) const {
    if constexpr (Block::expansion == 1) {
      return Block({.in_channels = in,
                    .out_channels = planes,
                    .stride = stride,
                    .dilation = dilation,
                    .frozen_bn = options_.frozen_bn},
                   rng);
    } else {
      return Block({.in_channels = in,
                    .planes = planes,
                    .stride = stride,
                    .dilation = dilation,
                    .stride_in_1x1 = options_.stride_in_1x1,
                    .frozen_bn = options_.frozen_bn},
                   rng);
    }
  }

  TensorT backward_layer(int l, TensorT g) {
    for (auto it = layers_[l].rbegin(); it != layers_[l].rend(); ++it) g = it->backward(g);
    return g;
  }

  ResNetOptions options_;
  nn::Conv2d<value_type, device_type> conv1_{{.in_channels = 1, .out_channels = 1}};
  nn::BatchNorm2d<value_type, device_type> bn1_{{.num_features = 1}};
  nn::ReLU<value_type, device_type> relu_;
  nn::MaxPool2d<value_type, device_type> maxpool_{{.kernel_size = 3, .stride = 2, .padding = 1}};
  std::array<std::vector<Block>, 4> layers_;
  TensorT layer3_out_;
};

/// ResNet-18/34 (basic blocks).
template <class T, Device D = cpu>
using BasicResNet = ResNet<BasicBlock<T, D>>;

/// ResNet-50/101 (bottleneck blocks), torchvision's or DeepLab-v2's.
template <class T, Device D = cpu>
using BottleneckResNet = ResNet<Bottleneck<T, D>>;

}  // namespace labor::models
