#pragma once
// Finite-difference gradient checks in double precision.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <labor/core.hpp>
#include <labor/nn/layer.hpp>

namespace labor::testing {

/// Central-difference check of `analytic` = d loss / d x. `loss()` evaluates the scalar loss at the
/// current contents of `x`. Checks every element when x has at most `max_checks` elements, else a
/// seeded random subset of that size. Fails when |numeric − analytic| > atol + rtol·|numeric|.
template <class LossFn>
void expect_gradient(const std::string& what, TensorView<double> x, TensorView<const double> analytic, LossFn&& loss,
                     double eps = 1e-6, double atol = 1e-7, double rtol = 1e-5, std::int64_t max_checks = 256) {
  ASSERT_EQ(x.shape(), analytic.shape()) << what;
  std::vector<std::int64_t> idx;
  if (x.numel() <= max_checks) {
    for (std::int64_t i = 0; i < x.numel(); ++i) idx.push_back(i);
  } else {
    Rng rng(1234);
    for (std::int64_t k = 0; k < max_checks; ++k)
      idx.push_back(static_cast<std::int64_t>(rng.uniform_int(static_cast<std::uint64_t>(x.numel()))));
  }
  int failures = 0;
  for (auto i : idx) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double up = loss();
    x[i] = saved - eps;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2 * eps);
    const double err = std::abs(numeric - analytic[i]);
    if (err > atol + rtol * std::abs(numeric)) {
      if (++failures <= 5)
        ADD_FAILURE() << what << ": element " << i << ": numeric " << numeric << ", analytic " << analytic[i];
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << idx.size() << " elements differ";
}

/// Gradient check of a layer: loss = Σ forward(x) ⊙ r for a fixed random r. Checks dLoss/dx from
/// backward and dLoss/dp for every trainable parameter.
template <nn::Layer L>
void expect_layer_gradients(L& layer, Tensor<double>& x, std::uint64_t seed = 99, double eps = 1e-6, double atol = 1e-7,
                            double rtol = 1e-5) {
  static_assert(std::is_same_v<typename L::value_type, double>);
  Tensor<double> y = layer.forward(x);
  Tensor<double> r(y.shape());
  Rng rng(seed);
  fill_uniform(r.view(), rng, -1.0, 1.0);
  auto loss = [&] {
    Tensor<double> out = layer.forward(x);
    double s = 0;
    for (std::int64_t i = 0; i < out.numel(); ++i) s += out[i] * r[i];
    return s;
  };
  nn::zero_grad(layer);
  layer.forward(x);
  Tensor<double> dx = layer.backward(r);
  // Backward output must be computed from the forward just before it: copy the parameter grads now.
  std::vector<std::pair<std::string, Tensor<double>>> grads;
  for (auto& [name, p] : nn::named_parameters(layer))
    if (p->trainable) grads.emplace_back(name, p->grad);
  expect_gradient("input", x.view(), dx.view(), loss, eps, atol, rtol);
  std::size_t k = 0;
  for (auto& [name, p] : nn::named_parameters(layer)) {
    if (!p->trainable) continue;
    expect_gradient("parameter " + name, p->value.view(), grads[k++].second.view(), loss, eps, atol, rtol);
  }
}

}  // namespace labor::testing
