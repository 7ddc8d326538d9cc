#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <labor/core.hpp>
#include <labor/io/npy.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include "support/errors.hpp"
#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::TensorView;
using ::testing::HasSubstr;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const labor::Error& e) {
    return e.what();
  }
  return "<no labor::Error>";
}

TEST(Shape, ExtentsStridesAndFormatting) {
  const Shape s{2, 3, 4, 5};
  EXPECT_EQ(s.rank(), 4);
  EXPECT_EQ(s.numel(), 120);
  EXPECT_EQ(s[-1], 5);
  EXPECT_EQ(s.stride(0), 60);
  EXPECT_EQ(s.stride(2), 5);
  EXPECT_EQ(fmt::format("{}", s), "[2, 3, 4, 5]");
  EXPECT_EQ(Shape{}.numel(), 1);
  EXPECT_NE(s, (Shape{2, 3, 4}));
}

TEST(Shape, RejectsBadExtents) {
  EXPECT_THAT(error_of([] { Shape{1, 2, 3, 4, 5}; }), HasSubstr("rank: expected at most 4, got 5"));
  EXPECT_THAT(error_of([] { Shape{2, -1}; }), HasSubstr("extent 1: expected >= 0, got -1"));
  EXPECT_THAT(error_of([] { (void)Shape{2, 3}[2]; }), HasSubstr("dimension index 2 out of range"));
}

TEST(Tensor, ZeroFilledAndIndexedRowMajor) {
  Tensor<float> t(Shape{2, 3, 4, 5});
  for (float v : t.span()) EXPECT_EQ(v, 0.0f);
  t(1, 2, 3, 4) = 7.0f;
  EXPECT_EQ(t[119], 7.0f);
  t(0, 1, 0, 2) = 3.0f;
  EXPECT_EQ(t[22], 3.0f);
}

TEST(Tensor, CopyIsDeepAndMoveTransfers) {
  auto a = Tensor<int>::full(Shape{3}, 4);
  Tensor<int> b = a;
  b[0] = 9;
  EXPECT_EQ(a[0], 4);
  const int* storage = b.data();
  Tensor<int> c = std::move(b);
  EXPECT_EQ(c.data(), storage);
  EXPECT_EQ(c[0], 9);
}

TEST(Tensor, ViewsShareMemoryAndSliceAlongFirstDimension) {
  auto t = Tensor<double>::from(Shape{2, 3}, {0, 1, 2, 3, 4, 5});
  TensorView<double> v = t.view();
  TensorView<const double> cv = v;  // mutable -> read-only view
  v(1, 2) = 50;
  EXPECT_EQ(t[5], 50);
  EXPECT_EQ(cv.slice(1)[0], 3);
  EXPECT_EQ(v.slice(1).shape(), (Shape{3}));
  auto r = v.reshaped(Shape{3, 2});
  EXPECT_EQ(r(2, 1), 50);
  Tensor<double> owned(cv.slice(0));
  owned[0] = -1;
  EXPECT_EQ(t[0], 0);
}

TEST(Tensor, ShapeErrorsNameWhatWasWrong) {
  Tensor<float> t(Shape{2, 3});
  EXPECT_THAT(error_of([&] { t.reshape(Shape{4, 2}); }), HasSubstr("element count: expected 6"));
  EXPECT_THAT(error_of([&] { (void)t.slice(2); }), HasSubstr("index 2 out of range [0, 2)"));
  EXPECT_THAT(error_of([] {
                Tensor<float>::from(Shape{2}, {1.f, 2.f, 3.f});
              }),
              HasSubstr("expected 2 for shape [2], got 3"));
  EXPECT_THAT(error_of([&] {
                labor::check_shape("logits", t.shape(), Shape{2, 4});
              }),
              HasSubstr("logits: shape: expected [2, 4], got [2, 3]"));
  EXPECT_THAT(error_of([] { TensorView<float>(nullptr, Shape{3}); }), HasSubstr("data is null"));
}

