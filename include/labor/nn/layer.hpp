#pragma once
/// @file layer.hpp
/// The Layer concept and the helpers that walk a layer's parameters and buffers.
///
/// A layer is a stateful object with value_type T and device_type D:
///   - `Tensor<T, D> forward(const Tensor<T, D>& x)` computes the output and keeps what backward
///     needs (for most layers, a copy of the input), except under NoGradGuard (grad_mode.hpp),
///     where it keeps nothing and a following backward throws labor::Error;
///   - `Tensor<T, D> backward(const Tensor<T, D>& grad_out)` takes dLoss/dOutput of the *last*
///     forward, adds dLoss/dParameter to every trainable parameter's `grad` and returns dLoss/dInput.
///     It leaves what the forward kept unchanged, so it may run again after the same forward with
///     another grad_out: the gradients of both are added, and each returns what it would return
///     alone (the selector's step sends two losses through each head this way);
///   - `void set_training(bool)` switches training/evaluation behaviour (batch norm);
///   - `template <class V> void visit(V& v, const std::string& prefix)` calls
///     `v.parameter(prefix + name, Parameter&)` for each parameter and `v.buffer(prefix + name,
///     Tensor&)` for each non-learned state tensor (running statistics), with PyTorch's names
///     ("weight", "bias", "running_mean", ...; children as "0.", "conv1." ...).

#include <concepts>
#include <string>
#include <utility>
#include <vector>

#include "labor/core/tensor.hpp"
#include "labor/nn/parameter.hpp"

namespace labor::nn {

namespace detail {
/// A visitor that accepts everything; used to check the `visit` member in the concept.
template <class T, class D>
struct NullVisitor {
  void parameter(const std::string&, Parameter<T, D>&) {}
  void buffer(const std::string&, Tensor<T, D>&) {}
};
}  // namespace detail

/// A differentiable layer; see the file comment for the contract.
template <class L>
concept Layer = requires(L& layer, const L& clayer, const Tensor<typename L::value_type, typename L::device_type>& t,
                         detail::NullVisitor<typename L::value_type, typename L::device_type>& v) {
  typename L::value_type;
  typename L::device_type;
  { layer.forward(t) } -> std::same_as<Tensor<typename L::value_type, typename L::device_type>>;
  { layer.backward(t) } -> std::same_as<Tensor<typename L::value_type, typename L::device_type>>;
  layer.set_training(true);
  layer.visit(v, std::string{});
};

/// Base for layers without parameters, buffers or modes.
struct Stateless {
  void set_training(bool) {}
  template <class V>
  void visit(V&, const std::string&) {}
};

/// (name, parameter) for every parameter of `layer`, in visiting order.
template <Layer L>
auto named_parameters(L& layer, const std::string& prefix = {}) {
  using P = Parameter<typename L::value_type, typename L::device_type>;
  using Tn = Tensor<typename L::value_type, typename L::device_type>;
  struct Collect {
    std::vector<std::pair<std::string, P*>> out;
    void parameter(const std::string& n, P& p) { out.emplace_back(n, &p); }
    void buffer(const std::string&, Tn&) {}
  } c;
  layer.visit(c, prefix);
  return std::move(c.out);
}

/// (name, tensor) for every buffer of `layer` (running statistics and other non-learned state).
template <Layer L>
auto named_buffers(L& layer, const std::string& prefix = {}) {
  using P = Parameter<typename L::value_type, typename L::device_type>;
  using Tn = Tensor<typename L::value_type, typename L::device_type>;
  struct Collect {
    std::vector<std::pair<std::string, Tn*>> out;
    void parameter(const std::string&, P&) {}
    void buffer(const std::string& n, Tn& t) { out.emplace_back(n, &t); }
  } c;
  layer.visit(c, prefix);
  return std::move(c.out);
}

/// Pointers to the trainable parameters of `layer` (what an optimizer group takes).
template <Layer L>
auto trainable_parameters(L& layer) {
  std::vector<Parameter<typename L::value_type, typename L::device_type>*> out;
  for (auto& [name, p] : named_parameters(layer))
    if (p->trainable) out.push_back(p);
  return out;
}

/// Clears the gradient of every parameter of `layer`.
template <Layer L>
void zero_grad(L& layer) {
  for (auto& [name, p] : named_parameters(layer)) p->zero_grad();
}

}  // namespace labor::nn
