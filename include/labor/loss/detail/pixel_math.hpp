#pragma once
/// @file pixel_math.hpp
/// Per-pixel scalar math shared by the losses and the pseudo-labeler: channel softmax, log-sum-exp
/// and the elementwise loss terms (is_finite and channel_argmax are core's: core/elementwise.hpp,
/// core/labels.hpp). Everything here is `LABOR_HOST_DEVICE` so the CUDA kernels
/// reuse it unchanged: a pixel's C values sit at `x[c * stride]` (stride = H·W in N×C×H×W).

#include <cmath>
#include <cstdint>

#include "labor/core/config.hpp"
#include "labor/core/elementwise.hpp"
#include "labor/core/labels.hpp"

namespace labor::loss::detail {

/// Offset of channel 0 of pixel `i` (flat pixel index n·H·W + y·W + x) in an N×C×H×W map with
/// `plane` = H·W; channel c of that pixel is at offset + c·plane.
LABOR_HOST_DEVICE inline std::int64_t pixel_offset(std::int64_t i, std::int64_t channels, std::int64_t plane) {
  const std::int64_t n = i / plane;
  return n * channels * plane + (i - n * plane);
}


/// max_c x[c·stride]; sets `finite` to false when one of the values is not finite.
template <class T>
LABOR_HOST_DEVICE inline T channel_max(const T* x, std::int64_t channels, std::int64_t stride, bool& finite) {
  T m = x[0];
  bool ok = is_finite(m);
  for (std::int64_t c = 1; c < channels; ++c) {
    const T v = x[c * stride];
    ok = ok && is_finite(v);
    m = v > m ? v : m;
  }
  finite = ok;
  return m;
}

/// Σ_c exp(x[c·stride] − m) for the channel maximum m (the softmax denominator, ≥ 1).
template <class T>
LABOR_HOST_DEVICE inline T channel_exp_sum(const T* x, std::int64_t channels, std::int64_t stride, T m) {
  T s = T(0);
  for (std::int64_t c = 0; c < channels; ++c) s += std::exp(x[c * stride] - m);
  return s;
}

/// Writes p[c·stride] = softmax(x)_c for one pixel; returns the log-sum-exp of x. `finite` is set
/// to false (and the output is unspecified) when an input is not finite. `p` may alias `x`.
template <class T>
LABOR_HOST_DEVICE inline T channel_softmax(const T* x, T* p, std::int64_t channels, std::int64_t stride, bool& finite) {
  const T m = channel_max(x, channels, stride, finite);
  T s = T(0);
  for (std::int64_t c = 0; c < channels; ++c) {
    const T e = std::exp(x[c * stride] - m);
    p[c * stride] = e;
    s += e;
  }
  const T inv = T(1) / s;
  for (std::int64_t c = 0; c < channels; ++c) p[c * stride] *= inv;
  return m + std::log(s);
}


/// −p·log p with 0·log 0 = 0.
template <class T>
LABOR_HOST_DEVICE inline T entropy_term(T p) {
  return p > T(0) ? -p * std::log(p) : T(0);
}

/// Sign of x with sign(0) = 0 (the subgradient of |x| at 0 that PyTorch uses).
template <class T>
LABOR_HOST_DEVICE inline T sign(T x) {
  return static_cast<T>(static_cast<int>(T(0) < x) - static_cast<int>(x < T(0)));  // branch-free
}

/// Binary cross-entropy on a logit, stable for any x: max(x, 0) − x·t + log(1 + exp(−|x|)).
template <class T>
LABOR_HOST_DEVICE inline T bce_with_logits_term(T x, T t) {
  const T ax = x < T(0) ? -x : x;
  return (x > T(0) ? x : T(0)) - x * t + std::log1p(std::exp(-ax));
}

/// The logistic sigmoid 1 / (1 + exp(−x)), without overflow for large |x|.
template <class T>
LABOR_HOST_DEVICE inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

}  // namespace labor::loss::detail