TEST(HostMemory, LargeBlocksAreReusedAndTheCacheIsBounded) {
  labor::release_memory_cache<labor::cpu>();
  const void* first = nullptr;
  {
    Tensor<float> big(Shape{1 << 20});  // 4 MiB: cached when freed
    first = big.data();
    big[12345] = 1.0f;
  }
  EXPECT_GE(labor::cached_memory_bytes<labor::cpu>(), std::size_t{4} << 20);
  {
    Tensor<float> again(Shape{1 << 20});
    EXPECT_EQ(again.data(), first);  // the freed block came back
    EXPECT_EQ(again[12345], 0.0f);   // and is zero-filled like any new tensor
    EXPECT_EQ(labor::cached_memory_bytes<labor::cpu>(), 0u);
  }
  labor::set_memory_cache_limit<labor::cpu>(std::size_t{1} << 20);  // smaller than the block
  EXPECT_EQ(labor::cached_memory_bytes<labor::cpu>(), 0u);
  { Tensor<float> other(Shape{1 << 20}); }
  EXPECT_EQ(labor::cached_memory_bytes<labor::cpu>(), 0u);  // over the limit: returned to the system
  labor::set_memory_cache_limit<labor::cpu>(std::size_t{1} << 30);
  { Tensor<float> small(Shape{1000}); }
  EXPECT_EQ(labor::cached_memory_bytes<labor::cpu>(), 0u);  // small blocks are not cached
}

TEST(Rng, SameSeedSameStreamAndOffsetsAdvance) {
  labor::Rng a(11), b(11), c(12);
  Tensor<float> x(Shape{1000}), y(Shape{1000}), z(Shape{1000});
  fill_uniform(x.view(), a);
  fill_uniform(y.view(), b);
  fill_uniform(z.view(), c);
  EXPECT_EQ(a.offset(), 1000u);
  int same_as_other_seed = 0;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(x[i], y[i]);
    same_as_other_seed += x[i] == z[i];
    EXPECT_GE(x[i], 0.0f);
    EXPECT_LT(x[i], 1.0f);
  }
  EXPECT_LT(same_as_other_seed, 5);
  // The next draw continues the stream: it equals element 1000 of a longer fill.
  labor::Rng d(11);
  Tensor<float> longer(Shape{1001});
  fill_uniform(longer.view(), d);
  EXPECT_EQ(a.uniform<float>(), longer[1000]);
}

TEST(Rng, ValuesDoNotDependOnThreadCount) {
  Tensor<double> one(Shape{50000}), many(Shape{50000});
  const int saved = labor::num_threads();
  labor::set_num_threads(1);
  labor::Rng a(5);
  fill_normal(one.view(), a);
  labor::set_num_threads(2);
  labor::Rng b(5);
  fill_normal(many.view(), b);
  labor::set_num_threads(saved);
  for (int i = 0; i < 50000; ++i) ASSERT_EQ(one[i], many[i]);
}

TEST(Rng, UniformAndNormalMomentsAreRight) {
  labor::Rng rng(2024);
  Tensor<double> u(Shape{200000}), n(Shape{200000});
  fill_uniform(u.view(), rng, -1.0, 3.0);
  fill_normal(n.view(), rng, 2.0, 0.5);
  double su = 0, sn = 0, sn2 = 0;
  for (int i = 0; i < 200000; ++i) {
    su += u[i];
    sn += n[i];
    sn2 += (n[i] - 2.0) * (n[i] - 2.0);
  }
  EXPECT_NEAR(su / 200000, 1.0, 0.01);
  EXPECT_NEAR(sn / 200000, 2.0, 0.005);
  EXPECT_NEAR(std::sqrt(sn2 / 200000), 0.5, 0.005);
}

TEST(Rng, UniformIntCoversRangeWithoutBias) {
  labor::Rng rng(8);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) ++counts[rng.uniform_int(7)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
  EXPECT_THROW(rng.uniform_int(0), labor::Error);
}

