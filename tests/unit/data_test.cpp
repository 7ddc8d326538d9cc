// The synthetic two-domain benchmark and batch assembly.

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include <labor/core/parallel.hpp>
#include <labor/data.hpp>

#include "support/errors.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
namespace data = labor::data;

data::SyntheticOptions small(std::uint64_t seed = 0) {
  return {
      .height = 32, .width = 64, .source_images = 6, .target_pool = 4, .target_test = 3, .target_val = 3, .seed = seed};
}

bool same(const Tensor<float>& a, const Tensor<float>& b) {
  return a.shape() == b.shape() && std::equal(a.data(), a.data() + a.numel(), b.data());
}
bool same(const Tensor<std::int32_t>& a, const Tensor<std::int32_t>& b) {
  return a.shape() == b.shape() && std::equal(a.data(), a.data() + a.numel(), b.data());
}

TEST(Synthetic, ShapesAndRanges) {
  const auto b = data::make_synthetic_benchmark(small());
  EXPECT_EQ(b.source.size(), 6);
  EXPECT_EQ(b.target_pool.size(), 4);
  EXPECT_EQ(b.target_test.size(), 3);
  EXPECT_EQ(b.target_val.size(), 3);
  for (const auto* d : {&b.source, &b.target_pool, &b.target_test, &b.target_val})
    for (std::int64_t i = 0; i < d->size(); ++i) {
      EXPECT_EQ(d->image(i).shape(), Shape({3, 32, 64}));
      EXPECT_EQ(d->label(i).shape(), Shape({32, 64}));
      for (std::int64_t k = 0; k < d->image(i).numel(); ++k) {
        ASSERT_GE(d->image(i)[k], 0.0f);
        ASSERT_LE(d->image(i)[k], 1.0f);
      }
      for (std::int64_t k = 0; k < d->label(i).numel(); ++k) {
        ASSERT_GE(d->label(i)[k], 0);
        ASSERT_LT(d->label(i)[k], data::synthetic_num_classes);
      }
    }
}

TEST(Synthetic, DeterministicAndIndependentOfThreads) {
  const auto a = data::make_synthetic_benchmark(small(3));
  const int threads = labor::num_threads();
  labor::set_num_threads(1);
  const auto b = data::make_synthetic_benchmark(small(3));
  labor::set_num_threads(threads);
  for (std::int64_t i = 0; i < a.source.size(); ++i) {
    EXPECT_TRUE(same(a.source.image(i), b.source.image(i))) << i;
    EXPECT_TRUE(same(a.source.label(i), b.source.label(i))) << i;
  }
  for (std::int64_t i = 0; i < a.target_test.size(); ++i)
    EXPECT_TRUE(same(a.target_test.image(i), b.target_test.image(i)));
  // Another seed gives other scenes; the pool and the test split never share a scene.
  const auto c = data::make_synthetic_benchmark(small(4));
  EXPECT_FALSE(same(a.source.label(0), c.source.label(0)));
  EXPECT_FALSE(same(a.target_pool.label(0), a.target_test.label(0)));
}

TEST(Synthetic, ValidationSplitIsApartFromPoolAndTest) {
  auto o = small(2);
  o.target_val = 8;
  const auto b = data::make_synthetic_benchmark(o);
  ASSERT_EQ(b.target_val.size(), 8);
  for (std::int64_t v = 0; v < b.target_val.size(); ++v) {
    for (std::int64_t i = 0; i < b.target_pool.size(); ++i)
      EXPECT_FALSE(same(b.target_val.image(v), b.target_pool.image(i))) << v << " pool " << i;
    for (std::int64_t i = 0; i < b.target_test.size(); ++i)
      EXPECT_FALSE(same(b.target_val.image(v), b.target_test.image(i))) << v << " test " << i;
    for (std::int64_t u = 0; u < v; ++u) EXPECT_FALSE(same(b.target_val.image(v), b.target_val.image(u))) << v << u;
  }
  // The validation split does not move the other splits: the pool and the test split are those of a
  // benchmark without one.
  o.target_val = 0;
  const auto none = data::make_synthetic_benchmark(o);
  EXPECT_EQ(none.target_val.size(), 0);
  for (std::int64_t i = 0; i < b.target_test.size(); ++i)
    EXPECT_TRUE(same(b.target_test.image(i), none.target_test.image(i))) << i;
  EXPECT_TRUE(same(b.target_pool.label(0), none.target_pool.label(0)));
}

TEST(Synthetic, EveryClassAppearsAndTheDomainsDiffer) {
  auto o = small(1);
  o.source_images = 40;
  o.target_pool = 40;
  const auto b = data::make_synthetic_benchmark(o);
  std::array<std::int64_t, data::synthetic_num_classes> src{}, tgt{};
  std::array<double, 3> src_mean{}, tgt_mean{};
  for (std::int64_t i = 0; i < 40; ++i) {
    for (std::int64_t k = 0; k < b.source.label(i).numel(); ++k) ++src[static_cast<std::size_t>(b.source.label(i)[k])];
    for (std::int64_t k = 0; k < b.target_pool.label(i).numel(); ++k)
      ++tgt[static_cast<std::size_t>(b.target_pool.label(i)[k])];
    for (int c = 0; c < 3; ++c)
      for (std::int64_t k = 0; k < 32 * 64; ++k) {
        src_mean[c] += b.source.image(i)[c * 32 * 64 + k];
        tgt_mean[c] += b.target_pool.image(i)[c * 32 * 64 + k];
      }
  }
  for (int c = 0; c < data::synthetic_num_classes; ++c) {
    EXPECT_GT(src[c], 0) << data::synthetic_class_names[c];
    EXPECT_GT(tgt[c], 0) << data::synthetic_class_names[c];
  }
  // Class frequencies shift: the target has more cars and people, less vegetation.
  EXPECT_GT(tgt[9], src[9]);
  EXPECT_GT(tgt[8], src[8]);
  EXPECT_LT(tgt[5], src[5]);
  // The palettes differ: the mean colour moves.
  double diff = 0;
  for (int c = 0; c < 3; ++c) diff += std::abs(src_mean[c] - tgt_mean[c]) / (40.0 * 32 * 64);
  EXPECT_GT(diff, 0.03);
}

