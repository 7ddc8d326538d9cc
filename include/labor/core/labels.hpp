#pragma once
/// @file labels.hpp
/// Class labels as every module reads them: labor::ignore_label (the value that means "no label"
/// in label maps, answers, label stores, losses and metrics) and the per-pixel channel argmax
/// that turns scores into labels.

#include <cstdint>

#include "labor/core/config.hpp"
#include "labor/core/device.hpp"
#include "labor/core/elementwise.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/tensor.hpp"

namespace labor {

/// The label of a pixel that has none (unlabeled, or "cannot tell"): skipped by the losses and
/// the confusion matrix, never a class (classes are 0..C−1 with C ≤ 255).
inline constexpr std::int32_t ignore_label = 255;

/// Index of the largest value over channels (the lowest index on ties) and that value.
template <class T>
struct ArgMax {
  std::int32_t index;
  T value;
};

/// Channel argmax of one pixel whose values sit at x[c·stride], lowest index on ties. `finite` is
/// set false when a value is not finite.
template <class T>
LABOR_HOST_DEVICE inline ArgMax<T> channel_argmax(const T* x, std::int64_t channels, std::int64_t stride,
                                                  bool& finite) {
  ArgMax<T> best{0, x[0]};
  bool ok = is_finite(x[0]);
  for (std::int64_t c = 1; c < channels; ++c) {
    const T v = x[c * stride];
    ok = ok && is_finite(v);
    if (v > best.value) best = ArgMax<T>{static_cast<std::int32_t>(c), v};
  }
  finite = ok;
  return best;
}

/// Per-pixel argmax over the channels of N×C×H×W scores (channel_argmax: lowest index on ties) as
/// N×H×W labels, on the scores' device.
template <class T, Device D>
Tensor<std::int32_t, D> argmax_channels(const Tensor<T, D>& scores) {
  const std::int64_t c = scores.size(1), hw = scores.size(2) * scores.size(3);
  auto out = Tensor<std::int32_t, D>::uninitialized(Shape{scores.size(0), scores.size(2), scores.size(3)});
  const T* x = scores.data();
  std::int32_t* y = out.data();
  for_each_index<D>(out.numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) {
    bool finite = true;
    y[i] = channel_argmax(x + (i / hw) * c * hw + i % hw, c, hw, finite).index;
  });
  return out;
}

}  // namespace labor
