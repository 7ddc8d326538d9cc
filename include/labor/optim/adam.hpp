#pragma once
/// @file adam.hpp
/// Adam with bias correction and L2 weight decay; the exact update of `torch.optim.Adam`
/// (amsgrad off).

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

/// Options of Adam; usable with designated initializers (`AdamOptions{.lr = 1e-4, .beta2 = 0.99}`).
struct AdamOptions {
  /// Base learning rate (each group scales it by its lr_mult), ≥ 0.
  double lr = 1e-3;
  /// Decay of the first moment, in [0, 1).
  double beta1 = 0.9;
  /// Decay of the second moment, in [0, 1).
  double beta2 = 0.999;
  /// Added to the bias-corrected √v, ≥ 0.
  double eps = 1e-8;
  /// L2 penalty λ added to the gradient (g + λ·p, not decoupled), ≥ 0.
  double weight_decay = 0;
};

/// Per-parameter state of Adam (PyTorch keeps the step count per parameter too).
template <class T, Device D = cpu>
struct AdamState {
  /// Number of updates this parameter has had.
  std::int64_t step = 0;
  /// First moment m; empty before the first step (then zero-initialised).
  Tensor<T, D> exp_avg;
  /// Second moment v; empty before the first step (then zero-initialised).
  Tensor<T, D> exp_avg_sq;
};

namespace detail {

/// One element of the Adam update (PyTorch's order of operations):
/// g ← g + λ·p; m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
/// p ← p − step_size·m / (√v / √(1 − β2^t) + ε) with step_size = lr / (1 − β1^t).
template <class T>
struct AdamUpdate {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay, eps, neg_step_size, bias_correction2_sqrt;

  LABOR_HOST_DEVICE void operator()(T& p, T g, T& m, T& v) const {
    if (weight_decay != T(0)) g = g + weight_decay * p;
    m = m * beta1 + one_minus_beta1 * g;
    v = v * beta2 + one_minus_beta2 * g * g;
    const T denom = std::sqrt(v) / bias_correction2_sqrt + eps;
    p = p + neg_step_size * m / denom;
  }
};

/// The fused update of one parameter tensor: element i of the value, its gradient and both
/// moments, on either device (for_each_index).
template <class T>
struct AdamStep {
  AdamUpdate<T> update;
  T* value;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;

  LABOR_HOST_DEVICE void operator()(std::int64_t i) const { update(value[i], grad[i], exp_avg[i], exp_avg_sq[i]); }
};

}  // namespace detail

/// Adam over parameter groups with torch.optim.Adam semantics (amsgrad off, L2 decay added to the
/// gradient), on device D (one fused element-wise pass per parameter; on cuda the step is queued on
/// labor's stream). Parameters with `trainable == false` are skipped and keep their step count.
template <class T, Device D = cpu>
class Adam : public GroupedOptimizer<T, D> {
  using Base = GroupedOptimizer<T, D>;

 public:
  /// @throws labor::Error for options out of range, a null parameter or a negative lr_mult.
  explicit Adam(std::vector<ParamGroup<T, D>> groups, const AdamOptions& options = {})
      : Base(std::move(groups), options.lr, "Adam"), options_(options) {
    LABOR_CHECK(options.beta1 >= 0 && options.beta1 < 1, "Adam: beta1: expected in [0, 1), got {}", options.beta1);
    LABOR_CHECK(options.beta2 >= 0 && options.beta2 < 1, "Adam: beta2: expected in [0, 1), got {}", options.beta2);
    LABOR_CHECK(options.eps >= 0 && std::isfinite(options.eps), "Adam: eps: expected a finite value >= 0, got {}",
                options.eps);
    LABOR_CHECK(options.weight_decay >= 0 && std::isfinite(options.weight_decay),
                "Adam: weight_decay: expected a finite value >= 0, got {}", options.weight_decay);
    state_.resize(this->num_parameters());
  }

  /// The options (its lr is the initial base rate; see lr() for the current one).
  [[nodiscard]] const AdamOptions& options() const { return options_; }

  /// Per-parameter state, indexed by the parameter's number in group order (for checkpoints).
  [[nodiscard]] std::vector<AdamState<T, D>>& state() { return state_; }
  [[nodiscard]] const std::vector<AdamState<T, D>>& state() const { return state_; }

  /// One update of every trainable parameter from its current `grad`.
  /// @throws labor::Error when a grad or a restored moment has the wrong shape, or a restored step < 0.
  void step() {
    const auto check = [&](const nn::Parameter<T, D>& p, std::size_t index) {
      const auto& st = state_[index];
      if (!st.exp_avg.empty()) this->check_state(st.exp_avg, p, index, "exp_avg");
      if (!st.exp_avg_sq.empty()) this->check_state(st.exp_avg_sq, p, index, "exp_avg_sq");
      LABOR_CHECK(st.step >= 0, "Adam: state step of parameter {}: expected >= 0, got {}", index, st.step);
    };
    this->for_each_trainable([&](nn::Parameter<T, D>& p, std::size_t index, double lr) {
      auto& st = state_[index];
      if (st.exp_avg.empty()) st.exp_avg = Tensor<T, D>(p.value.shape());
      if (st.exp_avg_sq.empty()) st.exp_avg_sq = Tensor<T, D>(p.value.shape());
      ++st.step;
      const double t = static_cast<double>(st.step);
      const double bias_correction1 = 1.0 - std::pow(options_.beta1, t);
      const double bias_correction2 = 1.0 - std::pow(options_.beta2, t);
      const detail::AdamUpdate<T> update{
          static_cast<T>(options_.beta1),           static_cast<T>(1.0 - options_.beta1),
          static_cast<T>(options_.beta2),           static_cast<T>(1.0 - options_.beta2),
          static_cast<T>(options_.weight_decay),    static_cast<T>(options_.eps),
          static_cast<T>(-(lr / bias_correction1)), static_cast<T>(std::sqrt(bias_correction2))};
      for_each_index<D>(p.value.numel(), detail::AdamStep<T>{update, p.value.data(), p.grad.data(), st.exp_avg.data(),
                                                             st.exp_avg_sq.data()});
    }, check);
  }

 private:
  AdamOptions options_;
  std::vector<AdamState<T, D>> state_;
};

}  // namespace labor::optim
