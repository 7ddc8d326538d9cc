#pragma once
/// @file entropy.hpp
/// Pixel entropy of class-probability maps: the entropy sampler's score map and an entropy-minimisation
/// loss on logits.

#include <cstdint>

#include "labor/core/error.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
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

/// The device code of entropy_map and entropy_loss: `map` and `loss`; cpu in
/// backend/cpu/loss_entropy.hpp, cuda in backend/cuda/loss_entropy.cuh.
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
  return detail::EntropyKernels<D>::map(probs);
}

/// Mean pixel entropy of softmax(logits) over the N·H·W pixels (entropy minimisation).
/// @param[in] logits  N×C×H×W, finite.
/// @return the value and d value / d logits (N×C×H×W); on cuda the call waits once to read them.
/// @throws labor::Error for a rank other than 4, an empty tensor or a non-finite logit.
template <class T, Device D = cpu>
LossResult<T, D> entropy_loss(const Tensor<T, D>& logits) {
  constexpr const char* fn = "entropy_loss";
  detail::check_nchw(fn, "logits", logits.shape());
  return detail::EntropyKernels<D>::loss(logits);
}

}  // namespace labor::loss

#include "labor/backend/cpu/loss_entropy.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/loss_entropy.cuh"
#endif
