#pragma once
/// @file gemm.hpp
/// Row-major GEMM on host memory: C = alpha·op(A)·op(B) + beta·C. float goes to the packed AVX-512
/// kernel (sgemm_avx512.hpp) when compiled with AVX-512F; everything else goes through Eigen.

#include <cstdint>
#include <type_traits>

#include <Eigen/Core>

#include "labor/backend/cpu/sgemm_avx512.hpp"

namespace labor::cpu_kernels {

/// C (m×n, leading dimension ldc) = alpha·op(A)·op(B) + beta·C, all row-major.
/// op(A) is m×k: A is m×k (lda) or, with `trans_a`, k×m (lda). op(B) is k×n likewise.
/// Parallelised with OpenMP when called outside a parallel region. beta == 0 does not read C.
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    sgemm_avx512(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#endif
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  using ConstMap = Eigen::Map<const RowMat, 0, Stride>;
  Eigen::Map<RowMat, 0, Stride> cm(c, m, n, Stride(ldc));
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == T(0))
      cm.setZero();
    else
      cm *= beta;
    return;
  }
  ConstMap am(a, trans_a ? k : m, trans_a ? m : k, Stride(lda));
  ConstMap bm(b, trans_b ? n : k, trans_b ? k : n, Stride(ldb));
  auto run = [&](const auto& opa, const auto& opb) {
    if (beta == T(0)) {
      cm.noalias() = alpha * (opa * opb);
    } else {
      if (beta != T(1)) cm *= beta;
      cm.noalias() += alpha * (opa * opb);
    }
  };
  if (!trans_a && !trans_b)
    run(am, bm);
  else if (trans_a && !trans_b)
    run(am.transpose(), bm);
  else if (!trans_a && trans_b)
    run(am, bm.transpose());
  else
    run(am.transpose(), bm.transpose());
}

}  // namespace labor::cpu_kernels
