#pragma once
/// @file conv2d.cuh
/// Conv2d on the GPU: im2col / col2im kernels over the column layout of backend/cpu/im2col.hpp
/// (per image a K×HW matrix, K = C_in·KH·KW, row (c·KH + i)·KW + j, column oy·OW + ox), cuBLAS
/// GEMMs (gemm.cuh) and a deterministic per-channel bias-gradient reduction. Everything is queued
/// on labor's stream.
///
/// Forward, per chunk of images whose columns fit a bounded scratch: im2col, then one strided-
/// batched GEMM y_i = W (C_out×K) · col_i (K×HW). A 1×1 convolution with stride 1 and no padding
/// multiplies the input directly. The bias is written into y first and the GEMM adds to it.
/// Backward: dW += gy_i · col_iᵀ image after image (beta = 1 into the gradient, ordered on the
/// stream, so deterministic), dcol_i = Wᵀ · gy_i, then col2im gathers each input element's taps in
/// a fixed order (no atomics), and db += Σ_{n,y,x} gy in double.

#include <cstdint>
#include <limits>

#include <cuda_runtime.h>

#include "labor/backend/cpu/im2col.hpp"
#include "labor/backend/cuda/context.cuh"
#include "labor/backend/cuda/for_each.cuh"
#include "labor/backend/cuda/gemm.cuh"
#include "labor/backend/cuda/memory.cuh"
#include "labor/core/config.hpp"
#include "labor/core/device.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/conv2d.hpp"
#include "labor/nn/detail/buffers.hpp"

namespace labor::cuda_kernels {

using cpu_kernels::ConvGeometry;

/// Bytes of im2col columns one forward or backward call keeps at once (at least one image's).
inline constexpr std::int64_t conv_col_scratch_bytes = std::int64_t{256} << 20;

/// A ConvGeometry in the index type `I` the kernels compute with, plus the output size.
template <class I>
struct ConvIndex {
  I channels, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  I out_h, out_w;

  /// The geometry `g` (host side).
  static ConvIndex from(const ConvGeometry& g) {
    return {static_cast<I>(g.channels),   static_cast<I>(g.height),     static_cast<I>(g.width),
            static_cast<I>(g.kernel_h),   static_cast<I>(g.kernel_w),   static_cast<I>(g.stride_h),
            static_cast<I>(g.stride_w),   static_cast<I>(g.pad_h),      static_cast<I>(g.pad_w),
            static_cast<I>(g.dilation_h), static_cast<I>(g.dilation_w), static_cast<I>(g.out_height()),
            static_cast<I>(g.out_width())};
  }
};

/// Element e of the columns of consecutive images x (images × K × HW):
/// col[img][(c·KH + i)·KW + j][oy·OW + ox] = x[img][c][oy·sh − ph + i·dh][ox·sw − pw + j·dw], 0
/// outside the image.
template <class I>
LABOR_HOST_DEVICE inline float im2col_element(const float* LABOR_RESTRICT x, const ConvIndex<I>& g, I e) {
  const I hw = g.out_h * g.out_w, rows = g.channels * g.kernel_h * g.kernel_w;
  const I p = e % hw, r = e / hw;
  const I row = r % rows, img = r / rows;
  const I ox = p % g.out_w, oy = p / g.out_w;
  const I j = row % g.kernel_w, t = row / g.kernel_w;
  const I i = t % g.kernel_h, c = t / g.kernel_h;
  const I y = oy * g.stride_h - g.pad_h + i * g.dilation_h;
  const I xx = ox * g.stride_w - g.pad_w + j * g.dilation_w;
  const bool inside = y >= 0 && y < g.height && xx >= 0 && xx < g.width;
  return inside ? x[((img * g.channels + c) * g.height + y) * g.width + xx] : 0.0f;
}

/// Element e (= ((img·C + c)·H + y)·W + x) of the input gradient of consecutive images from their
/// column gradients col (images × K × HW): the sum over the taps (i, j) that read input (y, x) of
/// col[img][(c·KH + i)·KW + j][oy·OW + ox], in the order i, then j (the CPU col2im's order). The
/// adjoint of im2col_element as a gather.
template <class I>
LABOR_HOST_DEVICE inline float col2im_element(const float* LABOR_RESTRICT col, const ConvIndex<I>& g, I e) {
  const I hw = g.out_h * g.out_w, kk = g.kernel_h * g.kernel_w;
  const I x = e % g.width, r = e / g.width;
  const I y = r % g.height, plane = r / g.height;  // plane = img·C + c
  const float* taps = col + plane * kk * hw;       // row (c·KH + 0)·KW + 0 of image img
  float sum = 0.0f;
  for (I i = 0; i < g.kernel_h; ++i) {
    const I ty = y + g.pad_h - i * g.dilation_h;  // oy·sh when tap i of output row oy reads row y
    if (ty < 0) break;                            // only smaller for larger i
    if (ty % g.stride_h != 0) continue;
    const I oy = ty / g.stride_h;
    if (oy >= g.out_h) continue;
    for (I j = 0; j < g.kernel_w; ++j) {
      const I tx = x + g.pad_w - j * g.dilation_w;
      if (tx < 0) break;
      if (tx % g.stride_w != 0) continue;
      const I ox = tx / g.stride_w;
      if (ox >= g.out_w) continue;
      sum += taps[(i * g.kernel_w + j) * hw + oy * g.out_w + ox];
    }
  }
  return sum;
}

/// col[e] = im2col_element(x, g, e) for e in [0, total); one thread per column element.
template <class I>
__global__ void im2col_kernel(const float* LABOR_RESTRICT x, ConvIndex<I> g, I total, float* LABOR_RESTRICT col) {
  const I stride = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I e = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); e < total;
       e += stride)
    col[e] = im2col_element(x, g, e);
}

