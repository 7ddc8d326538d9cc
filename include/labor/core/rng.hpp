#pragma once
/// @file rng.hpp
/// Counter-based random numbers (Philox-4x32-10, Salmon et al. 2011). The value for element `i`
/// depends only on (seed, offset + i), so CPU threads and GPU threads produce the same stream.

#include <cmath>
#include <cstdint>

#include "labor/core/config.hpp"
#include "labor/core/device.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"

namespace labor {

namespace detail {

struct U32x4 {
  std::uint32_t v[4];
};

LABOR_HOST_DEVICE inline std::uint32_t mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t* hi) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  *hi = static_cast<std::uint32_t>(p >> 32);
  return static_cast<std::uint32_t>(p);
}

/// Philox-4x32 with 10 rounds: a bijection of the 128-bit counter under a 64-bit key.
LABOR_HOST_DEVICE inline U32x4 philox4x32_10(U32x4 ctr, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
  constexpr std::uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    std::uint32_t hi0, hi1;
    const std::uint32_t lo0 = mulhilo32(m0, ctr.v[0], &hi0);
    const std::uint32_t lo1 = mulhilo32(m1, ctr.v[2], &hi1);
    ctr = U32x4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += w0;
    k1 += w1;
  }
  return ctr;
}

/// Uniform float in [0, 1) from the top 24 bits of `x`.
LABOR_HOST_DEVICE inline float u32_to_unit_float(std::uint32_t x) {
  return static_cast<float>(x >> 8) * (1.0f / 16777216.0f);
}
/// Uniform double in [0, 1) from 53 bits.
LABOR_HOST_DEVICE inline double u64_to_unit_double(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t x = (static_cast<std::uint64_t>(hi) << 32 | lo) >> 11;
  return static_cast<double>(x) * (1.0 / 9007199254740992.0);
}

}  // namespace detail

/// A stateless view of one random stream: `bits(i)` is the i-th 128-bit block of the stream
/// (seed, offset). Trivially copyable, usable in device code.
struct PhiloxStream {
  std::uint64_t seed = 0;
  std::uint64_t offset = 0;

  /// Four 32-bit words for element `i` of the stream.
  LABOR_HOST_DEVICE detail::U32x4 bits(std::uint64_t i) const {
    const std::uint64_t c = offset + i;
    return detail::philox4x32_10(
        detail::U32x4{{static_cast<std::uint32_t>(c), static_cast<std::uint32_t>(c >> 32), 0u, 0u}},
        static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  }

  /// Uniform value in [0, 1) for element `i` (float: 24 bits, double: 53 bits).
  template <class T>
  LABOR_HOST_DEVICE T uniform(std::uint64_t i) const {
    const auto b = bits(i);
    if constexpr (sizeof(T) >= 8) {
      return static_cast<T>(detail::u64_to_unit_double(b.v[0], b.v[1]));
    } else {
      return static_cast<T>(detail::u32_to_unit_float(b.v[0]));
    }
  }

  /// Standard normal value for element `i` (Box-Muller on two words of the block).
  template <class T>
  LABOR_HOST_DEVICE T normal(std::uint64_t i) const {
    const auto b = bits(i);
    // u1 in (0, 1] so the log is finite.
    const double u1 = 1.0 - detail::u64_to_unit_double(b.v[0], b.v[1]);
    const double u2 = detail::u64_to_unit_double(b.v[2], b.v[3]);
    return static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

  /// Uniform value in [lo, hi) for element `i`. One fused multiply-add, so host and device
  /// round identically.
  template <class T>
  LABOR_HOST_DEVICE T uniform(std::uint64_t i, T lo, T hi) const {
    return std::fma(hi - lo, uniform<T>(i), lo);
  }

  /// N(mean, stddev²) value for element `i` (one fused multiply-add on the standard normal).
  template <class T>
  LABOR_HOST_DEVICE T normal(std::uint64_t i, T mean, T stddev) const {
    return std::fma(stddev, normal<T>(i), mean);
  }
};

/// A seeded random generator. Each draw of n values consumes n counters, so the sequence of
/// values is a pure function of the seed and the order of draws, on any device and thread count.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) : seed_(seed) {}

  [[nodiscard]] std::uint64_t seed() const { return seed_; }
  [[nodiscard]] std::uint64_t offset() const { return offset_; }
  /// Restores a position saved with offset() (checkpoint resume).
  void set_offset(std::uint64_t offset) { offset_ = offset; }

  /// Reserves `n` counters and returns the stream positioned at the first of them.
  PhiloxStream take(std::uint64_t n) {
    PhiloxStream s{seed_, offset_};
    offset_ += n;
    return s;
  }

  /// One uniform value in [0, 1).
  template <class T = double>
  T uniform() {
    return take(1).uniform<T>(0);
  }
  /// One uniform integer in [0, n), n > 0 (rejection sampling, unbiased).
  std::uint64_t uniform_int(std::uint64_t n) {
    LABOR_CHECK(n > 0, "Rng::uniform_int: n: expected > 0, got 0");
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    for (;;) {
      const auto b = take(1).bits(0);
      const std::uint64_t x = static_cast<std::uint64_t>(b.v[0]) << 32 | b.v[1];
      if (x < limit) return x % n;
    }
  }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

/// Fills a tensor with uniform values in [lo, hi), element i from counter offset + i: the same
/// values on every device and thread count.
template <class T, Device D>
void fill_uniform(TensorView<T, D> t, Rng& rng, T lo = T(0), T hi = T(1)) {
  const PhiloxStream s = rng.take(static_cast<std::uint64_t>(t.numel()));
  T* p = t.data();
  for_each_index<D>(t.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) {
    p[i] = s.uniform<T>(static_cast<std::uint64_t>(i), lo, hi);
  });
}

/// Fills a tensor with normal values N(mean, stddev²), element i from counter offset + i (on the
/// GPU equal to the host's values up to the last bits of the device's log/cos).
template <class T, Device D>
void fill_normal(TensorView<T, D> t, Rng& rng, T mean = T(0), T stddev = T(1)) {
  const PhiloxStream s = rng.take(static_cast<std::uint64_t>(t.numel()));
  T* p = t.data();
  for_each_index<D>(t.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) {
    p[i] = s.normal<T>(static_cast<std::uint64_t>(i), mean, stddev);
  });
}

}  // namespace labor
