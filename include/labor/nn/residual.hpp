#pragma once
/// @file residual.hpp
/// Residual connections: the Identity layer and labor::nn::Residual, y = post(body(x) + shortcut(x))
/// (the sums are labor::add / add_inplace, core/elementwise.hpp).
///
/// Naming (chosen so that a torchvision ResNet BasicBlock/Bottleneck keeps PyTorch's names):
/// Residual adds no name level of its own for the body and the post layer, whose parameters appear
/// directly under the residual's prefix, and names the shortcut "downsample.". A body struct whose
/// `visit` names its members "conv1.", "bn1.", "conv2.", "bn2." then gives, inside "layer1.0.",
/// exactly "layer1.0.conv1.weight", ..., and a `Sequential<Conv2d, BatchNorm2d>` shortcut gives
/// "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_mean", as torchvision does.

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "labor/core/config.hpp"
#include "labor/core/elementwise.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/detail/checks.hpp"
#include "labor/nn/layer.hpp"

namespace labor::nn {


/// y = x (any shape); backward passes the gradient through. The default shortcut and post layer of
/// Residual.
template <class T, Device D = cpu>
class Identity : public Stateless {
 public:
  using value_type = T;
  using device_type = D;

  /// A copy of `x`.
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    input_shape_ = x.shape();
    have_forward_ = true;
    return x;
  }

  /// A copy of `grad_out` (must have the shape of the last input).
  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    detail::check_backward("Identity", have_forward_, grad_out.shape(), input_shape_);
    return grad_out;
  }

 private:
  Shape input_shape_{0};
  bool have_forward_ = false;
};

/// y = post(body(x) + shortcut(x)); the defaults make it body(x) + x. Backward returns
/// body.backward(g') + shortcut.backward(g') with g' = post.backward(g). body(x) and shortcut(x)
/// must have the same shape (labor::Error otherwise). set_training reaches all three parts.
/// Names: body and post directly under the prefix, the shortcut under "downsample." (see the file
/// comment); with a parameter-free Identity shortcut no "downsample." name appears.
template <Layer Body, Layer Shortcut = Identity<typename Body::value_type, typename Body::device_type>,
          Layer Post = Identity<typename Body::value_type, typename Body::device_type>>
class Residual {
 public:
  using value_type = typename Body::value_type;
  using device_type = typename Body::device_type;
  using TensorT = Tensor<value_type, device_type>;
  static_assert(std::is_same_v<typename Shortcut::value_type, value_type> &&
                    std::is_same_v<typename Post::value_type, value_type>,
                "Residual: body, shortcut and post must have the same value_type");
  static_assert(std::is_same_v<typename Shortcut::device_type, device_type> &&
                    std::is_same_v<typename Post::device_type, device_type>,
                "Residual: body, shortcut and post must have the same device_type");

  Residual() = default;
  /// Residual around `body` with the given shortcut and post layer.
  explicit Residual(Body body, Shortcut shortcut = Shortcut{}, Post post = Post{})
      : body_(std::move(body)), shortcut_(std::move(shortcut)), post_(std::move(post)) {}

  Body& body() { return body_; }
  Shortcut& shortcut() { return shortcut_; }
  Post& post() { return post_; }

  /// post(body(x) + shortcut(x)).
  TensorT forward(const TensorT& x) {
    TensorT y = body_.forward(x);
    const TensorT s = shortcut_.forward(x);
    LABOR_CHECK(y.shape() == s.shape(), "Residual: body output shape: expected {} (the shortcut's), got {}", s.shape(),
                y.shape());
    add_inplace(y, s);
    have_forward_ = true;
    return post_.forward(y);
  }

  /// dLoss/dy → dLoss/dx through both branches; accumulates the parameters' gradients.
  TensorT backward(const TensorT& grad_out) {
    LABOR_CHECK(have_forward_, "Residual: backward called before forward");
    const TensorT g = post_.backward(grad_out);
    TensorT dx = body_.backward(g);
    const TensorT ds = shortcut_.backward(g);
    LABOR_CHECK(dx.shape() == ds.shape(), "Residual: backward body input gradient shape: expected {}, got {}",
                ds.shape(), dx.shape());
    add_inplace(dx, ds);
    return dx;
  }

  void set_training(bool training) {
    body_.set_training(training);
    shortcut_.set_training(training);
    post_.set_training(training);
  }

  /// Visits the body and the post layer under `prefix`, the shortcut under `prefix + "downsample."`.
  template <class V>
  void visit(V& v, const std::string& prefix) {
    body_.visit(v, prefix);
    shortcut_.visit(v, prefix + "downsample.");
    post_.visit(v, prefix);
  }

 private:
  Body body_;
  Shortcut shortcut_;
  Post post_;
  bool have_forward_ = false;
};

}  // namespace labor::nn
