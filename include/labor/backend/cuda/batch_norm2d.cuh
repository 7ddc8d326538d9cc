#pragma once
/// @file batch_norm2d.cuh
/// BatchNorm2d on the GPU (BatchNormKernels<cuda>). The per-channel reductions: one block per
/// channel sums two terms over the channel's N·H·W values in double, each thread over a fixed
/// stride of the values, then a fixed-shape tree across the block, so the result does not depend
/// on scheduling; thread 0 finishes the channel (statistics and running averages, or the gradient
/// sums). The element-wise passes (normalize, dx) run with for_each_index and the per-channel
/// rules of nn/batch_norm2d.hpp, the host's formulas.

#include <cstdint>

#include <cuda_runtime.h>

#include "labor/backend/cuda/context.cuh"
#include "labor/backend/cuda/for_each.cuh"
#include "labor/core/error.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/batch_norm2d.hpp"

namespace labor::nn::detail {

/// Threads per block of the per-channel reductions.
inline constexpr unsigned batch_norm_threads = 256;

/// Sums `a` and `b` over the block (blockDim.x == Threads, all threads calling); the totals are in
/// thread 0. Shuffles within each warp, then the warps' partial sums in warp 0, in a fixed order.
template <unsigned Threads>
__device__ inline void block_sum_pair(double& a, double& b) {
  static_assert(Threads % 32 == 0 && Threads <= 1024, "block_sum_pair: whole warps, at most 1024 threads");
  constexpr unsigned warps = Threads / 32;
  __shared__ double part_a[warps], part_b[warps];
  for (int offset = 16; offset > 0; offset /= 2) {
    a += __shfl_down_sync(0xffffffffu, a, offset);
    b += __shfl_down_sync(0xffffffffu, b, offset);
  }
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) {
    part_a[warp] = a;
    part_b[warp] = b;
  }
  __syncthreads();
  if (warp == 0) {
    a = lane < warps ? part_a[lane] : 0.0;
    b = lane < warps ? part_b[lane] : 0.0;
    for (int offset = 16; offset > 0; offset /= 2) {
      a += __shfl_down_sync(0xffffffffu, a, offset);
      b += __shfl_down_sync(0xffffffffu, b, offset);
    }
  }
}

/// Block k sums term.channel(k)(e, a, b) over the elements e of channel k (n planes of hw values,
/// channel stride hw, image stride c·hw), then calls finish(k, a, b) on thread 0.
template <class Term, class Finish>
__global__ void __launch_bounds__(batch_norm_threads)
    channel_sums_kernel(std::int64_t n, std::int64_t c, std::int64_t hw, Term term, Finish finish) {
  const std::int64_t k = blockIdx.x;
  const auto channel = term.channel(k);
  double a = 0.0, b = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t base = (i * c + k) * hw;
    for (std::int64_t j = threadIdx.x; j < hw; j += batch_norm_threads) channel(base + j, a, b);
  }
  block_sum_pair<batch_norm_threads>(a, b);
  if (threadIdx.x == 0) finish(k, a, b);
}

/// Σ(x − shift) and Σ(x − shift)² with shift = the channel's first value (as the host).
template <class T>
struct ShiftedMomentTerms {
  const T* x;
  std::int64_t hw;
  struct Channel {
    const T* x;
    double shift;
    __device__ void operator()(std::int64_t e, double& a, double& b) const {
      const double d = static_cast<double>(x[e]) - shift;
      a += d;
      b += d * d;
    }
  };
  __device__ Channel channel(std::int64_t k) const { return {x, static_cast<double>(x[k * hw])}; }
};

/// batch_norm_batch_channel from the shifted moments.
template <class T>
struct BatchStatisticsFinish {
  const T* x;
  std::int64_t hw;
  double count, eps, momentum;
  T* running_mean;
  T* running_var;
  double* mean;
  double* invstd;
  __device__ void operator()(std::int64_t k, double sum, double sum_sq) const {
    batch_norm_batch_channel(static_cast<double>(x[k * hw]), sum, sum_sq, count, eps, momentum, running_mean[k],
                             running_var[k], mean[k], invstd[k]);
  }
};