TEST(Rng, PhiloxMatchesPublishedKnownAnswer) {
  // Known-answer vector of Philox-4x32-10 (Random123 kat_vectors: counter 0, key 0).
  const auto r = labor::detail::philox4x32_10({{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[1], 0xe169c58du);
  EXPECT_EQ(r.v[2], 0xbc57ac4cu);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
}

TEST(Parallel, ForCoversEveryIndexOnceAndSumIsDeterministic) {
  std::vector<int> hits(100000, 0);
  labor::parallel_for(0, 100000, [&](std::int64_t i) { ++hits[static_cast<std::size_t>(i)]; });
  for (int h : hits) ASSERT_EQ(h, 1);
  const int saved = labor::num_threads();
  labor::set_num_threads(2);
  const double a = labor::parallel_sum(0, 100000, [](std::int64_t i) { return 1.0 / (1.0 + static_cast<double>(i)); });
  labor::set_num_threads(1);
  const double b = labor::parallel_sum(0, 100000, [](std::int64_t i) { return 1.0 / (1.0 + static_cast<double>(i)); });
  labor::set_num_threads(saved);
  EXPECT_EQ(a, b);
  EXPECT_NEAR(a, 12.0901461298634, 1e-9);  // H_100000
  std::vector<std::pair<std::int64_t, std::int64_t>> chunks(8, {-1, -1});
  labor::parallel_chunks(3, 10, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) chunks[static_cast<std::size_t>(i - 3)] = {lo, hi};
  });
  for (int i = 0; i < 7; ++i) EXPECT_NE(chunks[static_cast<std::size_t>(i)].first, -1) << i;
}

// Restores the thread count a test changed.
struct ThreadCount {
  int saved = labor::num_threads();
  explicit ThreadCount(int n) { labor::set_num_threads(n); }
  ~ThreadCount() { labor::set_num_threads(saved); }
};

TEST(ThreadPool, EveryIndexRunsOnceForAnyThreadCountSizeAndGrain) {
  for (int threads : {1, 2, 3, 5}) {
    const ThreadCount tc(threads);
    EXPECT_EQ(labor::num_threads(), threads);
    for (std::int64_t n : {1, 2, 7, 1000, 65537}) {
      for (std::int64_t grain : {1, 3, 4096}) {
        std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
        labor::parallel_for(5, 5 + n, [&](std::int64_t i) { hits[static_cast<std::size_t>(i - 5)]++; }, grain);
        for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<std::size_t>(i)].load(), 1) << threads << " " << n;
      }
    }
  }
}

TEST(ThreadPool, ChunksAreContiguousInOrderAtMostOnePerThreadAndAtLeastGrain) {
  for (int threads : {1, 2, 4}) {
    const ThreadCount tc(threads);
    for (const auto& [n, grain] : std::vector<std::pair<std::int64_t, std::int64_t>>{{10, 1}, {10, 4}, {3, 8}, {100000, 1000}}) {
      std::mutex m;
      std::vector<std::pair<std::int64_t, std::int64_t>> chunks;
      labor::parallel_chunks(2, 2 + n, [&](std::int64_t lo, std::int64_t hi) {
        std::lock_guard lock(m);
        chunks.emplace_back(lo, hi);
      }, grain);
      std::sort(chunks.begin(), chunks.end());
      ASSERT_FALSE(chunks.empty());
      EXPECT_LE(static_cast<int>(chunks.size()), threads);
      EXPECT_EQ(chunks.front().first, 2);
      EXPECT_EQ(chunks.back().second, 2 + n);
      for (std::size_t c = 0; c < chunks.size(); ++c) {
        if (chunks.size() > 1) {
          EXPECT_GE(chunks[c].second - chunks[c].first, grain);
        }
        if (c > 0) {
          EXPECT_EQ(chunks[c].first, chunks[c - 1].second);
        }
      }
    }
  }
}

TEST(ThreadPool, UsesTheThreadsItIsGivenAndNestedRegionsRunOnTheirCaller) {
  const ThreadCount tc(3);
  std::mutex m;
  std::set<std::thread::id> ids;
  std::atomic<int> nested_elsewhere{0};
  labor::parallel_tasks(300, [&](std::int64_t) {
    const auto me = std::this_thread::get_id();
    labor::parallel_for(0, 100, [&](std::int64_t) {
      if (std::this_thread::get_id() != me) nested_elsewhere++;
    }, 1);
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    std::lock_guard lock(m);
    ids.insert(me);
  });
  EXPECT_EQ(nested_elsewhere.load(), 0);
  EXPECT_LE(ids.size(), 3u);
}

