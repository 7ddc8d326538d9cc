#pragma once
/// @file system.hpp
/// The Thrust side of the samplers: which execution policies run on which labor device, block
/// sizes per system, scratch tensors and copies of results back to the host.

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include <thrust/execution_policy.h>
#include <thrust/fill.h>
#include <thrust/for_each.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sort.h>
#include <thrust/system/cpp/execution_policy.h>
#include <thrust/system/omp/execution_policy.h>

#if defined(__CUDACC__)
#include <thrust/system/cuda/execution_policy.h>

#include "labor/backend/cuda/context.cuh"
#include "labor/backend/cuda/error.cuh"
#include "labor/backend/cuda/memory.cuh"
#endif

#include "labor/core/device.hpp"
#include "labor/core/memory.hpp"
#include "labor/core/tensor.hpp"

namespace labor::samplers::detail {

/// Which implementation a sampler runs.
enum class Path {
  automatic,  ///< the fast path of the system: the host sweep for a host system on host memory, the
              ///< CUDA kernels (backend/cuda/samplers.cuh) for a CUDA system on device memory
  generic,    ///< the Thrust passes every system runs (the reference the fast paths are tested against)
};

#if defined(__GNUC__) || defined(__clang__)
#define LABOR_SAMPLERS_VECTOR_SWEEP 1
#else
#define LABOR_SAMPLERS_VECTOR_SWEEP 0
#endif

/// True when this compiler builds the vector sweep (GCC or Clang vector extensions); otherwise
/// SweepBlock runs BlockStats and the samplers keep their generic passes.
inline constexpr bool have_vector_sweep = LABOR_SAMPLERS_VECTOR_SWEEP != 0;

/// The fast paths of the samplers on device D: `applies(g)`, `spl`, `ppl` and `mask` with the
/// contracts of spl_select, ppl_select and mask_select. cpu (backend/cpu/samplers.hpp): the vector
/// block sweep over staged tiles, for host systems when have_vector_sweep; cuda
/// (backend/cuda/samplers.cuh, included by nvcc at the end of the sampler headers): a fused sweep
/// over both maps, CUB compaction, sorts and selections. dispatch (dispatch.hpp) reaches them only
/// through this dependent name inside `if constexpr (has_fast_path<Policy, D>)`, so a compiler
/// never needs a specialisation it cannot build.
template <Device D>
struct FastSamplers;

/// True for Thrust CUDA execution policies (thrust::cuda::par, par_nosync, their .on(stream)).
template <class Policy>
inline constexpr bool is_cuda_policy =
#if defined(__CUDACC__)
    std::is_base_of_v<thrust::cuda_cub::execution_policy<Policy>, Policy>;
#else
    false;
#endif

/// Pixels per work item of the block passes: a vectorisable block on host systems, one pixel
/// per thread on CUDA.
template <class Policy>
inline constexpr int block_pixels = is_cuda_policy<Policy> ? 1 : 16;

/// Entries per work item of the privatised PPL prototype accumulation.
template <class Policy>
inline constexpr std::int64_t proto_chunk = is_cuda_policy<Policy> ? 256 : 16384;

/// Waits until the work queued on the policy's stream is done (host systems: nothing to wait for).
template <class Policy>
void synchronize(const Policy& policy) {
#if defined(__CUDACC__)
  if constexpr (is_cuda_policy<Policy>) {
    Policy p = policy;
    LABOR_CUDA_CHECK(cudaStreamSynchronize(thrust::cuda_cub::stream(p)));
    return;
  }
#endif
  (void)policy;
}

/// Orders the policy's later work after what is queued so far on labor's stream (scratch
/// allocations, uploads): nothing to do on host systems or when the policy runs on labor's stream;
/// otherwise waits for labor's stream.
template <class Policy>
void after_labor_stream(const Policy& policy) {
#if defined(__CUDACC__)
  if constexpr (is_cuda_policy<Policy>) {
    Policy p = policy;
    if (thrust::cuda_cub::stream(p) != cuda_stream()) LABOR_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
    return;
  }
#endif
  (void)policy;
}

/// Copies `n` elements from memory of device D to the host, after the policy's work is done.
template <Device D, class T, class Policy>
void copy_to_host(const Policy& policy, T* dst, const T* src, std::int64_t n) {
  if (n <= 0) return;
  synchronize(policy);
  CrossDeviceCopy<D, cpu>::copy(dst, src, static_cast<std::size_t>(n) * sizeof(T));
}

/// Copies `n` host elements to memory of device D, ordered before later work of the policy.
template <Device D, class T, class Policy>
void copy_from_host(const Policy& policy, T* dst, const T* src, std::int64_t n) {
  if (n <= 0) return;
  synchronize(policy);
  CrossDeviceCopy<cpu, D>::copy(dst, src, static_cast<std::size_t>(n) * sizeof(T));
#if defined(__CUDACC__)
  // The copy is queued on labor's stream and may still be in flight when it returns; the policy's
  // stream (another one, possibly non-blocking) is not ordered after it.
  if constexpr (is_cuda_policy<Policy>) LABOR_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
#endif
}

/// One element of device memory, read on the host.
template <Device D, class T, class Policy>
T read_one(const Policy& policy, const T* src) {
  T v{};
  copy_to_host<D>(policy, &v, src, 1);
  return v;
}

/// Uninitialised scratch of `n` elements on device D (at least one element, so data() is valid).
template <class T, Device D>
Tensor<T, D> scratch(std::int64_t n) {
  return Tensor<T, D>::uninitialized(Shape{n > 0 ? n : 1});
}

/// The policy `select(p1, p2)` uses on host memory: the OpenMP system (the sequential CPP system
/// when compiled without OpenMP).
inline auto host_policy() {
#if defined(_OPENMP)
  return thrust::omp::par;
#else
  return thrust::cpp::par;
#endif
}

/// The Thrust policy for maps in the memory of device D: host_policy() on cpu; on cuda Thrust's
/// CUDA system on labor's stream, without synchronising after each algorithm.
template <Device D>
auto device_policy() {
  if constexpr (std::is_same_v<D, cpu>) {
    return host_policy();
  } else {
#if defined(__CUDACC__)
    return thrust::cuda::par_nosync.on(cuda_stream());
#endif
  }
}

/// Counting iterator over [0, n) work items.
inline thrust::counting_iterator<std::int64_t> items(std::int64_t first = 0) {
  return thrust::counting_iterator<std::int64_t>(first);
}

}  // namespace labor::samplers::detail
