// cpu_kernels::gemm<float> (the packed AVX-512 SGEMM where available) against a naive triple loop
// accumulated in double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <labor/backend/cpu/gemm.hpp>
#include <labor/core/parallel.hpp>
#include <labor/core/rng.hpp>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

struct GemmCase {
  bool trans_a, trans_b;
  std::int64_t m, n, k;
  float alpha, beta;
  std::int64_t pad;  // extra elements per row of A, B and C beyond the logical width
};

std::string describe(const GemmCase& g) {
  return "ta=" + std::to_string(g.trans_a) + " tb=" + std::to_string(g.trans_b) + " m=" + std::to_string(g.m) +
         " n=" + std::to_string(g.n) + " k=" + std::to_string(g.k) + " alpha=" + std::to_string(g.alpha) +
         " beta=" + std::to_string(g.beta) + " pad=" + std::to_string(g.pad);
}

/// Runs gemm<float> on random operands and returns the number of mismatching elements of C
/// (tolerance 1e-5 of alpha·Σ|a||b| + |beta·c|); padding outside C's logical width must be untouched.
std::int64_t check_gemm(const GemmCase& g, std::uint64_t seed) {
  const std::int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
  const std::int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
  const std::int64_t lda = a_cols + g.pad, ldb = b_cols + g.pad, ldc = g.n + g.pad;
  labor::Rng rng(seed);
  auto random_vector = [&](std::int64_t size) {
    std::vector<float> v(static_cast<std::size_t>(std::max<std::int64_t>(size, 1)));
    for (auto& x : v) x = static_cast<float>(2 * rng.uniform() - 1);
    return v;
  };
  const auto a = random_vector(a_rows * lda), b = random_vector(b_rows * ldb);
  auto c = random_vector(g.m * ldc);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::int64_t i = 0; i < g.m; ++i)
    for (std::int64_t j = 0; j < g.n; ++j)
      if (g.beta == 0.0f) c[static_cast<std::size_t>(i * ldc + j)] = nan;  // beta == 0 must not read C
  const auto c0 = c;
  labor::cpu_kernels::gemm<float>(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, a.data(), lda, b.data(), ldb, g.beta,
                                  c.data(), ldc);
  auto at = [&](std::int64_t i, std::int64_t p) {
    return static_cast<double>(g.trans_a ? a[static_cast<std::size_t>(p * lda + i)]
                                         : a[static_cast<std::size_t>(i * lda + p)]);
  };
  auto bt = [&](std::int64_t p, std::int64_t j) {
    return static_cast<double>(g.trans_b ? b[static_cast<std::size_t>(j * ldb + p)]
                                         : b[static_cast<std::size_t>(p * ldb + j)]);
  };
  std::int64_t bad = 0;
  for (std::int64_t i = 0; i < g.m; ++i) {
    for (std::int64_t j = 0; j < ldc; ++j) {
      const auto e = static_cast<std::size_t>(i * ldc + j);
      if (j >= g.n) {
        if (!(c[e] == c0[e])) ++bad;
        continue;
      }
      double sum = 0, magnitude = 0;
      for (std::int64_t p = 0; p < g.k; ++p) {
        sum += at(i, p) * bt(p, j);
        magnitude += std::abs(at(i, p) * bt(p, j));
      }
      const double prior = g.beta == 0.0f ? 0.0 : static_cast<double>(g.beta) * c0[e];
      const double expected = g.alpha * sum + prior;
      const double tolerance = 1e-5 * (std::abs(g.alpha) * magnitude + std::abs(prior)) + 1e-30;
      if (!(std::abs(c[e] - expected) <= tolerance)) ++bad;
    }
  }
  return bad;
}

