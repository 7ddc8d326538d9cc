// Single-precision GEMM throughput: labor's packed AVX-512 SGEMM against Eigen, on a square
// problem and on the three GEMMs of the reference convolution (3×3, 64→64 channels, 64×64 image).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include <labor/backend/cpu/gemm.hpp>
#include <labor/core/parallel.hpp>
#include <labor/core/rng.hpp>

namespace {

/// Eigen's GEMM on row-major maps, as labor's gemm did before the AVX-512 kernel.
void eigen_sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                 std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  using ConstMap = Eigen::Map<const RowMat, 0, Stride>;
  Eigen::Map<RowMat, 0, Stride> cm(c, m, n, Stride(ldc));
  ConstMap am(a, trans_a ? k : m, trans_a ? m : k, Stride(lda));
  ConstMap bm(b, trans_b ? n : k, trans_b ? k : n, Stride(ldb));
  if (!trans_a && !trans_b)
    cm.noalias() = am * bm;
  else if (trans_a && !trans_b)
    cm.noalias() = am.transpose() * bm;
  else if (!trans_a && trans_b)
    cm.noalias() = am * bm.transpose();
  else
    cm.noalias() = am.transpose() * bm.transpose();
}

enum class Impl { labor, eigen };

// Args: trans_a, trans_b, M, N, K, threads (1: single-threaded, as inside conv2d's per-image loop).
template <Impl impl>
void BM_Sgemm(benchmark::State& state) {
  const bool ta = state.range(0) != 0, tb = state.range(1) != 0;
  const std::int64_t m = state.range(2), n = state.range(3), k = state.range(4);
  const int threads = static_cast<int>(state.range(5));
  const int saved = labor::num_threads();
  labor::set_num_threads(threads);
  std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n)),
      c(static_cast<std::size_t>(m * n));
  labor::Rng rng(1);
  for (auto& v : a) v = static_cast<float>(rng.uniform() - 0.5);
  for (auto& v : b) v = static_cast<float>(rng.uniform() - 0.5);
  const std::int64_t lda = ta ? m : k, ldb = tb ? k : n;
  for (auto _ : state) {
    if constexpr (impl == Impl::labor) {
      labor::cpu_kernels::gemm<float>(ta, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), n);
    } else {
      eigen_sgemm(ta, tb, m, n, k, a.data(), lda, b.data(), ldb, c.data(), n);
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  labor::set_num_threads(saved);
  state.counters["GFLOPS"] =
      benchmark::Counter(2.0 * static_cast<double>(m * n * k) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void gemm_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"ta", "tb", "m", "n", "k", "threads"});
  b->Args({0, 0, 1024, 1024, 1024, 2});
  b->Args({0, 0, 1024, 1024, 1024, 1});
  b->Args({0, 0, 64, 4096, 576, 1});  // conv forward: W · col
  b->Args({0, 1, 64, 576, 4096, 1});  // conv backward dW: gy · colᵀ
  b->Args({1, 0, 576, 4096, 64, 1});  // conv backward dcol: Wᵀ · gy
  b->Args({0, 0, 64, 4096, 576, 2});  // batch of one: the same GEMMs on two threads
  b->Args({0, 1, 64, 576, 4096, 2});
  b->Args({1, 0, 576, 4096, 64, 2});
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

BENCHMARK(BM_Sgemm<Impl::labor>)->Name("BM_SgemmLabor")->Apply(gemm_shapes);
BENCHMARK(BM_Sgemm<Impl::eigen>)->Name("BM_SgemmEigen")->Apply(gemm_shapes);

}  // namespace