/// dx[e] = col2im_element(col, g, e) for e in [0, total) (overwrites dx); one thread per input
/// element, no atomics.
template <class I>
__global__ void col2im_kernel(const float* LABOR_RESTRICT col, ConvIndex<I> g, I total, float* LABOR_RESTRICT dx) {
  const I stride = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I e = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); e < total;
       e += stride)
    dx[e] = col2im_element(col, g, e);
}

/// Threads per block of the bias-gradient reduction (a power of two).
inline constexpr int bias_grad_threads = 256;

/// db[o] += Σ_{img, p} gy[img][o][p] for the channel o = blockIdx.x: each of the `Threads` threads
/// (a power of two) sums a strided share in double, then a fixed shared-memory tree adds the
/// shares (deterministic).
template <int Threads>
__global__ void __launch_bounds__(Threads)
    bias_grad_kernel(const float* LABOR_RESTRICT gy, std::int64_t images, std::int64_t channels, std::int64_t hw,
                     float* LABOR_RESTRICT db) {
  static_assert(Threads > 0 && (Threads & (Threads - 1)) == 0, "bias_grad_kernel: Threads must be a power of two");
  __shared__ double share[Threads];
  const std::int64_t o = blockIdx.x;
  double s = 0.0;
  for (std::int64_t img = 0; img < images; ++img) {
    const float* plane = gy + (img * channels + o) * hw;
    for (std::int64_t p = threadIdx.x; p < hw; p += Threads) s += static_cast<double>(plane[p]);
  }
  share[threadIdx.x] = s;
  __syncthreads();
  for (int half = Threads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) share[threadIdx.x] += share[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[o] += static_cast<float>(share[0]);
}

namespace detail {

/// True when every index a kernel over `elements` elements (and the `other` elements it reads
/// or writes) forms fits a 32-bit int, so it can use the faster 32-bit division. Half the int
/// range, so that a grid-stride step past the last element cannot overflow either.
inline bool fits_int32(std::int64_t elements, std::int64_t other) {
  constexpr std::int64_t max = std::numeric_limits<std::int32_t>::max() / 2;
  return elements <= max && other <= max;
}

/// Calls launch(I{}) with I = int32 when the indices of `total` and `other` elements fit it, int64
/// otherwise; nothing when total <= 0.
template <class Launch>
void launch_indexed(std::int64_t total, std::int64_t other, Launch&& launch) {
  if (total <= 0) return;
  if (fits_int32(total, other))
    launch(std::int32_t{});
  else
    launch(std::int64_t{});
}

}  // namespace detail

/// Columns of `images` consecutive C×H×W images at `x` into `col` (images × K × HW); queued on
/// labor's stream.
inline void im2col(const float* x, const ConvGeometry& g, std::int64_t images, float* col) {
  const std::int64_t total = images * g.col_rows() * g.col_cols();
  detail::launch_indexed(total, images * g.channels * g.height * g.width, [&](auto index) {
    using I = decltype(index);
    im2col_kernel<I><<<cuda_kernels::grid_blocks(total), cuda_kernels::block_threads, 0, cuda_stream()>>>(
        x, ConvIndex<I>::from(g), static_cast<I>(total), col);
    cuda_kernels::check_launch("Conv2d im2col kernel launch");
  });
}

/// Input gradient of `images` consecutive images from their column gradients `col`
/// (images × K × HW): dx = col2im(col), overwriting dx; queued on labor's stream.
inline void col2im(const float* col, const ConvGeometry& g, std::int64_t images, float* dx) {
  const std::int64_t total = images * g.channels * g.height * g.width;
  detail::launch_indexed(total, images * g.col_rows() * g.col_cols(), [&](auto index) {
    using I = decltype(index);
    col2im_kernel<I><<<cuda_kernels::grid_blocks(total), cuda_kernels::block_threads, 0, cuda_stream()>>>(
        col, ConvIndex<I>::from(g), static_cast<I>(total), dx);
    cuda_kernels::check_launch("Conv2d col2im kernel launch");
  });
}

/// y[img][o][p] = b[o] for `images` images of `channels`×`hw` values.
inline void fill_bias(float* y, const float* b, std::int64_t images, std::int64_t channels, std::int64_t hw) {
  for_each_index<cuda>(images * channels * hw,
                       [=] LABOR_HOST_DEVICE(std::int64_t e) { y[e] = b[(e / hw) % channels]; });
}

/// db[o] += Σ_{img, p} gy[img][o][p] over `images` images of `channels`×`hw` values.
inline void bias_grad(const float* gy, std::int64_t images, std::int64_t channels, std::int64_t hw, float* db) {
  bias_grad_kernel<bias_grad_threads>
      <<<static_cast<unsigned>(channels), bias_grad_threads, 0, cuda_stream()>>>(gy, images, channels, hw, db);
  cuda_kernels::check_launch("Conv2d bias gradient kernel launch");
}

/// Images per im2col chunk: as many as fit conv_col_scratch_bytes, at least one, at most `images`.
inline std::int64_t conv_chunk_images(const ConvGeometry& g, std::int64_t images) {
  const std::int64_t per_image = g.col_rows() * g.col_cols() * static_cast<std::int64_t>(sizeof(float));
  const std::int64_t fit = per_image > 0 ? conv_col_scratch_bytes / per_image : images;
  return fit < 1 ? 1 : (fit > images ? images : fit);
}

/// Forward convolution of `images` images x (images×C_in×H×W) with w (C_out×K) into
/// y (images×C_out×OH×OW), plus the bias b[o] when b is not null.
inline void conv2d_forward(const ConvGeometry& g, std::int64_t images, const float* x, const float* w, const float* b,
                           std::int64_t out_channels, float* y) {
  const std::int64_t co = out_channels, k = g.col_rows(), hw = g.col_cols();
  const std::int64_t in_image = g.channels * g.height * g.width, out_image = co * hw;
  if (b) fill_bias(y, b, images, co, hw);
  const float beta = b ? 1.0f : 0.0f;
  if (g.is_identity()) {
    gemm_strided_batched(false, false, co, hw, k, 1.0f, w, k, 0, x, hw, in_image, beta, y, hw, out_image, images);
    return;
  }
  const std::int64_t chunk = conv_chunk_images(g, images);
  auto col = Tensor<float, cuda>::uninitialized(Shape{chunk * k * hw});
  for (std::int64_t i0 = 0; i0 < images; i0 += chunk) {
    const std::int64_t nb = chunk < images - i0 ? chunk : images - i0;
    im2col(x + i0 * in_image, g, nb, col.data());
    gemm_strided_batched(false, false, co, hw, k, 1.0f, w, k, 0, col.data(), hw, k * hw, beta, y + i0 * out_image, hw,
                         out_image, nb);
  }
}

/// Backward convolution of `images` images: dx (images×C_in×H×W) = the input gradient of
/// gy (images×C_out×OH×OW), overwritten; dw (C_out×K) += Σ_i gy_i·col_iᵀ when dw is not null;
/// db[o] += Σ gy[·][o] when db is not null. x is the forward input, w the weights.
inline void conv2d_backward(const ConvGeometry& g, std::int64_t images, const float* x, const float* w,
                            std::int64_t out_channels, const float* gy, float* dx, float* dw, float* db) {
  const std::int64_t co = out_channels, k = g.col_rows(), hw = g.col_cols();
  const std::int64_t in_image = g.channels * g.height * g.width, out_image = co * hw;
  if (db) bias_grad(gy, images, co, hw, db);
  if (g.is_identity()) {
    // dW (C_out×C_in) += gy_i (C_out×HW) · x_iᵀ (HW×C_in);  dx_i (C_in×HW) = Wᵀ · gy_i
    if (dw)
      for (std::int64_t i = 0; i < images; ++i)
        gemm(false, true, co, k, hw, 1.0f, gy + i * out_image, hw, x + i * in_image, hw, 1.0f, dw, k);
    gemm_strided_batched(true, false, k, hw, co, 1.0f, w, k, 0, gy, hw, out_image, 0.0f, dx, hw, in_image, images);
    return;
  }
  const std::int64_t chunk = conv_chunk_images(g, images);
  auto col = Tensor<float, cuda>::uninitialized(Shape{chunk * k * hw});
  for (std::int64_t i0 = 0; i0 < images; i0 += chunk) {
    const std::int64_t nb = chunk < images - i0 ? chunk : images - i0;
    const float* gy0 = gy + i0 * out_image;
    if (dw) {
      // dW (C_out×K) += gy_i (C_out×HW) · col_iᵀ (HW×K), one image after another.
      im2col(x + i0 * in_image, g, nb, col.data());
      for (std::int64_t i = 0; i < nb; ++i)
        gemm(false, true, co, k, hw, 1.0f, gy0 + i * out_image, hw, col.data() + i * k * hw, hw, 1.0f, dw, k);
    }
    // dcol_i (K×HW) = Wᵀ (K×C_out) · gy_i (C_out×HW), then folded back onto dx. The stream orders
    // this after the dW GEMMs that read the same scratch.
    gemm_strided_batched(true, false, k, hw, co, 1.0f, w, k, 0, gy0, hw, out_image, 0.0f, col.data(), hw, k * hw, nb);
    col2im(col.data(), g, nb, dx + i0 * in_image);
  }
}

}  // namespace labor::cuda_kernels

