#pragma once
/// @file pseudo_label.cuh
/// PseudoLabeler on the GPU. A pixel kernel finds each pixel's argmax class and max-probability;
/// the update sorts the (class, confidence) pairs with two stable CUB radix sorts (by confidence,
/// then by class), finds each class's run in the sorted order, and copies only the two sorted values
/// each class's percentile needs to the host, where PseudoLabeler interpolates and updates exactly as
/// on the CPU (same ranks, same values: identical thresholds). Labelling compares per pixel.

#include <cuda_runtime.h>
#include <cub/device/device_radix_sort.cuh>

#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

#include "labor/backend/cuda/context.cuh"
#include "labor/backend/cuda/error.cuh"
#include "labor/backend/cuda/loss_common.cuh"
#include "labor/core/for_each.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/pseudo_label.hpp"

namespace labor::loss::detail {

/// The per-class confidences of a batch in ascending order within each class, in device memory.
template <class T, Device D>
struct ClassSortedConfidences {
  /// All pixels' max-probabilities grouped by argmax class (class 0 first), ascending within a class.
  Tensor<T, D> conf;
  /// Host: class c occupies conf[begin[c], begin[c + 1]) (C + 1 offsets).
  std::vector<std::int64_t> begin;
};

/// Per pixel: argmax class (lowest index on ties) and max-probability; flags the first non-finite value.
template <class T>
struct ArgmaxPixel {
  const T* probs;
  std::int32_t* cls;
  T* conf;
  std::int64_t channels, plane;
  unsigned long long* bad;

  __device__ void operator()(std::int64_t i) const {
    const std::int64_t offset = pixel_offset(i, channels, plane);
    bool finite = true;
    const ArgMax<T> best = channel_argmax(probs + offset, channels, plane, finite);
    cls[i] = best.index;
    conf[i] = best.value;
    if (!finite) flag_first_channel(bad, probs + offset, offset, channels, plane, NotFinite{});
  }
};

/// Over the class-sorted pixels: the thread at the first position of a class's run writes
/// range[2c] = that position, the one at its last position range[2c + 1] = position + 1. Classes
/// without pixels keep the zeros the range starts with.
struct ClassRuns {
  const std::int32_t* cls;  // sorted
  std::int64_t pixels;
  std::int64_t* range;

  __device__ void operator()(std::int64_t i) const {
    const std::int32_t c = cls[i];
    if (i == 0 || cls[i - 1] != c) range[2 * c] = i;
    if (i + 1 == pixels || cls[i + 1] != c) range[2 * c + 1] = i + 1;
  }
};

/// out[k] = values[index[k]].
template <class T>
struct GatherValues {
  const T* values;
  const std::int64_t* index;
  T* out;

  __device__ void operator()(std::int64_t k) const { out[k] = values[index[k]]; }
};

/// Per pixel: threshold_label.
template <class T>
struct ThresholdLabelPixel {
  const std::int32_t* cls;
  const T* conf;
  const T* theta;
  std::int32_t ignore;
  std::int32_t* out;

  __device__ void operator()(std::int64_t i) const { out[i] = threshold_label(cls[i], conf[i], theta, ignore); }
};

/// Stable CUB radix sort of `n` (key, value) pairs on key bits [0, end_bit), on labor's stream.
template <class K, class V>
void radix_sort_pairs(const K* keys_in, K* keys_out, const V* values_in, V* values_out, std::int64_t n, int end_bit) {
  std::size_t bytes = 0;
  LABOR_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys_in, keys_out, values_in, values_out, n, 0,
                                                   end_bit, cuda_stream()));
  auto temp = Tensor<std::uint8_t, cuda>::uninitialized(Shape{static_cast<std::int64_t>(bytes > 0 ? bytes : 1)});
  LABOR_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data(), bytes, keys_in, keys_out, values_in, values_out, n, 0,
                                                   end_bit, cuda_stream()));
}

template <>
struct PseudoLabelKernels<cuda> {
  /// Writes each pixel's argmax class and max-probability of validated N×C×H×W `probs` to `cls` and
  /// `conf` (N·H·W each); waits for the kernel and throws the CPU's error for a non-finite value.
  template <class T>
  static void scan(const char* fn, const Tensor<T, cuda>& probs, std::int32_t* cls, T* conf) {
    const std::int64_t channels = probs.size(1), plane = probs.size(2) * probs.size(3);
    DeviceLossStatus status;
    for_each_index<cuda>(probs.size(0) * plane,
                         ArgmaxPixel<T>{probs.data(), cls, conf, channels, plane, status.first_bad(0)});
    const LossStatus s = status.read();
    if (s.first_bad[0] != no_index) {
      const std::int64_t i = flagged(s.first_bad[0]);
      fail_non_finite_at(fn, "probs", probs.shape(), i, static_cast<double>(read_element(probs.data(), i)));
    }
  }

