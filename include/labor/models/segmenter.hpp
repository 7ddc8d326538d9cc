#pragma once
/// @file segmenter.hpp
/// A segmentation network: a backbone followed by a classifier head (LabOR's model A = G_A + F_A).

#include <cstdint>
#include <string>
#include <type_traits>

#include "labor/core/tensor.hpp"
#include "labor/models/backbone.hpp"
#include "labor/models/head.hpp"
#include "labor/nn/upsample.hpp"

namespace labor::models {

/// logits = head(backbone(x)): N×3×H×W images to N×C×h×w logits at the backbone's resolution.
/// A Layer itself (parameters "backbone.*" and "head.*"); copying it copies every weight.
template <Backbone B, Head H>
class Segmenter {
 public:
  using value_type = typename B::value_type;
  using device_type = typename B::device_type;
  using TensorT = Tensor<value_type, device_type>;
  static_assert(std::is_same_v<typename H::value_type, value_type> &&
                    std::is_same_v<typename H::device_type, device_type>,
                "Segmenter: backbone and head must share value_type and device_type");

  Segmenter(B backbone, H head) : backbone(std::move(backbone)), head(std::move(head)) {}

  [[nodiscard]] std::int64_t num_classes() const { return head.num_classes(); }

  TensorT forward(const TensorT& x) { return head.forward(backbone.forward(x)); }
  TensorT backward(const TensorT& grad_out) { return backbone.backward(head.backward(grad_out)); }
  void set_training(bool training) {
    backbone.set_training(training);
    head.set_training(training);
  }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    backbone.visit(v, prefix + "backbone.");
    head.visit(v, prefix + "head.");
  }

  B backbone;
  H head;
};

/// LabOR's pixel selector (model B): one backbone G_B and two classifier heads F_B1, F_B2 whose
/// disagreement marks the pixels worth labeling. Parameters "backbone.*", "head1.*", "head2.*".
template <Backbone B, Head H>
class PixelSelector {
 public:
  using value_type = typename B::value_type;
  using device_type = typename B::device_type;
  using TensorT = Tensor<value_type, device_type>;

  PixelSelector(B backbone, H head1, H head2)
      : backbone(std::move(backbone)), head1(std::move(head1)), head2(std::move(head2)) {}

  [[nodiscard]] std::int64_t num_classes() const { return head1.num_classes(); }

  void set_training(bool training) {
    backbone.set_training(training);
    head1.set_training(training);
    head2.set_training(training);
  }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    backbone.visit(v, prefix + "backbone.");
    head1.visit(v, prefix + "head1.");
    head2.visit(v, prefix + "head2.");
  }

  B backbone;
  H head1;
  H head2;
};

}  // namespace labor::models
