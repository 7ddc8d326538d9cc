#pragma once
/// @file bottleneck.hpp
/// ResNet's bottleneck residual block (1×1 → 3×3 → 1×1 convolutions, expansion 4) with
/// torchvision's parameter names, in torchvision's and in DeepLab-v2's (Caffe's) stride placement.

#include <cstdint>
#include <string>

#include "labor/core/error.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/models/basic_block.hpp"
#include "labor/nn/activation.hpp"
#include "labor/nn/batch_norm2d.hpp"
#include "labor/nn/conv2d.hpp"
#include "labor/nn/residual.hpp"

namespace labor::models {

/// Options of Bottleneck; usable with designated initializers.
struct BottleneckOptions {
  std::int64_t in_channels = 0;
  /// Width of the inner 1×1 and 3×3 convolutions; the block outputs 4·planes channels.
  std::int64_t planes = 0;
  /// Stride of the block (of the 3×3 convolution, or of the first 1×1 one with stride_in_1x1, and
  /// of the projection shortcut).
  std::int64_t stride = 1;
  /// Dilation (= padding) of the 3×3 convolution.
  std::int64_t dilation = 1;
  /// Stride on the first 1×1 convolution instead of the 3×3 one (DeepLab-v2 / Caffe ResNet;
  /// torchvision's "ResNet v1.5" puts it on the 3×3).
  bool stride_in_1x1 = false;
  /// Frozen batch norm (DeepLab): running statistics only, affine parameters not trained.
  bool frozen_bn = false;
};

/// y = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x)): conv1 1×1
/// in→planes, conv2 3×3 planes→planes (dilation = padding), conv3 1×1 planes→4·planes, all
/// without bias. The shortcut is the identity, or a strided 1×1 convolution and batch norm
/// ("downsample") when stride ≠ 1 or in_channels ≠ 4·planes.
/// Input N×in×H×W, output N×4·planes×⌈H/stride⌉×⌈W/stride⌉. Names: conv1, bn1, conv2, bn2, conv3,
/// bn3, downsample.0, downsample.1 (torchvision's).
template <class T, Device D = cpu>
class Bottleneck {
 public:
  using value_type = T;
  using device_type = D;
  /// Output channels per unit of `planes`.
  static constexpr std::int64_t expansion = 4;

  Bottleneck() = default;
  /// A block with Kaiming-normal (fan-out) convolutions drawn from `rng`, batch norm weight 1 and bias 0.
  /// @throws labor::Error for non-positive channels, stride or dilation.
  Bottleneck(const BottleneckOptions& o, Rng& rng)
      : conv1_({.in_channels = o.in_channels,
                .out_channels = o.planes,
                .kernel_size = 1,
                .stride = o.stride_in_1x1 ? o.stride : 1,
                .padding = 0,
                .bias = false}),
        bn1_({.num_features = o.planes, .frozen = o.frozen_bn}),
        conv2_({.in_channels = o.planes,
                .out_channels = o.planes,
                .kernel_size = 3,
                .stride = o.stride_in_1x1 ? 1 : o.stride,
                .padding = o.dilation,
                .dilation = o.dilation,
                .bias = false}),
        bn2_({.num_features = o.planes, .frozen = o.frozen_bn}),
        conv3_({.in_channels = o.planes, .out_channels = expansion * o.planes, .kernel_size = 1, .bias = false}),
        bn3_({.num_features = expansion * o.planes, .frozen = o.frozen_bn}),
        has_downsample_(o.stride != 1 || o.in_channels != expansion * o.planes) {
    LABOR_CHECK(o.stride > 0, "Bottleneck: stride: expected > 0, got {}", o.stride);
    LABOR_CHECK(o.dilation > 0, "Bottleneck: dilation: expected > 0, got {}", o.dilation);
    kaiming_normal_fan_out(conv1_, rng);
    kaiming_normal_fan_out(conv2_, rng);
    kaiming_normal_fan_out(conv3_, rng);
    if (has_downsample_) {
      down_conv_ = nn::Conv2d<T, D>({.in_channels = o.in_channels,
                                     .out_channels = expansion * o.planes,
                                     .kernel_size = 1,
                                     .stride = o.stride,
                                     .padding = 0,
                                     .bias = false});
      down_bn_ = nn::BatchNorm2d<T, D>({.num_features = expansion * o.planes, .frozen = o.frozen_bn});
      kaiming_normal_fan_out(down_conv_, rng);
    }
  }

  /// Whether the shortcut is a projection (downsample.0/1) rather than the identity.
  [[nodiscard]] bool has_downsample() const { return has_downsample_; }

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> y = relu1_.forward(bn1_.forward(conv1_.forward(x)));
    y = bn3_.forward(conv3_.forward(relu2_.forward(bn2_.forward(conv2_.forward(y)))));
    if (has_downsample_)
      labor::add_inplace(y, down_bn_.forward(down_conv_.forward(x)));
    else
      labor::add_inplace(y, x);
    return relu3_.forward(y);
  }

  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    const Tensor<T, D> g = relu3_.backward(grad_out);
    Tensor<T, D> dx = bn2_.backward(relu2_.backward(conv3_.backward(bn3_.backward(g))));
    dx = conv1_.backward(bn1_.backward(relu1_.backward(conv2_.backward(dx))));
    if (has_downsample_)
      labor::add_inplace(dx, down_conv_.backward(down_bn_.backward(g)));
    else
      labor::add_inplace(dx, g);
    return dx;
  }

  void set_training(bool training) {
    bn1_.set_training(training);
    bn2_.set_training(training);
    bn3_.set_training(training);
    if (has_downsample_) down_bn_.set_training(training);
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    conv1_.visit(v, prefix + "conv1.");
    bn1_.visit(v, prefix + "bn1.");
    conv2_.visit(v, prefix + "conv2.");
    bn2_.visit(v, prefix + "bn2.");
    conv3_.visit(v, prefix + "conv3.");
    bn3_.visit(v, prefix + "bn3.");
    if (has_downsample_) {
      down_conv_.visit(v, prefix + "downsample.0.");
      down_bn_.visit(v, prefix + "downsample.1.");
    }
  }

 private:
  nn::Conv2d<T, D> conv1_{{.in_channels = 1, .out_channels = 1, .kernel_size = 1}};
  nn::BatchNorm2d<T, D> bn1_{{.num_features = 1}};
  nn::ReLU<T, D> relu1_;
  nn::Conv2d<T, D> conv2_{{.in_channels = 1, .out_channels = 1}};
  nn::BatchNorm2d<T, D> bn2_{{.num_features = 1}};
  nn::ReLU<T, D> relu2_;
  nn::Conv2d<T, D> conv3_{{.in_channels = 1, .out_channels = 1, .kernel_size = 1}};
  nn::BatchNorm2d<T, D> bn3_{{.num_features = 1}};
  nn::ReLU<T, D> relu3_;
  bool has_downsample_ = false;
  nn::Conv2d<T, D> down_conv_{{.in_channels = 1, .out_channels = 1, .kernel_size = 1}};
  nn::BatchNorm2d<T, D> down_bn_{{.num_features = 1}};
};

}  // namespace labor::models
