#pragma once
/// @file bce_with_logits.hpp
/// Binary cross-entropy on logits, PyTorch's `F.binary_cross_entropy_with_logits(x, t)` with mean
/// reduction; used for the discriminator's domain labels (constant 0/1 targets).

#include <cstdint>
#include <type_traits>

#include "labor/core/error.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss {

namespace detail {

/// Elementwise BCE-with-logits: writes d/dx = scale·(σ(x) − t) to `grad` and returns the loss term
/// max(x, 0) − x·t + log(1 + exp(−|x|)).
template <class T>
LABOR_HOST_DEVICE inline T bce_with_logits_element(T x, T t, T scale, T& grad) {
  grad = scale * (sigmoid(x) - t);
  return bce_with_logits_term(x, t);
}

/// Throws unless the logits have at least one element.
inline void check_bce_logits(const Shape& shape) {
  LABOR_CHECK(shape.numel() > 0, "bce_with_logits: logits: expected a non-empty tensor, got shape {}", shape);
}

/// The device code of bce_with_logits: `run`; cpu in backend/cpu/loss_bce_with_logits.hpp, cuda in
/// backend/cuda/loss_bce_with_logits.cuh.
template <Device D>
struct BceWithLogitsKernels;

}  // namespace detail

/// Mean binary cross-entropy of `logits` (any shape, typically the discriminator's N×1×h×w map)
/// against the constant `target` (0 = source, 1 = target domain, or any value in between).
/// Numerically stable for any finite logit.
/// @return the loss and d loss / d logits = (σ(x) − t) / numel, same shape as `logits` (on cuda the
///         call waits once to read the value and the checks).
/// @throws labor::Error for an empty or non-finite `logits` or a non-finite `target`.
template <class T, Device D = cpu>
LossResult<T, D> bce_with_logits(const Tensor<T, D>& logits, std::type_identity_t<T> target) {
  LABOR_CHECK(is_finite(target), "bce_with_logits: target: expected a finite value, got {}",
              static_cast<double>(target));
  detail::check_bce_logits(logits.shape());
  return detail::BceWithLogitsKernels<D>::run(logits, static_cast<const T*>(nullptr), target);
}

/// Mean binary cross-entropy of `logits` against a map of targets of the same shape
/// (`target(i)` is the probability of class 1 for element i).
/// @return the loss and d loss / d logits = (σ(x) − t) / numel.
/// @throws labor::Error for a shape mismatch, an empty tensor, or a non-finite logit or target.
template <class T, Device D = cpu>
LossResult<T, D> bce_with_logits(const Tensor<T, D>& logits, const Tensor<T, D>& target) {
  LABOR_CHECK(target.shape() == logits.shape(),
              "bce_with_logits: target shape: expected {} (the logits' shape), got {}", logits.shape(), target.shape());
  detail::check_bce_logits(logits.shape());
  return detail::BceWithLogitsKernels<D>::run(logits, target.data(), T(0));
}

}  // namespace labor::loss

#include "labor/backend/cpu/loss_bce_with_logits.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/loss_bce_with_logits.cuh"
#endif
