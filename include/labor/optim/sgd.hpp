#pragma once
/// @file sgd.hpp
/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay; the exact
/// update of `torch.optim.SGD`.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/parameter.hpp"
#include "labor/optim/param_group.hpp"

namespace labor::optim {

/// Options of Sgd; usable with designated initializers (`SgdOptions{.lr = 0.1, .momentum = 0.9}`).
struct SgdOptions {
  /// Base learning rate (each group scales it by its lr_mult), ≥ 0.
  double lr = 0.01;
  /// Momentum factor μ, ≥ 0 (0: plain SGD, no buffers).
  double momentum = 0;
  /// L2 penalty λ added to the gradient (g + λ·p), ≥ 0.
  double weight_decay = 0;
  /// Dampening τ of the momentum update b ← μ·b + (1 − τ)·g.
  double dampening = 0;
  /// Nesterov momentum (needs momentum > 0 and dampening = 0).
  bool nesterov = false;
};

/// Per-parameter state of Sgd.
template <class T, Device D = cpu>
struct SgdState {
  /// The momentum buffer b; empty until the parameter's first step (then initialised to its first
  /// d = g + λ·p, as PyTorch does). Restore it from a checkpoint with the parameter's shape.
  Tensor<T, D> momentum_buffer;
};

namespace detail {

/// One element of the SGD update (PyTorch's order of operations):
/// d = g + λ·p; b = first ? d : μ·b + (1 − τ)·d; d = nesterov ? d + μ·b : b; p = p − lr·d.
template <class T>
struct SgdUpdate {
  T lr, momentum, one_minus_dampening, weight_decay;
  bool use_momentum, nesterov, first;

  LABOR_HOST_DEVICE void operator()(T& p, T g, T* buffer) const {
    T d = weight_decay != T(0) ? g + weight_decay * p : g;
    if (use_momentum) {
      const T b = first ? d : *buffer * momentum + one_minus_dampening * d;
      *buffer = b;
      d = nesterov ? d + momentum * b : b;
    }
    p = p - lr * d;
  }
};

/// The fused update of one parameter tensor: element i of the value, its gradient and (with
/// momentum) its buffer, on either device (for_each_index). `buffer` is null without momentum.
template <class T>
struct SgdStep {
  SgdUpdate<T> update;
  T* value;
  const T* grad;
  T* buffer;

  LABOR_HOST_DEVICE void operator()(std::int64_t i) const { update(value[i], grad[i], buffer ? buffer + i : nullptr); }
};

}  // namespace detail

/// SGD over parameter groups with torch.optim.SGD semantics, on device D (one fused element-wise
/// pass per parameter; on cuda the step is queued on labor's stream). Parameters with
/// `trainable == false` are skipped (no update, no state change).
///
///     optim::Sgd<float> sgd({{backbone_params, 1.0}, {head_params, 10.0}},
///                           {.lr = 2.5e-4, .momentum = 0.9, .weight_decay = 5e-4});
///     sgd.set_lr(optim::poly_lr(2.5e-4, iter, max_iter));
///     sgd.step();
template <class T, Device D = cpu>
class Sgd : public GroupedOptimizer<T, D> {
  using Base = GroupedOptimizer<T, D>;

 public:
  /// @throws labor::Error for negative or non-finite options, Nesterov without momentum or with
  ///         dampening, a null parameter or a negative lr_mult.
  explicit Sgd(std::vector<ParamGroup<T, D>> groups, const SgdOptions& options = {})
      : Base(std::move(groups), options.lr, "Sgd"), options_(options) {
    LABOR_CHECK(options.momentum >= 0 && std::isfinite(options.momentum),
                "Sgd: momentum: expected a finite value >= 0, got {}", options.momentum);
    LABOR_CHECK(options.weight_decay >= 0 && std::isfinite(options.weight_decay),
                "Sgd: weight_decay: expected a finite value >= 0, got {}", options.weight_decay);
    LABOR_CHECK(std::isfinite(options.dampening), "Sgd: dampening: expected a finite value, got {}", options.dampening);
    LABOR_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
                "Sgd: nesterov: expected momentum > 0 and dampening = 0, got momentum {} and dampening {}",
                options.momentum, options.dampening);
    state_.resize(this->num_parameters());
  }

  /// The options (its lr is the initial base rate; see lr() for the current one).
  [[nodiscard]] const SgdOptions& options() const { return options_; }

  /// Per-parameter state, indexed by the parameter's number in group order (for checkpoints).
  [[nodiscard]] std::vector<SgdState<T, D>>& state() { return state_; }
  [[nodiscard]] const std::vector<SgdState<T, D>>& state() const { return state_; }

  /// One update of every trainable parameter from its current `grad`.
  /// @throws labor::Error when a grad or a restored momentum buffer has the wrong shape.
  void step() {
    const bool use_momentum = options_.momentum != 0;
    const auto check = [&](const nn::Parameter<T, D>& p, std::size_t index) {
      const auto& buffer = state_[index].momentum_buffer;
      if (use_momentum && !buffer.empty()) this->check_state(buffer, p, index, "momentum_buffer");
    };
    this->for_each_trainable([&](nn::Parameter<T, D>& p, std::size_t index, double lr) {
      auto& buffer = state_[index].momentum_buffer;
      const bool first = buffer.empty();
      if (use_momentum && first) buffer = Tensor<T, D>::uninitialized(p.value.shape());
      const detail::SgdUpdate<T> update{static_cast<T>(lr),
                                        static_cast<T>(options_.momentum),
                                        static_cast<T>(1.0 - options_.dampening),
                                        static_cast<T>(options_.weight_decay),
                                        use_momentum,
                                        options_.nesterov,
                                        first};
      T* b = use_momentum ? buffer.data() : nullptr;
      for_each_index<D>(p.value.numel(), detail::SgdStep<T>{update, p.value.data(), p.grad.data(), b});
    }, check);
  }

 private:
  SgdOptions options_;
  std::vector<SgdState<T, D>> state_;
};

}  // namespace labor::optim
