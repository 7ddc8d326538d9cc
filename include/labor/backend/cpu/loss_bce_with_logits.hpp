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
    constexpr const char* fn = "bce_with_logits";
    const std::int64_t count = logits.numel();
    const T scale = static_cast<T>(1.0 / static_cast<double>(count));
    auto grad = Tensor<T, cpu>::uninitialized(logits.shape());
    const T* x = logits.data();
    T* g = grad.data();
    std::atomic<bool> bad_logit{false}, bad_target{false};
    const double total = parallel_sum(0, count, [&](std::int64_t i) -> double {
      const T xi = x[i];
      if (!is_finite(xi)) bad_logit.store(true, std::memory_order_relaxed);
      T ti = target;
      if (targets) {
        ti = targets[i];
        if (!is_finite(ti)) bad_target.store(true, std::memory_order_relaxed);
      }
      return static_cast<double>(bce_with_logits_element(xi, ti, scale, g[i]));
    });
    if (bad_logit.load()) throw_non_finite(fn, "logits", x, logits.shape());
    if (bad_target.load()) throw_non_finite(fn, "target", targets, logits.shape());
    return {static_cast<T>(total / static_cast<double>(count)), std::move(grad)};
  }
};

}  // namespace labor::loss::detail
