#pragma once
/// @file confusion_matrix.cuh
/// ConfusionMatrix::update on the GPU: every pixel is mapped to its cell gt·C + pred (ignored pixels
/// to −1, outside every bin; bad labels to the extra bin C²) by a transform iterator, and one
/// cub::DeviceHistogram::HistogramEven over the C² + 1 unit-width bins counts them. CUB's counters
/// are 32-bit, so the pixels go through the histogram in chunks of at most 2^30 and each chunk's
/// counts are added into 64-bit totals on the device; the host reads the totals once. When the
/// extra bin is not empty a second pass finds the first bad pixel (atomicMin of its index) so the
/// error names the same pixel and value as on the CPU.

#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <cub/device/device_histogram.cuh>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <cuda_runtime.h>

#include "labor/backend/cuda/context.cuh"
#include "labor/backend/cuda/error.cuh"
#include "labor/backend/cuda/for_each.cuh"
#include "labor/backend/cuda/memory.cuh"
#include "labor/core/device.hpp"
#include "labor/core/error.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/metrics/confusion_matrix.hpp"

namespace labor::metrics::detail {

/// Histogram sample of pixel i: its confusion cell (confusion_cell) as an int.
struct ConfusionSample {
  const std::int32_t* pred;
  const std::int32_t* target;
  std::int32_t classes;
  std::int32_t ignore;

  __host__ __device__ int operator()(std::int64_t i) const {
    return static_cast<int>(confusion_cell(target[i], pred[i], classes, ignore));
  }
};

/// totals[k] += counts[k]: one chunk's 32-bit histogram into the 64-bit totals.
struct AddChunkCounts {
  const int* counts;
  std::int64_t* totals;

  __device__ void operator()(std::int64_t k) const { totals[k] += counts[k]; }
};

/// *first = min(*first, i) over the bad pixels i (the cell C²).
struct FirstBadPixel {
  ConfusionSample sample;
  unsigned long long* first;

  __device__ void operator()(std::int64_t i) const {
    if (sample(i) == sample.classes * sample.classes) atomicMin(first, static_cast<unsigned long long>(i));
  }
};

/// ConfusionMatrix::update's counting for batches on the GPU (see the file comment).
template <>
struct ConfusionKernels<cuda> {
  /// Pixels per histogram call: every bin count of a chunk fits CUB's int counters.
  static constexpr std::int64_t chunk = std::int64_t{1} << 30;

  /// Counts the n pixels of `pred` / `target` (device pointers) into C² cells, or finds the first bad
  /// pixel. Waits for the result.
  /// @throws labor::Error for more than 46340 classes (C² + 1 bins must fit an int) or a CUDA failure.
  static BatchCounts count(const std::int32_t* pred, const std::int32_t* target, std::int64_t n, std::int32_t classes,
                           std::int32_t ignore) {
    const std::int64_t cells = std::int64_t{classes} * classes;
    LABOR_CHECK(cells < std::numeric_limits<int>::max() - 1,
                "ConfusionMatrix::update: num_classes: expected at most 46340 for a batch on the GPU, got {}", classes);
    BatchCounts out;
    if (n == 0) {
      out.cells.assign(static_cast<std::size_t>(cells), 0);
      return out;
    }
    const ConfusionSample sample{pred, target, classes, ignore};
    const auto totals = histogram(sample, n, static_cast<int>(cells) + 1).to<cpu>();
    if (totals[cells] > 0) {
      out.bad = first_bad(sample, n);
    } else {
      out.cells.assign(totals.data(), totals.data() + cells);
    }
    return out;
  }

 private:
  /// 64-bit counts of the samples of pixels [0, n) over `bins` unit-width bins [0, bins), on the device.
  static Tensor<std::int64_t, cuda> histogram(const ConfusionSample& sample, std::int64_t n, int bins) {
    Tensor<std::int64_t, cuda> totals(Shape{bins});
    auto counts = Tensor<int, cuda>::uninitialized(Shape{bins});
    Tensor<std::uint8_t, cuda> temp;
    for (std::int64_t begin = 0; begin < n; begin += chunk) {
      const int len = static_cast<int>(std::min(chunk, n - begin));
      const auto samples = thrust::make_transform_iterator(thrust::counting_iterator<std::int64_t>(begin), sample);
      std::size_t bytes = 0;
      cuda_kernels::check(cub::DeviceHistogram::HistogramEven(nullptr, bytes, samples, counts.data(), bins + 1, 0, bins,
                                                              len, cuda_stream()),
                          "ConfusionMatrix::update: cub::DeviceHistogram::HistogramEven (temporary storage size)");
      bytes = std::max<std::size_t>(bytes, 1);
      if (static_cast<std::int64_t>(bytes) > temp.numel())
        temp = Tensor<std::uint8_t, cuda>::uninitialized(Shape{static_cast<std::int64_t>(bytes)});
      cuda_kernels::check(cub::DeviceHistogram::HistogramEven(temp.data(), bytes, samples, counts.data(), bins + 1, 0,
                                                              bins, len, cuda_stream()),
                          "ConfusionMatrix::update: cub::DeviceHistogram::HistogramEven");
      for_each_index<cuda>(bins, AddChunkCounts{counts.data(), totals.data()});
    }
    return totals;
  }

  /// The first pixel (in flat order) whose sample is the bad cell, and its labels; one exists.
  static BadPixel first_bad(const ConfusionSample& sample, std::int64_t n) {
    Tensor<std::int64_t, cuda> first(Shape{1});
    first.fill(n);
    static_assert(sizeof(std::int64_t) == sizeof(unsigned long long));
    for_each_index<cuda>(n, FirstBadPixel{sample, reinterpret_cast<unsigned long long*>(first.data())});
    BadPixel bad;
    bad.index = first.to<cpu>()[0];
    LABOR_CHECK(bad.index >= 0 && bad.index < n, "ConfusionMatrix::update: bad labels counted but not found");
    CrossDeviceCopy<cuda, cpu>::copy(&bad.target, sample.target + bad.index, sizeof bad.target);
    CrossDeviceCopy<cuda, cpu>::copy(&bad.pred, sample.pred + bad.index, sizeof bad.pred);
    return bad;
  }
};

}  // namespace labor::metrics::detail
