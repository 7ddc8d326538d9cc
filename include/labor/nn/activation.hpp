#pragma once
/// @file activation.hpp
/// labor::nn::ReLU and labor::nn::LeakyReLU: element-wise activations on N×C×H×W tensors, with
/// PyTorch's derivatives at 0.

#include <cstdint>
#include <string>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/detail/buffers.hpp"
#include "labor/nn/detail/checks.hpp"
#include "labor/nn/layer.hpp"

namespace labor::nn {

namespace detail {

/// Elements per parallel task of the element-wise kernels.
inline constexpr std::int64_t elementwise_grain = std::int64_t{1} << 15;

/// max(x, 0) and its derivative (0 at x = 0, as PyTorch).
template <class T>
struct ReluOp {
  LABOR_HOST_DEVICE T operator()(T x) const { return x > T(0) ? x : T(0); }
  /// dLoss/dx given the input `x` and dLoss/dy `g`.
  LABOR_HOST_DEVICE T grad(T x, T g) const { return x > T(0) ? g : T(0); }
};

/// x for x > 0, slope·x otherwise; derivative 1 for x > 0, slope otherwise (as PyTorch).
template <class T>
struct LeakyReluOp {
  T slope;
  LABOR_HOST_DEVICE T operator()(T x) const { return x > T(0) ? x : x * slope; }
  LABOR_HOST_DEVICE T grad(T x, T g) const { return x > T(0) ? g : g * slope; }
};

/// y = op(x) element-wise on device D.
template <class T, Device D, class Op>
Tensor<T, D> map_elementwise(const Tensor<T, D>& x, Op op) {
  auto y = Tensor<T, D>::uninitialized(x.shape());
  const T* LABOR_RESTRICT px = x.data();
  T* LABOR_RESTRICT py = y.data();
  for_each_index<D>(x.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) { py[i] = op(px[i]); }, elementwise_grain);
  return y;
}

/// dx = op.grad(x, g) element-wise on device D.
template <class T, Device D, class Op>
Tensor<T, D> map_elementwise_grad(const Tensor<T, D>& x, const Tensor<T, D>& g, Op op) {
  auto dx = Tensor<T, D>::uninitialized(x.shape());
  const T* LABOR_RESTRICT px = x.data();
  const T* LABOR_RESTRICT pg = g.data();
  T* LABOR_RESTRICT pd = dx.data();
  for_each_index<D>(
      x.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) { pd[i] = op.grad(px[i], pg[i]); }, elementwise_grain);
  return dx;
}

}  // namespace detail

/// y = max(x, 0) element-wise. Input and output N×C×H×W (non-empty). Backward passes the gradient
/// where x > 0 and 0 elsewhere (also at x = 0, as PyTorch). Keeps a copy of the input (not under
/// NoGradGuard).
template <class T, Device D = cpu>
class ReLU : public Stateless {
 public:
  using value_type = T;
  using device_type = D;

  /// y = max(x, 0).
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    detail::check_nchw("ReLU", "input", x.shape());
    detail::keep_for_backward(input_, x);
    return detail::map_elementwise(x, detail::ReluOp<T>{});
  }

  /// dLoss/dy → dLoss/dx for the last forward.
  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    detail::check_backward("ReLU", !input_.empty(), grad_out.shape(), input_.shape());
    return detail::map_elementwise_grad(input_, grad_out, detail::ReluOp<T>{});
  }

 private:
  Tensor<T, D> input_;
};

/// Options of LeakyReLU.
struct LeakyReLUOptions {
  /// Slope for x <= 0 (PyTorch's default 0.01; the fc discriminator uses 0.2).
  double negative_slope = 0.01;
};

/// y = x for x > 0, negative_slope·x otherwise, element-wise. Input and output N×C×H×W
/// (non-empty). The derivative is 1 for x > 0 and negative_slope otherwise (as PyTorch).
template <class T, Device D = cpu>
class LeakyReLU : public Stateless {
 public:
  using value_type = T;
  using device_type = D;

  /// LeakyReLU with PyTorch's default slope 0.01.
  LeakyReLU() = default;
  /// LeakyReLU with the given options.
  explicit LeakyReLU(const LeakyReLUOptions& options) : options_(options) {}
  /// LeakyReLU with slope `negative_slope`.
  explicit LeakyReLU(double negative_slope) : options_{negative_slope} {}

  [[nodiscard]] const LeakyReLUOptions& options() const { return options_; }

  /// y = leaky_relu(x).
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    detail::check_nchw("LeakyReLU", "input", x.shape());
    detail::keep_for_backward(input_, x);
    return detail::map_elementwise(x, op());
  }

  /// dLoss/dy → dLoss/dx for the last forward.
  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    detail::check_backward("LeakyReLU", !input_.empty(), grad_out.shape(), input_.shape());
    return detail::map_elementwise_grad(input_, grad_out, op());
  }

 private:
  [[nodiscard]] detail::LeakyReluOp<T> op() const {
    return detail::LeakyReluOp<T>{static_cast<T>(options_.negative_slope)};
  }

  LeakyReLUOptions options_;
  Tensor<T, D> input_;
};

}  // namespace labor::nn
