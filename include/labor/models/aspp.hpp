#pragma once
/// @file aspp.hpp
/// DeepLab-v2's ASPP classifier: parallel dilated 3×3 convolutions whose logits are summed.

#include <cstdint>
#include <string>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/conv2d.hpp"
#include "labor/nn/residual.hpp"

namespace labor::models {

/// Options of AsppHead; usable with designated initializers.
struct AsppHeadOptions {
  std::int64_t in_channels = 0;
  std::int64_t num_classes = 0;
  /// One branch per value: a 3×3 convolution with dilation = padding = value (DeepLab-v2: 6, 12, 18, 24).
  std::vector<std::int64_t> dilations = {6, 12, 18, 24};
  /// Standard deviation of the normal initialisation of the weights (DeepLab-v2: 0.01); biases start at 0.
  double init_std = 0.01;
};

/// logits = Σ_b conv_b(x), conv_b a 3×3 convolution with bias and dilation = padding = dilations[b].
/// Input N×in_channels×h×w, output N×num_classes×h×w. Satisfies Head. Parameter names
/// "conv2d_list.<b>.weight" / ".bias" (the DeepLab-v2 reference code's).
template <class T, Device D = cpu>
class AsppHead {
 public:
  using value_type = T;
  using device_type = D;

  /// @throws labor::Error for non-positive channels or dilations, or no branch.
  AsppHead(const AsppHeadOptions& o, Rng& rng) : options_(o) {
    LABOR_CHECK(!o.dilations.empty(), "AsppHead: dilations: expected at least one branch, got none");
    LABOR_CHECK(o.num_classes > 0, "AsppHead: num_classes: expected > 0, got {}", o.num_classes);
    for (auto d : o.dilations) {
      LABOR_CHECK(d > 0, "AsppHead: dilations: expected values > 0, got {}", d);
      nn::Conv2d<T, D> conv({.in_channels = o.in_channels,
                             .out_channels = o.num_classes,
                             .kernel_size = 3,
                             .stride = 1,
                             .padding = d,
                             .dilation = d,
                             .bias = true});
      fill_normal(conv.weight().value.view(), rng, T(0), static_cast<T>(o.init_std));
      branches_.push_back(std::move(conv));
    }
  }

  [[nodiscard]] const AsppHeadOptions& options() const { return options_; }
  [[nodiscard]] std::int64_t num_classes() const { return options_.num_classes; }

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> y = branches_[0].forward(x);
    for (std::size_t b = 1; b < branches_.size(); ++b) labor::add_inplace(y, branches_[b].forward(x));
    return y;
  }

  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    Tensor<T, D> dx = branches_[0].backward(grad_out);
    for (std::size_t b = 1; b < branches_.size(); ++b) labor::add_inplace(dx, branches_[b].backward(grad_out));
    return dx;
  }

  void set_training(bool) {}

  template <class V>
  void visit(V& v, const std::string& prefix) {
    for (std::size_t b = 0; b < branches_.size(); ++b)
      branches_[b].visit(v, prefix + "conv2d_list." + std::to_string(b) + ".");
  }

 private:
  AsppHeadOptions options_;
  std::vector<nn::Conv2d<T, D>> branches_;
};

}  // namespace labor::models
