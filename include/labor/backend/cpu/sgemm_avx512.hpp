#pragma once
/// @file sgemm_avx512.hpp
/// Single-precision row-major GEMM for AVX-512 hosts: C = alpha·op(A)·op(B) + beta·C.
///
/// Method (Goto/van de Geijn, as in BLIS): op(A) is copied into MR-row panels and op(B) into
/// NR-column panels, each laid out k-major and padded with zeros to a whole panel; a register-blocked
/// micro-kernel multiplies one A panel by one B panel over a kc-long slice of k. Blocks are sized for
/// a core with 48 KiB L1d and 1 MiB L2: an mc×kc block of A and a kc×nc block of B are packed into
/// per-thread buffers and stay in L2 while the micro-kernel sweeps them.
/// Only compiled where `__AVX512F__` is defined.

#if defined(__AVX512F__)

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "labor/core/parallel.hpp"

namespace labor::cpu_kernels {

namespace detail {

/// Cache-block sizes of the packed SGEMM (elements). kc_max bounds the k slice; the A block holds
/// about a_bytes and the B block about b_bytes of packed floats.
struct SgemmBlocking {
  std::int64_t kc_max = 384;
  std::int64_t a_bytes = 256 * 1024;
  std::int64_t b_bytes = 384 * 1024;
};

/// A growable 64-byte-aligned float buffer. Reused across calls so that packing does not pay the
/// page faults of a fresh allocation every time.
class PackBuffer {
 public:
  /// Returns storage for at least `n` floats; earlier contents are not kept when it grows.
  float* get(std::size_t n) {
    if (n > capacity_) {
      const std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!data_) throw std::bad_alloc();
      capacity_ = bytes / sizeof(float);
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> data_;
  std::size_t capacity_ = 0;
};

/// The calling thread's packing buffers: index 0 for A blocks, 1 for B blocks.
inline PackBuffer& sgemm_buffer(int which) {
  thread_local PackBuffer buffers[2];
  return buffers[which];
}

inline __mmask16 sgemm_lanes(std::int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << count) - 1u);
}

/// In-register transpose of a 16×16 tile: r[i][j] → r[j][i].
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // s[4g + q]: in 128-bit lane L, column 4L + q of rows 4g..4g+3.
  __m512 s[16];
  for (int g = 0; g < 4; ++g) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    s[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    s[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    s[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    s[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // 4×4 transpose of 128-bit lanes across the four row groups, for each q.
  for (int q = 0; q < 4; ++q) {
    const __m512 u0 = _mm512_shuffle_f32x4(s[q], s[4 + q], 0x44);
    const __m512 u1 = _mm512_shuffle_f32x4(s[q], s[4 + q], 0xEE);
    const __m512 u2 = _mm512_shuffle_f32x4(s[8 + q], s[12 + q], 0x44);
    const __m512 u3 = _mm512_shuffle_f32x4(s[8 + q], s[12 + q], 0xEE);
    r[q] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    r[4 + q] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
    r[8 + q] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    r[12 + q] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
  }
}

/// Packs `width` columns (k-major rows of src) into panels of W: panel q holds columns q·W.. and
/// dst[q·W·kc + p·W + r] = src[p·ld + q·W + r], zero past `width`. Walks src row by row, which the
/// hardware prefetchers follow better than one panel at a time.
template <int W>
inline void pack_rows(const float* src, std::int64_t ld, std::int64_t width, std::int64_t kc, float* dst) {
  const std::int64_t panel = W * kc;
  for (std::int64_t p = 0; p < kc; ++p) {
    const float* s = src + p * ld;
    float* d = dst + p * W;
    std::int64_t j = 0;
    for (; j + W <= width; j += W, s += W, d += panel) {
#pragma GCC unroll 4
      for (int v = 0; v < W; v += 16) {
        _mm_prefetch(reinterpret_cast<const char*>(s + 4 * ld + v), _MM_HINT_T0);
        if constexpr (W % 16 == 0)
          _mm512_store_ps(d + v, _mm512_loadu_ps(s + v));
        else
          _mm512_mask_storeu_ps(d + v, sgemm_lanes(W - v), _mm512_maskz_loadu_ps(sgemm_lanes(W - v), s + v));
      }
    }
    if (j < width) {
      for (int v = 0; v < W; v += 16) {
        const __m512 x = _mm512_maskz_loadu_ps(sgemm_lanes(std::max<std::int64_t>(0, width - j - v)), s + v);
        _mm512_mask_storeu_ps(d + v, sgemm_lanes(W - v), x);
      }
    }
  }
}

/// Packs `width` rows of src (each k-contiguous) into panels of W, transposing:
/// dst[q·W·kc + p·W + r] = src[(q·W + r)·ld + p], zero past `width`. 16×16 tiles, 16 rows at a time.
template <int W>
inline void pack_cols(const float* src, std::int64_t ld, std::int64_t width, std::int64_t kc, float* dst) {
  __m512 t[16];
  for (std::int64_t q0 = 0; q0 < width; q0 += W, dst += W * kc) {
    for (int r0 = 0; r0 < W; r0 += 16) {
      const std::int64_t live = std::clamp<std::int64_t>(width - q0 - r0, 0, 16);
      const __mmask16 out = sgemm_lanes(W - r0);
      const float* s = src + (q0 + r0) * ld;
      for (std::int64_t p0 = 0; p0 < kc; p0 += 16) {
        const std::int64_t pc = std::min<std::int64_t>(16, kc - p0);
        const __mmask16 pmask = sgemm_lanes(pc);
        for (int r = 0; r < 16; ++r)
          t[r] = r < live ? _mm512_maskz_loadu_ps(pmask, s + r * ld + p0) : _mm512_setzero_ps();
        transpose16(t);
        for (std::int64_t q = 0; q < pc; ++q) _mm512_mask_storeu_ps(dst + (p0 + q) * W + r0, out, t[q]);
      }
    }
  }
}

/// acc (MR×NR tile, NV = NR/16 vectors per row) = Σ_p a[p·MR + i]·b[p·NR + j] over kc, then
/// C = alpha·acc + beta·C; beta == 0 does not read C.
template <int MR, int NV>
inline void sgemm_micro_kernel(std::int64_t kc, const float* __restrict a, const float* __restrict b, float* c,
                               std::int64_t ldc, float alpha, float beta) {
  constexpr int NR = 16 * NV;
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (std::int64_t p = 0; p < kc; ++p, a += MR, b += NR) {
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + i * ldc + 16 * v, _mm512_mul_ps(va, acc[i][v]));
  } else if (beta == 1.0f) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* cp = c + i * ldc + 16 * v;
        _mm512_storeu_ps(cp, _mm512_fmadd_ps(va, acc[i][v], _mm512_loadu_ps(cp)));
      }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* cp = c + i * ldc + 16 * v;
        _mm512_storeu_ps(cp, _mm512_fmadd_ps(va, acc[i][v], _mm512_mul_ps(vb, _mm512_loadu_ps(cp))));
      }
  }
}

