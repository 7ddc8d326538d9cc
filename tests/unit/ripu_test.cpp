// RIPU (region and pixel mode) against a reference written here with plain loops: its own argmax,
// histograms counted per window, and RIPU's greedy loop as published (take the argmax of all
// remaining scores, suppress its neighbourhood, repeat) on random maps with ties made on purpose;
// exclusions, OMP vs CPP systems and one thread, what the score prefers, bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <labor/core.hpp>
#include <labor/samplers.hpp>

#include "support/errors.hpp"
#include "support/sampler_maps.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
namespace S = labor::samplers;
using labor::testing::expect_error;
using labor::testing::Maps;
using labor::testing::palette_maps;
using labor::testing::smooth_maps;
using Mode = S::RipuSampler::Mode;

static_assert(S::Sampler<S::RipuSampler>);

/// The selection of one image by the reference: pixels ascending and their ŷ.
struct RefImage {
  std::vector<std::int64_t> pixels;
  std::vector<std::int32_t> classes;
};

/// RIPU by the definition, one image at a time.
std::vector<RefImage> reference(const Maps& m, Mode mode, std::int64_t points, std::int64_t k,
                                const Tensor<std::uint8_t>* exclude = nullptr) {
  const std::int64_t n = m.p1.size(0), c = m.p1.size(1), h = m.p1.size(2), w = m.p1.size(3), hw = h * w;
  const auto table = S::detail::clogc_table((2 * k + 1) * (2 * k + 1));
  std::vector<RefImage> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<std::int32_t> yhat(static_cast<std::size_t>(hw));
    std::vector<std::int64_t> ent(static_cast<std::size_t>(hw), 0);
    for (std::int64_t px = 0; px < hw; ++px) {
      double best = -1;
      for (std::int64_t ch = 0; ch < c; ++ch) {
        const float a = m.p1[(i * c + ch) * hw + px], b = m.p2[(i * c + ch) * hw + px];
        const double v = static_cast<double>(a) + static_cast<double>(b);
        if (v > best) {
          best = v;
          yhat[static_cast<std::size_t>(px)] = static_cast<std::int32_t>(ch);
        }
        ent[static_cast<std::size_t>(px)] += S::detail::entropy24_term(0.5f * (a + b));
      }
    }
    auto excluded = [&](std::int64_t px) { return exclude != nullptr && (*exclude)[i * hw + px] != 0; };
    std::vector<double> score(static_cast<std::size_t>(hw));
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) {
        std::vector<std::int64_t> count(static_cast<std::size_t>(c), 0);
        std::int64_t total = 0, ent_sum = 0;
        for (std::int64_t yy = y - k; yy <= y + k; ++yy)
          for (std::int64_t xx = x - k; xx <= x + k; ++xx) {
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            ++count[static_cast<std::size_t>(yhat[static_cast<std::size_t>(yy * w + xx)])];
            ++total;
            ent_sum += ent[static_cast<std::size_t>(yy * w + xx)];
          }
        std::int64_t sum = 0;
        for (auto v : count) sum += table[static_cast<std::size_t>(v)];
        const double imp = static_cast<double>(std::max<std::int64_t>(0, table[static_cast<std::size_t>(total)] - sum));
        const double t = static_cast<double>(total);
        score[static_cast<std::size_t>(y * w + x)] =
            mode == Mode::region ? imp * static_cast<double>(ent_sum) / (t * t)
                                 : imp * static_cast<double>(ent[static_cast<std::size_t>(y * w + x)]) / t;
      }
    const double gone = -std::numeric_limits<double>::infinity();
    for (std::int64_t px = 0; px < hw; ++px)
      if (excluded(px)) score[static_cast<std::size_t>(px)] = gone;
    const std::int64_t area = (2 * k + 1) * (2 * k + 1);
    const std::int64_t centres = mode == Mode::region ? (points + area - 1) / area : points;
    const std::int64_t s = mode == Mode::region ? 2 * k : k;
    auto& im = out[static_cast<std::size_t>(i)];
    for (std::int64_t t = 0; t < centres; ++t) {
      std::int64_t best = -1;
      for (std::int64_t px = 0; px < hw; ++px)  // first maximum: lowest index on ties
        if (score[static_cast<std::size_t>(px)] != gone &&
            (best < 0 || score[static_cast<std::size_t>(px)] > score[static_cast<std::size_t>(best)]))
          best = px;
      if (best < 0) break;
      const std::int64_t y = best / w, x = best % w;
      for (std::int64_t yy = std::max<std::int64_t>(0, y - s); yy <= std::min(h - 1, y + s); ++yy)
        for (std::int64_t xx = std::max<std::int64_t>(0, x - s); xx <= std::min(w - 1, x + s); ++xx)
          score[static_cast<std::size_t>(yy * w + xx)] = gone;
      if (mode == Mode::pixel) {
        im.pixels.push_back(best);
        continue;
      }
      for (std::int64_t yy = std::max<std::int64_t>(0, y - k); yy <= std::min(h - 1, y + k); ++yy)
        for (std::int64_t xx = std::max<std::int64_t>(0, x - k); xx <= std::min(w - 1, x + k); ++xx)
          if (!excluded(yy * w + xx)) im.pixels.push_back(yy * w + xx);
    }
    std::sort(im.pixels.begin(), im.pixels.end());
    for (auto px : im.pixels) im.classes.push_back(yhat[static_cast<std::size_t>(px)]);
  }
  return out;
}

