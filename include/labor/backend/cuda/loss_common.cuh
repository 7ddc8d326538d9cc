#pragma once
/// @file loss_common.cuh
/// Building blocks of the loss kernels: a deterministic double-precision sum of a per-element
/// functor (fixed grid, block reductions into per-block partials, then one block over the
/// partials), the device status a loss launch leaves behind (its sums and the lowest flat index
/// each value check flagged), and the host reads of that status on the error path.

#include <cuda_runtime.h>
#include <cub/block/block_reduce.cuh>

#include <cstdint>
#include <span>
#include <vector>

#include "labor/backend/cuda/context.cuh"
#include "labor/backend/cuda/for_each.cuh"
#include "labor/backend/cuda/memory.cuh"
#include "labor/core/device.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/pixel_math.hpp"

namespace labor::loss::detail {

/// The "nothing flagged" value of a LossStatus index slot (all bits set).
inline constexpr unsigned long long no_index = ~0ull;

/// What one loss launch leaves in device memory: up to two sums (accumulated in double) and, for
/// up to two value checks, the lowest flat index that failed (no_index when none did).
struct LossStatus {
  double sum[2];
  unsigned long long first_bad[2];
};

/// A LossStatus in device memory, every field set to all-one bits (sums NaN until a reduction
/// writes them, indices no_index). Kernels get pointers to its fields; read() waits for labor's
/// stream and returns the host copy.
class DeviceLossStatus {
 public:
  DeviceLossStatus() : slot_(Tensor<LossStatus, cuda>::uninitialized(Shape{1})) {
    DeviceMemory<cuda>::fill_bytes(slot_.data(), 0xFF, sizeof(LossStatus));
  }

  /// Device address of sum k (k ∈ {0, 1}).
  double* sum(int k) { return slot_.data()->sum + k; }
  /// Device address of index slot k (k ∈ {0, 1}).
  unsigned long long* first_bad(int k) { return slot_.data()->first_bad + k; }

  /// The status after the queued work is done (synchronises).
  [[nodiscard]] LossStatus read() const { return slot_.to<cpu>()[0]; }

 private:
  Tensor<LossStatus, cuda> slot_;
};

/// Records `i` in an index slot, keeping the lowest index flagged by any thread.
__device__ inline void flag_index(unsigned long long* slot, std::int64_t i) {
  atomicMin(slot, static_cast<unsigned long long>(i));
}

/// For one pixel whose C values sit at x[c·plane] (flat index of channel 0: `offset`), flags the
/// flat index of the first channel where `bad(value)` holds; flags nothing when none does.
template <class T, class Bad>
__device__ void flag_first_channel(unsigned long long* slot, const T* x, std::int64_t offset, std::int64_t channels,
                                   std::int64_t plane, Bad bad) {
  for (std::int64_t c = 0; c < channels; ++c)
    if (bad(x[c * plane])) {
      flag_index(slot, offset + c * plane);
      return;
    }
}

/// True for NaN and ±Inf (the predicate of the finite-value checks).
struct NotFinite {
  template <class T>
  __device__ bool operator()(T v) const {
    return !is_finite(v);
  }
};

/// Threads per block of the sum kernels.
inline constexpr int sum_block = 256;

/// Blocks of the first sum pass for `n` elements: a function of n only, so the summation order,
/// and with it the result, is the same on every run.
inline unsigned sum_blocks(std::int64_t n) {
  const std::int64_t blocks = (n + sum_block - 1) / sum_block;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 1024 ? 1024 : blocks));
}

/// partial[block] = Σ f(i) over the block's grid-stride share of [0, n), in Acc.
template <class Acc, class F>
__global__ void __launch_bounds__(sum_block) partial_sums_kernel(std::int64_t n, F f, Acc* partial) {
  Acc acc{};
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * sum_block;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * sum_block + threadIdx.x; i < n; i += step)
    acc = acc + f(i);
  using Reduce = cub::BlockReduce<Acc, sum_block>;
  __shared__ typename Reduce::TempStorage storage;
  const Acc total = Reduce(storage).Sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

/// *out = Σ partial[0..count) with one block.
template <class Acc>
__global__ void __launch_bounds__(sum_block) final_sum_kernel(const Acc* partial, unsigned count, Acc* out) {
  Acc acc{};
  for (unsigned i = threadIdx.x; i < count; i += sum_block) acc = acc + partial[i];
  using Reduce = cub::BlockReduce<Acc, sum_block>;
  __shared__ typename Reduce::TempStorage storage;
  const Acc total = Reduce(storage).Sum(acc);
  if (threadIdx.x == 0) *out = total;
}

/// Queues *out = Σ_{i<n} f(i) on labor's stream (out: device memory). `f` is a device functor
/// returning Acc (or a type that converts to it) that may also write outputs; Acc has a value-
/// initialised zero and a __device__ operator+. Deterministic: the order of the additions depends
/// on n only. n = 0 writes Acc{}.
template <class Acc, class F>
void queue_sum(std::int64_t n, const F& f, Acc* out) {
  const unsigned blocks = sum_blocks(n);
  // Freed on the stream after the two kernels are queued: stream-ordered reuse is safe.
  auto partial = Tensor<Acc, cuda>::uninitialized(Shape{static_cast<std::int64_t>(blocks)});
  partial_sums_kernel<Acc><<<blocks, sum_block, 0, cuda_stream()>>>(n, f, partial.data());
  cuda_kernels::check_launch("loss partial sums kernel launch");
  final_sum_kernel<Acc><<<1, sum_block, 0, cuda_stream()>>>(partial.data(), blocks, out);
  cuda_kernels::check_launch("loss final sum kernel launch");
}

/// A device copy of host values (an empty tensor for none).
template <class T>
Tensor<T, cuda> to_device(const std::vector<T>& values) {
  if (values.empty()) return {};
  const Shape shape{static_cast<std::int64_t>(values.size())};
  return Tensor<T>::from(shape, std::span<const T>(values.data(), values.size())).template to<cuda>();
}

/// Element `i` of device array `data`, read on the host (waits for labor's stream). Error path only.
template <class T>
T read_element(const T* data, std::int64_t i) {
  T value{};
  CrossDeviceCopy<cuda, cpu>::copy(&value, data + i, sizeof(T));
  return value;
}

/// The index held by a status slot as a flat index (call only when it is not no_index).
inline std::int64_t flagged(unsigned long long slot) {
  return static_cast<std::int64_t>(slot);
}

}  // namespace labor::loss::detail
