#pragma once
/// @file loss_cross_entropy.cuh
/// cross_entropy on the GPU in two sums over the pixels, both queued without a host round-trip:
/// the first validates the labels and sums the pixel weights Σw into device memory; the second reads
/// Σw from there for the 'mean' scale w_y/Σw, writes the gradient (one thread per pixel running
/// cross_entropy_pixel with stride H·W) and sums w_y·nll. The host then reads the two sums and the
/// two checks' first offending indices at once.

#include <cstdint>
#include <utility>
#include <vector>

#include "labor/backend/cuda/loss_common.cuh"
#include "labor/core/tensor.hpp"
#include "labor/loss/cross_entropy.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss::detail {

/// Pass 1, per pixel: flags a label outside [0, C) that is not the ignore label and returns the
/// pixel's weight in the mean (label_weight).
template <class T>
struct CrossEntropyLabelWeight {
  const std::int32_t* labels;
  const T* weight;  // C class weights, or null for unweighted
  std::int64_t channels;
  std::int32_t ignore;
  unsigned long long* bad_label;

  __device__ double operator()(std::int64_t i) const {
    const std::int32_t label = labels[i];
    if (label != ignore && (label < 0 || label >= channels)) flag_index(bad_label, i);
    return static_cast<double>(label_weight(label, channels, ignore, weight));
  }
};

/// Pass 2, per pixel: the gradient scale·(softmax − onehot) with scale = w_y/Σw (Σw read from device
/// memory; a zero gradient where w_y = 0 or Σw = 0) and the returned term w_y·nll
/// (weighted_cross_entropy_pixel with stride H·W). Flags the flat index of the pixel's first non-finite logit.
template <class T>
struct CrossEntropyPixel {
  const T* logits;
  const std::int32_t* labels;
  const T* weight;  // C class weights, or null for unweighted
  const double* weight_sum;
  T* grad;
  std::int64_t channels, plane;
  std::int32_t ignore;
  unsigned long long* bad_logit;

  __device__ double operator()(std::int64_t i) const {
    const std::int64_t offset = pixel_offset(i, channels, plane);
    const T* x = logits + offset;
    const std::int32_t label = labels[i];
    const T wy = label_weight(label, channels, ignore, weight);
    const double sum = *weight_sum;
    const T inv_weight_sum = sum > 0 ? static_cast<T>(1.0 / sum) : T(0);
    bool finite = true;
    const double term =
        weighted_cross_entropy_pixel(x, grad + offset, channels, plane, label, wy, inv_weight_sum, finite);
    if (!finite) flag_first_channel(bad_logit, x, offset, channels, plane, NotFinite{});
    return term;
  }
};

template <>
struct CrossEntropyKernels<cuda> {
  /// cross_entropy for validated shapes and options; `weight` holds the C class weights in T, or
  /// nothing for unweighted. Throws the CPU's errors for a bad label or a non-finite logit.
  template <class T>
  static LossResult<T, cuda> run(const Tensor<T, cuda>& logits, const Tensor<std::int32_t, cuda>& labels,
                                 const std::vector<T>& weight, std::int32_t ignore) {
    const std::int64_t channels = logits.size(1), plane = logits.size(2) * logits.size(3);
    const std::int64_t pixels = logits.size(0) * plane;
    const auto class_weight = to_device(weight);
    const T* w = weight.empty() ? nullptr : class_weight.data();
    const std::int32_t* y = labels.data();

    DeviceLossStatus status;  // sum 0: Σ w·nll, sum 1: Σ w; index 0: bad label, index 1: non-finite logit
    queue_sum(pixels, CrossEntropyLabelWeight<T>{y, w, channels, ignore, status.first_bad(0)}, status.sum(1));
    auto grad = Tensor<T, cuda>::uninitialized(logits.shape());
    queue_sum(pixels,
              CrossEntropyPixel<T>{logits.data(), y, w, status.sum(1), grad.data(), channels, plane, ignore,
                                   status.first_bad(1)},
              status.sum(0));
    const LossStatus s = status.read();
    if (s.first_bad[0] != no_index) {
      const std::int64_t i = flagged(s.first_bad[0]);
      fail_bad_label(labels.shape(), i, channels, ignore, read_element(y, i));
    }
    if (s.first_bad[1] != no_index) {
      const std::int64_t i = flagged(s.first_bad[1]);
      fail_non_finite_at("cross_entropy", "logits", logits.shape(), i,
                         static_cast<double>(read_element(logits.data(), i)));
    }
    const T value = s.sum[1] > 0 ? static_cast<T>(s.sum[0] / s.sum[1]) : T(0);
    return {value, std::move(grad)};
  }
};

}  // namespace labor::loss::detail
