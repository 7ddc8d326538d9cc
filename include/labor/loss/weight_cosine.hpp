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

}  // namespace detail

/// cos(w_a, w_b) = w_a·w_b / (‖w_a‖‖w_b‖), with w_a and w_b the trainable "…weight" parameters of
/// `a` and `b` flattened and concatenated in visiting order (two layers of one architecture). When
/// `scale` ≠ 0, adds scale·∂cos/∂w to those parameters' gradients:
/// ∂cos/∂w_a = w_b/(‖w_a‖‖w_b‖) − cos·w_a/‖w_a‖² (and symmetrically for b). Sums in double.
/// @throws labor::Error when the two layers' weights differ in names or shapes, or when one of
///         them is all zero (the cosine is undefined).
template <nn::Layer A, nn::Layer B>
double weight_cosine(A& a, B& b, double scale = 0.0) {
  static_assert(std::is_same_v<typename A::device_type, cpu> && std::is_same_v<typename B::device_type, cpu>,
                "weight_cosine: host layers");
  const auto pa = detail::kernel_parameters(a);
  const auto pb = detail::kernel_parameters(b);
  LABOR_CHECK(pa.size() == pb.size() && !pa.empty(),
              "weight_cosine: expected two layers with the same (non-empty) weights, got {} and {} weight tensors",
              pa.size(), pb.size());
  double dot = 0, na = 0, nb = 0;
  for (std::size_t k = 0; k < pa.size(); ++k) {
    const auto& va = pa[k].second->value;
    const auto& vb = pb[k].second->value;
    LABOR_CHECK(pa[k].first == pb[k].first && va.shape() == vb.shape(),
                "weight_cosine: weight {}: expected '{}' {} in both layers, got '{}' {}", k, pa[k].first, va.shape(),
                pb[k].first, vb.shape());
    for (std::int64_t i = 0; i < va.numel(); ++i) {
      const double x = va.data()[i], y = vb.data()[i];
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
  }
  LABOR_CHECK(na > 0 && nb > 0, "weight_cosine: expected non-zero weights, got a layer whose weights are all zero");
  const double norms = std::sqrt(na) * std::sqrt(nb), cosine = dot / norms;
  if (scale != 0.0) {
    for (std::size_t k = 0; k < pa.size(); ++k) {
      auto& ga = pa[k].second->grad;
      auto& gb = pb[k].second->grad;
      const auto& va = pa[k].second->value;
      const auto& vb = pb[k].second->value;
      for (std::int64_t i = 0; i < va.numel(); ++i) {
        const double x = va.data()[i], y = vb.data()[i];
        ga.data()[i] += static_cast<typename A::value_type>(scale * (y / norms - cosine * x / na));
        gb.data()[i] += static_cast<typename B::value_type>(scale * (x / norms - cosine * y / nb));
      }
    }
  }
  return cosine;
}

}  // namespace labor::loss
