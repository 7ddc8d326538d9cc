#pragma once
/// @file loss_cross_entropy.hpp
/// cross_entropy on the host (CrossEntropyKernels<cpu>): one pass over the labels validates them
/// and sums the pixel weights Σw, one pass over the logits (reduce_pixels) writes the gradient and
/// sums w_y·nll, both in double in an order that does not depend on the thread count.

#include <array>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "labor/backend/cpu/loss_common.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/cross_entropy.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss::detail {

template <>
struct CrossEntropyKernels<cpu> {
  /// cross_entropy for validated shapes and options; `weight` holds the C class weights in T, or
  /// nothing for unweighted. Throws for a bad label (the first in index order) or a non-finite logit.
  template <class T>
  static LossResult<T, cpu> run(const Tensor<T, cpu>& logits, const Tensor<std::int32_t, cpu>& labels,
                                const std::vector<T>& weight, std::int32_t ignore) {
    const std::int64_t channels = logits.size(1), pixels = labels.numel();
    const bool weighted = !weight.empty();
    const std::int32_t* y = labels.data();
    const T* wt = weight.data();

    // Pass over the labels: validate them and sum the weights of the valid pixels.
    std::atomic<bool> bad_label{false};
    const double weight_sum = parallel_sum(0, pixels, [&](std::int64_t i) -> double {
      const std::int32_t label = y[i];
      if (label == ignore) return 0.0;
      if (label < 0 || label >= channels) {
        bad_label.store(true, std::memory_order_relaxed);
        return 0.0;
      }
      return weighted ? static_cast<double>(wt[label]) : 1.0;
    });
    if (bad_label.load()) {
      for (std::int64_t i = 0; i < pixels; ++i)
        if (y[i] != ignore && (y[i] < 0 || y[i] >= channels)) fail_bad_label(labels.shape(), i, channels, ignore, y[i]);
    }

    // One pass over the logits: loss terms and gradient together.
    const T inv_weight_sum = weight_sum > 0 ? static_cast<T>(1.0 / weight_sum) : T(0);
    auto grad = Tensor<T, cpu>::uninitialized(logits.shape());
    const T* x = logits.data();
    T* g = grad.data();
    std::atomic<bool> non_finite{false};
    const double total = reduce_pixels<T, 1, 1>(
        logits.shape(), {x}, {g}, [&](std::int64_t i, const std::array<const T*, 1>& in, const std::array<T*, 1>& out) {
          const std::int32_t label = y[i];
          const T wy = label == ignore ? T(0) : (weighted ? wt[label] : T(1));
          bool finite = true;
          const double term =
              weighted_cross_entropy_pixel(in[0], out[0], channels, 1, label, wy, inv_weight_sum, finite);
          if (!finite) non_finite.store(true, std::memory_order_relaxed);
          return term;
        });
    if (non_finite.load()) throw_non_finite("cross_entropy", "logits", x, logits.shape());
    const T value = weight_sum > 0 ? static_cast<T>(total / weight_sum) : T(0);
    return {value, std::move(grad)};
  }
};

}  // namespace labor::loss::detail