/// Σg and Σg·x̂ (0 without x̂).
template <class T>
struct GradTerms {
  const T* g;
  const T* xhat;
  __device__ GradTerms channel(std::int64_t) const { return *this; }
  __device__ void operator()(std::int64_t e, double& a, double& b) const {
    const double ge = static_cast<double>(g[e]);
    a += ge;
    if (xhat) b += ge * static_cast<double>(xhat[e]);
  }
};

/// Stores the two sums of each channel.
struct StoreSums {
  double* first;
  double* second;
  __device__ void operator()(std::int64_t k, double a, double b) const {
    first[k] = a;
    second[k] = b;
  }
};

/// BatchNorm2d's running-statistics mean and invstd of every channel on device D.
template <class T, Device D>
void batch_norm_running_statistics(const T* running_mean, const T* running_var, double eps, double* mean,
                                   double* invstd, std::int64_t c) {
  for_each_index<D>(
      c,
      [=] LABOR_HOST_DEVICE(std::int64_t k) {
        batch_norm_running_channel(running_mean[k], running_var[k], eps, mean[k], invstd[k]);
      },
      1);
}

/// BatchNorm2d's forward element-wise pass on device D (the GPU path): y = affine(x̂) with
/// x̂ = normalize(x) for the `n_values` elements of x, x̂ kept when `xhat` is not null.
template <class T, Device D>
void batch_norm_normalize(const T* x, T* y, T* xhat, const double* mean, const double* invstd, const T* weight,
                          const T* bias, std::int64_t c, std::int64_t hw, std::int64_t n_values) {
  auto table = Tensor<BatchNormChannel<T>, D>::uninitialized(Shape{c});
  BatchNormChannel<T>* ops = table.data();
  for_each_index<D>(
      c, [=] LABOR_HOST_DEVICE(std::int64_t k) { ops[k] = batch_norm_channel(mean[k], invstd[k], weight, bias, k); },
      1);
  for_each_index<D>(n_values, [=] LABOR_HOST_DEVICE(std::int64_t i) {
    const BatchNormChannel<T> op = ops[(i / hw) % c];
    const T h = op.normalize(x[i]);
    if (xhat) xhat[i] = h;
    y[i] = op.affine(h);
  });
}

/// What BatchNorm2d's backward reads and writes on the device, per channel of `c` (pointers to
/// device memory; the parameter pointers null when absent or not trainable).
template <class T>
struct BatchNormGradPass {
  const T* grad_out;
  const T* xhat;         ///< null when not kept
  const double* invstd;  ///< the last forward's
  const double* sum_g;   ///< Σg per channel (read with batch statistics or a trainable bias)
  const double* sum_gx;  ///< Σg·x̂ per channel (read with batch statistics or a trainable weight)
  const T* weight;       ///< null without affine
  T* weight_grad;        ///< null unless the weight is trainable
  T* bias_grad;          ///< null unless the bias is trainable
  T* dx;
  std::int64_t c, hw, n_values;
  double count;      ///< values per channel
  bool batch_stats;  ///< whether the forward used batch statistics
};

/// BatchNorm2d's backward after the per-channel sums on device D (the GPU path): adds the
/// parameter gradients, then dx element-wise with the host's formulas.
template <class T, Device D>
void batch_norm_backward_elements(const BatchNormGradPass<T>& pass) {
  const BatchNormGradPass<T> a = pass;
  auto table = Tensor<BatchNormBatchGrad<T>, D>::uninitialized(Shape{a.c});
  BatchNormBatchGrad<T>* ops = table.data();
  for_each_index<D>(
      a.c,
      [=] LABOR_HOST_DEVICE(std::int64_t k) {
        const double w = a.weight ? static_cast<double>(a.weight[k]) : 1.0;
        ops[k] = a.batch_stats ? batch_norm_batch_grad<T>(w, a.invstd[k], a.sum_g[k], a.sum_gx[k], a.count)
                               : BatchNormBatchGrad<T>{static_cast<T>(w * a.invstd[k]), T(0), T(0)};
        if (a.weight_grad) a.weight_grad[k] += static_cast<T>(a.sum_gx[k]);
        if (a.bias_grad) a.bias_grad[k] += static_cast<T>(a.sum_g[k]);
      },
      1);
  for_each_index<D>(a.n_values, [=] LABOR_HOST_DEVICE(std::int64_t i) {
    const BatchNormBatchGrad<T> op = ops[(i / a.hw) % a.c];
    a.dx[i] = a.batch_stats ? op(a.grad_out[i], a.xhat[i]) : a.grad_out[i] * op.scale;
  });
}