TEST(ThreadPool, AnExceptionReachesTheCallerAfterEveryTaskRanAndThePoolStaysUsable) {
  const ThreadCount tc(2);
  std::atomic<int> ran{0};
  labor::testing::expect_error([&] {
    labor::parallel_tasks(64, [&](std::int64_t t) {
      ran++;
      if (t == 17) labor::fail("task {} failed", t);
    });
  }, "task 17 failed");
  EXPECT_EQ(ran.load(), 64);
  std::atomic<int> again{0};
  labor::parallel_for(0, 5000, [&](std::int64_t) { again++; }, 1);
  EXPECT_EQ(again.load(), 5000);
}

TEST(ThreadPool, RegionsFromSeveralThreadsAtOnceAllComplete) {
  const ThreadCount tc(2);
  std::vector<std::int64_t> sums(4, 0);
  std::vector<std::thread> users;
  for (std::size_t u = 0; u < sums.size(); ++u)
    users.emplace_back([&, u] {
      for (int rep = 0; rep < 50; ++rep) {
        std::vector<std::int64_t> v(4096, 0);
        labor::parallel_for(0, 4096, [&](std::int64_t i) { v[static_cast<std::size_t>(i)] = i; }, 64);
        sums[u] += std::accumulate(v.begin(), v.end(), std::int64_t{0});
      }
    });
  for (auto& t : users) t.join();
  for (auto s : sums) EXPECT_EQ(s, 50 * (4095 * 4096 / 2));
}

TEST(ThreadPool, DefaultThreadCountComesFromTheEnvironmentThenTheProcessorsAllowed) {
  const char* saved_labor = std::getenv("LABOR_NUM_THREADS");
  const char* saved_omp = std::getenv("OMP_NUM_THREADS");
  const std::string keep_labor = saved_labor ? saved_labor : "", keep_omp = saved_omp ? saved_omp : "";
  ::setenv("LABOR_NUM_THREADS", "3", 1);
  ::setenv("OMP_NUM_THREADS", "5", 1);
  EXPECT_EQ(labor::detail::default_thread_count(), 3);
  ::unsetenv("LABOR_NUM_THREADS");
  EXPECT_EQ(labor::detail::default_thread_count(), 5);
  ::setenv("OMP_NUM_THREADS", "zero", 1);
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(labor::detail::default_thread_count(), CPU_COUNT(&set));
  if (saved_labor) ::setenv("LABOR_NUM_THREADS", keep_labor.c_str(), 1); else ::unsetenv("LABOR_NUM_THREADS");
  if (saved_omp) ::setenv("OMP_NUM_THREADS", keep_omp.c_str(), 1); else ::unsetenv("OMP_NUM_THREADS");
}

TEST(Elementwise, ScaleAxpyAddCopyInto) {
  using labor::Shape;
  using labor::Tensor;
  Tensor<float> y(Shape{2, 3}), x(Shape{2, 3});
  for (std::int64_t i = 0; i < 6; ++i) {
    y[i] = static_cast<float>(i);
    x[i] = static_cast<float>(10 - i);
  }
  labor::scale(y, 2.0f);
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(y[i], 2.0f * static_cast<float>(i));
  labor::axpy(y, 0.5f, x);
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(y[i], 2.0f * static_cast<float>(i) + 0.5f * static_cast<float>(10 - i));
  const auto sum = labor::add(x, y);
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(sum[i], x[i] + y[i]);
  labor::testing::expect_error([&] { labor::axpy(y, 1.0f, Tensor<float>(Shape{3, 2})); }, {"axpy"});
  labor::testing::expect_error([&] { labor::add_inplace(y, Tensor<float>(Shape{6})); }, {"add: shapes"});
  // copy_into keeps the destination's storage when the element count is unchanged.
  Tensor<float> dst(Shape{3, 2});
  const float* storage = dst.data();
  labor::copy_into(dst, x);
  EXPECT_EQ(dst.data(), storage);
  EXPECT_EQ(dst.shape(), x.shape());
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(dst[i], x[i]);
  labor::copy_into(dst, Tensor<float>(Shape{4, 4}));
  EXPECT_EQ(dst.shape(), Shape({4, 4}));
  EXPECT_FALSE(labor::is_finite(std::numeric_limits<float>::quiet_NaN()));
  EXPECT_FALSE(labor::is_finite(-std::numeric_limits<double>::infinity()));
  EXPECT_TRUE(labor::is_finite(1e300));
}

