#pragma once
/// @file gemm.cuh
/// Row-major float GEMM on device memory through cuBLAS, with the semantics of
/// labor::cpu_kernels::gemm (backend/cpu/gemm.hpp): C = alpha·op(A)·op(B) + beta·C. Queued on
/// labor's stream through labor::cublas_handle().
///
/// cuBLAS is column-major; a row-major matrix is the column-major view of its transpose, so the
/// row-major C = op(A)·op(B) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, with the operands
/// swapped and the same transpose flags.
///
/// Precision: the handle keeps cuBLAS's default math mode, full FP32 (no TF32 tensor cores), so
/// results agree with the CPU within float rounding (1e-5 relative in the parity tests).
/// set_cuda_tf32(true) trades that for speed process-wide.

#include <cstdint>
#include <limits>

#include <cublas_v2.h>

#include "labor/backend/cuda/context.cuh"
#include "labor/core/error.hpp"

namespace labor {

/// Lets labor's cuBLAS calls use TF32 tensor cores (about 10 significant bits per product) when
/// `on`, or keeps full FP32 (the default) when not. Applies to every later cuBLAS call on labor's
/// handle, in this whole process.
inline void set_cuda_tf32(bool on) {
  cuda_kernels::check_cublas(cublasSetMathMode(cublas_handle(), on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
                             "cublasSetMathMode");
}

namespace cuda_kernels {

namespace detail {

/// `v` as the int cuBLAS takes; throws labor::Error naming `what` when it does not fit.
inline int blas_int(std::int64_t v, const char* what) {
  LABOR_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), "cuda gemm: {}: {} does not fit cuBLAS's int", what, v);
  return static_cast<int>(v);
}

inline cublasOperation_t blas_op(bool transposed) {
  return transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
}

}  // namespace detail

/// C (m×n, leading dimension ldc) = alpha·op(A)·op(B) + beta·C, all row-major in device memory.
/// op(A) is m×k: A is m×k (lda) or, with `trans_a`, k×m (lda). op(B) is k×n likewise.
/// beta == 0 does not read C. Queued on labor's stream; does not wait.
inline void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                 const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                 std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  using detail::blas_int;
  cuda_kernels::check_cublas(cublasSgemm(cublas_handle(), detail::blas_op(trans_b), detail::blas_op(trans_a),
                                         blas_int(n, "n"), blas_int(m, "m"), blas_int(k, "k"), &alpha, b,
                                         blas_int(ldb, "ldb"), a, blas_int(lda, "lda"), &beta, c, blas_int(ldc, "ldc")),
                             "cublasSgemm");
}

/// `batch` independent GEMMs as gemm() above: C_i = alpha·op(A_i)·op(B_i) + beta·C_i with
/// A_i = a + i·stride_a, B_i = b + i·stride_b, C_i = c + i·stride_c (elements). A stride of 0 uses
/// the same matrix for every GEMM (a shared weight). The C_i must not overlap.
inline void gemm_strided_batched(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                                 float alpha, const float* a, std::int64_t lda, std::int64_t stride_a, const float* b,
                                 std::int64_t ldb, std::int64_t stride_b, float beta, float* c, std::int64_t ldc,
                                 std::int64_t stride_c, std::int64_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  using detail::blas_int;
  cuda_kernels::check_cublas(
      cublasSgemmStridedBatched(cublas_handle(), detail::blas_op(trans_b), detail::blas_op(trans_a), blas_int(n, "n"),
                                blas_int(m, "m"), blas_int(k, "k"), &alpha, b, blas_int(ldb, "ldb"), stride_b, a,
                                blas_int(lda, "lda"), stride_a, &beta, c, blas_int(ldc, "ldc"), stride_c,
                                blas_int(batch, "batch")),
      "cublasSgemmStridedBatched");
}

}  // namespace cuda_kernels

}  // namespace labor
