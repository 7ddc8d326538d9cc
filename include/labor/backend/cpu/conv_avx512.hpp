#pragma once
/// @file conv_avx512.hpp
/// Single-precision 2-D convolution forward for AVX-512 hosts, as an implicit GEMM: the column
/// matrix of im2col is never built.
///
/// Method. Each image is copied once into a zero-padded, stride-phase layout ("phase planes"): for
/// stride (sh, sw) the padded image splits into sh·sw planes, plane (ph, pw) holding the padded
/// pixels (i·sh + ph, j·sw + pw), each plane `plane_w` floats per row. In that layout every kernel
/// tap (c, kh, kw) is a stride-1 shift: with the output pixels numbered q = oy·plane_w + ox (a
/// `plane_w`-pitched raster whose columns ox >= OW are discarded), the im2col entry of tap k and
/// pixel q is phase[offset[k] + q] for one offset per tap. So the implicit B matrix has rows that are
/// contiguous runs of the phase buffer, and the micro-kernel loads them straight from it.
///
/// The micro-kernel holds an MR (output channels) × 16·NV (pixels) tile in registers, broadcasts
/// the packed weights and streams the phase buffer, over an equal slice of at most kConvKc taps; the
/// bias seeds the accumulators of the first slice and later slices add to the stored output. A last
/// block of fewer than MR output channels runs a narrower tile. With stride 1 and no padding the
/// image is read in place. Whole images go to whichever thread is free next; images left over when
/// the batch does not divide by the thread count are shared by all threads, split over (pixel band,
/// output-channel block). Each output element is computed by the same sequence of operations
/// whatever the thread count, so results do not depend on it.
/// Only compiled where `__AVX512F__` is defined.

#if defined(__AVX512F__)

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "labor/backend/cpu/im2col.hpp"
#include "labor/backend/cpu/sgemm_avx512.hpp"

#include "labor/core/parallel.hpp"

namespace labor::cpu_kernels {

namespace detail {

/// Register tile of the implicit-GEMM convolution: MR output channels × 16·NV pixels.
inline constexpr int kConvMr = 8;
inline constexpr int kConvNv = 3;
/// Tiles per raster band: a band's slice of the phase planes stays in L2 across weight blocks.
inline constexpr int kConvBandTiles = 8;
/// Longest tap slice: its packed weights (kc·MR floats) stay in L1 while a band's tiles reuse them.
inline constexpr std::int64_t kConvKc = 640;

/// Layout of one image in phase planes and the tap offsets into it; see conv_avx512.hpp.
/// With stride 1 and no padding the phase plane is the image itself (`direct`): the kernel reads
/// the input in place, and tiles that would read past the image load only their live lanes.
struct ConvPhaseLayout {
  bool direct = false;                    ///< stride 1, no padding: the buffer is the input image
  std::int64_t plane_h = 0, plane_w = 0;  ///< rows and row pitch of one phase plane
  std::int64_t plane = 0;                 ///< floats per phase plane
  std::int64_t pixels = 0;                ///< raster length OH·plane_w, rounded up to whole tiles
  std::int64_t floats = 0;                ///< floats per image buffer, including any zero tail
  std::int64_t max_offset = 0;            ///< largest tap offset
  std::vector<std::int64_t> offset;       ///< per tap (c, kh, kw) in weight order

  ConvPhaseLayout(const ConvGeometry& g, std::int64_t tile) {
    direct = g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
    const std::int64_t ph = g.height + 2 * g.pad_h, pw = g.width + 2 * g.pad_w;
    plane_h = (ph + g.stride_h - 1) / g.stride_h;
    plane_w = (pw + g.stride_w - 1) / g.stride_w;
    plane = plane_h * plane_w;
    pixels = (g.out_height() * plane_w + tile - 1) / tile * tile;
    offset.resize(static_cast<std::size_t>(g.col_rows()));
    for (std::int64_t c = 0; c < g.channels; ++c)
      for (std::int64_t i = 0; i < g.kernel_h; ++i)
        for (std::int64_t j = 0; j < g.kernel_w; ++j) {
          const std::int64_t y = i * g.dilation_h, x = j * g.dilation_w;
          const std::int64_t o = ((c * g.stride_h + y % g.stride_h) * g.stride_w + x % g.stride_w) * plane +
                                 y / g.stride_h * plane_w + x / g.stride_w;
          offset[static_cast<std::size_t>((c * g.kernel_h + i) * g.kernel_w + j)] = o;
          max_offset = std::max(max_offset, o);
        }
    const std::int64_t planes = g.channels * g.stride_h * g.stride_w * plane;
    floats = direct ? planes : std::max(planes, max_offset + pixels);
  }

