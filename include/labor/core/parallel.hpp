#pragma once
/// @file parallel.hpp
/// OpenMP-parallel loops for host kernels. Without OpenMP they run serially with the same results.

#include <algorithm>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace labor {

/// Number of threads host kernels use.
inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Sets the number of threads host kernels use (n >= 1).
inline void set_num_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(std::max(1, n));
#else
  (void)n;
#endif
}

/// Calls `f(i)` for every i in [begin, end), split statically across threads. Runs serially when
/// the range is shorter than `grain` or when already inside a parallel region. `f` must not throw.
template <class F>
void parallel_for(std::int64_t begin, std::int64_t end, F&& f, std::int64_t grain = 1024) {
  if (end <= begin) return;
  (void)grain;
#if defined(_OPENMP)
  if (end - begin >= grain && !omp_in_parallel() && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = begin; i < end; ++i) f(i);
    return;
  }
#endif
  for (std::int64_t i = begin; i < end; ++i) f(i);
}

/// Calls `f(lo, hi)` on contiguous chunks covering [begin, end), one chunk per thread at most.
/// Use when each worker needs its own scratch space or accumulators.
template <class F>
void parallel_chunks(std::int64_t begin, std::int64_t end, F&& f, std::int64_t grain = 1) {
  if (end <= begin) return;
#if defined(_OPENMP)
  const std::int64_t n = end - begin;
  const std::int64_t workers =
      omp_in_parallel() ? 1
                        : std::min<std::int64_t>(omp_get_max_threads(),
                                                 std::max<std::int64_t>(1, n / std::max<std::int64_t>(1, grain)));
  if (workers > 1) {
#pragma omp parallel num_threads(static_cast <int>(workers))
    {
      const std::int64_t t = omp_get_thread_num();
      const std::int64_t lo = begin + n * t / workers;
      const std::int64_t hi = begin + n * (t + 1) / workers;
      if (lo < hi) f(lo, hi);
    }
    return;
  }
#endif
  f(begin, end);
}

/// Parallel sum of `f(i)` over [begin, end) in double precision, reduced in a fixed order so the
/// result does not depend on the thread count or scheduling.
template <class F>
double parallel_sum(std::int64_t begin, std::int64_t end, F&& f) {
  if (end <= begin) return 0.0;
  constexpr int max_parts = 64;
  double part[max_parts] = {};
  const std::int64_t n = end - begin;
  const std::int64_t parts = std::min<std::int64_t>(max_parts, std::max<std::int64_t>(1, n / 4096));
  parallel_for(
      0, parts,
      [&](std::int64_t p) {
        double s = 0.0;
        const std::int64_t lo = begin + n * p / parts, hi = begin + n * (p + 1) / parts;
        for (std::int64_t i = lo; i < hi; ++i) s += static_cast<double>(f(i));
        part[p] = s;
      },
      1);
  double total = 0.0;
  for (std::int64_t p = 0; p < parts; ++p) total += part[p];
  return total;
}

}  // namespace labor
