#pragma once
/// @file pixel_math.hpp
/// Per-pixel math of the samplers, shared by every Thrust system. A pixel's C probabilities sit at
/// `p[c * hw]` (N×C×H×W layout). The functors work on a block of `len ≤ B` consecutive pixels with
/// the channel loop outside and the pixel loop inside, so host compilers vectorise the pixel loop;
/// CUDA uses B = 1 (one thread per pixel, coalesced across threads).
///
/// Numerics, chosen so that ties are exact and results identical on every device and thread count:
/// p̄ = (p1 + p2)/2 is formed in double (exact up to one rounding of the sum); Σ|p1 − p2| and the
/// entropy are sums of per-channel terms rounded to fixed point, so the sum does not depend on the
/// channel order; the margin is one double subtraction.

#include <bit>
#include <cmath>
#include <cstdint>

#include "labor/core/config.hpp"

namespace labor::samplers::detail {

/// Unrolls the channel loop of BlockStats in device code, so that a CUDA thread (one pixel) has the
/// loads of several channels in flight; host compilers keep their own loop (and see nothing).
#if defined(__CUDA_ARCH__)
#define LABOR_SAMPLERS_DEVICE_UNROLL _Pragma("unroll 4")
#else
#define LABOR_SAMPLERS_DEVICE_UNROLL
#endif

/// Largest deviation of a channel sum from 1 that still counts as a probability vector.
inline constexpr double probability_tolerance = 1e-3;
/// Fixed-point scale of the Σ_c |p1 − p2| key (the sum is ≤ 2 for probabilities).
inline constexpr double l1_scale = 1152921504606846976.0;  // 2^60
/// Fixed-point scale of the entropy key (terms −p log p ≤ 1/e; C up to ~80000 fits in int64).
inline constexpr double entropy_scale = 281474976710656.0;  // 2^48
/// Fixed-point scale of p̄ in the PPL prototype sums (up to 2^27 pixels per class fit in int64).
inline constexpr double proto_scale = 68719476736.0;  // 2^36
/// Fixed-point scale of RIPU's pixel entropy (float terms; a sum ≤ log 65536 < 12 fits in int32).
inline constexpr float entropy24_scale = 16777216.0f;  // 2^24
/// Sentinel "no bad pixel" for the first-bad-pixel reduction.
inline constexpr std::int64_t no_bad_pixel = INT64_MAX;

/// Rounds a non-negative value `x · scale` to the nearest integer; NaN and negative values give 0,
/// values beyond int64 saturate (they only occur for input that fails validation).
LABOR_HOST_DEVICE inline std::int64_t to_fixed(double x, double scale) {
  const double y = x * scale;
  if (!(y >= 0.0)) return 0;
  if (y >= 9.2e18) return INT64_MAX;
  return static_cast<std::int64_t>(y + 0.5);
}

/// −p·log p with 0·log 0 = 0, as a fixed-point term of the entropy key.
LABOR_HOST_DEVICE inline std::int64_t entropy_term(double p) {
  return p > 0.0 ? to_fixed(-p * std::log(p), entropy_scale) : 0;
}

/// a·b + c with one rounding where the host has fused multiply-add (x86-64 with FMA, AArch64) and
/// on CUDA devices, so that a compiler cannot contract some products and not others: the same bits
/// on both. Without FMA, a·b + c with two roundings (such a host agrees with itself only).
LABOR_HOST_DEVICE inline float fused(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#elif defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

/// log x for a normal float x > 0 from +, ×, ÷, fused multiply-adds and bit operations only (no
/// library call), so that host compilers vectorise it and the host and CUDA devices compute the
/// same bits: x = m·2^e with m ∈ [√½, √2), log m = 2·atanh t with t = (m − 1)/(m + 1), |t| ≤ 0.172,
/// by its series to t⁹ (truncation below 2^-27 of log m). Relative error ≈ 1e-7.
LABOR_HOST_DEVICE inline float log_approx(float x) {
#if defined(__CUDA_ARCH__)
  const std::uint32_t bits = __float_as_uint(x);
#else
  const auto bits = std::bit_cast<std::uint32_t>(x);
#endif
  constexpr std::uint32_t sqrt_half = 0x3f3504f3u;  // bits of √½
  const std::uint32_t shifted = bits - sqrt_half;
  const auto e = static_cast<float>(static_cast<std::int32_t>(shifted) >> 23);
  const std::uint32_t mbits = (shifted & 0x007fffffu) + sqrt_half;
#if defined(__CUDA_ARCH__)
  const float m = __uint_as_float(mbits);
#else
  const auto m = std::bit_cast<float>(mbits);
#endif
  const float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
  const float series = fused(t2, fused(t2, fused(t2, fused(t2, 0.2222222f, 0.2857143f), 0.4f), 0.6666667f), 2.0f);
  return fused(e, 0.6931472f, t * series);
}

/// −p·log p as a fixed-point term of RIPU's pixel entropy (scale 2^24), branch-free so that the
/// block sweep vectorises: p + 2^-100 keeps log_approx's argument normal (it changes no p above
/// 2^-76, and every term below that rounds to 0); a negative or NaN result (only for values that
/// are not probabilities, which validation reports) gives 0.
LABOR_HOST_DEVICE inline std::int32_t entropy24_term(float p) {
  const float q = p + 7.8886091e-31f;  // 2^-100
  const float v = -q * log_approx(q) * entropy24_scale;
  return static_cast<std::int32_t>((v > 0.0f ? v : 0.0f) + 0.5f);
}

/// PPL's min-distance test: true when in-image pixels `a` and `b` of an image of width `w` lie at
/// Chebyshev distance max(|Δy|, |Δx|) < `min_distance`. Every path's walk applies it.
LABOR_HOST_DEVICE inline bool chebyshev_close(std::int64_t a, std::int64_t b, std::int64_t w, double min_distance) {
  const std::int64_t ay = a / w, ax = a - ay * w, by = b / w, bx = b - by * w;
  const std::int64_t dy = ay > by ? ay - by : by - ay, dx = ax > bx ? ax - bx : bx - ax;
  return static_cast<double>(dy > dx ? dy : dx) < min_distance;
}

/// Index of the largest of `len` values at `p[c * hw]` (lowest index on ties; NaN never wins).
LABOR_HOST_DEVICE inline int argmax_channels(const float* p, std::int64_t hw, int channels) {
  int best = 0;
  float m = p[0];
  for (int c = 1; c < channels; ++c) {
    const float v = p[c * hw];
    if (v > m || (m != m && v == v)) {
      m = v;
      best = c;
    }
  }
  return best;
}

/// ŷ = argmax_c (p1 + p2)/2 of one pixel, lowest index on ties (compared in double).
LABOR_HOST_DEVICE inline int mean_argmax(const float* p1, const float* p2, std::int64_t hw, int channels) {
  int best = 0;
  double m = static_cast<double>(p1[0]) + static_cast<double>(p2[0]);
  for (int c = 1; c < channels; ++c) {
    const double v = static_cast<double>(p1[c * hw]) + static_cast<double>(p2[c * hw]);
    if (v > m) {
      m = v;
      best = c;
    }
  }
  return best;
}

/// Σ_c |p1 − p2| of one pixel as the fixed-point SPL cap key: the sum BlockStats forms with stat_l1.
LABOR_HOST_DEVICE inline std::int64_t l1_key(const float* p1, const float* p2, std::int64_t hw, int channels) {
  std::int64_t k = 0;
  for (int c = 0; c < channels; ++c) {
    const double d1 = static_cast<double>(p1[c * hw]), d2 = static_cast<double>(p2[c * hw]);
    k += to_fixed(d1 > d2 ? d1 - d2 : d2 - d1, l1_scale);
  }
  return k;
}

/// p̄_c = (p1_c + p2_c)/2 of one channel value pair, in double.
LABOR_HOST_DEVICE inline double mean_prob(float a, float b) {
  return 0.5 * (static_cast<double>(a) + static_cast<double>(b));
}

/// What a block pass computes besides M, ŷ and the validity of each pixel.
enum StatBits : unsigned {
  stat_none = 0,
  stat_l1 = 1u << 0,         ///< Σ_c |p1 − p2| as fixed point (SPL cap key)
  stat_entropy = 1u << 1,    ///< entropy of p̄ as fixed point
  stat_margin = 1u << 2,     ///< top-1 − top-2 of p̄ (double)
  stat_entropy24 = 1u << 3,  ///< entropy of p̄ from float terms as fixed point 2^-24 (RIPU; vectorised)
};

/// Statistics of a block of up to B consecutive pixels of one image, computed in one sweep over
/// the channels of both maps. `a1`, `a2`: argmax of p1 and p2; `yhat`: argmax of p̄ (all lowest
/// index on ties; compared on float sums, recomputed in double where the float sums tie); `bad`:
/// the pixel is not a probability vector in p1 or p2 (a value negative or NaN, or a channel sum,
/// accumulated in float in channel order, off 1 by more than `probability_tolerance`, Inf included).
template <int B, unsigned What>
struct BlockStats {
  int a1[B], a2[B], yhat[B];
  bool bad[B];
  std::int64_t l1[B];
  std::int64_t entropy[B];
  std::int32_t entropy24[B];
  double margin[B];

  /// Computes the statistics of pixels [0, len) at p1[j], p2[j] (channel stride hw), len ≤ B.
  LABOR_HOST_DEVICE void compute(const float* LABOR_RESTRICT p1, const float* LABOR_RESTRICT p2, std::int64_t hw,
                                 int channels, int len) {
    if (len == B) {
      sweep<B>(p1, p2, hw, channels, B);
    } else {
      sweep<0>(p1, p2, hw, channels, len);
    }
  }

 private:
  /// The channel sweep; L > 0 fixes the pixel count at compile time (full blocks, vectorised),
  /// L = 0 takes `len` at run time (the last block of an image).
  template <int L>
  LABOR_HOST_DEVICE void sweep(const float* LABOR_RESTRICT p1, const float* LABOR_RESTRICT p2, std::int64_t hw,
                               int channels, int len_rt) {
    const int len = L > 0 ? L : len_rt;
    constexpr bool exact_sums = (What & (stat_l1 | stat_margin)) != 0;
    float m1[B], m2[B], mf[B], s1[B], s2[B];
    double t1[B], t2[B];
    int neg[B], i1[B], i2[B], ib[B], tie[B];
    std::int64_t k1[B];
    for (int j = 0; j < len; ++j) {
      m1[j] = p1[j];
      m2[j] = p2[j];
      mf[j] = p1[j] + p2[j];
      i1[j] = i2[j] = ib[j] = tie[j] = 0;
      s1[j] = s2[j] = 0.0f;
      neg[j] = 0;
      k1[j] = entropy[j] = 0;
      entropy24[j] = 0;
      t1[j] = t2[j] = -1.0;
    }
    LABOR_SAMPLERS_DEVICE_UNROLL
    for (int c = 0; c < channels; ++c) {
      const float* LABOR_RESTRICT q1 = p1 + c * hw;
      const float* LABOR_RESTRICT q2 = p2 + c * hw;
      LABOR_OMP_SIMD
      for (int j = 0; j < len; ++j) {
        const float v1 = q1[j], v2 = q2[j];
        // Branch-free updates (selects and integer masks) keep the vectorised loop free of jumps.
        neg[j] |= static_cast<int>(!(v1 >= 0.0f)) | static_cast<int>(!(v2 >= 0.0f));
        s1[j] += v1;
        s2[j] += v2;
        const int g1 = -static_cast<int>(v1 > m1[j]), g2 = -static_cast<int>(v2 > m2[j]);
        m1[j] = v1 > m1[j] ? v1 : m1[j];
        i1[j] = (c & g1) | (i1[j] & ~g1);
        m2[j] = v2 > m2[j] ? v2 : m2[j];
        i2[j] = (c & g2) | (i2[j] & ~g2);
        // ŷ on the float sum: rounding is monotone, so it can only merge distinct sums into a tie;
        // a tie with the running maximum (c > 0) marks the pixel for an exact recomputation below.
        const float f = v1 + v2;
        const int gb = -static_cast<int>(f > mf[j]);
        tie[j] |= static_cast<int>(f == mf[j]) & static_cast<int>(c > 0);
        mf[j] = f > mf[j] ? f : mf[j];
        ib[j] = (c & gb) | (ib[j] & ~gb);
        if constexpr ((What & stat_entropy24) != 0) entropy24[j] += entropy24_term(0.5f * f);
        if constexpr (exact_sums) {
          const double d1 = static_cast<double>(v1), d2 = static_cast<double>(v2);
          if constexpr ((What & stat_l1) != 0) k1[j] += to_fixed(d1 > d2 ? d1 - d2 : d2 - d1, l1_scale);
          if constexpr ((What & stat_margin) != 0) {
            const double pb = 0.5 * (d1 + d2);
            const bool top = pb > t1[j];
            t2[j] = top ? t1[j] : (pb > t2[j] ? pb : t2[j]);
            t1[j] = top ? pb : t1[j];
          }
        }
      }
      if constexpr ((What & stat_entropy) != 0) {
        for (int j = 0; j < len; ++j)
          entropy[j] += entropy_term(0.5 * (static_cast<double>(q1[j]) + static_cast<double>(q2[j])));
      }
    }
    for (int j = 0; j < len; ++j) {
      a1[j] = i1[j];
      a2[j] = i2[j];
      yhat[j] = tie[j] ? mean_argmax(p1 + j, p2 + j, hw, channels) : ib[j];
      l1[j] = k1[j];
      const float e1 = s1[j] - 1.0f, e2 = s2[j] - 1.0f;
      bad[j] = neg[j] != 0 || !((e1 < 0 ? -e1 : e1) <= static_cast<float>(probability_tolerance)) ||
               !((e2 < 0 ? -e2 : e2) <= static_cast<float>(probability_tolerance));
      if constexpr ((What & stat_margin) != 0) margin[j] = t1[j] - (channels > 1 ? t2[j] : 0.0);
    }
  }
};

}  // namespace labor::samplers::detail