TEST(Labels, ArgmaxChannelsTakesTheLowestIndexOnTies) {
  using labor::Shape;
  using labor::Tensor;
  // 1×3×1×4 scores: a clear winner, a tie between channels 0 and 2, all equal, a NaN.
  Tensor<float> s(Shape{1, 3, 1, 4});
  const float v[3][4] = {{0.1f, 0.7f, 0.3f, 1.0f}, {0.9f, 0.2f, 0.3f, std::numeric_limits<float>::quiet_NaN()},
                         {0.0f, 0.7f, 0.3f, 0.5f}};
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 4; ++p) s[c * 4 + p] = v[c][p];
  const auto a = labor::argmax_channels(s);
  ASSERT_EQ(a.shape(), Shape({1, 1, 4}));
  EXPECT_EQ(a[0], 1);
  EXPECT_EQ(a[1], 0);
  EXPECT_EQ(a[2], 0);
  EXPECT_EQ(a[3], 0);
  bool finite = true;
  EXPECT_EQ(labor::channel_argmax(s.data() + 3, 3, 4, finite).index, 0);
  EXPECT_FALSE(finite);
  EXPECT_EQ(labor::ignore_label, 255);
}

TEST(Npy, RoundTripAllTypes) {
  labor::testing::TempDir dir;
  labor::Rng rng(1);
  Tensor<float> f(Shape{2, 3, 4, 5});
  fill_normal(f.view(), rng);
  labor::io::write_npy(dir / "f.npy", f);
  const auto g = labor::io::read_npy<float>(dir / "f.npy");
  ASSERT_EQ(g.shape(), f.shape());
  for (std::int64_t i = 0; i < f.numel(); ++i) ASSERT_EQ(g[i], f[i]);
  auto ints = Tensor<std::int32_t>::from(Shape{3}, {1, -2, 255});
  labor::io::write_npy(dir / "i.npy", ints);
  EXPECT_EQ(labor::io::read_npy<std::int32_t>(dir / "i.npy")[1], -2);
  auto scalar = Tensor<double>::full(Shape{}, 2.5);
  labor::io::write_npy(dir / "s.npy", scalar);
  EXPECT_EQ(labor::io::read_npy<double>(dir / "s.npy").rank(), 0);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))  // no temporary file left
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
}

void write_raw_npy(const std::filesystem::path& p, const std::string& dict, std::size_t payload) {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(p, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff),
                                static_cast<unsigned char>(header.size() >> 8)};
  out.write(reinterpret_cast<const char*>(len), 2);
  out << header << std::string(payload, '\0');
}

TEST(Npy, RejectsOtherLayoutsNamingTheFile) {
  labor::testing::TempDir dir;
  write_raw_npy(dir / "be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8);
  write_raw_npy(dir / "f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16);
  write_raw_npy(dir / "fo.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16);
  write_raw_npy(dir / "short.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }", 8);
  EXPECT_THAT(error_of([&] { labor::io::read_npy<float>(dir / "be.npy"); }), HasSubstr("big-endian"));
  EXPECT_THAT(error_of([&] { labor::io::read_npy<float>(dir / "f8.npy"); }),
              HasSubstr("dtype: expected '<f4', got '<f8'"));
  EXPECT_THAT(error_of([&] { labor::io::read_npy<float>(dir / "fo.npy"); }), HasSubstr("fortran_order"));
  EXPECT_THAT(error_of([&] { labor::io::read_npy<float>(dir / "short.npy"); }), HasSubstr("truncated data"));
  EXPECT_THAT(error_of([&] { labor::io::read_npy<float>(dir / "missing.npy"); }), HasSubstr("missing.npy"));
}

}  // namespace
