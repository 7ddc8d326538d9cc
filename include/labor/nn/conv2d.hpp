#pragma once
/// @file conv2d.hpp
/// labor::nn::Conv2d: 2-D convolution (cross-correlation, as torch.nn.Conv2d) with stride,
/// padding, dilation and optional bias. CPU: float on AVX-512 hosts runs the implicit-GEMM kernel of
/// conv_avx512.hpp (forward, and the input gradient at stride 1); otherwise im2col + GEMM.
/// GPU (float, under nvcc): im2col / col2im kernels and cuBLAS GEMMs (backend/cuda/conv2d.cuh).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "labor/backend/cpu/conv_avx512.hpp"
#include "labor/backend/cpu/gemm.hpp"
#include "labor/backend/cpu/im2col.hpp"
#include "labor/core/error.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/detail/buffers.hpp"
#include "labor/nn/grad_mode.hpp"
#include "labor/nn/parameter.hpp"

namespace labor::nn {

namespace detail {
/// Conv2d's kernels on device D other than cpu; the cuda specialisation (float) is in
/// backend/cuda/conv2d.cuh.
template <Device D>
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
    if constexpr (std::is_same_v<D, cpu>) {
      return forward_cpu(x, g);
    } else {
      static_assert(std::is_same_v<T, float>, "Conv2d on the GPU: only float");
      auto y = Tensor<T, D>::uninitialized(Shape{x.size(0), options_.out_channels, g.out_height(), g.out_width()});
      detail::keep_for_backward(input_, x);
      detail::Conv2dKernels<D>::forward(g, x.size(0), x.data(), weight_.value.data(),
                                        options_.bias ? bias_.value.data() : nullptr, options_.out_channels, y.data());
      return y;
    }
  }

  /// dLoss/dy (N×C_out×OH×OW) → dLoss/dx; adds dLoss/dweight and dLoss/dbias to the gradients
  /// of trainable parameters.
  Tensor<T, D> backward(const Tensor<T, D>& grad_out) {
    LABOR_CHECK(!input_.empty(), "Conv2d: backward called before forward (or after a forward under NoGradGuard)");
    const auto g = geometry("backward", input_.shape());
    const std::int64_t n = input_.size(0), co = options_.out_channels;
    check_shape("Conv2d backward: grad_out", grad_out.shape(), Shape{n, co, g.out_height(), g.out_width()});
    if constexpr (std::is_same_v<D, cpu>) {
      return backward_cpu(grad_out, g);
    } else {
      auto dx = Tensor<T, D>::uninitialized(input_.shape());
      T* dw = weight_.trainable ? weight_.grad.data() : nullptr;
      T* db = options_.bias && bias_.trainable ? bias_.grad.data() : nullptr;
      detail::Conv2dKernels<D>::backward(g, n, input_.data(), weight_.value.data(), co, grad_out.data(), dx.data(), dw,
                                         db);
      return dx;
    }
  }

  void set_training(bool) {}

  /// Float on AVX-512 hosts: true (default) runs the implicit-GEMM kernel (conv_avx512.hpp) for
  /// the forward pass and, at stride 1, for the input gradient; false the im2col + GEMM path.
  /// No effect elsewhere (the GPU always runs im2col + GEMM).
  void set_implicit_gemm(bool on) {
    use_implicit_gemm_ = on;
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(prefix + "weight", weight_);
    if (options_.bias) v.parameter(prefix + "bias", bias_);
  }

