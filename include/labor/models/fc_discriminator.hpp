#pragma once
/// @file fc_discriminator.hpp
/// AdaptSeg's fully-convolutional domain discriminator.

#include <cstdint>
#include <string>

#include "labor/core/error.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/activation.hpp"
#include "labor/nn/conv2d.hpp"
#include "labor/nn/sequential.hpp"

namespace labor::models {

/// Options of FcDiscriminator; usable with designated initializers.
struct FcDiscriminatorOptions {
  /// Input channels C (the segmenter's classes).
  std::int64_t num_classes = 0;
  /// Width of the first layer; the next ones double it (AdaptSeg: 64 → 128 → 256 → 512).
  std::int64_t ndf = 64;
  /// Slope of the LeakyReLUs between the convolutions.
  double negative_slope = 0.2;
};

/// Five 4×4 convolutions with stride 2 and padding 1, C → ndf → 2ndf → 4ndf → 8ndf → 1, with
/// LeakyReLU between them. Input N×C×H×W (H, W ≥ 32), output N×1×(H/32)×(W/32) logits (each
/// layer maps a size s to ⌊s/2⌋). Satisfies Discriminator. Convolutions use PyTorch's default
/// initialisation. Parameter names "0.weight", "0.bias", "2.weight", ... (an nn.Sequential's).
template <class T, Device D = cpu>
class FcDiscriminator {
  using Conv = nn::Conv2d<T, D>;
  using Act = nn::LeakyReLU<T, D>;

 public:
  using value_type = T;
  using device_type = D;

  /// @throws labor::Error for non-positive classes or width.
  FcDiscriminator(const FcDiscriminatorOptions& o, Rng& rng)
      : options_(o),
        net_(conv(o.num_classes, o.ndf, rng), Act(o.negative_slope), conv(o.ndf, 2 * o.ndf, rng), Act(o.negative_slope),
             conv(2 * o.ndf, 4 * o.ndf, rng), Act(o.negative_slope), conv(4 * o.ndf, 8 * o.ndf, rng),
             Act(o.negative_slope), conv(8 * o.ndf, 1, rng)) {}

  [[nodiscard]] const FcDiscriminatorOptions& options() const { return options_; }

  /// N×C×H×W logits of the segmenter → N×1×⌊H/32⌋×⌊W/32⌋ domain logits.
  /// @throws labor::Error for an input of another rank or channel count, or smaller than 32×32 (the
  /// five convolutions halve each side).
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    const auto& s = x.shape();
    LABOR_CHECK(s.rank() == 4 && s[1] == options_.num_classes,
                "FcDiscriminator: input: expected N×{}×H×W (the segmenter's classes), got shape {}", options_.num_classes,
                s);
    LABOR_CHECK(s[2] >= 32 && s[3] >= 32,
                "FcDiscriminator: input size: expected H, W >= 32 (five convolutions halve each side), got {}×{}", s[2],
                s[3]);
    return net_.forward(x);
  }
  Tensor<T, D> backward(const Tensor<T, D>& grad_out) { return net_.backward(grad_out); }
  void set_training(bool training) { net_.set_training(training); }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    net_.visit(v, prefix);
  }

 private:
  static Conv conv(std::int64_t in, std::int64_t out, Rng& rng) {
    LABOR_CHECK(in > 0 && out > 0, "FcDiscriminator: channels: expected > 0, got {} → {}", in, out);
    return Conv({.in_channels = in, .out_channels = out, .kernel_size = 4, .stride = 2, .padding = 1, .bias = true},
                rng);
  }

  FcDiscriminatorOptions options_;
  nn::Sequential<Conv, Act, Conv, Act, Conv, Act, Conv, Act, Conv> net_;
};

}  // namespace labor::models