  /// True when the tile of pixels [q0, q0 + tile) could read past the end of the buffer.
  [[nodiscard]] bool overruns(std::int64_t q0, std::int64_t tile) const { return q0 + tile + max_offset > floats; }
};

/// Copies one C×H×W image into the phase planes of `layout` (buffer of layout.floats), zero
/// outside the image and in the tail. Channels [c_begin, c_end) only (the tail with the last channel).
inline void conv_phase_pack(const float* x, const ConvGeometry& g, const ConvPhaseLayout& layout, float* dst,
                            std::int64_t c_begin, std::int64_t c_end) {
  const std::int64_t sh = g.stride_h, sw = g.stride_w, pw = layout.plane_w;
  for (std::int64_t c = c_begin; c < c_end; ++c)
    for (std::int64_t a = 0; a < sh; ++a)
      for (std::int64_t b = 0; b < sw; ++b) {
        float* plane = dst + ((c * sh + a) * sw + b) * layout.plane;
        // Columns j of this plane read input column j·sw + b − pad_w; [j0, j1) lie inside the image.
        std::int64_t j0, j1;
        valid_range(g.width, pw, sw, g.pad_w, b, j0, j1);
        for (std::int64_t i = 0; i < layout.plane_h; ++i) {
          float* row = plane + i * pw;
          const std::int64_t r = i * sh + a - g.pad_h;
          if (r < 0 || r >= g.height || j0 >= j1) {
            std::memset(row, 0, static_cast<std::size_t>(pw) * sizeof(float));
            continue;
          }
          const float* in = x + (c * g.height + r) * g.width + j0 * sw + b - g.pad_w;
          std::memset(row, 0, static_cast<std::size_t>(j0) * sizeof(float));
          if (sw == 1) {
            std::memcpy(row + j0, in, static_cast<std::size_t>(j1 - j0) * sizeof(float));
          } else {
            for (std::int64_t j = j0; j < j1; ++j) row[j] = in[(j - j0) * sw];
          }
          std::memset(row + j1, 0, static_cast<std::size_t>(pw - j1) * sizeof(float));
        }
      }
  if (c_end == g.channels) {
    const std::int64_t used = g.channels * sh * sw * layout.plane;
    std::memset(dst + used, 0, static_cast<std::size_t>(layout.floats - used) * sizeof(float));
  }
}

/// Weights (C_out × K, row-major) packed for the micro-kernel: block b holds output channels
/// b·MR.., K-major: dst[(b·K + k)·MR + i] = w[(b·MR + i)·K + k], zero past C_out.
template <int MR>
void conv_pack_weights(const float* w, std::int64_t co, std::int64_t k, float* dst) {
  const std::int64_t blocks = (co + MR - 1) / MR;
  for (std::int64_t b = 0; b < blocks; ++b)
    for (std::int64_t p = 0; p < k; ++p)
      for (int i = 0; i < MR; ++i) {
        const std::int64_t o = b * MR + i;
        dst[(b * k + p) * MR + i] = o < co ? w[o * k + p] : 0.0f;
      }
}

/// Where the 16 lanes of one pixel vector go in the output image: up to `count` runs, run r
/// holding the lanes in `mask[r]`, which go in order to output elements `first[r]`, `first[r]` + 1, ...
/// `shifted[r]` is false when the run starts at lane 0.
struct ConvLaneRuns {
  static constexpr int kMax = 18;
  int count = 0;
  __mmask16 mask[kMax];
  bool shifted[kMax];
  std::int64_t first[kMax];

