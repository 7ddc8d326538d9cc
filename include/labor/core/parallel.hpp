#pragma once
/// @file parallel.hpp
/// Parallel loops for host kernels, on labor's thread pool (core/thread_pool.hpp). Results never
/// depend on the thread count or on which thread ran what.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "labor/core/thread_pool.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace labor {

/// Number of threads host kernels use.
inline int num_threads() { return detail::ThreadPool::instance().size(); }

/// Sets the number of threads host kernels use (n >= 1); OpenMP code (Thrust's host algorithms,
/// Eigen) is told the same number.
inline void set_num_threads(int n) {
  detail::ThreadPool::instance().resize(std::max(1, n));
#if defined(_OPENMP)
  omp_set_num_threads(std::max(1, n));
#endif
}

/// Calls `f(t)` for every task t in [0, tasks) on labor's threads (core/thread_pool.hpp): whichever
/// thread is running takes the next task, so a thread another process delays does not hold the
/// others up. Serial inside another region. An exception from `f` is rethrown after every task ran.
template <class F>
void parallel_tasks(std::int64_t tasks, F&& f) {
  if (tasks <= 0) return;
  using Fn = std::remove_reference_t<F>;
  if (tasks == 1) {
    f(std::int64_t{0});
    return;
  }
  const auto call = [](void* ctx, std::uint32_t t) { (*static_cast<Fn*>(ctx))(static_cast<std::int64_t>(t)); };
  auto& pool = detail::ThreadPool::instance();
  pool.run(static_cast<std::uint32_t>(std::min<std::int64_t>(tasks, 0xFFFFFFFE)), call,
           const_cast<void*>(static_cast<const void*>(std::addressof(f))), pool.size());
}

/// Calls `f(i)` for every i in [begin, end), in contiguous runs handed to the running threads. Runs
/// serially when the range is shorter than `grain` or when already inside a parallel region.
template <class F>
void parallel_for(std::int64_t begin, std::int64_t end, F&& f, std::int64_t grain = 1024) {
  if (end <= begin) return;
  const std::int64_t n = end - begin;
  const int threads = num_threads();
  if (n < std::max<std::int64_t>(grain, 2) || threads <= 1 || detail::ThreadPool::in_region()) {
    for (std::int64_t i = begin; i < end; ++i) f(i);
    return;
  }
  // A few runs per thread, so the threads that run take the share of one that does not.
  const std::int64_t runs = std::min<std::int64_t>(4 * threads, n / std::max<std::int64_t>(1, grain));
  parallel_tasks(runs, [&](std::int64_t r) {
    const std::int64_t lo = begin + n * r / runs, hi = begin + n * (r + 1) / runs;
    for (std::int64_t i = lo; i < hi; ++i) f(i);
  });
}

/// Calls `f(lo, hi)` on contiguous chunks covering [begin, end) in order of index, at most
/// num_threads() chunks of at least `grain` indices (one when inside a parallel region). Each chunk
/// runs on one thread; use when each needs its own scratch space or accumulators.
template <class F>
void parallel_chunks(std::int64_t begin, std::int64_t end, F&& f, std::int64_t grain = 1) {
  if (end <= begin) return;
  const std::int64_t n = end - begin;
  const std::int64_t chunks = detail::ThreadPool::in_region()
                                  ? 1
                                  : std::min<std::int64_t>(num_threads(),
                                                           std::max<std::int64_t>(1, n / std::max<std::int64_t>(1, grain)));
  parallel_tasks(chunks, [&](std::int64_t t) { f(begin + n * t / chunks, begin + n * (t + 1) / chunks); });
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