 private:
  /// The host forward pass for the geometry `g` of x.
  Tensor<T, D> forward_cpu(const Tensor<T, D>& x, const cpu_kernels::ConvGeometry& g) {
    const std::int64_t n = x.size(0), co = options_.out_channels;
    const std::int64_t k = g.col_rows(), hw = g.col_cols();
    auto y = Tensor<T, D>::uninitialized(Shape{n, co, g.out_height(), g.out_width()});
    const T* w = weight_.value.data();
    const T* b = options_.bias ? bias_.value.data() : nullptr;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      if (use_implicit_gemm_) {
        // The kernel's threads copy the input for backward as they read it.
        T* kept = nullptr;
        if (grad_enabled()) {
          if (input_.shape() != x.shape()) input_ = Tensor<T, D>::uninitialized(x.shape());
          kept = input_.data();
        } else {
          input_ = Tensor<T, D>();
        }
        cpu_kernels::conv2d_forward_avx512(x.data(), n, g, w, co, b, y.data(), kept);
        return y;
      }
    }
#endif
    detail::keep_for_backward(input_, x);
    for_each_image(n, g, [&](std::int64_t i, T* col) {
      const T* xi = x.data() + i * g.channels * g.height * g.width;
      T* yi = y.data() + i * co * hw;
      if (b) {
        for (std::int64_t o = 0; o < co; ++o) std::fill(yi + o * hw, yi + (o + 1) * hw, b[o]);
      }
      const T beta = b ? T(1) : T(0);
      if (g.is_identity()) {
        cpu_kernels::gemm<T>(false, false, co, hw, k, T(1), w, k, xi, hw, beta, yi, hw);
        return;
      }
      // Whole-image columns: measured faster than row tiles sized for cache (Eigen's GEMM packs
      // its own cache blocks, and short GEMMs lose more to per-call packing than tiles gain).
      cpu_kernels::im2col(xi, g, col);
      cpu_kernels::gemm<T>(false, false, co, hw, k, T(1), w, k, col, hw, beta, yi, hw);
    });
    return y;
  }

  /// The host backward pass for the geometry `g` of the kept input; grad_out's shape is checked.
  Tensor<T, D> backward_cpu(const Tensor<T, D>& grad_out, const cpu_kernels::ConvGeometry& g) {
    const std::int64_t n = input_.size(0), co = options_.out_channels;
    const std::int64_t k = g.col_rows(), hw = g.col_cols();
    const bool dx_by_conv = input_gradient_by_conv(g);
    Tensor<T, D> dx = dx_by_conv ? Tensor<T, D>::uninitialized(input_.shape()) : Tensor<T, D>(input_.shape());
    const T* w = weight_.value.data();
    const bool want_w = weight_.trainable;
    const bool want_b = options_.bias && bias_.trainable;
    const std::int64_t img = g.channels * g.height * g.width;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      if (dx_by_conv) {
        // Stride 1: dx is the convolution of grad_out with the weights flipped in space and
        // transposed in channels, padding d(k − 1) − p, same dilation.
        const std::int64_t ci = g.channels, kk = g.kernel_h * g.kernel_w;
        if (flipped_.numel() != weight_.value.numel()) flipped_ = Tensor<T, D>::uninitialized(Shape{ci, co * kk});
        T* f = flipped_.data();
        for (std::int64_t o = 0; o < co; ++o)
          for (std::int64_t c = 0; c < ci; ++c)
            for (std::int64_t t = 0; t < kk; ++t) f[(c * co + o) * kk + (kk - 1 - t)] = w[(o * ci + c) * kk + t];
        const std::int64_t pad = g.dilation_h * (g.kernel_h - 1) - g.pad_h;
        const cpu_kernels::ConvGeometry gt{co,  g.out_height(), g.out_width(), g.kernel_h, g.kernel_w, 1, 1, pad,
                                           pad, g.dilation_h,   g.dilation_w};
        cpu_kernels::conv2d_forward_avx512(grad_out.data(), n, gt, f, ci, nullptr, dx.data());
      }
    }
