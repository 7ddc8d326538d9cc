#pragma once
// CPU/GPU parity harness (nvcc only). A GPU test writes its case once as a template over the
// device, `template <labor::Device D> Out run(const In<D>&)`, runs it on both devices with the same
// fresh random inputs, and compares the GPU's outputs to the CPU backend's (itself checked against
// PyTorch by the parity tests). While a test runs, every uninitialized tensor is filled with 0xFF
// bytes (NaN, or −1 for integers), so an output element a kernel forgot to write fails the
// comparison.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include <labor/labor.hpp>

#include "support/gpu.hpp"

namespace labor::testing {

/// Turns on set_poison_uninitialized for its lifetime.
struct PoisonScope {
  PoisonScope() { set_poison_uninitialized(true); }
  ~PoisonScope() { set_poison_uninitialized(false); }
  PoisonScope(const PoisonScope&) = delete;
  PoisonScope& operator=(const PoisonScope&) = delete;
};

/// Host tensor of normal values.
inline Tensor<float> random_normal(Shape s, Rng& rng, float mean = 0.0f, float stddev = 1.0f) {
  Tensor<float> t(s);
  fill_normal(t.view(), rng, mean, stddev);
  return t;
}

/// Host tensor of uniform values in [lo, hi).
inline Tensor<float> random_uniform(Shape s, Rng& rng, float lo, float hi) {
  Tensor<float> t(s);
  fill_uniform(t.view(), rng, lo, hi);
  return t;
}

/// The same tensor on device D (a copy).
template <Device D, class T>
Tensor<T, D> on(const Tensor<T, cpu>& t) {
  if constexpr (std::is_same_v<D, cpu>)
    return t;
  else
    return t.template to<D>();
}

/// A host copy of a tensor on any device.
template <class T, Device D>
Tensor<T, cpu> host(const Tensor<T, D>& t) {
  if constexpr (std::is_same_v<D, cpu>)
    return t;
  else
    return t.template to<cpu>();
}

/// Expects `got` (any device) to equal `want` (host) within `tol` relative to max(1, max|want|):
/// same shape, every element finite where `want` is, none left unwritten.
template <class T, Device D>
void expect_close(const Tensor<T, cpu>& want, const Tensor<T, D>& got_any, double tol, const std::string& what) {
  const auto got = host(got_any);
  ASSERT_EQ(got.shape(), want.shape()) << what;
  double scale = 1.0;
  for (std::int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::abs(static_cast<double>(want[i])));
  std::int64_t bad = 0, first = -1;
  double worst = 0;
  for (std::int64_t i = 0; i < want.numel(); ++i) {
    const double w = static_cast<double>(want[i]), g = static_cast<double>(got[i]);
    const double err = std::isfinite(w) ? (std::isfinite(g) ? std::abs(w - g) / scale : INFINITY) : 0.0;
    if (err > tol) {
      if (first < 0) first = i;
      ++bad;
    }
    worst = std::max(worst, err);
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << want.numel() << " elements differ by more than " << tol
                    << " (relative to " << scale << "); first at " << first << " (want "
                    << (first >= 0 ? static_cast<double>(want[first]) : 0.0) << ", got "
                    << (first >= 0 ? static_cast<double>(got[first]) : 0.0) << "); worst " << worst;
}

/// Expects two integer tensors to be identical.
template <class T, Device D>
void expect_equal(const Tensor<T, cpu>& want, const Tensor<T, D>& got_any, const std::string& what) {
  const auto got = host(got_any);
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::int64_t bad = 0, first = -1;
  for (std::int64_t i = 0; i < want.numel(); ++i)
    if (want[i] != got[i] && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << want.numel() << " elements differ; first at " << first;
}

}  // namespace labor::testing