void expect_matches(const S::Query& q, const std::vector<RefImage>& ref) {
  ASSERT_EQ(q.images.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(q.images[i].pixels, ref[i].pixels);
    EXPECT_EQ(q.images[i].classes, ref[i].classes);
    EXPECT_TRUE(q.images[i].scores.empty());
  }
}

void expect_same(const S::Query& a, const S::Query& b) {
  ASSERT_EQ(a.images.size(), b.images.size());
  for (std::size_t i = 0; i < a.images.size(); ++i) {
    EXPECT_EQ(a.images[i].pixels, b.images[i].pixels);
    EXPECT_EQ(a.images[i].classes, b.images[i].classes);
  }
}

TEST(Ripu, LogApproximationIsWithinFloatPrecision) {
  double worst = 0;
  for (float x = 1e-30f; x <= 1.0f; x *= 1.0137f) {
    const double want = std::log(static_cast<double>(x));
    const double got = S::detail::log_approx(x);
    worst = std::max(worst, std::abs(got - want) / std::max(1.0, std::abs(want)));
  }
  EXPECT_LT(worst, 4e-7);
  EXPECT_EQ(S::detail::log_approx(1.0f), 0.0f);
  EXPECT_EQ(S::detail::entropy24_term(0.0f), 0);
  EXPECT_EQ(S::detail::entropy24_term(1.0f), 0);
  // −p log p at p = 1/e is 1/e, the largest term.
  EXPECT_NEAR(S::detail::entropy24_term(static_cast<float>(std::exp(-1.0))) / 16777216.0, std::exp(-1.0), 1e-6);
}

TEST(Ripu, MatchesReferenceWithTies) {
  for (std::uint64_t seed : {1u, 4u}) {
    const auto m = palette_maps(2, 5, 17, 23, seed, 0.6, 3);
    for (const Mode mode : {Mode::region, Mode::pixel})
      for (std::int64_t k : {1, 2})
        for (std::int64_t points : {1, 9, 10, 40, 391}) {
          SCOPED_TRACE(::testing::Message()
                       << "seed " << seed << " mode " << static_cast<int>(mode) << " k " << k << " points " << points);
          expect_matches(S::RipuSampler{mode, points, k}.select(m.p1, m.p2), reference(m, mode, points, k));
        }
  }
  const auto s = smooth_maps(2, 19, 20, 21, 2);
  for (const Mode mode : {Mode::region, Mode::pixel})
    expect_matches(S::RipuSampler{mode, 45, 1}.select(s.p1, s.p2), reference(s, mode, 45, 1));
}

TEST(Ripu, RegionModeLabelsDisjointWholeWindows) {
  const auto m = smooth_maps(1, 7, 30, 40, 9);
  const auto q = S::RipuSampler{Mode::region, 90, 1}.select(m.p1, m.p2);  // ⌈90/9⌉ = 10 windows
  const auto& px = q.images[0].pixels;
  EXPECT_EQ(q.strategy, "ripu_region");
  EXPECT_TRUE(std::adjacent_find(px.begin(), px.end()) == px.end());  // no pixel twice
  EXPECT_LE(px.size(), 90u);
  EXPECT_GE(px.size(), 40u);  // ten windows, each with at least 4 pixels even in a corner
  // Every selected pixel has its window's other pixels of the same region around it: count the
  // pixels with all 8 neighbours selected (window centres away from the border).
  std::vector<std::uint8_t> sel(30 * 40, 0);
  for (auto p : px) sel[static_cast<std::size_t>(p)] = 1;
  for (auto p : px) {
    std::int64_t around = 0;
    for (std::int64_t dy = -1; dy <= 1; ++dy)
      for (std::int64_t dx = -1; dx <= 1; ++dx) {
        const std::int64_t y = p / 40 + dy, x = p % 40 + dx;
        around += y >= 0 && y < 30 && x >= 0 && x < 40 && sel[static_cast<std::size_t>(y * 40 + x)];
      }
    EXPECT_GE(around, 4);  // a pixel of a 3×3 block (clipped at most to 2×2) sees ≥ 4 of it
  }
}