TEST(Synthetic, PaletteShiftMovesTheTargetColours) {
  // The sky's red/blue ratio (the lighting gain cancels): the source sky is blue (≈ 0.47); the
  // target palette's is a hazy grey (≈ 0.95). palette_shift 0 keeps the source's, 1 moves to the target's.
  auto o = small(2);
  o.target_pool = 10;
  o.source_images = 10;
  auto sky_red_over_blue = [](const data::InMemoryDataset& d) {
    std::vector<float> r, b;
    for (std::int64_t i = 0; i < d.size(); ++i)
      for (std::int64_t k = 0; k < 32 * 64; ++k)
        if (d.label(i)[k] == 7) {
          r.push_back(d.image(i)[k]);
          b.push_back(d.image(i)[2 * 32 * 64 + k]);
        }
    const auto median = [](std::vector<float>& v) {
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
      return v[v.size() / 2];
    };
    return median(r) / median(b);
  };
  o.palette_shift = 0.0;
  const auto a = data::make_synthetic_benchmark(o);
  EXPECT_NEAR(sky_red_over_blue(a.source), 0.47, 0.05);
  EXPECT_LT(sky_red_over_blue(a.target_pool), 0.65);
  o.palette_shift = 1.0;
  const auto c = data::make_synthetic_benchmark(o);
  EXPECT_GT(sky_red_over_blue(c.target_pool), 0.85);
  EXPECT_NEAR(sky_red_over_blue(c.source), sky_red_over_blue(a.source), 1e-6);
}

TEST(Synthetic, Errors) {
  auto o = small();
  o.height = 16;
  labor::testing::expect_error([&] { data::make_synthetic_benchmark(o); }, {"image size", ">= 32", "16"});
  o = small();
  o.target_pool = 0;
  labor::testing::expect_error([&] { data::make_synthetic_benchmark(o); }, {"image counts", "> 0"});
  o = small();
  o.palette_shift = 1.5;
  labor::testing::expect_error([&] { data::make_synthetic_benchmark(o); }, {"palette_shift", "[0, 1]"});
  o = small();
  o.target_val = -1;
  labor::testing::expect_error([&] { data::make_synthetic_benchmark(o); }, {"target_val", ">= 0", "-1"});
}

TEST(Batches, NormalisesAndKeepsOrder) {
  const auto b = data::make_synthetic_benchmark(small());
  const std::vector<std::int64_t> idx = {2, 0};
  const data::Normalization norm{.mean = {0.1f, 0.2f, 0.3f}, .std = {0.5f, 0.25f, 2.0f}};
  const auto x = data::batch_images(b.source, idx, norm);
  const auto y = data::batch_labels(b.source, idx);
  ASSERT_EQ(x.shape(), Shape({2, 3, 32, 64}));
  ASSERT_EQ(y.shape(), Shape({2, 32, 64}));
  const std::int64_t hw = 32 * 64;
  for (std::int64_t k = 0; k < 2; ++k)
    for (int c = 0; c < 3; ++c)
      for (std::int64_t p = 0; p < hw; p += 97) {
        const float v = b.source.image(idx[k])[c * hw + p];
        EXPECT_FLOAT_EQ(x[(k * 3 + c) * hw + p], (v - norm.mean[c]) / norm.std[c]);
        EXPECT_EQ(y[k * hw + p], b.source.label(idx[k])[p]);
      }
  labor::testing::expect_error([&] { data::batch_images(b.source, std::vector<std::int64_t>{}); }, "at least one");
  labor::testing::expect_error([&] { data::batch_labels(b.source, std::vector<std::int64_t>{7}); }, {"index", "7"});
}

TEST(InMemoryDataset, RejectsMismatchedShapes) {
  data::InMemoryDataset d;
  labor::testing::expect_error(
      [&] {
        d.push_back(Tensor<float>(Shape{2, 4, 4}), Tensor<std::int32_t>(Shape{4, 4}));
      },
      "3×H×W");
  labor::testing::expect_error(
      [&] {
        d.push_back(Tensor<float>(Shape{3, 4, 4}), Tensor<std::int32_t>(Shape{4, 5}));
      },
      "label");
  d.push_back(Tensor<float>(Shape{3, 4, 4}), Tensor<std::int32_t>(Shape{4, 4}));
  labor::testing::expect_error(
      [&] {
        d.push_back(Tensor<float>(Shape{3, 5, 4}), Tensor<std::int32_t>(Shape{5, 4}));
      },
      "dataset's shape");
  EXPECT_EQ(d.size(), 1);
}

}  // namespace
