#pragma once
/// @file sequential.hpp
/// labor::nn::Sequential: layers applied in order, stored flat in a tuple (no nesting of types).

#include <cstddef>
#include <string>
#include <tuple>
#include <utility>

#include "labor/nn/layer.hpp"

namespace labor::nn {

/// Applies `Layers...` in order. Backward runs them in reverse. Children are named "0.", "1.", …
/// as in torch.nn.Sequential. All layers must share value_type and device_type.
template <Layer First, Layer... Rest>
class Sequential {
 public:
  using value_type = typename First::value_type;
  using device_type = typename First::device_type;
  using TensorT = Tensor<value_type, device_type>;
  static_assert((std::is_same_v<typename Rest::value_type, value_type> && ...),
                "Sequential: all layers must have the same value_type");
  static_assert((std::is_same_v<typename Rest::device_type, device_type> && ...),
                "Sequential: all layers must have the same device_type");

  Sequential() = default;
  explicit Sequential(First first, Rest... rest) : layers_(std::move(first), std::move(rest)...) {}

  TensorT forward(const TensorT& x) {
    return std::apply([&](auto&... l) { return forward_chain(x, l...); }, layers_);
  }

  TensorT backward(const TensorT& grad_out) { return backward_from<sizeof...(Rest)>(grad_out); }

  void set_training(bool training) {
    std::apply([&](auto&... l) { (l.set_training(training), ...); }, layers_);
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    visit_from<0>(v, prefix);
  }

  /// The i-th layer.
  template <std::size_t I>
  auto& get() {
    return std::get<I>(layers_);
  }

  static constexpr std::size_t size() { return 1 + sizeof...(Rest); }

 private:
  template <class L, class... Ls>
  static TensorT forward_chain(const TensorT& x, L& l, Ls&... ls) {
    if constexpr (sizeof...(Ls) == 0) {
      return l.forward(x);
    } else {
      return forward_chain(l.forward(x), ls...);
    }
  }
  template <std::size_t I>
  TensorT backward_from(const TensorT& g) {
    if constexpr (I == 0) {
      return std::get<0>(layers_).backward(g);
    } else {
      return backward_from<I - 1>(std::get<I>(layers_).backward(g));
    }
  }
  template <std::size_t I, class V>
  void visit_from(V& v, const std::string& prefix) {
    if constexpr (I < size()) {
      std::get<I>(layers_).visit(v, prefix + std::to_string(I) + ".");
      visit_from<I + 1>(v, prefix);
    }
  }

  std::tuple<First, Rest...> layers_;
};

}  // namespace labor::nn