TEST(Ripu, PrefersUncertainClassBoundaries) {
  // Left half class 0, right half class 1, every pixel equally uncertain: only windows across the
  // boundary are impure, so both modes pick pixels next to it.
  const std::int64_t h = 16, w = 20;
  Maps m{Tensor<float>(Shape{1, 2, h, w}), Tensor<float>(Shape{1, 2, h, w})};
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) {
      const float hi = 0.7f, lo = 0.3f;
      const bool left = x < w / 2;
      m.p1[0 * h * w + y * w + x] = m.p2[0 * h * w + y * w + x] = left ? hi : lo;
      m.p1[1 * h * w + y * w + x] = m.p2[1 * h * w + y * w + x] = left ? lo : hi;
    }
  for (const Mode mode : {Mode::region, Mode::pixel}) {
    const auto q = S::RipuSampler{mode, 5, 1}.select(m.p1, m.p2);
    ASSERT_FALSE(q.images[0].pixels.empty());
    for (auto p : q.images[0].pixels) EXPECT_LE(std::abs(p % w - w / 2 + 0.5), 2.5) << p;
  }
}

TEST(Ripu, ExclusionIsNeverSelectedAndMatchesReference) {
  const auto m = palette_maps(4, 4, 14, 19, 7, 0.5, 3);
  const auto mask = labor::testing::exclusion_mask(4, 14, 19, 8);
  for (const Mode mode : {Mode::region, Mode::pixel})
    for (std::int64_t points : {9, 60}) {
      SCOPED_TRACE(points);
      const auto q = S::RipuSampler{mode, points, 1}.select(m.p1, m.p2, mask);
      expect_matches(q, reference(m, mode, points, 1, &mask));
      for (std::size_t i = 0; i < q.images.size(); ++i)
        for (auto p : q.images[i].pixels) EXPECT_EQ(mask[static_cast<std::int64_t>(i) * 14 * 19 + p], 0);
      EXPECT_TRUE(q.images[1].pixels.empty());  // image 1 excludes everything
    }
  // An empty exclusion is the two-argument select.
  expect_same(S::RipuSampler{Mode::region, 30}.select(m.p1, m.p2, S::exclude_nothing<labor::cpu>()),
              S::RipuSampler{Mode::region, 30}.select(m.p1, m.p2));
}

TEST(Ripu, SameOnEverySystemAndThreadCount) {
  const auto m = palette_maps(2, 6, 37, 41, 12, 0.5, 4);
  const labor::TensorView<const float> p1 = m.p1, p2 = m.p2;
  for (const Mode mode : {Mode::region, Mode::pixel}) {
    const S::RipuSampler s{mode, 50, 2};
    const auto a = s.select(thrust::omp::par, p1, p2);
    expect_same(a, s.select(thrust::cpp::par, p1, p2));
    const int threads = labor::num_threads();
    labor::set_num_threads(1);
    const auto one = s.select(p1, p2);
    labor::set_num_threads(threads);
    expect_same(a, one);
  }
  // A C×H×W map is one image.
  const auto b = palette_maps(1, 4, 10, 12, 3, 0.3);
  expect_same(S::RipuSampler{Mode::pixel, 7}.select(b.p1.view().reshaped(Shape{4, 10, 12}),
                                                    b.p2.view().reshaped(Shape{4, 10, 12})),
              S::RipuSampler{Mode::pixel, 7}.select(b.p1, b.p2));
}

TEST(Ripu, BadInputIsALaborError) {
  const auto m = palette_maps(1, 3, 6, 7, 2);
  expect_error([&] { (void)S::RipuSampler{Mode::region, 0}.select(m.p1, m.p2); }, {"ripu_region", "points", "0"});
  expect_error([&] { (void)S::RipuSampler{Mode::pixel, 43}.select(m.p1, m.p2); }, {"ripu_pixel", "points", "42"});
  expect_error([&] { (void)S::RipuSampler(Mode::region, 5, 0).select(m.p1, m.p2); }, {"ripu_region", "radius", "0"});
  expect_error([&] { (void)S::RipuSampler(Mode::region, 5, 65).select(m.p1, m.p2); }, {"radius", "65"});
  auto bad = m.p2;
  bad[5] = -0.25f;
  expect_error([&] { (void)S::RipuSampler{Mode::region, 5}.select(m.p1, bad); }, {"ripu_region", "p2", "-0.25"});
  Tensor<float> other(Shape{1, 3, 6, 8});
  expect_error([&] { (void)S::RipuSampler{Mode::region, 5}.select(m.p1, other); }, {"ripu_region", "p2 shape"});
  Tensor<std::uint8_t> mask(Shape{1, 6, 8});
  expect_error([&] { (void)S::RipuSampler{Mode::region, 5}.select(m.p1, m.p2, mask); }, {"ripu_region", "exclude"});
}

}  // namespace
