#pragma once
/// @file for_each.hpp
/// labor::for_each_index<D>(n, f): calls f(i) for every i in [0, n) on device D — an OpenMP loop on
/// cpu, a grid-stride kernel on labor's stream on cuda (backend/cuda/for_each.cuh). Element-wise
/// kernels are written once as a LABOR_HOST_DEVICE callable and run on either device:
///
///     float* y = out.data(); const float* x = in.data();
///     for_each_index<D>(n, [=] LABOR_HOST_DEVICE(std::int64_t i) { y[i] = relu(x[i]); });
///
/// Under nvcc such a lambda is an extended __host__ __device__ lambda (--extended-lambda): it must
/// capture by value and sit in a public, named function.

#include <cstdint>
#include <utility>

#include "labor/core/config.hpp"
#include "labor/core/device.hpp"
#include "labor/core/parallel.hpp"

namespace labor {

namespace detail {
/// The per-device loop behind for_each_index; the cuda specialisation is in
/// backend/cuda/for_each.cuh.
template <Device D>
struct ForEach;

template <>
struct ForEach<cpu> {
  template <class F>
  static void run(std::int64_t n, F&& f, std::int64_t grain) {
    parallel_for(0, n, std::forward<F>(f), grain);
  }
};
}  // namespace detail

/// Calls `f(i)` for i in [0, n) on device D; on cpu split across threads in runs of at least
/// `grain` (the device ignores it). `f` must not throw and may run concurrently for different i.
/// On cuda the call only queues the work.
template <Device D, class F>
void for_each_index(std::int64_t n, F&& f, std::int64_t grain = 4096) {
  if (n <= 0) return;
  detail::ForEach<D>::run(n, std::forward<F>(f), grain);
}

}  // namespace labor

#if defined(__CUDACC__)
#include "labor/backend/cuda/for_each.cuh"
#endif