#endif

    // Per-worker partial weight gradients, reduced after the loop in a fixed order.
    const int workers = image_workers(n);
    std::vector<Tensor<T, D>> dw_part;
    if (want_w)
      for (int t = 0; t < workers; ++t) dw_part.emplace_back(weight_.value.shape());
    if (want_w || !dx_by_conv)
      for_each_image(n, g, [&](std::int64_t i, T* col, int worker) {
        const T* gy = grad_out.data() + i * co * hw;
        const T* xi = input_.data() + i * img;
        T* dxi = dx.data() + i * img;
        T* dw = want_w ? dw_part[static_cast<std::size_t>(worker)].data() : nullptr;
        if (g.is_identity()) {
          // dW (C_out×C_in) += gy (C_out×HW) · xᵀ (HW×C_in);  dx (C_in×HW) = Wᵀ · gy
          if (want_w) cpu_kernels::gemm<T>(false, true, co, k, hw, T(1), gy, hw, xi, hw, T(1), dw, k);
          cpu_kernels::gemm<T>(true, false, k, hw, co, T(1), w, k, gy, hw, T(0), dxi, hw);
          return;
        }
        if (want_w) {
          // dW (C_out×K) += gy (C_out×HW) · colᵀ (HW×K)
          cpu_kernels::im2col(xi, g, col);
          cpu_kernels::gemm<T>(false, true, co, k, hw, T(1), gy, hw, col, hw, T(1), dw, k);
        }
        if (dx_by_conv) return;
        // dcol (K×HW) = Wᵀ (K×C_out) · gy (C_out×HW), folded back onto dx.
        cpu_kernels::gemm<T>(true, false, k, hw, co, T(1), w, k, gy, hw, T(0), col, hw);
        cpu_kernels::col2im(col, g, dxi);
      });
    if (want_w) {
      T* dw = weight_.grad.data();
      for (const auto& part : dw_part)
        for (std::int64_t e = 0; e < part.numel(); ++e) dw[e] += part.data()[e];
    }
    if (want_b) {
      T* db = bias_.grad.data();
      parallel_for(
          0, co,
          [&](std::int64_t o) {
            double s = 0;
            for (std::int64_t i = 0; i < n; ++i) {
              const T* gy = grad_out.data() + (i * co + o) * hw;
              for (std::int64_t e = 0; e < hw; ++e) s += gy[e];
            }
            db[o] += static_cast<T>(s);
          },
          1);
    }
    return dx;
  }

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

  /// True when backward computes dx with the forward convolution kernel: float on AVX-512 hosts,
  /// stride 1, padding at most d(k − 1) (so the transposed convolution's padding is not negative),
  /// not a plain 1×1 (whose dx is one GEMM).
  bool input_gradient_by_conv([[maybe_unused]] const cpu_kernels::ConvGeometry& g) const {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>)
      return use_implicit_gemm_ && !g.is_identity() && g.stride_h == 1 && g.stride_w == 1 &&
             g.pad_h <= g.dilation_h * (g.kernel_h - 1) && g.pad_w <= g.dilation_w * (g.kernel_w - 1);
#endif
    return false;
  }

  static int image_workers(std::int64_t n) {
    return static_cast<int>(std::clamp<std::int64_t>(num_threads(), 1, n));
  }

  /// Calls f(image, col_scratch[, worker]) for every image. With at least two images per thread
  /// available, images are split across threads (each GEMM single-threaded); otherwise images run
  /// one after another and each GEMM uses all threads.
  template <class F>
  void for_each_image(std::int64_t n, const cpu_kernels::ConvGeometry& g, F&& f) {
    const std::int64_t col_size = g.is_identity() ? 0 : g.col_rows() * g.col_cols();
    auto call = [&](std::int64_t i, T* col, int worker) {
      if constexpr (std::is_invocable_v<F, std::int64_t, T*, int>)
        f(i, col, worker);
      else
        f(i, col);
    };
    const int workers = image_workers(n);
    if (workers > 1 && n >= workers) {
      if (static_cast<std::int64_t>(scratch_.size()) < workers) scratch_.resize(static_cast<std::size_t>(workers));
      for (int t = 0; t < workers; ++t)
        if (scratch_[static_cast<std::size_t>(t)].numel() < col_size)
          scratch_[static_cast<std::size_t>(t)] = Tensor<T, D>::uninitialized(Shape{col_size});
      parallel_chunks(0, workers, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t t = lo; t < hi; ++t)
          for (std::int64_t i = n * t / workers; i < n * (t + 1) / workers; ++i)
            call(i, scratch_[static_cast<std::size_t>(t)].data(), static_cast<int>(t));
      });
    } else {
      if (scratch_.empty()) scratch_.resize(1);
      if (scratch_[0].numel() < col_size) scratch_[0] = Tensor<T, D>::uninitialized(Shape{col_size});
      for (std::int64_t i = 0; i < n; ++i) call(i, scratch_[0].data(), 0);
    }
  }

  Conv2dOptions options_;
  Parameter<T, D> weight_;
  Parameter<T, D> bias_;
  Tensor<T, D> input_;
  std::vector<Tensor<T, D>> scratch_;
  Tensor<T, D> flipped_;  ///< transposed, flipped weights for the input gradient by convolution
  bool use_implicit_gemm_ = true;
};

}  // namespace labor::nn

#if defined(__CUDACC__)
#include "labor/backend/cuda/conv2d.cuh"
#endif