template <>
struct BatchNormKernels<cuda> {
  /// y = affine(normalize(x)) per channel with the batch statistics (running averages updated) or
  /// the running statistics; x̂ kept when a.xhat is not null. Queued on labor's stream.
  template <class T>
  static void forward(const BatchNormForwardPass<T>& a) {
    if (a.batch_stats) {
      batch_statistics(a.x, a.n, a.c, a.hw, a.eps, a.momentum, a.running_mean, a.running_var, a.mean, a.invstd);
    } else {
      batch_norm_running_statistics<T, cuda>(a.running_mean, a.running_var, a.eps, a.mean, a.invstd, a.c);
    }
    batch_norm_normalize<T, cuda>(a.x, a.y, a.xhat, a.mean, a.invstd, a.weight, a.bias, a.c, a.hw, a.n * a.c * a.hw);
  }

  /// Σg and Σg·x̂ per channel (grad_sums), then the parameter gradients and dx
  /// (batch_norm_backward_elements). Queued on labor's stream.
  template <class T>
  static void backward(const BatchNormBackwardPass<T>& a) {
    auto sums = Tensor<double, cuda>::uninitialized(Shape{2, a.c});
    if (a.batch_stats || a.weight_grad || a.bias_grad)
      grad_sums(a.grad_out, a.xhat, a.n, a.c, a.hw, sums.data(), sums.data() + a.c);
    batch_norm_backward_elements<T, cuda>({.grad_out = a.grad_out,
                                           .xhat = a.xhat,
                                           .invstd = a.invstd,
                                           .sum_g = sums.data(),
                                           .sum_gx = sums.data() + a.c,
                                           .weight = a.weight,
                                           .weight_grad = a.weight_grad,
                                           .bias_grad = a.bias_grad,
                                           .dx = a.dx,
                                           .c = a.c,
                                           .hw = a.hw,
                                           .n_values = a.n * a.c * a.hw,
                                           .count = static_cast<double>(a.n * a.hw),
                                           .batch_stats = a.batch_stats});
  }

  /// Batch statistics of every channel of x (N×C×H×W, N·H·W > 1) into mean and invstd, and the
  /// running averages updated; all pointers to device memory of c elements, x of n·c·hw.
  template <class T>
  static void batch_statistics(const T* x, std::int64_t n, std::int64_t c, std::int64_t hw, double eps, double momentum,
                               T* running_mean, T* running_var, double* mean, double* invstd) {
    launch(n, c, hw, ShiftedMomentTerms<T>{x, hw},
           BatchStatisticsFinish<T>{x, hw, static_cast<double>(n * hw), eps, momentum, running_mean, running_var, mean,
                                    invstd});
  }

  /// Σg into sum_g and Σg·x̂ into sum_g_xhat per channel (0 when xhat is null).
  template <class T>
  static void grad_sums(const T* g, const T* xhat, std::int64_t n, std::int64_t c, std::int64_t hw, double* sum_g,
                        double* sum_g_xhat) {
    launch(n, c, hw, GradTerms<T>{g, xhat}, StoreSums{sum_g, sum_g_xhat});
  }

 private:
  template <class Term, class Finish>
  static void launch(std::int64_t n, std::int64_t c, std::int64_t hw, Term term, Finish finish) {
    LABOR_CHECK(c > 0 && c <= 0x7fffffff, "BatchNorm2d: channels: expected in [1, 2^31 − 1] on the GPU, got {}", c);
    channel_sums_kernel<<<static_cast<unsigned>(c), batch_norm_threads, 0, cuda_stream()>>>(n, c, hw, term, finish);
    cuda_kernels::check_launch("BatchNorm2d channel sums kernel launch");
  }
};

}  // namespace labor::nn::detail
