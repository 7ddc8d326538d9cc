#pragma once
/// @file conv2d.hpp
/// labor::nn::Conv2d: 2-D convolution (cross-correlation, as torch.nn.Conv2d) with stride,
/// padding, dilation and optional bias: its contract and checks; the work is Conv2dKernels<T, D>.
/// CPU (backend/cpu/conv2d.hpp): float on AVX-512 hosts runs the implicit-GEMM kernel of
/// conv_avx512.hpp (forward, and the input gradient at stride 1); otherwise im2col + GEMM.
/// GPU (float, under nvcc): im2col / col2im kernels and cuBLAS GEMMs (backend/cuda/conv2d.cuh).

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "labor/backend/cpu/im2col.hpp"
#include "labor/core/error.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/parameter.hpp"

namespace labor::nn {

namespace detail {
/// Conv2d's kernels for element type T on device D: forward, backward, set_implicit_gemm. The
/// cpu specialisation is in backend/cpu/conv2d.hpp, the cuda one (float) in backend/cuda/conv2d.cuh.
template <class T, Device D>
struct Conv2dKernels;
}  // namespace detail

/// Hyper-parameters of Conv2d (square kernel, same stride/padding/dilation on both axes).
struct Conv2dOptions {
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t kernel_size = 3;
  std::int64_t stride = 1;
  std::int64_t padding = 0;
  std::int64_t dilation = 1;
  bool bias = true;
};

/// y[n, o] = bias[o] + Σ_{c,i,j} weight[o, c, i, j] · x[n, c, y·s − p + i·d, x·s − p + j·d].
/// Input N×C_in×H×W, output N×C_out×OH×OW with OH = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1.
/// Parameters "weight" (C_out×C_in×k×k) and "bias" (C_out, when enabled), as torch.nn.Conv2d.
template <class T, Device D = cpu>
class Conv2d {
  static_assert(std::is_same_v<D, cpu> || std::is_same_v<T, float>, "Conv2d on the GPU: only float");

 public:
  using value_type = T;
  using device_type = D;

  /// Zero-initialised convolution. Throws labor::Error for non-positive channels, kernel, stride
  /// or dilation, or negative padding.
  explicit Conv2d(const Conv2dOptions& options) : options_(options) {
    const auto& o = options_;
    LABOR_CHECK(o.in_channels > 0, "Conv2d: in_channels: expected > 0, got {}", o.in_channels);
    LABOR_CHECK(o.out_channels > 0, "Conv2d: out_channels: expected > 0, got {}", o.out_channels);
    LABOR_CHECK(o.kernel_size > 0, "Conv2d: kernel_size: expected > 0, got {}", o.kernel_size);
    LABOR_CHECK(o.stride > 0, "Conv2d: stride: expected > 0, got {}", o.stride);
    LABOR_CHECK(o.dilation > 0, "Conv2d: dilation: expected > 0, got {}", o.dilation);
    LABOR_CHECK(o.padding >= 0, "Conv2d: padding: expected >= 0, got {}", o.padding);
    weight_ = Parameter<T, D>(Shape{o.out_channels, o.in_channels, o.kernel_size, o.kernel_size});
    if (o.bias) bias_ = Parameter<T, D>(Shape{o.out_channels});
  }

  /// Convolution initialised as torch.nn.Conv2d: weight and bias ~ U(−1/√fan_in, 1/√fan_in),
  /// fan_in = C_in·k², drawn from `rng`.
  Conv2d(const Conv2dOptions& options, Rng& rng) : Conv2d(options) {
    const T bound = T(1) / std::sqrt(static_cast<T>(options.in_channels * options.kernel_size * options.kernel_size));
    fill_uniform(weight_.value.view(), rng, -bound, bound);
    if (options.bias) fill_uniform(bias_.value.view(), rng, -bound, bound);
  }

  [[nodiscard]] const Conv2dOptions& options() const { return options_; }
  Parameter<T, D>& weight() { return weight_; }
  /// The bias parameter; empty (shape [0]) when the layer has no bias.
  Parameter<T, D>& bias() { return bias_; }

  /// N×C_in×H×W → N×C_out×OH×OW. Keeps a copy of the input for backward (not under NoGradGuard).
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    const auto g = geometry("forward", x.shape());
    auto y = Tensor<T, D>::uninitialized(Shape{x.size(0), options_.out_channels, g.out_height(), g.out_width()});
    kernels_.forward(g, x, weight_.value.data(), options_.bias ? bias_.value.data() : nullptr, options_.out_channels, y,
                     input_);
    return y;
  }

  /// dLoss/dy (N×C_out×OH×OW) → dLoss/dx; adds dLoss/dweight and dLoss/dbias to the gradients
  /// of trainable parameters.
  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    LABOR_CHECK(!input_.empty(), "Conv2d: backward called before forward (or after a forward under NoGradGuard)");
    const auto g = geometry("backward", input_.shape());
    const std::int64_t n = input_.size(0), co = options_.out_channels;
    check_shape("Conv2d backward: grad_out", grad_out.shape(), Shape{n, co, g.out_height(), g.out_width()});
    auto dx = Tensor<T, D>::uninitialized(input_.shape());
    T* dw = weight_.trainable ? weight_.grad.data() : nullptr;
    T* db = options_.bias && bias_.trainable ? bias_.grad.data() : nullptr;
    kernels_.backward(g, input_, weight_.value.data(), co, grad_out, dx, dw, db);
    return dx;
  }

  void set_training(bool) {}

  /// Float on AVX-512 hosts: true (default) runs the implicit-GEMM kernel (conv_avx512.hpp) for
  /// the forward pass and, at stride 1, for the input gradient; false the im2col + GEMM path.
  /// No effect elsewhere (the GPU always runs im2col + GEMM).
  void set_implicit_gemm(bool on) { kernels_.set_implicit_gemm(on); }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(prefix + "weight", weight_);
    if (options_.bias) v.parameter(prefix + "bias", bias_);
  }

 private:
  cpu_kernels::ConvGeometry geometry(const char* where, const Shape& s) const {
    LABOR_CHECK(s.rank() == 4, "Conv2d {}: input rank: expected 4 (N×C×H×W), got {} (shape {})", where, s.rank(), s);
    LABOR_CHECK(s[1] == options_.in_channels, "Conv2d {}: input channels: expected {}, got {} (shape {})", where,
                options_.in_channels, s[1], s);
    LABOR_CHECK(s[0] > 0 && s[2] > 0 && s[3] > 0, "Conv2d {}: input: expected a non-empty batch, got shape {}", where,
                s);
    const auto& o = options_;
    cpu_kernels::ConvGeometry g{s[1],     s[2],      s[3],      o.kernel_size, o.kernel_size, o.stride,
                                o.stride, o.padding, o.padding, o.dilation,    o.dilation};
    LABOR_CHECK(g.height + 2 * o.padding >= o.dilation * (o.kernel_size - 1) + 1 &&
                    g.width + 2 * o.padding >= o.dilation * (o.kernel_size - 1) + 1,
                "Conv2d {}: input {}×{} with padding {} is smaller than the dilated kernel ({})", where, g.height,
                g.width, o.padding, o.dilation * (o.kernel_size - 1) + 1);
    return g;
  }

  Conv2dOptions options_;
  Parameter<T, D> weight_;
  Parameter<T, D> bias_;
  Tensor<T, D> input_;  ///< the input of the last forward, for backward
  detail::Conv2dKernels<T, D> kernels_;
};

}  // namespace labor::nn

#include "labor/backend/cpu/conv2d.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/conv2d.cuh"
#endif
