#pragma once
/// @file loss_entropy.cuh
/// entropy_map and entropy_loss on the GPU, one thread per pixel running the shared per-pixel
/// functions with stride H·W. entropy_map waits for its kernel to check the flag of invalid values
/// (the map itself is not read by the host).

#include <cstdint>
#include <utility>

#include "labor/backend/cuda/loss_common.cuh"
#include "labor/core/for_each.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/entropy.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss::detail {

/// Predicate form of invalid_probability for flag_first_channel.
struct InvalidProbability {
  template <class T>
  __device__ bool operator()(T v) const {
    return invalid_probability(v);
  }
};

/// Per pixel: out[i] = −Σ_c p_c·log p_c; flags the first negative or non-finite value.
template <class T>
struct EntropyMapPixel {
  const T* probs;
  T* out;
  std::int64_t channels, plane;
  unsigned long long* bad;

  __device__ void operator()(std::int64_t i) const {
    const std::int64_t offset = pixel_offset(i, channels, plane);
    bool valid = true;
    out[i] = channel_entropy(probs + offset, channels, plane, valid);
    if (!valid) flag_first_channel(bad, probs + offset, offset, channels, plane, InvalidProbability{});
  }
};

/// Per pixel of the entropy loss: the gradient and the pixel entropy.
template <class T>
struct EntropyLossPixel {
  const T* logits;
  T* grad;
  std::int64_t channels, plane;
  T scale;
  unsigned long long* bad;

  __device__ double operator()(std::int64_t i) const {
    const std::int64_t offset = pixel_offset(i, channels, plane);
    bool finite = true;
    const T h = entropy_logits_pixel(logits + offset, grad + offset, channels, plane, scale, finite);
    if (!finite) flag_first_channel(bad, logits + offset, offset, channels, plane, NotFinite{});
    return static_cast<double>(h);
  }
};

template <>
struct EntropyKernels<cuda> {
  /// entropy_map of validated N×C×H×W probabilities (waits for the kernel to check the values).
  template <class T>
  static Tensor<T, cuda> map(const Tensor<T, cuda>& probs) {
    const std::int64_t channels = probs.size(1), plane = probs.size(2) * probs.size(3);
    auto out = Tensor<T, cuda>::uninitialized(Shape{probs.size(0), probs.size(2), probs.size(3)});
    DeviceLossStatus status;
    for_each_index<cuda>(out.numel(),
                         EntropyMapPixel<T>{probs.data(), out.data(), channels, plane, status.first_bad(0)});
    const LossStatus s = status.read();
    if (s.first_bad[0] != no_index) {
      const std::int64_t i = flagged(s.first_bad[0]);
      fail_invalid_probability(probs.shape(), i, static_cast<double>(read_element(probs.data(), i)));
    }
    return out;
  }

  /// entropy_loss of validated N×C×H×W logits.
  template <class T>
  static LossResult<T, cuda> loss(const Tensor<T, cuda>& logits) {
    const std::int64_t channels = logits.size(1), plane = logits.size(2) * logits.size(3);
    const std::int64_t pixels = logits.size(0) * plane;
    const T scale = static_cast<T>(1.0 / static_cast<double>(pixels));
    auto grad = Tensor<T, cuda>::uninitialized(logits.shape());
    DeviceLossStatus status;
    queue_sum(pixels, EntropyLossPixel<T>{logits.data(), grad.data(), channels, plane, scale, status.first_bad(0)},
              status.sum(0));
    const LossStatus s = status.read();
    if (s.first_bad[0] != no_index) {
      const std::int64_t i = flagged(s.first_bad[0]);
      fail_non_finite_at("entropy_loss", "logits", logits.shape(), i,
                         static_cast<double>(read_element(logits.data(), i)));
    }
    return {static_cast<T>(s.sum[0] / static_cast<double>(pixels)), std::move(grad)};
  }
};

}  // namespace labor::loss::detail