  /// The runs of raster pixels q0 .. q0 + 15 (pitch plane_w) into an OH×OW output.
  void init(std::int64_t q0, std::int64_t plane_w, std::int64_t oh, std::int64_t ow) {
    count = 0;
    std::int64_t oy = q0 / plane_w, ox = q0 % plane_w;
    for (int l = 0; l < 16 && oy < oh;) {
      const int len = static_cast<int>(std::min<std::int64_t>(16 - l, plane_w - ox));
      const int live = static_cast<int>(std::clamp<std::int64_t>(ow - ox, 0, len));
      if (live > 0) {
        mask[count] = static_cast<__mmask16>(((1u << live) - 1u) << l);
        shifted[count] = l > 0;
        first[count] = oy * ow + ox;
        ++count;
      }
      l += len;
      ox = 0;
      ++oy;
    }
  }

  /// The lanes of all runs: the pixels of the vector that lie in the output.
  [[nodiscard]] __mmask16 lanes() const {
    __mmask16 m = 0;
    for (int r = 0; r < count; ++r) m = static_cast<__mmask16>(m | mask[r]);
    return m;
  }

  /// Stores the lanes of run r of `v` to `out` + first[r] ...
  void store(int r, float* out, __m512 v) const {
    if (shifted[r]) {
      const __mmask16 m = mask[r];
      _mm512_mask_storeu_ps(out + first[r], static_cast<__mmask16>((1u << _mm_popcnt_u32(m)) - 1u),
                            _mm512_maskz_compress_ps(m, v));
    } else {
      _mm512_mask_storeu_ps(out + first[r], mask[r], v);
    }
  }

  /// `v` with the lanes of run r replaced by out[first[r]] ...
  [[nodiscard]] __m512 load(int r, const float* out, __m512 v) const {
    if (shifted[r]) {
      const __mmask16 m = mask[r];
      const __m512 packed =
          _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << _mm_popcnt_u32(m)) - 1u), out + first[r]);
      return _mm512_mask_expand_ps(v, m, packed);
    }
    return _mm512_mask_loadu_ps(v, mask[r], out + first[r]);
  }
};

