#pragma once
/// @file dispatch.hpp
/// The one place where a sampler's implementation is chosen, and what the implementations promise.
///
/// SPL, PPL and the inconsistency mask each have up to three implementations:
///  - the generic Thrust passes (passes.hpp, `spl_generic`, `ppl_generic`, MaskPass): any Thrust
///    system on the memory of its device. They are the reference.
///  - the host fast path (`FastSamplers<cpu>`, backend/cpu/samplers.hpp): a host system (OpenMP,
///    CPP, TBB) on host memory, when the compiler builds the vector sweep (have_vector_sweep).
///  - the CUDA fast path (`FastSamplers<cuda>`, backend/cuda/samplers.cuh): a Thrust CUDA policy on
///    device memory under nvcc, for images where `FastSamplers<cuda>::applies`.
/// `Path::automatic` runs the fast path where one applies, `Path::generic` always the reference.
///
/// Determinism: every path gives the same Query, bit for bit (the same pixels in the same order,
/// the same classes and float scores) and the same mask, on every system and thread count. That
/// holds because each per-pixel rule is one LABOR_HOST_DEVICE function that every path calls
/// (pixel_math.hpp: the probability check, the argmaxes and their tie order, the fixed-point keys,
/// the Chebyshev test of PPL's walk; ppl.hpp: prototype_score), every sum that feeds a decision is
/// an integer sum of fixed-point terms (so it does not depend on the order of summation), and every
/// tie is broken by the lower linear index. tests/unit/samplers_test.cpp compares the host fast path
/// with the generic passes; tests/gpu/samplers_gpu_test.cu compares both CUDA paths with the host.

#include <type_traits>

#include "labor/core/device.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/detail/system.hpp"

namespace labor::samplers::detail {

/// Whether `Policy` on maps of device D has a fast path: a CUDA policy on cuda maps, a host policy
/// on cpu maps when the vector sweep is compiled in.
template <class Policy, Device D>
inline constexpr bool has_fast_path = std::is_same_v<D, cuda> ? is_cuda_policy<Policy>
                                                              : (!is_cuda_policy<Policy> && have_vector_sweep);

/// Runs the implementation of a sampler rule that `path` selects for `policy` on maps of device D,
/// `fast(policy, std::type_identity<FastSamplers<D>>{})` or `generic(policy)`, and returns what it
/// returns. The callables are generic lambdas whose bodies depend on their parameters, so only the
/// chosen one is instantiated: host compilers never see FastSamplers<cuda>, and CUDA policies never
/// instantiate the host sweep.
template <Device D, class Policy, class Fast, class Generic>
decltype(auto) dispatch(const Policy& policy, Path path, const Geometry& g, Fast&& fast, Generic&& generic) {
  if constexpr (has_fast_path<Policy, D>) {
    if (path == Path::automatic && FastSamplers<D>::applies(g))
      return fast(policy, std::type_identity<FastSamplers<D>>{});
  }
  return generic(policy);
}

}  // namespace labor::samplers::detail
