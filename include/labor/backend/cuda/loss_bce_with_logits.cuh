#pragma once
/// @file loss_bce_with_logits.cuh
/// bce_with_logits on the GPU: one deterministic sum over the elements, each thread writing its
/// gradient with bce_with_logits_element and flagging non-finite logits and targets.

#include <cstdint>
#include <utility>

#include "labor/backend/cuda/loss_common.cuh"
#include "labor/core/tensor.hpp"
#include "labor/loss/bce_with_logits.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss::detail {

/// Per element: grad = scale·(σ(x) − t) and the returned loss term, t = targets[i] or, without a
/// target map, the constant `target`. Flags non-finite logits and map targets.
template <class T>
struct BceWithLogitsElement {
  const T* logits;
  const T* targets;  // null: the constant target
  T target, scale;
  T* grad;
  unsigned long long* bad_logit;
  unsigned long long* bad_target;

  __device__ double operator()(std::int64_t i) const {
    const T x = logits[i];
    if (!is_finite(x)) flag_index(bad_logit, i);
    T t = target;
    if (targets != nullptr) {
      t = targets[i];
      if (!is_finite(t)) flag_index(bad_target, i);
    }
    return static_cast<double>(bce_with_logits_element(x, t, scale, grad[i]));
  }
};

template <>
struct BceWithLogitsKernels<cuda> {
  /// bce_with_logits of non-empty `logits` against `targets` (device memory of the logits' shape)
  /// or, when `targets` is null, the finite constant `target`. Throws the CPU's errors for a
  /// non-finite logit (reported first) or target.
  template <class T>
  static LossResult<T, cuda> run(const Tensor<T, cuda>& logits, const T* targets, T target) {
    const std::int64_t count = logits.numel();
    const T scale = static_cast<T>(1.0 / static_cast<double>(count));
    auto grad = Tensor<T, cuda>::uninitialized(logits.shape());
    DeviceLossStatus status;  // index 0: non-finite logit, index 1: non-finite target
    queue_sum(count,
              BceWithLogitsElement<T>{logits.data(), targets, target, scale, grad.data(), status.first_bad(0),
                                      status.first_bad(1)},
              status.sum(0));
    const LossStatus s = status.read();
    if (s.first_bad[0] != no_index) {
      const std::int64_t i = flagged(s.first_bad[0]);
      fail_non_finite_at("bce_with_logits", "logits", logits.shape(), i,
                         static_cast<double>(read_element(logits.data(), i)));
    }
    if (s.first_bad[1] != no_index) {
      const std::int64_t i = flagged(s.first_bad[1]);
      fail_non_finite_at("bce_with_logits", "target", logits.shape(), i, static_cast<double>(read_element(targets, i)));
    }
    return {static_cast<T>(s.sum[0] / static_cast<double>(count)), std::move(grad)};
  }
};

}  // namespace labor::loss::detail
