#pragma once
/// @file cross_entropy.hpp
/// Softmax cross-entropy over the channel axis of N×C×H×W logits with an ignore label and optional
/// class weights; PyTorch's `F.cross_entropy(logits, labels, weight, ignore_index=..., reduction='mean')`.

#include <cstdint>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss {

/// Options of cross_entropy; usable with designated initializers.
struct CrossEntropyOptions {
  /// Label value of pixels that contribute nothing (the value need not lie outside [0, C)).
  std::int32_t ignore_index = ignore_label;
  /// One non-negative weight per class, or empty for unweighted. Converted to the scalar type.
  std::vector<double> class_weights{};
};

namespace detail {

/// One pixel of the cross-entropy: writes g[c·stride] = scale·(softmax(x)_c − [c = label]) and returns
/// log-sum-exp(x) − x_label (the unweighted negative log-likelihood). `finite` reports whether all
/// logits of the pixel were finite (the outputs are unspecified otherwise).
template <class T>
LABOR_HOST_DEVICE inline T cross_entropy_pixel(const T* x, T* g, std::int64_t channels, std::int64_t stride,
                                               std::int32_t label, T scale, bool& finite) {
  const T m = channel_max(x, channels, stride, finite);
  T s = T(0);
  for (std::int64_t c = 0; c < channels; ++c) {
    const T e = std::exp(x[c * stride] - m);
    g[c * stride] = e;
    s += e;
  }
  const T f = scale / s;
  for (std::int64_t c = 0; c < channels; ++c) g[c * stride] *= f;
  g[label * stride] -= scale;
  return m + std::log(s) - x[label * stride];
}

/// One pixel of the 'mean' cross-entropy, with pixel weight `wy` and `inv_weight_sum` = 1/Σw: writes
/// the gradient (wy·inv_weight_sum)·(softmax(x) − onehot) and returns wy·nll in double; where wy or
/// inv_weight_sum is 0 the gradient is zero and the term 0 (the logits are still checked). `finite`
/// as in cross_entropy_pixel.
template <class T>
LABOR_HOST_DEVICE inline double weighted_cross_entropy_pixel(const T* x, T* g, std::int64_t channels,
                                                             std::int64_t stride, std::int32_t label, T wy,
                                                             T inv_weight_sum, bool& finite) {
  if (wy == T(0) || inv_weight_sum == T(0)) {
    (void)channel_max(x, channels, stride, finite);
    for (std::int64_t c = 0; c < channels; ++c) g[c * stride] = T(0);
    return 0.0;
  }
  const T nll = cross_entropy_pixel(x, g, channels, stride, label, wy * inv_weight_sum, finite);
  return static_cast<double>(wy) * static_cast<double>(nll);
}

/// The weight of a pixel with label `label` in the mean: 0 for the ignore label and for labels
/// outside [0, C) (reported separately), else w[label] (1 without class weights, `weight` null).
template <class T>
LABOR_HOST_DEVICE inline T label_weight(std::int32_t label, std::int64_t channels, std::int32_t ignore,
                                        const T* weight) {
  if (label == ignore || label < 0 || label >= channels) return T(0);
  return weight != nullptr ? weight[label] : T(1);
}

/// Throws labor::Error for the label `label` at flat index `i` of the N×H×W `labels_shape`, which is
/// neither in [0, C) nor the ignore label.
[[noreturn]] inline void fail_bad_label(const Shape& labels_shape, std::int64_t i, std::int64_t channels,
                                        std::int32_t ignore, std::int32_t label) {
  fail("cross_entropy: label at {}: expected in [0, {}) or ignore_index {}, got {}", format_position(labels_shape, i),
       channels, ignore, label);
}

/// The device code of cross_entropy: `run`; cpu in backend/cpu/loss_cross_entropy.hpp, cuda in
/// backend/cuda/loss_cross_entropy.cuh.
template <Device D>
struct CrossEntropyKernels;

}  // namespace detail

/// Mean softmax cross-entropy of `logits` (N×C×H×W) against `labels` (N×H×W, values in [0, C) or
/// `options.ignore_index`), with PyTorch's semantics for `reduction='mean'`:
/// value = Σ_i w_{y_i}·nll_i / Σ_i w_{y_i} over the non-ignored pixels i (w ≡ 1 without class weights).
/// Logits and labels must share N, H and W (upsample the logits first).
///
/// @param[in] logits  N×C×H×W, every value finite, N, C, H, W ≥ 1.
/// @param[in] labels  N×H×W class indices.
/// @param[in] options ignore label and optional class weights (C non-negative finite values).
/// @return the loss and d loss / d logits (N×C×H×W; zero at ignored pixels).
/// @throws labor::Error for a shape mismatch, an empty tensor, a label outside [0, C) that is not the
///         ignore label (the message names the value and its position), a non-finite logit, or a
///         class weight count ≠ C or a negative / non-finite weight.
/// @note On cuda the gradient is computed without waiting (Σw stays in device memory); the call then
///       waits once to read the value and the label / logit checks.
/// @note When every pixel is ignored (or every valid pixel has weight 0) the result is value 0 and a
///       zero gradient, so a batch without labels simply contributes nothing. PyTorch returns NaN there.
template <class T, Device D = cpu>
LossResult<T, D> cross_entropy(const Tensor<T, D>& logits, const Tensor<std::int32_t, D>& labels,
                               const CrossEntropyOptions& options = {}) {
  constexpr const char* fn = "cross_entropy";
  detail::check_nchw(fn, "logits", logits.shape());
  const std::int64_t n = logits.size(0), channels = logits.size(1), h = logits.size(2), w = logits.size(3);
  LABOR_CHECK(labels.shape() == Shape({n, h, w}),
              "{}: labels shape: expected [N, H, W] = {} to match logits {}, got {}", fn, Shape({n, h, w}),
              logits.shape(), labels.shape());

  const bool weighted = !options.class_weights.empty();
  std::vector<T> weight;
  if (weighted) {
    LABOR_CHECK(static_cast<std::int64_t>(options.class_weights.size()) == channels,
                "{}: class_weights: expected {} values (one per class), got {}", fn, channels,
                options.class_weights.size());
    for (std::size_t c = 0; c < options.class_weights.size(); ++c) {
      const double v = options.class_weights[c];
      LABOR_CHECK(is_finite(v) && v >= 0, "{}: class_weights[{}]: expected a finite value >= 0, got {}", fn, c, v);
      weight.push_back(static_cast<T>(v));
    }
  }

  return detail::CrossEntropyKernels<D>::run(logits, labels, weight, options.ignore_index);
}

}  // namespace labor::loss

#include "labor/backend/cpu/loss_cross_entropy.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/loss_cross_entropy.cuh"
#endif
