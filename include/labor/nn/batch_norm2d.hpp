#pragma once
/// @file batch_norm2d.hpp
/// labor::nn::BatchNorm2d: batch normalisation over the channels of N×C×H×W tensors, as
/// torch.nn.BatchNorm2d, plus DeepLab's frozen variant (running statistics, no learning), on the
/// host and the GPU: its contract and checks. The per-channel formulas are shared
/// LABOR_HOST_DEVICE functions; the work is BatchNormKernels<D> (backend/cpu/batch_norm2d.hpp,
/// backend/cuda/batch_norm2d.cuh).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
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

/// What BatchNormKernels<D>::forward reads and writes (pointers to the memory of D).
template <class T>
struct BatchNormForwardPass {
  const T* x;
  T* y;
  T* xhat;  ///< x̂ is kept here when not null
  T* running_mean;
  T* running_var;
  double* mean;     ///< out: per channel
  double* invstd;   ///< out: per channel
  const T* weight;  ///< null without affine
  const T* bias;    ///< null without affine
  std::int64_t n, c, hw;
  double eps, momentum;
  bool batch_stats;  ///< batch statistics (and running averages updated) or the running statistics
};

/// What BatchNormKernels<D>::backward reads and writes (pointers to the memory of D; the
/// parameter pointers null when absent or not trainable).
template <class T>
struct BatchNormBackwardPass {
  const T* grad_out;
  const T* xhat;         ///< null when not kept
  const double* invstd;  ///< the last forward's
  const T* weight;       ///< null without affine
  T* weight_grad;        ///< null unless the weight is trainable
  T* bias_grad;          ///< null unless the bias is trainable
  T* dx;
  std::int64_t n, c, hw;
  bool batch_stats;  ///< whether the forward used batch statistics
};

/// BatchNorm2d's kernels on device D: forward(BatchNormForwardPass) and
/// backward(BatchNormBackwardPass), both with the per-channel rules above and sums in double in an
/// order that does not depend on scheduling. cpu in backend/cpu/batch_norm2d.hpp, cuda in
/// backend/cuda/batch_norm2d.cuh.
template <Device D>
struct BatchNormKernels;

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
    detail::BatchNormKernels<D>::forward(detail::BatchNormForwardPass<T>{.x = x.data(),
                                                                         .y = y.data(),
                                                                         .xhat = keep_xhat ? xhat_.data() : nullptr,
                                                                         .running_mean = running_mean_.data(),
                                                                         .running_var = running_var_.data(),
                                                                         .mean = mean_.data(),
                                                                         .invstd = invstd_.data(),
                                                                         .weight = affine_data(weight_),
                                                                         .bias = affine_data(bias_),
                                                                         .n = n,
                                                                         .c = c,
                                                                         .hw = hw,
                                                                         .eps = options_.eps,
                                                                         .momentum = options_.momentum,
                                                                         .batch_stats = batch_stats_});
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
    auto dx = Tensor<T, D>::uninitialized(input_shape_);
    detail::BatchNormKernels<D>::backward(
        detail::BatchNormBackwardPass<T>{.grad_out = grad_out.data(),
                                         .xhat = xhat_.empty() ? nullptr : xhat_.data(),
                                         .invstd = invstd_.data(),
                                         .weight = affine_data(weight_),
                                         .weight_grad = want_w ? weight_.grad.data() : nullptr,
                                         .bias_grad = want_b ? bias_.grad.data() : nullptr,
                                         .dx = dx.data(),
                                         .n = input_shape_[0],
                                         .c = input_shape_[1],
                                         .hw = input_shape_[2] * input_shape_[3],
                                         .batch_stats = batch_stats_});
    return dx;
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
  /// The value of an affine parameter on the device, null without affine.
  [[nodiscard]] const T* affine_data(const Parameter<T, D>& p) const {
    return options_.affine ? p.value.data() : nullptr;
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

#include "labor/backend/cpu/batch_norm2d.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/batch_norm2d.cuh"
#endif