  /// The `pixels` confidences grouped by class (classes in [0, classes)), ascending within a class,
  /// and each class's offsets (read to the host: waits).
  template <class T>
  static ClassSortedConfidences<T, cuda> sort_by_class(const std::int32_t* cls, const T* conf, std::int64_t pixels,
                                                       int classes) {
    const Shape shape{pixels};
    auto conf_by_value = Tensor<T, cuda>::uninitialized(shape);
    auto cls_by_value = Tensor<std::int32_t, cuda>::uninitialized(shape);
    radix_sort_pairs(conf, conf_by_value.data(), cls, cls_by_value.data(), pixels, static_cast<int>(sizeof(T) * 8));
    // Stable on the class: within a class the ascending confidence order of the first pass stays.
    ClassSortedConfidences<T, cuda> out{Tensor<T, cuda>::uninitialized(shape), {}};
    auto cls_sorted = Tensor<std::int32_t, cuda>::uninitialized(shape);
    const int class_bits = std::bit_width(static_cast<unsigned>(classes - 1));
    radix_sort_pairs(cls_by_value.data(), cls_sorted.data(), conf_by_value.data(), out.conf.data(), pixels,
                     class_bits > 0 ? class_bits : 1);
    Tensor<std::int64_t, cuda> range(Shape{2 * static_cast<std::int64_t>(classes)});
    for_each_index<cuda>(pixels, ClassRuns{cls_sorted.data(), pixels, range.data()});
    const auto host = range.to<cpu>();
    out.begin.assign(static_cast<std::size_t>(classes) + 1, 0);
    for (int c = 0; c < classes; ++c) {
      // Class runs follow each other in class order, so a class's end is the next one's begin.
      const std::int64_t end = host[2 * c + 1];
      out.begin[static_cast<std::size_t>(c) + 1] = end > 0 ? end : out.begin[static_cast<std::size_t>(c)];
    }
    return out;
  }

  /// Host copies of values[index[k]] (values in device memory), as double.
  template <class T>
  static std::vector<double> gather(const Tensor<T, cuda>& values, const std::vector<std::int64_t>& index) {
    if (index.empty()) return {};
    const auto where = to_device(index);
    auto picked = Tensor<T, cuda>::uninitialized(where.shape());
    for_each_index<cuda>(where.numel(), GatherValues<T>{values.data(), where.data(), picked.data()});
    const auto host = picked.template to<cpu>();
    return std::vector<double>(host.data(), host.data() + host.numel());
  }

  /// Per class c with pixels the percentile_linear at q[c] of its pixels' confidences (nothing for
  /// a class without pixels): the confidences sorted by class on the device, each class's ranks
  /// (percentile_rank), the two values they need fetched in one gather, numpy's interpolation on the
  /// host. The same ranks and values as the CPU's selection, so the same percentiles.
  template <class T>
  static std::vector<std::optional<double>> class_percentiles(const std::int32_t* cls, const T* conf,
                                                              std::int64_t pixels, const std::vector<double>& q) {
    const std::size_t classes = q.size();
    const ClassSortedConfidences<T, cuda> sorted = sort_by_class(cls, conf, pixels, static_cast<int>(classes));
    std::vector<PercentileRank> rank(classes);
    std::vector<std::int64_t> index;  // per class with pixels: the positions of ranks lo and lo + 1
    for (std::size_t c = 0; c < classes; ++c) {
      const std::int64_t begin = sorted.begin[c], count = sorted.begin[c + 1] - begin;
      if (count == 0) continue;
      rank[c] = percentile_rank(count, q[c]);
      index.push_back(begin + rank[c].lo);
      index.push_back(begin + rank[c].lo + (rank[c].interpolate ? 1 : 0));
    }
    const std::vector<double> value = gather(sorted.conf, index);
    std::vector<std::optional<double>> out(classes);
    std::size_t k = 0;
    for (std::size_t c = 0; c < classes; ++c) {
      if (sorted.begin[c + 1] == sorted.begin[c]) continue;
      const double a = value[k], b = value[k + 1];
      k += 2;
      out[c] = rank[c].interpolate ? percentile_lerp(a, b, rank[c].t) : a;
    }
    return out;
  }

  /// out[i] = threshold_label(cls[i], conf[i], θ, ignore) for the `pixels` pixels (θ: C host values).
  template <class T>
  static void label(const std::int32_t* cls, const T* conf, const std::vector<T>& theta, std::int32_t ignore,
                    std::int32_t* out, std::int64_t pixels) {
    const auto device_theta = to_device(theta);
    for_each_index<cuda>(pixels, ThresholdLabelPixel<T>{cls, conf, device_theta.data(), ignore, out});
  }
};

}  // namespace labor::loss::detail
