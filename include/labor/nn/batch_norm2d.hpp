#pragma once
/// @file batch_norm2d.hpp
/// labor::nn::BatchNorm2d: batch normalisation over the channels of N×C×H×W tensors, as
/// torch.nn.BatchNorm2d, plus DeepLab's frozen variant (running statistics, no learning), on the
/// host and the GPU. The per-channel formulas are shared LABOR_HOST_DEVICE functions; the GPU's
/// per-channel sums are in backend/cuda/batch_norm2d.cuh.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/detail/buffers.hpp"
#include "labor/nn/detail/checks.hpp"
#include "labor/nn/parameter.hpp"

namespace labor::nn {

/// Options of BatchNorm2d (field names as torch.nn.BatchNorm2d).
struct BatchNorm2dOptions {
  /// Number of channels C (> 0).
  std::int64_t num_features = 0;
  /// Added to the variance before the square root (>= 0).
  double eps = 1e-5;
  /// Weight of the new batch statistic in the running averages, in [0, 1]:
  /// running = (1 − momentum)·running + momentum·batch (PyTorch's convention).
  double momentum = 0.1;
  /// With learnable per-channel "weight" (init 1) and "bias" (init 0); without, y = x̂.
  bool affine = true;
  /// DeepLab's frozen batch norm: always normalises with the running statistics (also in training
  /// mode), never updates them, and its weight and bias are not trainable (no gradients). The input
  /// gradient still flows.
  bool frozen = false;
};

namespace detail {

/// Per-channel normalisation x̂ = (x − mean)·invstd followed by the affine map y = x̂·weight + bias.
template <class T>
struct BatchNormChannel {
  T mean;
  T invstd;
  T weight;
  T bias;
  LABOR_HOST_DEVICE T normalize(T x) const { return (x - mean) * invstd; }
  LABOR_HOST_DEVICE T affine(T xhat) const { return xhat * weight + bias; }
};

/// The normalisation of channel k from its mean and invstd (in double) and the affine parameters
/// (`weight`, `bias` null without affine: weight 1, bias 0).
template <class T>
LABOR_HOST_DEVICE inline BatchNormChannel<T> batch_norm_channel(double mean, double invstd, const T* weight,
                                                                const T* bias, std::int64_t k) {
  return {static_cast<T>(mean), static_cast<T>(invstd), weight ? weight[k] : T(1), bias ? bias[k] : T(0)};
}

/// Batch statistics of one channel from the sums of (x − shift) and (x − shift)² over its `count`
/// values: the mean and invstd = 1/√(var + eps) with the biased variance, and the running averages
/// updated with weight `momentum` and the unbiased variance (PyTorch's convention).
template <class T>
LABOR_HOST_DEVICE inline void batch_norm_batch_channel(double shift, double sum, double sum_sq, double count,
                                                       double eps, double momentum, T& running_mean, T& running_var,
                                                       double& mean, double& invstd) {
  const double m = momentum;
  const double shifted_mean = sum / count;
  const double var = std::max(0.0, sum_sq / count - shifted_mean * shifted_mean);
  mean = shift + shifted_mean;
  invstd = 1.0 / std::sqrt(var + eps);
  running_mean = static_cast<T>((1 - m) * static_cast<double>(running_mean) + m * mean);
  running_var = static_cast<T>((1 - m) * static_cast<double>(running_var) + m * var * count / (count - 1));
}

/// Mean and invstd of one channel from its running statistics (evaluation mode, frozen).
template <class T>
LABOR_HOST_DEVICE inline void batch_norm_running_channel(T running_mean, T running_var, double eps, double& mean,
                                                         double& invstd) {
  mean = static_cast<double>(running_mean);
  invstd = 1.0 / std::sqrt(static_cast<double>(running_var) + eps);
}

/// dLoss/dx of batch normalisation with batch statistics for one element:
/// dx = weight·invstd·(g − Σg/m − x̂·Σ(g·x̂)/m), with m the number of values per channel.
template <class T>
struct BatchNormBatchGrad {
  T scale;        ///< weight·invstd
  T mean_g;       ///< Σg/m
  T mean_g_xhat;  ///< Σ(g·x̂)/m
  LABOR_HOST_DEVICE T operator()(T g, T xhat) const { return scale * (g - mean_g - xhat * mean_g_xhat); }
};

/// The BatchNormBatchGrad of a channel from its weight, invstd, Σg and Σg·x̂ over `count` values.
template <class T>
LABOR_HOST_DEVICE inline BatchNormBatchGrad<T> batch_norm_batch_grad(double weight, double invstd, double sum_g,
                                                                     double sum_g_xhat, double count) {
  return {static_cast<T>(weight * invstd), static_cast<T>(sum_g / count), static_cast<T>(sum_g_xhat / count)};
}

/// Per-channel reductions of BatchNorm2d on device D over the N·H·W values of each channel:
///   batch_statistics(x, n, c, hw, eps, momentum, running_mean, running_var, mean, invstd) —
///     batch_norm_batch_channel for every channel, from sums accumulated in double;
///   grad_sums(g, xhat, n, c, hw, sum_g, sum_g_xhat) — Σg and Σg·x̂ per channel in double
///     (Σg·x̂ = 0 when xhat is null).
/// The cuda specialisation is in backend/cuda/batch_norm2d.cuh; the host keeps its own loops.
template <Device D>
struct BatchNormKernels;

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

/// Σ_{i<n} f(i) and Σ_{i<n} h(i) in double with eight independent accumulators (vectorisable,
/// and the result does not depend on the thread count).
template <class F, class H>
void lane_sums(std::int64_t n, F f, H h, double& sum_f, double& sum_h) {
  double a[8] = {}, b[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) {
      a[j] += f(i + j);
      b[j] += h(i + j);
    }
  }
  for (; i < n; ++i) {
    a[0] += f(i);
    b[0] += h(i);
  }
  sum_f = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  sum_h = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}

}  // namespace detail

