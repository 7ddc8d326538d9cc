#pragma once
/// @file dispatch.hpp
/// The one place where a sampler's implementation is chosen, and what the implementations promise.
///
/// SPL, PPL and the inconsistency mask each have up to three implementations:
///  - the generic Thrust passes (passes.hpp, `spl_generic`, `ppl_generic`, MaskPass): any Thrust
///    system on the memory of its device. They are the reference.
///  - the host fast path (host_passes.hpp, `spl_host`, `ppl_host`): a host system (OpenMP, CPP,
///    TBB) on host memory, when the vector block sweep is compiled in (LABOR_SAMPLERS_VECTOR_SWEEP).
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
#include "labor/samplers/detail/host_sweep.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/detail/system.hpp"

namespace labor::samplers::detail {

/// Runs the implementation of a sampler rule that `path` selects for `policy` on maps of device D:
/// `cuda_fast(policy, std::type_identity<FastSamplers<cuda>>{})`, `host_fast(policy)` or
/// `generic(policy)`, and returns what it returns. The callables are generic lambdas whose bodies
/// depend on their parameters, so only the chosen one is instantiated: host compilers never see
/// FastSamplers<cuda>, and CUDA policies never instantiate the host sweep.
template <Device D, class Policy, class CudaFast, class HostFast, class Generic>
decltype(auto) dispatch(const Policy& policy, Path path, const Geometry& g, CudaFast&& cuda_fast, HostFast&& host_fast,
                        Generic&& generic) {
  if constexpr (is_cuda_policy<Policy> && std::is_same_v<D, cuda>) {
    if (path == Path::automatic && FastSamplers<D>::applies(g))
      return cuda_fast(policy, std::type_identity<FastSamplers<D>>{});
  }
  if constexpr (have_vector_sweep && !is_cuda_policy<Policy> && std::is_same_v<D, cpu>) {
    if (path == Path::automatic) return host_fast(policy);
  }
  return generic(policy);
}

}  // namespace labor::samplers::detail
