#pragma once
/// @file loss_weight_cosine.cuh
/// weight_cosine on the GPU: one deterministic double-precision reduction of (Σ a·b, Σ a², Σ b²)
/// per weight pair into device memory, read back in one copy; the gradients are added by one
/// element-wise kernel per weight pair into both layers' parameter gradients.

#include <cstdint>
#include <type_traits>
#include <vector>

#include "labor/backend/cuda/loss_common.cuh"
#include "labor/core/for_each.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/weight_cosine.hpp"

namespace labor::loss::detail {

/// Per element: the CosineSums of one weight pair.
template <class Ta, class Tb>
struct CosineSumsElement {
  const Ta* a;
  const Tb* b;

  __device__ CosineSums operator()(std::int64_t i) const {
    CosineSums s;
    s.add(static_cast<double>(a[i]), static_cast<double>(b[i]));
    return s;
  }
};

/// Per element: adds scale·∂cos/∂w to both gradients.
template <class Ta, class Tb>
struct CosineGradientElement {
  CosineGradient gradient;
  const Ta* a;
  const Tb* b;
  Ta* grad_a;
  Tb* grad_b;

  __device__ void operator()(std::int64_t i) const {
    gradient(static_cast<double>(a[i]), static_cast<double>(b[i]), grad_a[i], grad_b[i]);
  }
};

template <>
struct WeightCosineKernels<cuda> {
  /// The CosineSums of each weight pair (pa[k], pb[k]) of equal shapes (waits for them), added in
  /// order on the host. `pa`, `pb`: kernel_parameters of the two layers.
  template <class Pa, class Pb>
  static CosineSums total(const Pa& pa, const Pb& pb) {
    const auto pairs = static_cast<std::int64_t>(pa.size());
    auto out = Tensor<CosineSums, cuda>::uninitialized(Shape{pairs});
    for (std::size_t k = 0; k < pa.size(); ++k) {
      const auto& va = pa[k].second->value;
      const auto& vb = pb[k].second->value;
      using Ta = typename std::remove_cvref_t<decltype(va)>::value_type;
      using Tb = typename std::remove_cvref_t<decltype(vb)>::value_type;
      queue_sum(va.numel(), CosineSumsElement<Ta, Tb>{va.data(), vb.data()}, out.data() + k);
    }
    const auto host = out.to<cpu>();
    CosineSums sums;
    for (std::int64_t k = 0; k < host.numel(); ++k) sums = sums + host.data()[k];
    return sums;
  }

  /// grad_a += scale·∂cos/∂a and grad_b += scale·∂cos/∂b element-wise for one weight pair.
  template <class Ta, class Tb>
  static void add_gradient(const CosineGradient& gradient, const Tensor<Ta, cuda>& a, const Tensor<Tb, cuda>& b,
                           Tensor<Ta, cuda>& grad_a, Tensor<Tb, cuda>& grad_b) {
    for_each_index<cuda>(a.numel(),
                         CosineGradientElement<Ta, Tb>{gradient, a.data(), b.data(), grad_a.data(), grad_b.data()});
  }
};

}  // namespace labor::loss::detail
