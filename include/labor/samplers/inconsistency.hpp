#pragma once
/// @file inconsistency.hpp
/// The inconsistency mask M(x) = [argmax p1(x) ≠ argmax p2(x)] (LabOR eq. 4).

#include <cstdint>
#include <type_traits>

#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/dispatch.hpp"
#include "labor/samplers/detail/passes.hpp"

namespace labor::samplers {

namespace detail {

/// MaskPass and the reduction of check_bad_pixels on any system: M with the first bad pixel.
template <Device D, class Policy>
Tensor<std::uint8_t, D> mask_generic(const Policy& policy, const Geometry& g, const MapPair& in) {
  auto mask = Tensor<std::uint8_t, D>::uninitialized(Shape{g.n, g.h, g.w});
  auto bad = scratch<std::int64_t, D>(g.blocks());
  thrust::for_each(policy, items(0), items(g.blocks()), MaskPass<block_pixels<Policy>>{in, mask.data(), bad.data()});
  check_bad_pixels<D>(policy, g, bad.data(), in, "inconsistency_mask");
  return mask;
}

/// inconsistency_mask with the implementation chosen by `path` (dispatch.hpp): the CUDA fast path
/// is FastSamplers<cuda>::mask (one kernel, the first bad pixel found by an atomic minimum);
/// FastSamplers<cpu>::mask is the generic pass (its one block pass is already the host's sweep).
template <class Policy, Device D>
Tensor<std::uint8_t, D> mask_select(const Policy& policy, TensorView<const float, D> p1, TensorView<const float, D> p2,
                                    Path path) {
  const auto g = blocked<Policy>(check_probability_pair("inconsistency_mask", p1.shape(), p2.shape()));
  const auto in = map_pair<D>(g, p1, p2);
  return dispatch<D>(
      policy, path, g, [&](const auto& p, auto fast) { return decltype(fast)::type::mask(p, g, in); },
      [&](const auto& p) { return mask_generic<D>(p, g, in); });
}

}  // namespace detail

/// M for every pixel: N×H×W uint8, 1 where the two heads disagree (argmax with the lowest index on
/// ties). `p1`, `p2`: N×C×H×W (or C×H×W, giving 1×H×W) probability maps of the same shape on the
/// policy's device D. Throws labor::Error for mismatched shapes or values that are not probabilities.
template <class Policy, Device D>
Tensor<std::uint8_t, D> inconsistency_mask(const Policy& policy, TensorView<const float, D> p1,
                                           TensorView<const float, D> p2) {
  return detail::mask_select(policy, p1, p2, detail::Path::automatic);
}

/// inconsistency_mask of host maps with the OpenMP system.
inline Tensor<std::uint8_t, cpu> inconsistency_mask(TensorView<const float, cpu> p1, TensorView<const float, cpu> p2) {
  return inconsistency_mask(detail::host_policy(), p1, p2);
}

}  // namespace labor::samplers

#include "labor/backend/cpu/samplers.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/samplers.cuh"
#endif
