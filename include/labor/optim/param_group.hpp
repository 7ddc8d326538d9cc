#pragma once
/// @file param_group.hpp
/// Parameter groups with learning-rate multipliers, and the base class the optimizers share:
/// groups, base learning rate, zero_grad and the walk over the trainable parameters. The optimizers
/// run on either device: each parameter's update is one fused element-wise pass
/// (labor::for_each_index<D>) over a LABOR_HOST_DEVICE functor shared by the CPU and the GPU.

#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

#include "labor/core/device.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/parameter.hpp"

namespace labor::optim {

/// A set of parameters sharing one learning-rate multiplier: their learning rate is
/// `lr_mult × the optimizer's base lr` (e.g. 10 for the classifier heads). Aggregate:
/// `ParamGroup<float>{nn::trainable_parameters(head), 10.0}`.
template <class T, Device D = cpu>
struct ParamGroup {
  /// The parameters (not owned; they must outlive the optimizer).
  std::vector<nn::Parameter<T, D>*> params;
  /// Multiplier of the base learning rate, ≥ 0.
  double lr_mult = 1.0;
};

/// The state every optimizer shares: its parameter groups and base learning rate. Parameters are
/// numbered in group order (group 0's parameters first); per-parameter optimizer state uses that index.
template <class T, Device D = cpu>
class GroupedOptimizer {
 public:
  /// The parameter groups.
  [[nodiscard]] const std::vector<ParamGroup<T, D>>& groups() const { return groups_; }

  /// The base learning rate (group g uses lr() × groups()[g].lr_mult).
  [[nodiscard]] double lr() const { return lr_; }

  /// Sets the base learning rate (e.g. from poly_lr each iteration). @throws labor::Error for lr < 0 or non-finite.
  void set_lr(double lr) {
    check_lr(lr);
    lr_ = lr;
  }

  /// Number of parameters over all groups.
  [[nodiscard]] std::size_t num_parameters() const { return count_; }

  /// Sets the gradient of every parameter of every group to zero (on cuda: queued on labor's stream).
  void zero_grad() {
    for (auto& g : groups_)
      for (auto* p : g.params) p->zero_grad();
  }

 protected:
  GroupedOptimizer(std::vector<ParamGroup<T, D>> groups, double lr, const char* name)
      : groups_(std::move(groups)), name_(name) {
    check_lr(lr);
    lr_ = lr;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const double m = groups_[g].lr_mult;
      LABOR_CHECK(std::isfinite(m) && m >= 0, "{}: groups[{}].lr_mult: expected a finite value >= 0, got {}", name_, g,
                  m);
      for (std::size_t k = 0; k < groups_[g].params.size(); ++k)
        LABOR_CHECK(groups_[g].params[k] != nullptr, "{}: groups[{}].params[{}]: expected a parameter, got nullptr",
                    name_, g, k);
      count_ += groups_[g].params.size();
    }
  }

  /// Calls `f(parameter, index, lr)` for every trainable parameter, where `index` is the parameter's
  /// number in group order and `lr` its effective learning rate. Checks value and grad shapes first.
  /// Every check runs before the first update: `check(parameter, index)` (the optimiser's state
  /// shapes) and the grad shapes, so a step that throws changes nothing.
  template <class F, class Check>
  void for_each_trainable(F&& f, Check&& check) {
    for (int pass = 0; pass < 2; ++pass) {
      std::size_t index = 0;
      for (std::size_t g = 0; g < groups_.size(); ++g) {
        const double lr = lr_ * groups_[g].lr_mult;
        for (auto* p : groups_[g].params) {
          if (p->trainable && pass == 0) {
            LABOR_CHECK(p->grad.shape() == p->value.shape(),
                        "{}::step: parameter {} (group {}): grad shape: expected {} (the value's shape), got {}",
                        name_, index, g, p->value.shape(), p->grad.shape());
            check(*p, index);
          } else if (p->trainable) {
            f(*p, index, lr);
          }
          ++index;
        }
      }
    }
  }

  /// Throws unless a per-parameter state tensor (a restored checkpoint, say) has the parameter's shape.
  void check_state(const Tensor<T, D>& state, const nn::Parameter<T, D>& p, std::size_t index, const char* what) const {
    LABOR_CHECK(state.shape() == p.value.shape(), "{}: state {} of parameter {}: expected shape {}, got {}", name_,
                what, index, p.value.shape(), state.shape());
  }

 private:
  void check_lr(double lr) const {
    LABOR_CHECK(std::isfinite(lr) && lr >= 0, "{}: lr: expected a finite value >= 0, got {}", name_, lr);
  }

  std::vector<ParamGroup<T, D>> groups_;
  const char* name_;
  double lr_ = 0;
  std::size_t count_ = 0;
};

}  // namespace labor::optim
