#pragma once
/// @file loss_entropy.hpp
/// entropy_map and entropy_loss on the host (EntropyKernels<cpu>): one reduce_pixels pass each.

#include <array>
#include <atomic>
#include <cstdint>
#include <utility>

#include "labor/backend/cpu/loss_common.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/entropy.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss::detail {

template <>
struct EntropyKernels<cpu> {
  /// entropy_map of a checked N×C×H×W map; throws for the first invalid probability in index order.
  template <class T>
  static Tensor<T, cpu> map(const Tensor<T, cpu>& probs) {
    const std::int64_t n = probs.size(0), channels = probs.size(1);
    auto out = Tensor<T, cpu>::uninitialized(Shape{n, probs.size(2), probs.size(3)});
    const T* p = probs.data();
    T* e = out.data();
    std::atomic<bool> invalid{false};
    (void)reduce_pixels<T, 1, 0>(probs.shape(), {p}, {},
                                 [&](std::int64_t i, const std::array<const T*, 1>& in, const std::array<T*, 0>&) {
                                   bool valid = true;
                                   e[i] = channel_entropy(in[0], channels, 1, valid);
                                   if (!valid) invalid.store(true, std::memory_order_relaxed);
                                   return 0.0;
                                 });
    if (invalid.load()) {
      for (std::int64_t i = 0; i < probs.numel(); ++i)
        if (invalid_probability(p[i])) fail_invalid_probability(probs.shape(), i, static_cast<double>(p[i]));
    }
    return out;
  }

  /// entropy_loss of checked N×C×H×W logits; throws for a non-finite logit.
  template <class T>
  static LossResult<T, cpu> loss(const Tensor<T, cpu>& logits) {
    const std::int64_t channels = logits.size(1), plane = logits.size(2) * logits.size(3);
    const std::int64_t pixels = logits.size(0) * plane;
    const T scale = static_cast<T>(1.0 / static_cast<double>(pixels));
    auto grad = Tensor<T, cpu>::uninitialized(logits.shape());
    const T* x = logits.data();
    T* g = grad.data();
    std::atomic<bool> non_finite{false};
    const double total = reduce_pixels<T, 1, 1>(
        logits.shape(), {x}, {g}, [&](std::int64_t, const std::array<const T*, 1>& in, const std::array<T*, 1>& out) {
          bool finite = true;
          const T h = entropy_logits_pixel(in[0], out[0], channels, 1, scale, finite);
          if (!finite) non_finite.store(true, std::memory_order_relaxed);
          return static_cast<double>(h);
        });
    if (non_finite.load()) throw_non_finite("entropy_loss", "logits", x, logits.shape());
    return {static_cast<T>(total / static_cast<double>(pixels)), std::move(grad)};
  }
};

}  // namespace labor::loss::detail
