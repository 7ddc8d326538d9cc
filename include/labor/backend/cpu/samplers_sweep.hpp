#pragma once
/// @file samplers_sweep.hpp
/// The host fast path of the block sweep: the statistics of a block of consecutive pixels of one
/// image (M, ŷ, validity) computed with GCC/Clang vector extensions, so that the per-pixel state
/// stays in registers across the channel loop (the generic BlockStats keeps it in arrays, and host
/// compilers spill them). Host systems only; the results equal those of BlockStats (pixel_math.hpp),
/// which every system runs, and the tests compare the two.

#include <cstdint>
#include <cstring>

#if defined(__SSE__)
#include <immintrin.h>
#endif

#include "labor/core/config.hpp"
#include "labor/samplers/detail/pixel_math.hpp"
#include "labor/samplers/detail/system.hpp"

namespace labor::samplers::detail {

#if LABOR_SAMPLERS_VECTOR_SWEEP

/// Bytes of the widest vector register of the target (AVX-512, AVX, otherwise 16).
#if defined(__AVX512F__)
inline constexpr int sweep_vector_bytes = 64;
#elif defined(__AVX__)
inline constexpr int sweep_vector_bytes = 32;
#else
inline constexpr int sweep_vector_bytes = 16;
#endif

/// One register of float or int32 lanes.
typedef float SweepVecF __attribute__((vector_size(sweep_vector_bytes)));
typedef std::int32_t SweepVecI __attribute__((vector_size(sweep_vector_bytes)));

/// Bit j set where lane j of a comparison result (0 or −1 per lane) is true.
inline std::uint32_t lane_bits(const SweepVecI& m) {
#if defined(__AVX512F__)
  __m512i v;
  std::memcpy(&v, &m, sizeof v);
  return static_cast<std::uint32_t>(_mm512_test_epi32_mask(v, v));
#elif defined(__AVX__)
  __m256 v;
  std::memcpy(&v, &m, sizeof v);
  return static_cast<std::uint32_t>(_mm256_movemask_ps(v));
#elif defined(__SSE__)
  __m128 v;
  std::memcpy(&v, &m, sizeof v);
  return static_cast<std::uint32_t>(_mm_movemask_ps(v));
#else
  std::uint32_t b = 0;
  for (int j = 0; j < static_cast<int>(sizeof m / sizeof m[0]); ++j) b |= static_cast<std::uint32_t>(m[j] & 1) << j;
  return b;
#endif
}

#else

inline constexpr int sweep_vector_bytes = 16;

#endif

/// Statistics of `pixels` consecutive pixels of one image (4 registers of lanes: 64 pixels with
/// AVX-512, 32 with AVX, 16 otherwise) in one sweep over the channels. Bit j of `diff`: argmax p1 ≠
/// argmax p2 at pixel j (M); of `bad`: the pixel is not a probability vector (as BlockStats::bad);
/// of `tie`: a float sum p1 + p2 tied with the running maximum, so ŷ must be recomputed in double
/// (mean_argmax). `yhat[j]`: ŷ where the tie bit is clear. Argmax: lowest index on ties.
struct SweepBlock {
  static constexpr int lanes = sweep_vector_bytes / 4;
  static constexpr int vectors = 4;
  static constexpr int pixels = lanes * vectors;
  static_assert(pixels <= 64 && pixels % 16 == 0, "one bit per pixel in a 64-bit word, whole BlockStats");

  std::uint64_t diff = 0, bad = 0, tie = 0;
  std::int32_t yhat[pixels];

