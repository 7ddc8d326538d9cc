#pragma once
/// @file basic_block.hpp
/// ResNet's basic residual block (two 3×3 convolutions) with torchvision's parameter names.

#include <cmath>
#include <cstdint>
#include <string>

#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/activation.hpp"
#include "labor/nn/batch_norm2d.hpp"
#include "labor/nn/conv2d.hpp"
#include "labor/nn/residual.hpp"

namespace labor::models {

/// Options of BasicBlock; usable with designated initializers.
struct BasicBlockOptions {
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  /// Stride of the first convolution (and of the projection shortcut).
  std::int64_t stride = 1;
  /// Dilation (= padding) of both 3×3 convolutions.
  std::int64_t dilation = 1;
  /// Frozen batch norm (DeepLab): running statistics only, affine parameters not trained.
  bool frozen_bn = false;
};

/// Kaiming-normal initialisation of a convolution weight for ReLU networks (torchvision's ResNet:
/// N(0, 2 / (out_channels·k·k)), fan-out mode).
template <class T, Device D>
void kaiming_normal_fan_out(nn::Conv2d<T, D>& conv, Rng& rng) {
  const auto& s = conv.weight().value.shape();
  const T stddev = std::sqrt(T(2) / static_cast<T>(s[0] * s[2] * s[3]));
  fill_normal(conv.weight().value.view(), rng, T(0), stddev);
}

/// y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), shortcut = identity, or a strided 1×1
/// convolution and batch norm ("downsample") when the stride or the channel count changes.
/// Input N×in×H×W, output N×out×⌈H/stride⌉×⌈W/stride⌉. Names: conv1, bn1, conv2, bn2,
/// downsample.0, downsample.1 (torchvision's).
template <class T, Device D = cpu>
class BasicBlock {
 public:
  using value_type = T;
  using device_type = D;
  /// Output channels per unit of width: a basic block outputs `out_channels` itself.
  static constexpr std::int64_t expansion = 1;

  BasicBlock() = default;
  /// A block with Kaiming-normal convolutions drawn from `rng`.
  /// @throws labor::Error for non-positive channels, stride or dilation.
  BasicBlock(const BasicBlockOptions& o, Rng& rng)
      : conv1_({.in_channels = o.in_channels,
                .out_channels = o.out_channels,
                .kernel_size = 3,
                .stride = o.stride,
                .padding = o.dilation,
                .dilation = o.dilation,
                .bias = false}),
        bn1_({.num_features = o.out_channels, .frozen = o.frozen_bn}),
        conv2_({.in_channels = o.out_channels,
                .out_channels = o.out_channels,
                .kernel_size = 3,
                .stride = 1,
                .padding = o.dilation,
                .dilation = o.dilation,
                .bias = false}),
        bn2_({.num_features = o.out_channels, .frozen = o.frozen_bn}),
        has_downsample_(o.stride != 1 || o.in_channels != o.out_channels) {
    kaiming_normal_fan_out(conv1_, rng);
    kaiming_normal_fan_out(conv2_, rng);
    if (has_downsample_) {
      down_conv_ = nn::Conv2d<T, D>({.in_channels = o.in_channels,
                                     .out_channels = o.out_channels,
                                     .kernel_size = 1,
                                     .stride = o.stride,
                                     .padding = 0,
                                     .dilation = 1,
                                     .bias = false});
      down_bn_ = nn::BatchNorm2d<T, D>({.num_features = o.out_channels, .frozen = o.frozen_bn});
      kaiming_normal_fan_out(down_conv_, rng);
    }
  }

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> y = bn2_.forward(conv2_.forward(relu1_.forward(bn1_.forward(conv1_.forward(x)))));
    if (has_downsample_)
      labor::add_inplace(y, down_bn_.forward(down_conv_.forward(x)));
    else
      labor::add_inplace(y, x);
    return relu2_.forward(y);
  }

  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    const Tensor<T, D> g = relu2_.backward(grad_out);
    Tensor<T, D> dx = conv1_.backward(bn1_.backward(relu1_.backward(conv2_.backward(bn2_.backward(g)))));
    if (has_downsample_)
      labor::add_inplace(dx, down_conv_.backward(down_bn_.backward(g)));
    else
      labor::add_inplace(dx, g);
    return dx;
  }

  void set_training(bool training) {
    bn1_.set_training(training);
    bn2_.set_training(training);
    if (has_downsample_) down_bn_.set_training(training);
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    conv1_.visit(v, prefix + "conv1.");
    bn1_.visit(v, prefix + "bn1.");
    conv2_.visit(v, prefix + "conv2.");
    bn2_.visit(v, prefix + "bn2.");
    if (has_downsample_) {
      down_conv_.visit(v, prefix + "downsample.0.");
      down_bn_.visit(v, prefix + "downsample.1.");
    }
  }

 private:
  nn::Conv2d<T, D> conv1_{{.in_channels = 1, .out_channels = 1}};
  nn::BatchNorm2d<T, D> bn1_{{.num_features = 1}};
  nn::ReLU<T, D> relu1_;
  nn::Conv2d<T, D> conv2_{{.in_channels = 1, .out_channels = 1}};
  nn::BatchNorm2d<T, D> bn2_{{.num_features = 1}};
  nn::ReLU<T, D> relu2_;
  bool has_downsample_ = false;
  nn::Conv2d<T, D> down_conv_{{.in_channels = 1, .out_channels = 1, .kernel_size = 1}};
  nn::BatchNorm2d<T, D> down_bn_{{.num_features = 1}};
};

}  // namespace labor::models
