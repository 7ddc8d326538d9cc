#pragma once
/// @file loss_discrepancy.hpp
/// discrepancy and discrepancy_probs on the host (DiscrepancyKernels<cpu>): one pass each, the sum
/// in double in an order that does not depend on the thread count.

#include <array>
#include <atomic>
#include <cstdint>
#include <utility>

#include "labor/backend/cpu/loss_common.hpp"
#include "labor/core/elementwise.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/discrepancy.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss::detail {

template <>
struct DiscrepancyKernels<cpu> {
  /// discrepancy of checked logit maps of one shape; a non-finite value of logits_a is reported
  /// before one of logits_b.
  template <class T>
  static PairLossResult<T, cpu> logits(const Tensor<T, cpu>& logits_a, const Tensor<T, cpu>& logits_b) {
    constexpr const char* fn = "discrepancy";
    const std::int64_t channels = logits_a.size(1);
    const T scale = static_cast<T>(1.0 / static_cast<double>(logits_a.numel()));
    auto grad_a = Tensor<T, cpu>::uninitialized(logits_a.shape());
    auto grad_b = Tensor<T, cpu>::uninitialized(logits_a.shape());
    const T* a = logits_a.data();
    const T* b = logits_b.data();
    T* ga = grad_a.data();
    T* gb = grad_b.data();
    std::atomic<bool> non_finite{false};
    const double total = reduce_pixels<T, 2, 2>(
        logits_a.shape(), {a, b}, {ga, gb},
        [&](std::int64_t, const std::array<const T*, 2>& in, const std::array<T*, 2>& out) {
          bool finite = true;
          const T s = discrepancy_pixel(in[0], in[1], out[0], out[1], channels, 1, scale, finite);
          if (!finite) non_finite.store(true, std::memory_order_relaxed);
          return static_cast<double>(s);
        });
    if (non_finite.load()) {
      for (std::int64_t i = 0; i < logits_a.numel(); ++i)
        if (!is_finite(a[i])) throw_non_finite(fn, "logits_a", a, logits_a.shape());
      throw_non_finite(fn, "logits_b", b, logits_b.shape());
    }
    return {static_cast<T>(total / static_cast<double>(logits_a.numel())), std::move(grad_a), std::move(grad_b)};
  }

  /// discrepancy_probs of checked maps of one shape; a non-finite value of probs_a is reported
  /// before one of probs_b.
  template <class T>
  static PairLossResult<T, cpu> probs(const Tensor<T, cpu>& probs_a, const Tensor<T, cpu>& probs_b) {
    constexpr const char* fn = "discrepancy_probs";
    const std::int64_t count = probs_a.numel();
    const T scale = static_cast<T>(1.0 / static_cast<double>(count));
    auto grad_a = Tensor<T, cpu>::uninitialized(probs_a.shape());
    auto grad_b = Tensor<T, cpu>::uninitialized(probs_a.shape());
    const T* p = probs_a.data();
    const T* q = probs_b.data();
    T* ga = grad_a.data();
    T* gb = grad_b.data();
    std::atomic<bool> non_finite{false};
    const double total = parallel_sum(0, count, [&](std::int64_t i) -> double {
      if (!is_finite(p[i]) || !is_finite(q[i])) non_finite.store(true, std::memory_order_relaxed);
      return static_cast<double>(discrepancy_probs_element(p[i], q[i], scale, ga[i], gb[i]));
    });
    if (non_finite.load()) {
      for (std::int64_t i = 0; i < count; ++i)
        if (!is_finite(p[i])) throw_non_finite(fn, "probs_a", p, probs_a.shape());
      throw_non_finite(fn, "probs_b", q, probs_b.shape());
    }
    return {static_cast<T>(total / static_cast<double>(count)), std::move(grad_a), std::move(grad_b)};
  }
};

}  // namespace labor::loss::detail
