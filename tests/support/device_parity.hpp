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

/// The error of `got` against `want` relative to `scale`: 0 for the same non-finite value (NaN and
/// NaN, or the same infinity), infinite when only one of them is finite or they are different
/// non-finite values.
inline double relative_error(double want, double got, double scale) {
  if (std::isfinite(want) && std::isfinite(got)) return std::abs(want - got) / scale;
  const bool same = (std::isnan(want) && std::isnan(got)) || want == got;
  return same ? 0.0 : INFINITY;
}

/// Expects `got` (any device) to equal `want` (host) within `tol` relative to `scale`: same shape,
/// every element finite where `want` is and non-finite (alike) where it is not.
template <class T, Device D>
void expect_close_scaled(const Tensor<T, cpu>& want, const Tensor<T, D>& got_any, double tol, double scale,
                         const std::string& what) {
  const auto got = host(got_any);
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::int64_t bad = 0, first = -1;
  double worst = 0;
  for (std::int64_t i = 0; i < want.numel(); ++i) {
    const double err = relative_error(static_cast<double>(want[i]), static_cast<double>(got[i]), scale);
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

/// The largest finite |value| of a host tensor (0 for none).
template <class T>
double max_abs(const Tensor<T, cpu>& t) {
  double m = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (std::isfinite(static_cast<double>(t[i]))) m = std::max(m, std::abs(static_cast<double>(t[i])));
  return m;
}

/// expect_close_scaled relative to max(1, max|want|): for values of order one and larger.
template <class T, Device D>
void expect_close(const Tensor<T, cpu>& want, const Tensor<T, D>& got_any, double tol, const std::string& what) {
  expect_close_scaled(want, got_any, tol, std::max(1.0, max_abs(want)), what);
}

/// expect_close_scaled relative to max|want| (1 when want is all zero): for small values, such as a
/// mean loss's gradient (each element of order 1/numel), that a comparison relative to 1 would
/// accept whatever they are.
template <class T, Device D>
void expect_close_relative(const Tensor<T, cpu>& want, const Tensor<T, D>& got_any, double tol,
                           const std::string& what) {
  const double m = max_abs(want);
  expect_close_scaled(want, got_any, tol, m > 0 ? m : 1.0, what);
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