/// Batch normalisation of N×C×H×W tensors over (N, H, W) per channel, as torch.nn.BatchNorm2d:
/// y = (x − mean)/√(var + eps)·weight + bias.
///
/// Training mode (the default, unless frozen): mean and biased variance of the batch; the running
/// averages are updated with the unbiased variance; backward differentiates through the batch
/// statistics. Needs more than one value per channel (N·H·W > 1).
/// Evaluation mode, and always when `frozen`: the running statistics, left unchanged.
///
/// Parameters "weight" and "bias" (shape [C], only when `affine`), buffers "running_mean" (init 0)
/// and "running_var" (init 1), shape [C]. Sums are accumulated in double. Keeps the normalised
/// input x̂ for backward (not needed, hence not kept, when frozen; nothing kept under NoGradGuard).
template <class T, Device D = cpu>
class BatchNorm2d {
 public:
  using value_type = T;
  using device_type = D;

  /// Throws labor::Error for num_features <= 0, eps < 0 or momentum outside [0, 1].
  explicit BatchNorm2d(const BatchNorm2dOptions& options) : options_(options) {
    const auto& o = options_;
    LABOR_CHECK(o.num_features > 0, "BatchNorm2d: num_features: expected > 0, got {}", o.num_features);
    LABOR_CHECK(o.eps >= 0, "BatchNorm2d: eps: expected >= 0, got {}", o.eps);
    LABOR_CHECK(o.momentum >= 0 && o.momentum <= 1, "BatchNorm2d: momentum: expected in [0, 1], got {}", o.momentum);
    const Shape c{o.num_features};
    if (o.affine) {
      weight_ = Parameter<T, D>(c);
      weight_.value.fill(T(1));
      bias_ = Parameter<T, D>(c);
      weight_.trainable = bias_.trainable = !o.frozen;
    }
    running_mean_ = Tensor<T, D>(c);
    running_var_ = Tensor<T, D>::uninitialized(c);
    running_var_.fill(T(1));
  }

