#pragma once
/// @file loss_bce_with_logits.hpp
/// bce_with_logits on the host (BceWithLogitsKernels<cpu>): one pass, the sum in double in an order
/// that does not depend on the thread count.

#include <atomic>
#include <cstdint>
#include <utility>

#include "labor/core/elementwise.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/bce_with_logits.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss::detail {

template <>
struct BceWithLogitsKernels<cpu> {
  /// bce_with_logits of non-empty `logits` against `targets` (host memory of the logits' shape)
  /// or, when `targets` is null, the finite constant `target`. A non-finite logit is reported
  /// before a non-finite target.
  template <class T>
  static LossResult<T, cpu> run(const Tensor<T, cpu>& logits, const T* targets, T target) {
    if (!targets) return sum(logits, [target](std::int64_t) { return target; });
    std::atomic<bool> bad_target{false};
    auto result = sum(logits, [targets, &bad_target](std::int64_t i) {
      if (!is_finite(targets[i])) bad_target.store(true, std::memory_order_relaxed);
      return targets[i];
    });
    if (bad_target.load()) throw_non_finite("bce_with_logits", "target", targets, logits.shape());
    return result;
  }

 private:
  /// The loss and gradient with `target_of(i)` the target of element i (one instantiation per
  /// kind of target, so the loop has no branch on it); throws for a non-finite logit.
  template <class T, class Target>
  static LossResult<T, cpu> sum(const Tensor<T, cpu>& logits, Target&& target_of) {
    const std::int64_t count = logits.numel();
    const T scale = static_cast<T>(1.0 / static_cast<double>(count));
    auto grad = Tensor<T, cpu>::uninitialized(logits.shape());
    const T* x = logits.data();
    T* g = grad.data();
    std::atomic<bool> bad_logit{false};
    const double total = parallel_sum(0, count, [&](std::int64_t i) -> double {
      const T xi = x[i];
      if (!is_finite(xi)) bad_logit.store(true, std::memory_order_relaxed);
      return static_cast<double>(bce_with_logits_element(xi, target_of(i), scale, g[i]));
    });
    if (bad_logit.load()) throw_non_finite("bce_with_logits", "logits", x, logits.shape());
    return {static_cast<T>(total / static_cast<double>(count)), std::move(grad)};
  }
};

}  // namespace labor::loss::detail
