#pragma once
/// @file entropy.hpp
/// Pixel entropy of class-probability maps: the entropy sampler's score map and an entropy-minimisation
/// loss on logits.

#include <array>
#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "labor/core/error.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_loop.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss {

namespace detail {

/// −Σ_c p_c·log p_c of one pixel (0·log 0 = 0). `valid` is false when a value is negative or not finite.
template <class T>
LABOR_HOST_DEVICE inline T channel_entropy(const T* p, std::int64_t channels, std::int64_t stride, bool& valid) {
  T e = T(0);
  bool ok = true;
  for (std::int64_t c = 0; c < channels; ++c) {
    const T v = p[c * stride];
    ok = ok && is_finite(v) && v >= T(0);
    e += entropy_term(v);
  }
  valid = ok;
  return e;
}

/// One pixel of the entropy loss on logits x: returns H = −Σ_c p_c log p_c for p = softmax(x) and
/// writes g_k = scale·dH/dx_k = −scale·p_k·(log p_k + H). Uses log p_k = x_k − lse, so it is exact
/// for saturated softmaxes. `finite` is false when a logit is not finite.
template <class T>
LABOR_HOST_DEVICE inline T entropy_logits_pixel(const T* x, T* g, std::int64_t channels, std::int64_t stride, T scale,
                                                bool& finite) {
  const T lse = channel_softmax(x, g, channels, stride, finite);
  T h = T(0);
  for (std::int64_t c = 0; c < channels; ++c) h -= g[c * stride] * (x[c * stride] - lse);
  for (std::int64_t c = 0; c < channels; ++c) {
    const T p = g[c * stride];
    g[c * stride] = -scale * p * ((x[c * stride] - lse) + h);
  }
  return h;
}

/// True for a value the entropy map rejects: negative or not finite.
template <class T>
LABOR_HOST_DEVICE inline bool invalid_probability(T v) {
  return !(is_finite(v) && v >= T(0));
}

/// Throws labor::Error for the invalid probability `value` at flat index `i` of `shape`.
[[noreturn]] inline void fail_invalid_probability(const Shape& shape, std::int64_t i, double value) {
  fail("entropy_map: probs at {}: expected a finite value >= 0, got {}", format_position(shape, i), value);
}

/// The device code of entropy_map and entropy_loss (specialised for cuda in backend/cuda/loss_entropy.cuh).
template <Device D>
struct EntropyKernels;

}  // namespace detail

/// The entropy −Σ_c p_c·log p_c (natural log, 0·log 0 = 0) of every pixel of a probability map.
/// @param[in] probs  N×C×H×W, values finite and ≥ 0 (normally a softmax; not renormalised).
/// @return N×H×W entropies, the same layout as label maps (index (n, y, x)). On cuda the call waits
///         for its kernel to check the values.
/// @throws labor::Error for a rank other than 4, an empty tensor, or a negative or non-finite value.
template <class T, Device D = cpu>
Tensor<T, D> entropy_map(const Tensor<T, D>& probs) {
  constexpr const char* fn = "entropy_map";
  detail::check_nchw(fn, "probs", probs.shape());
  if constexpr (!std::is_same_v<D, cpu>) {
    return detail::EntropyKernels<D>::map(probs);
  } else {
    const std::int64_t n = probs.size(0), channels = probs.size(1);
    auto out = Tensor<T, D>::uninitialized(Shape{n, probs.size(2), probs.size(3)});
    const T* p = probs.data();
    T* e = out.data();
    std::atomic<bool> invalid{false};
    (void)detail::reduce_pixels<T, 1, 0>(
        probs.shape(), {p}, {}, [&](std::int64_t i, const std::array<const T*, 1>& in, const std::array<T*, 0>&) {
          bool valid = true;
          e[i] = detail::channel_entropy(in[0], channels, 1, valid);
          if (!valid) invalid.store(true, std::memory_order_relaxed);
          return 0.0;
        });
    if (invalid.load()) {
      for (std::int64_t i = 0; i < probs.numel(); ++i)
        if (detail::invalid_probability(p[i]))
          detail::fail_invalid_probability(probs.shape(), i, static_cast<double>(p[i]));
    }
    return out;
  }
}

/// Mean pixel entropy of softmax(logits) over the N·H·W pixels (entropy minimisation).
/// @param[in] logits  N×C×H×W, finite.
/// @return the value and d value / d logits (N×C×H×W); on cuda the call waits once to read them.
/// @throws labor::Error for a rank other than 4, an empty tensor or a non-finite logit.
template <class T, Device D = cpu>
LossResult<T, D> entropy_loss(const Tensor<T, D>& logits) {
  constexpr const char* fn = "entropy_loss";
  detail::check_nchw(fn, "logits", logits.shape());
  if constexpr (!std::is_same_v<D, cpu>) {
    return detail::EntropyKernels<D>::loss(logits);
  } else {
    const std::int64_t channels = logits.size(1), plane = logits.size(2) * logits.size(3);
    const std::int64_t pixels = logits.size(0) * plane;
    const T scale = static_cast<T>(1.0 / static_cast<double>(pixels));
    auto grad = Tensor<T, D>::uninitialized(logits.shape());
    const T* x = logits.data();
    T* g = grad.data();
    std::atomic<bool> non_finite{false};
    const double total = detail::reduce_pixels<T, 1, 1>(
        logits.shape(), {x}, {g}, [&](std::int64_t, const std::array<const T*, 1>& in, const std::array<T*, 1>& out) {
          bool finite = true;
          const T h = detail::entropy_logits_pixel(in[0], out[0], channels, 1, scale, finite);
          if (!finite) non_finite.store(true, std::memory_order_relaxed);
          return static_cast<double>(h);
        });
    if (non_finite.load()) detail::throw_non_finite(fn, "logits", x, logits.shape());
    return {static_cast<T>(total / static_cast<double>(pixels)), std::move(grad)};
  }
}

}  // namespace labor::loss

#if defined(__CUDACC__)
#include "labor/backend/cuda/loss_entropy.cuh"
#endif