  [[nodiscard]] const BatchNorm2dOptions& options() const { return options_; }
  /// Per-channel scale [C]; empty (shape [0]) without `affine`.
  Parameter<T, D>& weight() { return weight_; }
  /// Per-channel shift [C]; empty (shape [0]) without `affine`.
  Parameter<T, D>& bias() { return bias_; }
  /// Running mean [C].
  Tensor<T, D>& running_mean() { return running_mean_; }
  /// Running (unbiased) variance [C].
  Tensor<T, D>& running_var() { return running_var_; }
  /// Whether the next forward normalises with batch statistics (training mode and not frozen).
  [[nodiscard]] bool uses_batch_statistics() const { return training_ && !options_.frozen; }

  /// Training mode on or off (no effect on the statistics used when frozen).
  void set_training(bool training) { training_ = training; }
  [[nodiscard]] bool is_training() const { return training_; }

  /// N×C×H×W → N×C×H×W. In training mode also updates the running statistics.
  /// Throws labor::Error for a wrong rank or channel count, an empty input, or a single value per
  /// channel in training mode.
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    detail::check_nchw("BatchNorm2d", "input", x.shape());
    const std::int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
    LABOR_CHECK(c == options_.num_features, "BatchNorm2d: input channels: expected {}, got {} (shape {})",
                options_.num_features, c, x.shape());
    const std::int64_t count = n * hw;
    const bool batch_stats = uses_batch_statistics();
    LABOR_CHECK(!batch_stats || count > 1,
                "BatchNorm2d: values per channel in training mode: expected > 1, got {} (input shape {})", count,
                x.shape());