namespace labor::nn::detail {

/// Conv2d's GPU kernels (float), stateless: each call sizes its own column scratch.
template <>
struct Conv2dKernels<float, cuda> {
  /// y (allocated) = conv(x) (cuda_kernels::conv2d_forward); keeps x in `kept` for backward while
  /// gradients are enabled (keep_for_backward: one queued copy).
  void forward(const cpu_kernels::ConvGeometry& g, const Tensor<float, cuda>& x, const float* w, const float* b,
               std::int64_t out_channels, Tensor<float, cuda>& y, Tensor<float, cuda>& kept) {
    keep_for_backward(kept, x);
    cuda_kernels::conv2d_forward(g, x.size(0), x.data(), w, b, out_channels, y.data());
  }
  /// dx (allocated) = dLoss/dx; adds into dw and db when not null (cuda_kernels::conv2d_backward).
  void backward(const cpu_kernels::ConvGeometry& g, const Tensor<float, cuda>& input, const float* w,
                std::int64_t out_channels, const Tensor<float, cuda>& gy, Tensor<float, cuda>& dx, float* dw,
                float* db) {
    cuda_kernels::conv2d_backward(g, input.size(0), input.data(), w, out_channels, gy.data(), dx.data(), dw, db);
  }
  /// No effect: the GPU always runs im2col + GEMM.
  void set_implicit_gemm(bool) {}
};

}  // namespace labor::nn::detail