/// C (m×n) = beta·C, without reading C when beta == 0.
inline void sgemm_scale(std::int64_t m, std::int64_t n, float beta, float* c, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f)
      std::fill(row, row + n, 0.0f);
    else if (beta != 1.0f)
      for (std::int64_t j = 0; j < n; ++j) row[j] *= beta;
  }
}

/// One thread's share: the packed algorithm over all of C (m×n), on this thread's buffers.
template <int MR, int NV>
void sgemm_serial(const SgemmBlocking& blk, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                  float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                  std::int64_t ldc) {
  constexpr int NR = 16 * NV;
  const std::int64_t k_blocks = (k + blk.kc_max - 1) / blk.kc_max;
  const std::int64_t kc_size = (k + k_blocks - 1) / k_blocks;
  const std::int64_t m_round = (m + MR - 1) / MR * MR, n_round = (n + NR - 1) / NR * NR;
  const std::int64_t mc_size = std::min(m_round, std::max<std::int64_t>(MR, blk.a_bytes / (kc_size * 4) / MR * MR));
  const std::int64_t nc_size = std::min(n_round, std::max<std::int64_t>(NR, blk.b_bytes / (kc_size * 4) / NR * NR));
  float* abuf = sgemm_buffer(0).get(static_cast<std::size_t>(mc_size * kc_size));
  float* bbuf = sgemm_buffer(1).get(static_cast<std::size_t>(nc_size * kc_size));
  alignas(64) float tile[MR * NR];

  for (std::int64_t ic = 0; ic < m; ic += mc_size) {
    const std::int64_t mc = std::min(mc_size, m - ic);
    for (std::int64_t pc = 0; pc < k; pc += kc_size) {
      const std::int64_t kc = std::min(kc_size, k - pc);
      const float beta_pass = pc == 0 ? beta : 1.0f;
      if (trans_a)
        pack_rows<MR>(a + pc * lda + ic, lda, mc, kc, abuf);
      else
        pack_cols<MR>(a + ic * lda + pc, lda, mc, kc, abuf);
      for (std::int64_t jc = 0; jc < n; jc += nc_size) {
        const std::int64_t nc = std::min(nc_size, n - jc);
        if (!trans_b)
          pack_rows<NR>(b + pc * ldb + jc, ldb, nc, kc, bbuf);
        else
          pack_cols<NR>(b + jc * ldb + pc, ldb, nc, kc, bbuf);
        for (std::int64_t jr = 0; jr < nc; jr += NR) {
          const std::int64_t cols = std::min<std::int64_t>(NR, nc - jr);
          const float* bp = bbuf + jr * kc;
          for (std::int64_t ir = 0; ir < mc; ir += MR) {
            const std::int64_t rows = std::min<std::int64_t>(MR, mc - ir);
            const float* ap = abuf + ir * kc;
            float* cp = c + (ic + ir) * ldc + (jc + jr);
            if (rows == MR && cols == NR) {
              sgemm_micro_kernel<MR, NV>(kc, ap, bp, cp, ldc, alpha, beta_pass);
              continue;
            }
            sgemm_micro_kernel<MR, NV>(kc, ap, bp, tile, NR, 1.0f, 0.0f);
            // Same roundings as the kernel's own store, so results do not depend on the tiling.
            for (std::int64_t i = 0; i < rows; ++i)
              for (std::int64_t j = 0; j < cols; ++j) {
                float& out = cp[i * ldc + j];
                const float t = tile[i * NR + j];
                if (beta_pass == 0.0f)
                  out = alpha * t;
                else if (beta_pass == 1.0f)
                  out = std::fma(alpha, t, out);
                else
                  out = std::fma(alpha, t, beta_pass * out);
              }
          }
        }
      }
    }
  }
}