    batch_stats_ = batch_stats;
    ensure_shape(mean_, Shape{c});
    ensure_shape(invstd_, Shape{c});
    kept_ = grad_enabled();
    const bool keep_xhat = kept_ && (batch_stats_ || (options_.affine && weight_.trainable));
    if (keep_xhat) {
      ensure_shape(xhat_, x.shape());
    } else {
      xhat_ = Tensor<T, D>();
    }
    input_shape_ = x.shape();
    auto y = Tensor<T, D>::uninitialized(x.shape());
    T* pxh = keep_xhat ? xhat_.data() : nullptr;
    if constexpr (std::is_same_v<D, cpu>) {
      if (batch_stats_) {
        batch_statistics(x);
      } else {
        for (std::int64_t k = 0; k < c; ++k)
          detail::batch_norm_running_channel(running_mean_[k], running_var_[k], options_.eps, mean_[k], invstd_[k]);
      }
      const T* px = x.data();
      T* py = y.data();
      parallel_for(
          0, n * c,
          [&](std::int64_t plane) {
            const auto op = channel_op(plane % c);
            const T* LABOR_RESTRICT xs = px + plane * hw;
            T* LABOR_RESTRICT ys = py + plane * hw;
            if (pxh) {
              T* LABOR_RESTRICT hs = pxh + plane * hw;
              for (std::int64_t i = 0; i < hw; ++i) {
                const T h = op.normalize(xs[i]);
                hs[i] = h;
                ys[i] = op.affine(h);
              }
            } else {
              for (std::int64_t i = 0; i < hw; ++i) ys[i] = op.affine(op.normalize(xs[i]));
            }
          },
          1);
    } else {
      if (batch_stats_) {
        detail::BatchNormKernels<D>::batch_statistics(x.data(), n, c, hw, options_.eps, options_.momentum,
                                                      running_mean_.data(), running_var_.data(), mean_.data(),
                                                      invstd_.data());
      } else {
        detail::batch_norm_running_statistics<T, D>(running_mean_.data(), running_var_.data(), options_.eps,
                                                    mean_.data(), invstd_.data(), c);
      }
      detail::batch_norm_normalize<T, D>(x.data(), y.data(), pxh, mean_.data(), invstd_.data(), affine_data(weight_),
                                         affine_data(bias_), c, hw, x.numel());
    }
    return y;
  }

  /// dLoss/dy (shape of the last input) → dLoss/dx. Adds dLoss/dweight = Σ g·x̂ and
  /// dLoss/dbias = Σ g to the trainable parameters' gradients.
  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    detail::check_backward("BatchNorm2d", kept_, grad_out.shape(), input_shape_);
    const bool want_w = options_.affine && weight_.trainable;
    const bool want_b = options_.affine && bias_.trainable;
    LABOR_CHECK(!want_w || !xhat_.empty(),
                "BatchNorm2d: backward: weight became trainable after forward; run forward again");
    if constexpr (std::is_same_v<D, cpu>) {
      return backward_host(grad_out, want_w, want_b);
    } else {
      // Σg and Σg·x̂ per channel (BatchNormKernels), then the parameter gradients and dx.
      const std::int64_t n = input_shape_[0], c = input_shape_[1], hw = input_shape_[2] * input_shape_[3];
      auto sums = Tensor<double, D>::uninitialized(Shape{2, c});
      const T* pxh = xhat_.empty() ? nullptr : xhat_.data();
      if (batch_stats_ || want_w || want_b)
        detail::BatchNormKernels<D>::grad_sums(grad_out.data(), pxh, n, c, hw, sums.data(), sums.data() + c);
      auto dx = Tensor<T, D>::uninitialized(input_shape_);
      detail::batch_norm_backward_elements<T, D>({.grad_out = grad_out.data(),
                                                  .xhat = pxh,
                                                  .invstd = invstd_.data(),
                                                  .sum_g = sums.data(),
                                                  .sum_gx = sums.data() + c,
                                                  .weight = affine_data(weight_),
                                                  .weight_grad = want_w ? weight_.grad.data() : nullptr,
                                                  .bias_grad = want_b ? bias_.grad.data() : nullptr,
                                                  .dx = dx.data(),
                                                  .c = c,
                                                  .hw = hw,
                                                  .n_values = dx.numel(),
                                                  .count = static_cast<double>(n * hw),
                                                  .batch_stats = batch_stats_});
      return dx;
    }
  }

  /// Visits "weight" and "bias" (when affine), then the buffers "running_mean" and "running_var".
  template <class V>
  void visit(V& v, const std::string& prefix) {
    if (options_.affine) {
      v.parameter(prefix + "weight", weight_);
      v.parameter(prefix + "bias", bias_);
    }
    v.buffer(prefix + "running_mean", running_mean_);
    v.buffer(prefix + "running_var", running_var_);
  }

 private:
  /// backward on the host; want_w / want_b: whether the weight / bias take gradients.
  Tensor<T, D> backward_host(const Tensor<T, D>& grad_out, bool want_w, bool want_b) {
    const std::int64_t n = input_shape_[0], c = input_shape_[1], hw = input_shape_[2] * input_shape_[3];
    const std::int64_t count = n * hw;

    // Per-channel Σg and Σg·x̂, from per-plane partial sums reduced in a fixed order.
    std::vector<double> sum_g, sum_gx;
    if (batch_stats_ || want_w || want_b) {
      std::vector<double> plane_g(static_cast<std::size_t>(n * c)), plane_gx(static_cast<std::size_t>(n * c));
      const T* pg = grad_out.data();
      const T* pxh = xhat_.empty() ? nullptr : xhat_.data();
      parallel_for(
          0, n * c,
          [&](std::int64_t plane) {
            const T* gs = pg + plane * hw;
            const auto p = static_cast<std::size_t>(plane);
            if (pxh) {
              const T* hs = pxh + plane * hw;
              detail::lane_sums(
                  hw, [&](std::int64_t i) { return static_cast<double>(gs[i]); },
                  [&](std::int64_t i) { return static_cast<double>(gs[i]) * static_cast<double>(hs[i]); }, plane_g[p],
                  plane_gx[p]);
            } else {
              double unused = 0;
              detail::lane_sums(
                  hw, [&](std::int64_t i) { return static_cast<double>(gs[i]); }, [](std::int64_t) { return 0.0; },
                  plane_g[p], unused);
              plane_gx[p] = 0;
            }
          },
          1);
      sum_g.assign(static_cast<std::size_t>(c), 0.0);
      sum_gx.assign(static_cast<std::size_t>(c), 0.0);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t k = 0; k < c; ++k) {
          sum_g[static_cast<std::size_t>(k)] += plane_g[static_cast<std::size_t>(i * c + k)];
          sum_gx[static_cast<std::size_t>(k)] += plane_gx[static_cast<std::size_t>(i * c + k)];
        }
    }
    if (want_w)
      for (std::int64_t k = 0; k < c; ++k) weight_.grad[k] += static_cast<T>(sum_gx[static_cast<std::size_t>(k)]);
    if (want_b)
      for (std::int64_t k = 0; k < c; ++k) bias_.grad[k] += static_cast<T>(sum_g[static_cast<std::size_t>(k)]);

    auto dx = Tensor<T, D>::uninitialized(input_shape_);
    const T* pg = grad_out.data();
    const T* pxh = xhat_.empty() ? nullptr : xhat_.data();
    T* pdx = dx.data();
    parallel_for(
        0, n * c,
        [&](std::int64_t plane) {
          const std::int64_t k = plane % c;
          const auto kk = static_cast<std::size_t>(k);
          const double w = options_.affine ? static_cast<double>(weight_.value[k]) : 1.0;
          const T* LABOR_RESTRICT gs = pg + plane * hw;
          T* LABOR_RESTRICT ds = pdx + plane * hw;
          if (batch_stats_) {
            const auto op =
                detail::batch_norm_batch_grad<T>(w, invstd_[k], sum_g[kk], sum_gx[kk], static_cast<double>(count));
            const T* LABOR_RESTRICT hs = pxh + plane * hw;
            for (std::int64_t i = 0; i < hw; ++i) ds[i] = op(gs[i], hs[i]);
          } else {
            const T scale = static_cast<T>(w * invstd_[k]);
            for (std::int64_t i = 0; i < hw; ++i) ds[i] = gs[i] * scale;
          }
        },
        1);
    return dx;
  }

  /// The value of an affine parameter on the device, null without affine.
  [[nodiscard]] const T* affine_data(const Parameter<T, D>& p) const {
    return options_.affine ? p.value.data() : nullptr;
  }

  /// Batch mean and invstd per channel into mean_/invstd_, and the running-statistics update.
  /// Per-plane sums of (x − shift) and (x − shift)² in double, shift = the channel's first value,
  /// so the one-pass variance does not cancel catastrophically.
  void batch_statistics(const Tensor<T, D>& x) {
    const std::int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
    const double count = static_cast<double>(n * hw);
    std::vector<double> s1(static_cast<std::size_t>(n * c)), s2(static_cast<std::size_t>(n * c));
    const T* px = x.data();
    parallel_for(
        0, n * c,
        [&](std::int64_t plane) {
          const T* xs = px + plane * hw;
          const double shift = static_cast<double>(px[(plane % c) * hw]);
          const auto p = static_cast<std::size_t>(plane);
          detail::lane_sums(
              hw, [&](std::int64_t i) { return static_cast<double>(xs[i]) - shift; },
              [&](std::int64_t i) {
                const double d = static_cast<double>(xs[i]) - shift;
                return d * d;
              },
              s1[p], s2[p]);
        },
        1);
    for (std::int64_t k = 0; k < c; ++k) {
      double a = 0, b = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        a += s1[static_cast<std::size_t>(i * c + k)];
        b += s2[static_cast<std::size_t>(i * c + k)];
      }
      detail::batch_norm_batch_channel(static_cast<double>(px[k * hw]), a, b, count, options_.eps, options_.momentum,
                                       running_mean_[k], running_var_[k], mean_[k], invstd_[k]);
    }
  }

  [[nodiscard]] detail::BatchNormChannel<T> channel_op(std::int64_t k) const {
    return detail::batch_norm_channel(mean_[k], invstd_[k], affine_data(weight_), affine_data(bias_), k);
  }

  BatchNorm2dOptions options_;
  Parameter<T, D> weight_;
  Parameter<T, D> bias_;
  Tensor<T, D> running_mean_;
  Tensor<T, D> running_var_;
  bool training_ = true;

  // State of the last forward, for backward.
  bool batch_stats_ = false;
  bool kept_ = false;  // whether the last forward kept what backward needs (not under NoGradGuard)
  Shape input_shape_{0};
  Tensor<double, D> mean_;    // per channel; empty before the first forward
  Tensor<double, D> invstd_;  // per channel
  Tensor<T, D> xhat_;         // (x − mean)·invstd, when backward needs it
};

}  // namespace labor::nn

#if defined(__CUDACC__)
#include "labor/backend/cuda/batch_norm2d.cuh"
#endif