  /// Sweeps pixels [0, pixels) at p1[j], p2[j] with channel stride hw; channels >= 1.
  void compute(const float* LABOR_RESTRICT p1, const float* LABOR_RESTRICT p2, std::int64_t hw, int channels) {
#if LABOR_SAMPLERS_VECTOR_SWEEP
    // Per group u of `lanes` pixels: running maxima and their channels for p1, p2 and p1 + p2, and
    // the channel sums. The lanes of all groups share one running minimum (a negative value only
    // occurs in input that is rejected) and one tie flag (a tie in any group marks that lane of
    // every group for the exact recomputation), which keeps the state within the registers.
    SweepVecF m1[vectors], m2[vectors], mf[vectors], s1[vectors], s2[vectors];
    SweepVecI i1[vectors], i2[vectors], ib[vectors];
    const SweepVecI zero = {};
    SweepVecF lo;
    SweepVecI tv = zero;
    for (int u = 0; u < vectors; ++u) {
      SweepVecF v1, v2;
      std::memcpy(&v1, p1 + u * lanes, sizeof v1);
      std::memcpy(&v2, p2 + u * lanes, sizeof v2);
      m1[u] = v1;
      m2[u] = v2;
      mf[u] = v1 + v2;
      s1[u] = v1;
      s2[u] = v2;
      const SweepVecF lv = v1 < v2 ? v1 : v2;
      if (u == 0) {
        lo = lv;
      } else {
        lo = lv < lo ? lv : lo;
      }
      i1[u] = i2[u] = ib[u] = zero;
    }
    for (int c = 1; c < channels; ++c) {
      const SweepVecI cv = zero + c;
      const float* LABOR_RESTRICT q1 = p1 + c * hw;
      const float* LABOR_RESTRICT q2 = p2 + c * hw;
      for (int u = 0; u < vectors; ++u) {
        SweepVecF v1, v2;
        std::memcpy(&v1, q1 + u * lanes, sizeof v1);
        std::memcpy(&v2, q2 + u * lanes, sizeof v2);
        s1[u] += v1;
        s2[u] += v2;
        // A negative value lowers the running minimum; a NaN makes its channel sum NaN instead.
        const SweepVecF lv = v1 < v2 ? v1 : v2;
        lo = lv < lo ? lv : lo;
        const SweepVecI g1 = v1 > m1[u], g2 = v2 > m2[u];
        i1[u] = g1 ? cv : i1[u];
        m1[u] = g1 ? v1 : m1[u];
        i2[u] = g2 ? cv : i2[u];
        m2[u] = g2 ? v2 : m2[u];
        const SweepVecF f = v1 + v2;
        tv |= f == mf[u];
        const SweepVecI gb = f > mf[u];
        ib[u] = gb ? cv : ib[u];
        mf[u] = gb ? f : mf[u];
      }
    }
    if (lane_bits(~(lo >= 0.0f)) != 0) return exact(p1, p2, hw, channels);
    const float tol = static_cast<float>(probability_tolerance);
    const std::uint64_t tie_lanes = lane_bits(tv);
    diff = bad = tie = 0;
    for (int u = 0; u < vectors; ++u) {
      const SweepVecF e1 = s1[u] - 1.0f, e2 = s2[u] - 1.0f;
      const SweepVecF a1 = e1 < 0.0f ? -e1 : e1, a2 = e2 < 0.0f ? -e2 : e2;
      const int shift = u * lanes;
      bad |= static_cast<std::uint64_t>(lane_bits(~((a1 <= tol) & (a2 <= tol)))) << shift;
      diff |= static_cast<std::uint64_t>(lane_bits(i1[u] != i2[u])) << shift;
      tie |= tie_lanes << shift;
      std::memcpy(yhat + shift, &ib[u], sizeof ib[u]);
    }
#else
    exact(p1, p2, hw, channels);
#endif
  }

 private:
  /// The statistics from BlockStats (ŷ exact everywhere, no tie bits): without vector extensions,
  /// and for blocks with a negative value.
  void exact(const float* p1, const float* p2, std::int64_t hw, int channels) {
    diff = bad = tie = 0;
    for (int u = 0; u < pixels; u += 16) {
      BlockStats<16, stat_none> s;
      s.compute(p1 + u, p2 + u, hw, channels, 16);
      for (int j = 0; j < 16; ++j) {
        diff |= static_cast<std::uint64_t>(s.a1[j] != s.a2[j]) << (u + j);
        bad |= static_cast<std::uint64_t>(s.bad[j]) << (u + j);
        yhat[u + j] = s.yhat[j];
      }
    }
  }
};

}  // namespace labor::samplers::detail