/// The packed SGEMM with explicit block sizes and register tile; see sgemm_avx512.
template <int MR, int NV>
void sgemm_blocked(const SgemmBlocking& blk, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                   float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
                   float* c, std::int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    sgemm_scale(m, n, beta, c, ldc);
    return;
  }
  constexpr int NR = 16 * NV;
  int threads = labor::detail::ThreadPool::in_region() ? 1 : num_threads();
  // Below about a million FMAs the fork/join costs more than it saves.
  if (threads > 1 && m * n * k < (std::int64_t{1} << 20)) threads = 1;
  const bool split_n = n >= m;
  const std::int64_t unit = split_n ? NR : MR;
  const std::int64_t units = ((split_n ? n : m) + unit - 1) / unit;
  // Two slices per thread, handed to whichever thread is free: a thread that another process delays
  // takes fewer.
  const std::int64_t slices = std::min<std::int64_t>(2 * threads, units);
  if (threads <= 1 || slices <= 1) {
    sgemm_serial<MR, NV>(blk, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  parallel_tasks(slices, [&](std::int64_t t) {
    const std::int64_t lo = units * t / slices * unit;
    const std::int64_t hi = std::min((units * (t + 1) / slices) * unit, split_n ? n : m);
    if (lo >= hi) return;
    if (split_n) {
      sgemm_serial<MR, NV>(blk, trans_a, trans_b, m, hi - lo, k, alpha, a, lda, trans_b ? b + lo * ldb : b + lo, ldb,
                           beta, c + lo, ldc);
    } else {
      sgemm_serial<MR, NV>(blk, trans_a, trans_b, hi - lo, n, k, alpha, trans_a ? a + lo : a + lo * lda, lda, b, ldb,
                           beta, c + lo * ldc, ldc);
    }
  });
}

/// Register tile of the default kernel: MR rows × 16·NV columns.
inline constexpr int kSgemmMr = 8;
inline constexpr int kSgemmNv = 3;

}  // namespace detail

/// C (m×n, leading dimension ldc) = alpha·op(A)·op(B) + beta·C in single precision, all row-major;
/// op(A) is m×k (A is m×k, or k×m with `trans_a`), op(B) is k×n likewise. beta == 0 does not read C.
/// Outside a parallel region (core/parallel.hpp) the work is split across num_threads() threads;
/// inside one it runs on the calling thread. Requires AVX-512F.
inline void sgemm_avx512(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                         const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                         std::int64_t ldc) {
  detail::sgemm_blocked<detail::kSgemmMr, detail::kSgemmNv>(detail::SgemmBlocking{}, trans_a, trans_b, m, n, k, alpha,
                                                            a, lda, b, ldb, beta, c, ldc);
}

}  // namespace labor::cpu_kernels

#endif  // __AVX512F__
