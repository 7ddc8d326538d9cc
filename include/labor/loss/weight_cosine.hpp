#pragma once
/// @file weight_cosine.hpp
/// The cosine similarity of two layers' weights: the weight-space discrepancy of co-trained
/// classifiers (DESIGN §1, eq. 6's weight-space variant). Minimising it pushes two heads of one
/// architecture towards different weights, whatever their outputs on the current batch.

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "labor/core/config.hpp"
#include "labor/core/device.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/layer.hpp"

namespace labor::loss {

namespace detail {

/// The trainable parameters of `layer` whose names end in "weight" (convolution and linear
/// kernels; biases and batch-norm affine parameters are not part of the similarity).
template <nn::Layer L>
std::vector<std::pair<std::string, nn::Parameter<typename L::value_type, typename L::device_type>*>> kernel_parameters(
    L& layer) {
  std::vector<std::pair<std::string, nn::Parameter<typename L::value_type, typename L::device_type>*>> out;
  for (auto& [name, p] : nn::named_parameters(layer))
    if (p->trainable && name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0) out.emplace_back(name, p);
  return out;
}

/// The three sums of the cosine, accumulated in double: Σ a·b, Σ a², Σ b².
struct CosineSums {
  double dot = 0, aa = 0, bb = 0;

  /// Adds one pair of weights.
  LABOR_HOST_DEVICE void add(double x, double y) {
    dot += x * y;
    aa += x * x;
    bb += y * y;
  }
  LABOR_HOST_DEVICE CosineSums operator+(const CosineSums& o) const { return {dot + o.dot, aa + o.aa, bb + o.bb}; }
};

/// scale·∂cos/∂w for one pair of weights (x of layer a, y of layer b), added to their gradients:
/// ∂cos/∂x = y/(‖a‖‖b‖) − cos·x/‖a‖², ∂cos/∂y = x/(‖a‖‖b‖) − cos·y/‖b‖².
struct CosineGradient {
  double scale, norms, cosine, aa, bb;

  template <class Ta, class Tb>
  LABOR_HOST_DEVICE void operator()(double x, double y, Ta& grad_x, Tb& grad_y) const {
    grad_x += static_cast<Ta>(scale * (y / norms - cosine * x / aa));
    grad_y += static_cast<Tb>(scale * (x / norms - cosine * y / bb));
  }
};

/// The device code of weight_cosine: `total` (the CosineSums of all weight pairs) and
/// `add_gradient` (CosineGradient over one weight pair); cpu in backend/cpu/loss_weight_cosine.hpp,
/// cuda in backend/cuda/loss_weight_cosine.cuh.
template <Device D>
struct WeightCosineKernels;

}  // namespace detail

/// cos(w_a, w_b) = w_a·w_b / (‖w_a‖‖w_b‖), with w_a and w_b the trainable "…weight" parameters of
/// `a` and `b` flattened and concatenated in visiting order (two layers of one architecture, on one
/// device). When `scale` ≠ 0, adds scale·∂cos/∂w to those parameters' gradients:
/// ∂cos/∂w_a = w_b/(‖w_a‖‖w_b‖) − cos·w_a/‖w_a‖² (and symmetrically for b). Sums in double (on
/// cuda: one deterministic reduction per weight pair, their sums added in order on the host, which
/// waits for them).
/// @throws labor::Error when the two layers' weights differ in names or shapes, or when one of
///         them is all zero (the cosine is undefined).
template <nn::Layer A, nn::Layer B>
double weight_cosine(A& a, B& b, double scale = 0.0) {
  using D = typename A::device_type;
  static_assert(std::is_same_v<typename B::device_type, D>, "weight_cosine: both layers on one device");
  const auto pa = detail::kernel_parameters(a);
  const auto pb = detail::kernel_parameters(b);
  LABOR_CHECK(pa.size() == pb.size() && !pa.empty(),
              "weight_cosine: expected two layers with the same (non-empty) weights, got {} and {} weight tensors",
              pa.size(), pb.size());
  for (std::size_t k = 0; k < pa.size(); ++k) {
    const auto& va = pa[k].second->value;
    const auto& vb = pb[k].second->value;
    LABOR_CHECK(pa[k].first == pb[k].first && va.shape() == vb.shape(),
                "weight_cosine: weight {}: expected '{}' {} in both layers, got '{}' {}", k, pa[k].first, va.shape(),
                pb[k].first, vb.shape());
  }
  const detail::CosineSums sums = detail::WeightCosineKernels<D>::total(pa, pb);
  LABOR_CHECK(sums.aa > 0 && sums.bb > 0,
              "weight_cosine: expected non-zero weights, got a layer whose weights are all zero");
  const double norms = std::sqrt(sums.aa) * std::sqrt(sums.bb), cosine = sums.dot / norms;
  if (scale != 0.0) {
    const detail::CosineGradient gradient{scale, norms, cosine, sums.aa, sums.bb};
    for (std::size_t k = 0; k < pa.size(); ++k) {
      detail::WeightCosineKernels<D>::add_gradient(gradient, pa[k].second->value, pb[k].second->value,
                                                   pa[k].second->grad, pb[k].second->grad);
    }
  }
  return cosine;
}

}  // namespace labor::loss

#include "labor/backend/cpu/loss_weight_cosine.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/loss_weight_cosine.cuh"
#endif
