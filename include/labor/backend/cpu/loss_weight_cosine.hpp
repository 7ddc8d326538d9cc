#pragma once
/// @file loss_weight_cosine.hpp
/// weight_cosine on the host (WeightCosineKernels<cpu>): the sums in one sequential double loop over
/// the weight pairs in visiting order, the gradients one element after another.

#include <cstdint>

#include "labor/core/tensor.hpp"
#include "labor/loss/weight_cosine.hpp"

namespace labor::loss::detail {

template <>
struct WeightCosineKernels<cpu> {
  /// Σ a·b, Σ a², Σ b² over the weight pairs (pa[k], pb[k]) of equal shapes, in order.
  /// `pa`, `pb`: kernel_parameters of the two layers.
  template <class Pa, class Pb>
  static CosineSums total(const Pa& pa, const Pb& pb) {
    CosineSums sums;
    for (std::size_t k = 0; k < pa.size(); ++k) {
      const auto& va = pa[k].second->value;
      const auto& vb = pb[k].second->value;
      for (std::int64_t i = 0; i < va.numel(); ++i) sums.add(va.data()[i], vb.data()[i]);
    }
    return sums;
  }

  /// grad_a += scale·∂cos/∂a and grad_b += scale·∂cos/∂b element-wise for one weight pair.
  template <class Ta, class Tb>
  static void add_gradient(const CosineGradient& gradient, const Tensor<Ta, cpu>& a, const Tensor<Tb, cpu>& b,
                           Tensor<Ta, cpu>& grad_a, Tensor<Tb, cpu>& grad_b) {
    for (std::int64_t i = 0; i < a.numel(); ++i) gradient(a.data()[i], b.data()[i], grad_a.data()[i], grad_b.data()[i]);
  }
};

}  // namespace labor::loss::detail