std::vector<GemmCase> odd_cases() {
  std::vector<GemmCase> cases;
  const std::int64_t sizes[] = {1, 7, 15, 33, 65, 129, 300};
  const float betas[] = {0.0f, 1.0f, 0.5f};
  int variant = 0;
  for (int t = 0; t < 4; ++t)
    for (auto m : sizes)
      for (auto n : sizes)
        for (auto k : {std::int64_t{1}, std::int64_t{15}, std::int64_t{65}, std::int64_t{300}}) {
          if (m * n * k > 65 * 300 * 300) continue;  // keep the naive reference fast
          ++variant;
          cases.push_back({(t & 1) != 0, (t & 2) != 0, m, n, k, variant % 2 ? 1.0f : -0.75f, betas[variant % 3],
                           variant % 4 == 0 ? 0 : 3 + variant % 17});
        }
  return cases;
}

TEST(Gemm, OddSizesAllTransposesOutsideParallelRegion) {
  for (const auto& g : odd_cases()) EXPECT_EQ(check_gemm(g, 7), 0) << describe(g);
}

TEST(Gemm, LargeBlockedProblemsMultiThreaded) {
  // Several k, m and n cache blocks, edge tiles in every direction.
  for (int t = 0; t < 4; ++t) {
    const GemmCase g{(t & 1) != 0, (t & 2) != 0, 301, 433, 1031, 1.25f, t == 0 ? 0.0f : 0.5f, 5};
    EXPECT_EQ(check_gemm(g, 11), 0) << describe(g);
  }
  // Tall-thin: split across threads along m.
  const GemmCase tall{false, false, 997, 9, 37, 1.0f, 0.0f, 1};
  EXPECT_EQ(check_gemm(tall, 12), 0) << describe(tall);
}

TEST(Gemm, InsideParallelRegion) {
  const auto cases = odd_cases();
  std::vector<std::int64_t> bad(cases.size(), 0);
  // Each thread runs whole GEMMs single-threaded on its own packing buffers.
#pragma omp parallel for schedule(dynamic) num_threads(2)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(cases.size()); ++i)
    bad[static_cast<std::size_t>(i)] =
        check_gemm(cases[static_cast<std::size_t>(i)], 100 + static_cast<std::uint64_t>(i));
  for (std::size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(bad[i], 0) << describe(cases[i]);
}

TEST(Gemm, ConvolutionShapes) {
  EXPECT_EQ(check_gemm({false, false, 64, 4096, 576, 1.0f, 1.0f, 0}, 21), 0);
  EXPECT_EQ(check_gemm({false, true, 64, 576, 4096, 1.0f, 1.0f, 0}, 22), 0);
  EXPECT_EQ(check_gemm({true, false, 576, 4096, 64, 1.0f, 0.0f, 0}, 23), 0);
}

TEST(Gemm, EmptyKScalesC) {
  for (float beta : {0.0f, 1.0f, 0.5f}) {
    const GemmCase g{false, false, 17, 33, 0, 1.0f, beta, 2};
    EXPECT_EQ(check_gemm(g, 31), 0) << describe(g);
  }
}

TEST(Gemm, EmptyOutputDoesNothing) {
  float c = 3.0f;
  const float a = 1.0f, b = 1.0f;
  labor::cpu_kernels::gemm<float>(false, false, 0, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
  labor::cpu_kernels::gemm<float>(false, false, 1, 0, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
  EXPECT_EQ(c, 3.0f);
}

TEST(Gemm, ThreadCountDoesNotChangeResult) {
  // Each C element is computed by one thread in the same order, whatever the split.
  const std::int64_t m = 130, n = 260, k = 700;
  labor::Rng rng(5);
  std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
  for (auto& x : a) x = static_cast<float>(rng.uniform() - 0.5);
  for (auto& x : b) x = static_cast<float>(rng.uniform() - 0.5);
  std::vector<float> c1(static_cast<std::size_t>(m * n)), c2(c1.size());
  const int saved = labor::num_threads();
  labor::set_num_threads(1);
  labor::cpu_kernels::gemm<float>(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c1.data(), n);
  labor::set_num_threads(2);
  labor::cpu_kernels::gemm<float>(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c2.data(), n);
  labor::set_num_threads(saved);
  EXPECT_EQ(c1, c2);
}

}  // namespace
