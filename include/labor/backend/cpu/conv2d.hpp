#pragma once
/// @file conv2d.hpp
/// Conv2d on the host (Conv2dKernels<T, cpu>). Float on AVX-512 hosts runs the implicit-GEMM
/// kernel of conv_avx512.hpp for the forward pass and, at stride 1, for the input gradient;
/// otherwise im2col + GEMM per image (gemm.hpp, im2col.hpp). With at least two images per thread
/// the images are split across threads (each GEMM single-threaded); otherwise images run one after
/// another and each GEMM uses all threads. Weight gradients are summed per worker and reduced in a
/// fixed order, the bias gradient per channel in double, so results do not depend on scheduling.

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "labor/backend/cpu/conv_avx512.hpp"
#include "labor/backend/cpu/gemm.hpp"
#include "labor/backend/cpu/im2col.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/conv2d.hpp"
#include "labor/nn/detail/buffers.hpp"
#include "labor/nn/grad_mode.hpp"

namespace labor::nn::detail {

/// Conv2d's host kernels. Keeps the per-worker column scratch and the flipped weights between
/// calls, so a layer reuses its buffers step after step.
template <class T>
struct Conv2dKernels<T, cpu> {
  using ConvGeometry = cpu_kernels::ConvGeometry;

  /// y (N×C_out×OH×OW, allocated) = conv(x) for the geometry `g` of x, weights `w` (C_out×K) and
  /// bias `b` (C_out, or null). Keeps x in `kept` for backward while gradients are enabled
  /// (keep_for_backward).
  void forward(const ConvGeometry& g, const Tensor<T, cpu>& x, const T* w, const T* b, std::int64_t co,
               Tensor<T, cpu>& y, Tensor<T, cpu>& kept) {
    const std::int64_t n = x.size(0);
    const std::int64_t k = g.col_rows(), hw = g.col_cols();
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      if (implicit_gemm_) {
        // The kernel's threads copy the input for backward as they read it.
        T* keep = nullptr;
        if (grad_enabled()) {
          if (kept.shape() != x.shape()) kept = Tensor<T, cpu>::uninitialized(x.shape());
          keep = kept.data();
        } else {
          kept = Tensor<T, cpu>();
        }
        cpu_kernels::conv2d_forward_avx512(x.data(), n, g, w, co, b, y.data(), keep);
        return;
      }
    }
#endif
    keep_for_backward(kept, x);
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
  }

  /// dx (allocated, the shape of `input`) = dLoss/dx for dLoss/dy `gy`; adds dLoss/dw into `dw` and
  /// dLoss/db into `db` when they are not null.
  void backward(const ConvGeometry& g, const Tensor<T, cpu>& input, const T* w, std::int64_t co,
                const Tensor<T, cpu>& gy, Tensor<T, cpu>& dx, T* dw, T* db) {
    const std::int64_t n = input.size(0);
    const std::int64_t k = g.col_rows(), hw = g.col_cols();
    const bool dx_by_conv = input_gradient_by_conv(g);
    if (!dx_by_conv) std::fill(dx.data(), dx.data() + dx.numel(), T(0));
    const std::int64_t img = g.channels * g.height * g.width;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      if (dx_by_conv) {
        // Stride 1: dx is the convolution of gy with the weights flipped in space and transposed
        // in channels, padding d(k − 1) − p, same dilation.
        const std::int64_t ci = g.channels, kk = g.kernel_h * g.kernel_w;
        if (flipped_.numel() != co * ci * kk) flipped_ = Tensor<T, cpu>::uninitialized(Shape{ci, co * kk});
        T* f = flipped_.data();
        for (std::int64_t o = 0; o < co; ++o)
          for (std::int64_t c = 0; c < ci; ++c)
            for (std::int64_t t = 0; t < kk; ++t) f[(c * co + o) * kk + (kk - 1 - t)] = w[(o * ci + c) * kk + t];
        const std::int64_t pad = g.dilation_h * (g.kernel_h - 1) - g.pad_h;
        const ConvGeometry gt{co,  g.out_height(), g.out_width(), g.kernel_h, g.kernel_w, 1, 1, pad,
                              pad, g.dilation_h,   g.dilation_w};
        cpu_kernels::conv2d_forward_avx512(gy.data(), n, gt, f, ci, nullptr, dx.data());
      }
    }
#endif