/// One tile: out[o][pixels q0 .. q0 + 16·NV) for MR output channels, over taps [0, kc):
/// acc = seed + Σ_p w[p·WS + i] · x[offset[p] + q0 + 16v + l]. The seed is the bias (or zero) when
/// `accumulate` is false, the current output otherwise. `out` is the first output channel's plane
/// (pitch `out_plane`), `runs` the lane runs of the NV vectors. With `Masked`, only the lanes that
/// reach the output are loaded from x (for tiles at the end of the buffer).
template <int MR, int NV, int WS, bool Masked>
__attribute__((always_inline)) inline void conv_tile(std::int64_t kc, const float* __restrict x,
                                                     const std::int64_t* __restrict offset, const float* __restrict w,
                                                     const float* bias, bool accumulate, float* out,
                                                     std::int64_t out_plane, const ConvLaneRuns* runs) {
  // Every loop over i and v is unrolled in full so that acc never leaves registers.
  __m512 acc[MR][NV];
  __mmask16 lanes[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) lanes[v] = Masked ? runs[v].lanes() : __mmask16(0xFFFF);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    const __m512 seed = bias != nullptr ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = seed;
  }
  if (accumulate) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v)
        for (int r = 0; r < runs[v].count; ++r) acc[i][v] = runs[v].load(r, out + i * out_plane, acc[i][v]);
  }
  for (std::int64_t p = 0; p < kc; ++p, w += WS) {
    const float* b = x + offset[p];
    __m512 bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      bv[v] = Masked ? _mm512_maskz_loadu_ps(lanes[v], b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(w[i]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      for (int r = 0; r < runs[v].count; ++r) runs[v].store(r, out + i * out_plane, acc[i][v]);
}

/// conv_tile for `rows` (1 .. WS) output channels: the last weight block of a layer whose output
/// channels are not a multiple of WS runs a narrower tile instead of multiplying zero weights.
template <int NV, int WS, bool Masked, int MR = WS>
__attribute__((always_inline)) inline void conv_tile_rows(int rows, std::int64_t kc, const float* x,
                                                          const std::int64_t* offset, const float* w, const float* bias,
                                                          bool accumulate, float* out, std::int64_t out_plane,
                                                          const ConvLaneRuns* runs) {
  if constexpr (MR >= 1) {
    if (rows == MR) {
      conv_tile<MR, NV, WS, Masked>(kc, x, offset, w, bias, accumulate, out, out_plane, runs);
      return;
    }
    conv_tile_rows<NV, WS, Masked, MR - 1>(rows, kc, x, offset, w, bias, accumulate, out, out_plane, runs);
  }
}

/// Shared state of one forward call.
struct ConvForwardPlan {
  const ConvGeometry* g;
  const ConvPhaseLayout* layout;
  const float* packed_w;  ///< conv_pack_weights output
  const float* bias;      ///< C_out entries, or null
  std::int64_t co, k, kc_max, band;
};

/// Output channel blocks [b_lo, b_hi) × raster bands [band_lo, band_hi) of one image, all tap slices.
/// `phase` is the image's buffer in `p.layout`.
template <int MR, int NV>
void conv_image_part(const ConvForwardPlan& p, const float* phase, float* y, std::int64_t band_lo, std::int64_t band_hi,
                     std::int64_t b_lo, std::int64_t b_hi) {
  constexpr std::int64_t tile = 16 * NV;
  const ConvGeometry& g = *p.g;
  const ConvPhaseLayout& layout = *p.layout;
  const std::int64_t oh = g.out_height(), ow = g.out_width(), out_plane = oh * ow;
  const std::int64_t plane_w = layout.plane_w, q_end = std::min(layout.pixels, oh * plane_w);
  const std::int64_t* offset = layout.offset.data();
  ConvLaneRuns runs[kConvBandTiles][NV];
  for (std::int64_t band = band_lo; band < band_hi; ++band) {
    const std::int64_t q_lo = band * p.band, q_hi = std::min(q_end, q_lo + p.band);
    const int tiles = static_cast<int>((std::max(q_hi - q_lo, std::int64_t{0}) + tile - 1) / tile);
    for (int t = 0; t < tiles; ++t)
      for (int v = 0; v < NV; ++v) runs[t][v].init(q_lo + t * tile + 16 * v, plane_w, oh, ow);
    for (std::int64_t k0 = 0; k0 < p.k; k0 += p.kc_max) {
      const std::int64_t kc = std::min(p.kc_max, p.k - k0);
      for (std::int64_t b = b_lo; b < b_hi; ++b) {
        const std::int64_t o0 = b * MR;
        const int rows = static_cast<int>(std::min<std::int64_t>(MR, p.co - o0));
        const float* wb = p.packed_w + (b * p.k + k0) * MR;
        const float* bias = p.bias != nullptr && k0 == 0 ? p.bias + o0 : nullptr;
        float* out = y + o0 * out_plane;
        for (int t = 0; t < tiles; ++t) {
          const std::int64_t q0 = q_lo + t * tile;
          if (layout.overruns(q0, tile))
            conv_tile_rows<NV, MR, true>(rows, kc, phase + q0, offset + k0, wb, bias, k0 > 0, out, out_plane, runs[t]);
          else
            conv_tile_rows<NV, MR, false>(rows, kc, phase + q0, offset + k0, wb, bias, k0 > 0, out, out_plane, runs[t]);
        }
      }
    }
  }
}

/// The calling thread's buffers for the phase planes of one image: 0 for its own images, 1 for an
/// image shared by all threads.
inline PackBuffer& conv_phase_buffer(int which) {
  thread_local PackBuffer buffers[2];
  return buffers[which];
}

}  // namespace detail

/// y (N × C_out × OH × OW) = conv(x (N × C × H × W), w (C_out × C·KH·KW)) + bias (C_out, or null),
/// cross-correlation with the strides, padding and dilation of `g`, in single precision. When
/// `x_copy` is not null, x is also copied there (N·C·H·W floats) by the threads that read it.
/// Outside a parallel region (core/parallel.hpp) the work is split across num_threads() threads.
/// Requires AVX-512F.
inline void conv2d_forward_avx512(const float* x, std::int64_t n, const ConvGeometry& g, const float* w,
                                  std::int64_t co, const float* bias, float* y, float* x_copy = nullptr) {
  constexpr int MR = detail::kConvMr, NV = detail::kConvNv;
  constexpr std::int64_t tile = 16 * NV;
  if (n <= 0 || co <= 0) return;
  const detail::ConvPhaseLayout layout(g, tile);
  const std::int64_t k = g.col_rows(), blocks = (co + MR - 1) / MR;
  thread_local std::vector<float> packed_w;
  packed_w.resize(static_cast<std::size_t>(blocks * k * MR));
  detail::conv_pack_weights<MR>(w, co, k, packed_w.data());
  // Tap slices of equal length, at most kConvKc taps each.
  const std::int64_t slices = (k + detail::kConvKc - 1) / detail::kConvKc;
  detail::ConvForwardPlan plan{&g, &layout, packed_w.data(),           bias,
                               co, k,       (k + slices - 1) / slices, detail::kConvBandTiles * tile};
  const std::int64_t bands = (std::min(layout.pixels, g.out_height() * layout.plane_w) + plan.band - 1) / plan.band;
  const std::int64_t in_image = g.channels * g.height * g.width, out_image = co * g.out_height() * g.out_width();
  // Channels [c_lo, c_hi) of image i: copied to x_copy, and packed into `phase` unless direct.
  auto prepare = [&](std::int64_t i, float* phase, std::int64_t c_lo, std::int64_t c_hi) {
    const float* xi = x + i * in_image;
    if (x_copy != nullptr) {
      const std::int64_t plane = g.height * g.width;
      std::memcpy(x_copy + i * in_image + c_lo * plane, xi + c_lo * plane,
                  static_cast<std::size_t>((c_hi - c_lo) * plane) * sizeof(float));
    }
    if (!layout.direct) detail::conv_phase_pack(xi, g, layout, phase, c_lo, c_hi);
    return layout.direct ? xi : phase;
  };

  const int threads = labor::detail::ThreadPool::in_region() ? 1 : num_threads();
  if (threads <= 1) {
    float* phase = layout.direct ? nullptr : detail::conv_phase_buffer(0).get(static_cast<std::size_t>(layout.floats));
    for (std::int64_t i = 0; i < n; ++i)
      detail::conv_image_part<MR, NV>(plan, prepare(i, phase, 0, g.channels), y + i * out_image, 0, bands, 0, blocks);
    return;
  }
  // The first n − n mod T images go whole to whichever thread is free next (a thread slowed by
  // other work on the machine takes fewer); the rest are shared by all threads.
  const std::int64_t whole = n - n % threads;
  parallel_tasks(whole, [&](std::int64_t i) {
    float* phase = layout.direct ? nullptr : detail::conv_phase_buffer(0).get(static_cast<std::size_t>(layout.floats));
    detail::conv_image_part<MR, NV>(plan, prepare(i, phase, 0, g.channels), y + i * out_image, 0, bands, 0, blocks);
  });
  if (whole == n) return;
  // Shared images: packed by channel slices, then task = (band, block), band-major, handed out in
  // runs of `chunk` tasks.
  float* shared = layout.direct ? nullptr : detail::conv_phase_buffer(1).get(static_cast<std::size_t>(layout.floats));
  const std::int64_t tasks = bands * blocks, chunk = std::max<std::int64_t>(1, tasks / (8 * threads));
  const std::int64_t runs = (tasks + chunk - 1) / chunk;
  for (std::int64_t i = whole; i < n; ++i) {
    const float* src = layout.direct ? x + i * in_image : shared;
    if (!layout.direct || x_copy != nullptr)
      parallel_chunks(0, g.channels, [&](std::int64_t c_lo, std::int64_t c_hi) { prepare(i, shared, c_lo, c_hi); });
    parallel_tasks(runs, [&](std::int64_t r) {
      const std::int64_t lo = r * chunk, hi = std::min(tasks, lo + chunk);
      for (std::int64_t task = lo; task < hi;) {
        const std::int64_t band = task / blocks, b0 = task % blocks;
        const std::int64_t b1 = std::min(blocks, b0 + (hi - task));
        detail::conv_image_part<MR, NV>(plan, src, y + i * out_image, band, band + 1, b0, b1);
        task += b1 - b0;
      }
    });
  }
}

}  // namespace labor::cpu_kernels

#endif  // __AVX512F__
