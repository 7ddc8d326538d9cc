#pragma once
/// @file discrepancy.hpp
/// The MCD discrepancy between two classifiers: mean |softmax(a) − softmax(b)| (LabOR eq. 6).

#include <cstdint>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss {

namespace detail {

/// One pixel of the logit discrepancy. Returns Σ_c |p_c − q_c| for p = softmax(a), q = softmax(b)
/// and writes the gradients of `scale`·Σ_c |p_c − q_c|:
/// ga_k = scale·p_k·(s_k − Σ_c s_c p_c), gb_k = −scale·q_k·(s_k − Σ_c s_c q_c), s = sign(p − q), sign(0) = 0.
/// `finite` is false when a logit is not finite.
template <class T>
LABOR_HOST_DEVICE inline T discrepancy_pixel(const T* a, const T* b, T* ga, T* gb, std::int64_t channels,
                                             std::int64_t stride, T scale, bool& finite) {
  bool finite_a = true, finite_b = true;
  (void)channel_softmax(a, ga, channels, stride, finite_a);
  (void)channel_softmax(b, gb, channels, stride, finite_b);
  finite = finite_a && finite_b;
  T sum = T(0), sp = T(0), sq = T(0);
  for (std::int64_t c = 0; c < channels; ++c) {
    const T p = ga[c * stride], q = gb[c * stride];
    const T s = sign(p - q);
    sum += s * (p - q);
    sp += s * p;
    sq += s * q;
  }
  for (std::int64_t c = 0; c < channels; ++c) {
    const T p = ga[c * stride], q = gb[c * stride];
    const T s = sign(p - q);
    ga[c * stride] = scale * p * (s - sp);
    gb[c * stride] = -scale * q * (s - sq);
  }
  return sum;
}

/// One element of discrepancy_probs: writes ga = scale·sign(p − q), gb = −ga and returns |p − q|
/// (as sign(p − q)·(p − q)).
template <class T>
LABOR_HOST_DEVICE inline T discrepancy_probs_element(T p, T q, T scale, T& ga, T& gb) {
  const T d = p - q;
  const T s = sign(d);
  ga = scale * s;
  gb = -scale * s;
  return s * d;
}

/// The device code of discrepancy and discrepancy_probs: `logits` and `probs`; cpu in
/// backend/cpu/loss_discrepancy.hpp, cuda in backend/cuda/loss_discrepancy.cuh.
template <Device D>
struct DiscrepancyKernels;

}  // namespace detail

/// Mean absolute difference between the channel softmaxes of two logit maps:
/// value = Σ |softmax(a) − softmax(b)| / (N·C·H·W), the MCD discrepancy.
/// @param[in] logits_a, logits_b  N×C×H×W, same shape, finite.
/// On cuda the call waits once to read the value and the checks.
/// @return the value and the gradients with respect to both logit maps (subgradient sign(0) = 0,
///         as PyTorch's `abs`).
/// @throws labor::Error for a shape mismatch, an empty tensor or a non-finite logit.
template <class T, Device D = cpu>
PairLossResult<T, D> discrepancy(const Tensor<T, D>& logits_a, const Tensor<T, D>& logits_b) {
  constexpr const char* fn = "discrepancy";
  detail::check_nchw(fn, "logits_a", logits_a.shape());
  LABOR_CHECK(logits_b.shape() == logits_a.shape(), "{}: logits_b shape: expected {} (the shape of logits_a), got {}",
              fn, logits_a.shape(), logits_b.shape());
  return detail::DiscrepancyKernels<D>::logits(logits_a, logits_b);
}

/// The same discrepancy on maps that are already probabilities: value = Σ |p − q| / numel, with
/// gradients sign(p − q) / numel and −sign(p − q) / numel (sign(0) = 0). Any shape; the values are
/// used as given (no softmax, no check that they sum to one).
/// @throws labor::Error for a shape mismatch, an empty tensor or a non-finite value.
template <class T, Device D = cpu>
PairLossResult<T, D> discrepancy_probs(const Tensor<T, D>& probs_a, const Tensor<T, D>& probs_b) {
  constexpr const char* fn = "discrepancy_probs";
  LABOR_CHECK(probs_a.numel() > 0, "{}: probs_a: expected a non-empty tensor, got shape {}", fn, probs_a.shape());
  LABOR_CHECK(probs_b.shape() == probs_a.shape(), "{}: probs_b shape: expected {} (the shape of probs_a), got {}", fn,
              probs_a.shape(), probs_b.shape());
  return detail::DiscrepancyKernels<D>::probs(probs_a, probs_b);
}

}  // namespace labor::loss

#include "labor/backend/cpu/loss_discrepancy.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/loss_discrepancy.cuh"
#endif