    // Per-worker partial weight gradients, reduced after the loop in a fixed order.
    const bool want_w = dw != nullptr;
    const int workers = image_workers(n);
    std::vector<Tensor<T, cpu>> dw_part;
    if (want_w)
      for (int t = 0; t < workers; ++t) dw_part.emplace_back(Shape{co, k});
    if (want_w || !dx_by_conv)
      for_each_image(n, g, [&](std::int64_t i, T* col, int worker) {
        const T* gyi = gy.data() + i * co * hw;
        const T* xi = input.data() + i * img;
        T* dxi = dx.data() + i * img;
        T* dwi = want_w ? dw_part[static_cast<std::size_t>(worker)].data() : nullptr;
        if (g.is_identity()) {
          // dW (C_out×C_in) += gy (C_out×HW) · xᵀ (HW×C_in);  dx (C_in×HW) = Wᵀ · gy
          if (want_w) cpu_kernels::gemm<T>(false, true, co, k, hw, T(1), gyi, hw, xi, hw, T(1), dwi, k);
          cpu_kernels::gemm<T>(true, false, k, hw, co, T(1), w, k, gyi, hw, T(0), dxi, hw);
          return;
        }
        if (want_w) {
          // dW (C_out×K) += gy (C_out×HW) · colᵀ (HW×K)
          cpu_kernels::im2col(xi, g, col);
          cpu_kernels::gemm<T>(false, true, co, k, hw, T(1), gyi, hw, col, hw, T(1), dwi, k);
        }
        if (dx_by_conv) return;
        // dcol (K×HW) = Wᵀ (K×C_out) · gy (C_out×HW), folded back onto dx.
        cpu_kernels::gemm<T>(true, false, k, hw, co, T(1), w, k, gyi, hw, T(0), col, hw);
        cpu_kernels::col2im(col, g, dxi);
      });
    if (want_w) {
      for (const auto& part : dw_part)
        for (std::int64_t e = 0; e < part.numel(); ++e) dw[e] += part.data()[e];
    }
    if (db) {
      parallel_for(
          0, co,
          [&](std::int64_t o) {
            double s = 0;
            for (std::int64_t i = 0; i < n; ++i) {
              const T* gyo = gy.data() + (i * co + o) * hw;
              for (std::int64_t e = 0; e < hw; ++e) s += gyo[e];
            }
            db[o] += static_cast<T>(s);
          },
          1);
    }
  }

  /// Float on AVX-512 hosts: true (default) runs the implicit-GEMM kernel for the forward pass
  /// and, at stride 1, for the input gradient; false the im2col + GEMM path. No effect elsewhere.
  void set_implicit_gemm(bool on) {
    implicit_gemm_ = on;
  }

 private:
  /// True when backward computes dx with the forward convolution kernel: float on AVX-512 hosts,
  /// stride 1, padding at most d(k − 1) (so the transposed convolution's padding is not negative),
  /// not a plain 1×1 (whose dx is one GEMM).
  bool input_gradient_by_conv([[maybe_unused]] const ConvGeometry& g) const {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>)
      return implicit_gemm_ && !g.is_identity() && g.stride_h == 1 && g.stride_w == 1 &&
             g.pad_h <= g.dilation_h * (g.kernel_h - 1) && g.pad_w <= g.dilation_w * (g.kernel_w - 1);
#endif
    return false;
  }

  static int image_workers(std::int64_t n) {
    return static_cast<int>(std::clamp<std::int64_t>(num_threads(), 1, n));
  }

  /// Calls f(image, col_scratch[, worker]) for every image, split as the file comment says.
  template <class F>
  void for_each_image(std::int64_t n, const ConvGeometry& g, F&& f) {
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
          scratch_[static_cast<std::size_t>(t)] = Tensor<T, cpu>::uninitialized(Shape{col_size});
      parallel_chunks(0, workers, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t t = lo; t < hi; ++t)
          for (std::int64_t i = n * t / workers; i < n * (t + 1) / workers; ++i)
            call(i, scratch_[static_cast<std::size_t>(t)].data(), static_cast<int>(t));
      });
    } else {
      if (scratch_.empty()) scratch_.resize(1);
      if (scratch_[0].numel() < col_size) scratch_[0] = Tensor<T, cpu>::uninitialized(Shape{col_size});
      for (std::int64_t i = 0; i < n; ++i) call(i, scratch_[0].data(), 0);
    }
  }

  std::vector<Tensor<T, cpu>> scratch_;
  Tensor<T, cpu> flipped_;  ///< transposed, flipped weights for the input gradient by convolution
  bool implicit_gemm_ = true;
};

}  // namespace labor::nn::detail
