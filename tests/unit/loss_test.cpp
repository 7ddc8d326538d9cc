// Unit tests of the loss module: gradient checks in double, values against direct formulas,
// pseudo-label thresholds against an independent implementation, and every bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <labor/loss.hpp>
#include <labor/nn/conv2d.hpp>

#include "support/errors.hpp"
#include "support/gradcheck.hpp"

namespace {

using labor::testing::expect_error;

using labor::Error;
using labor::Rng;
using labor::Shape;
using labor::Tensor;
namespace loss = labor::loss;

Tensor<double> random_normal(Shape shape, std::uint64_t seed, double stddev = 1.0) {
  Tensor<double> t(shape);
  Rng rng(seed);
  labor::fill_normal(t.view(), rng, 0.0, stddev);
  return t;
}

Tensor<std::int32_t> labels_from(Shape shape, std::vector<std::int32_t> values) {
  return Tensor<std::int32_t>::from(shape, std::span<const std::int32_t>(values));
}

// Softmax of pixel (n, y, x) of an N×C×H×W tensor, computed directly.
std::vector<double> softmax_at(const Tensor<double>& x, std::int64_t n, std::int64_t y, std::int64_t xx) {
  const std::int64_t c = x.size(1);
  std::vector<double> p(static_cast<std::size_t>(c));
  double m = -std::numeric_limits<double>::infinity(), s = 0;
  for (std::int64_t k = 0; k < c; ++k) m = std::max(m, x(n, k, y, xx));
  for (std::int64_t k = 0; k < c; ++k) s += p[static_cast<std::size_t>(k)] = std::exp(x(n, k, y, xx) - m);
  for (auto& v : p) v /= s;
  return p;
}

// Labels 0..C-1 in a pattern with some pixels set to `ignore`.
Tensor<std::int32_t> pattern_labels(Shape shape, int classes, std::int32_t ignore, int ignore_every) {
  Tensor<std::int32_t> y(shape);
  for (std::int64_t i = 0; i < y.numel(); ++i)
    y[i] = (ignore_every > 0 && i % ignore_every == 2) ? ignore : static_cast<std::int32_t>((i * 7 + 3) % classes);
  return y;
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy

TEST(CrossEntropy, ValueIsMeanNllOverValidPixels) {
  const Tensor<double> x = random_normal(Shape{2, 4, 3, 5}, 1, 2.0);
  const Tensor<std::int32_t> y = pattern_labels(Shape{2, 3, 5}, 4, 255, 4);
  double sum = 0;
  int count = 0;
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t r = 0; r < 3; ++r)
      for (std::int64_t c = 0; c < 5; ++c) {
        if (y(n, r, c) == 255) continue;
        sum -= std::log(softmax_at(x, n, r, c)[static_cast<std::size_t>(y(n, r, c))]);
        ++count;
      }
  ASSERT_LT(count, 30);
  const auto res = loss::cross_entropy(x, y);
  EXPECT_NEAR(res.value, sum / count, 1e-12);
  // The gradient at a pixel is (softmax − onehot) / count; zero at ignored pixels.
  const auto p = softmax_at(x, 1, 2, 4);
  for (std::int64_t k = 0; k < 4; ++k) {
    const double expected = y(1, 2, 4) == 255 ? 0.0 : (p[static_cast<std::size_t>(k)] - (k == y(1, 2, 4))) / count;
    EXPECT_NEAR(res.grad(1, k, 2, 4), expected, 1e-14);
  }
  for (std::int64_t k = 0; k < 4; ++k) EXPECT_EQ(res.grad(0, k, 0, 2), 0.0) << "ignored pixel (0, 0, 2)";
}

TEST(CrossEntropy, GradientWithIgnoredPixels) {
  Tensor<double> x = random_normal(Shape{2, 5, 3, 4}, 2, 1.5);
  const Tensor<std::int32_t> y = pattern_labels(Shape{2, 3, 4}, 5, 255, 3);
  const auto res = loss::cross_entropy(x, y);
  labor::testing::expect_gradient("cross_entropy", x.view(), res.grad.view(),
                                  [&] { return loss::cross_entropy(x, y).value; });
}

TEST(CrossEntropy, GradientWithClassWeights) {
  Tensor<double> x = random_normal(Shape{2, 4, 3, 3}, 3, 1.5);
  const Tensor<std::int32_t> y = pattern_labels(Shape{2, 3, 3}, 4, 255, 5);
  const loss::CrossEntropyOptions opt{.class_weights = {0.5, 2.0, 1.0, 3.0}};
  const auto res = loss::cross_entropy(x, y, opt);
  labor::testing::expect_gradient("weighted cross_entropy", x.view(), res.grad.view(),
                                  [&] { return loss::cross_entropy(x, y, opt).value; });
}

TEST(CrossEntropy, WeightedValueIsWeightedMean) {
  const Tensor<double> x = random_normal(Shape{1, 3, 2, 3}, 4);
  const Tensor<std::int32_t> y = labels_from(Shape{1, 2, 3}, {0, 1, 2, 255, 1, 1});
  const std::vector<double> w = {0.5, 2.0, 4.0};
  double num = 0, den = 0;
  for (std::int64_t r = 0; r < 2; ++r)
    for (std::int64_t c = 0; c < 3; ++c) {
      const auto label = y(0, r, c);
      if (label == 255) continue;
      num -= w[static_cast<std::size_t>(label)] * std::log(softmax_at(x, 0, r, c)[static_cast<std::size_t>(label)]);
      den += w[static_cast<std::size_t>(label)];
    }
  EXPECT_NEAR(loss::cross_entropy(x, y, {.class_weights = w}).value, num / den, 1e-12);
}

TEST(CrossEntropy, IgnoreIndexInsideClassRange) {
  const Tensor<double> x = random_normal(Shape{1, 3, 1, 4}, 5);
  const Tensor<std::int32_t> y = labels_from(Shape{1, 1, 4}, {0, 1, 2, 0});
  const auto res = loss::cross_entropy(x, y, {.ignore_index = 0});
  const double expected = -(std::log(softmax_at(x, 0, 0, 1)[1]) + std::log(softmax_at(x, 0, 0, 2)[2])) / 2;
  EXPECT_NEAR(res.value, expected, 1e-12);
  for (std::int64_t k = 0; k < 3; ++k) EXPECT_EQ(res.grad(0, k, 0, 3), 0.0);
}

TEST(CrossEntropy, AllPixelsIgnoredGivesZeroValueAndGradient) {
  const Tensor<double> x = random_normal(Shape{2, 3, 2, 2}, 6);
  const auto y = Tensor<std::int32_t>::full(Shape{2, 2, 2}, 255);
  const auto res = loss::cross_entropy(x, y);
  EXPECT_EQ(res.value, 0.0);
  for (double g : res.grad.span()) EXPECT_EQ(g, 0.0);
}

TEST(CrossEntropy, StableForLargeLogits) {
  Tensor<float> x(Shape{1, 2, 1, 2});
  x(0, 0, 0, 0) = 1000.f;
  x(0, 1, 0, 0) = -1000.f;
  x(0, 0, 0, 1) = 80.f;
  x(0, 1, 0, 1) = 90.f;
  const auto y = labels_from(Shape{1, 1, 2}, {1, 1});
  const auto res = loss::cross_entropy(x, y);
  EXPECT_NEAR(res.value, (2000.0 + std::log1p(std::exp(-10.0))) / 2, 1e-3);
  for (float g : res.grad.span()) EXPECT_TRUE(std::isfinite(g));
}

TEST(CrossEntropy, FloatMatchesDouble) {
  const Tensor<double> xd = random_normal(Shape{2, 19, 33, 47}, 7, 3.0);
  Tensor<float> xf(xd.shape());
  for (std::int64_t i = 0; i < xd.numel(); ++i) xf[i] = static_cast<float>(xd[i]);
  const auto y = pattern_labels(Shape{2, 33, 47}, 19, 255, 7);
  const auto rd = loss::cross_entropy(xd, y);
  const auto rf = loss::cross_entropy(xf, y);
  EXPECT_NEAR(rf.value, rd.value, 1e-5 * rd.value);
  double err = 0;
  for (std::int64_t i = 0; i < xd.numel(); ++i) err = std::max(err, std::abs(rf.grad[i] - rd.grad[i]));
  EXPECT_LT(err, 1e-9);
}

TEST(CrossEntropy, LabelTooLargeNamesValueAndPosition) {
  const Tensor<double> x = random_normal(Shape{1, 19, 4, 6}, 8);
  auto y = pattern_labels(Shape{1, 4, 6}, 19, 255, 0);
  y(0, 3, 5) = 23;
  expect_error([&] { (void)loss::cross_entropy(x, y); },
               {"cross_entropy", "label", "(n=0, y=3, x=5)", "19", "255", "23"});
}

TEST(CrossEntropy, NegativeLabelIsAnError) {
  const Tensor<double> x = random_normal(Shape{2, 3, 2, 2}, 9);
  auto y = pattern_labels(Shape{2, 2, 2}, 3, 255, 0);
  y(1, 0, 1) = -1;
  expect_error([&] { (void)loss::cross_entropy(x, y); }, {"label", "(n=1, y=0, x=1)", "-1"});
}

TEST(CrossEntropy, NonFiniteLogitsAreErrors) {
  const auto y = pattern_labels(Shape{1, 2, 2}, 3, 255, 0);
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
    Tensor<double> x = random_normal(Shape{1, 3, 2, 2}, 10);
    x(0, 2, 1, 0) = bad;
    expect_error([&] { (void)loss::cross_entropy(x, y); },
                 {"cross_entropy", "logits", "(n=0, c=2, y=1, x=0)", "finite"});
  }
  // Also at an ignored pixel.
  Tensor<double> x = random_normal(Shape{1, 3, 2, 2}, 10);
  x(0, 0, 0, 0) = std::numeric_limits<double>::quiet_NaN();
  const auto ignored = Tensor<std::int32_t>::full(Shape{1, 2, 2}, 255);
  expect_error([&] { (void)loss::cross_entropy(x, ignored); }, {"logits", "finite"});
}

TEST(CrossEntropy, EmptyBatchIsAnError) {
  const Tensor<double> x(Shape{0, 3, 2, 2});
  const Tensor<std::int32_t> y(Shape{0, 2, 2});
  expect_error([&] { (void)loss::cross_entropy(x, y); }, {"cross_entropy", "logits", "non-empty"});
}

TEST(CrossEntropy, ShapeMismatchesAreErrors) {
  const Tensor<double> x = random_normal(Shape{2, 3, 4, 4}, 11);
  expect_error(
      [&] {
        (void)loss::cross_entropy(x, Tensor<std::int32_t>(Shape{2, 4, 5}));
      },
      {"labels shape", "[2, 4, 4]", "[2, 4, 5]"});
  expect_error([&] { (void)loss::cross_entropy(x, Tensor<std::int32_t>(Shape{1, 4, 4})); }, {"labels shape"});
  expect_error(
      [&] {
        (void)loss::cross_entropy(Tensor<double>(Shape{3, 4, 4}), Tensor<std::int32_t>(Shape{3, 4, 4}));
      },
      {"logits", "rank 4"});
}

TEST(CrossEntropy, BadClassWeightsAreErrors) {
  const Tensor<double> x = random_normal(Shape{1, 3, 2, 2}, 12);
  const auto y = pattern_labels(Shape{1, 2, 2}, 3, 255, 0);
  expect_error([&] { (void)loss::cross_entropy(x, y, {.class_weights = {1.0, 2.0}}); }, {"class_weights", "3", "2"});
  expect_error([&] { (void)loss::cross_entropy(x, y, {.class_weights = {1.0, -2.0, 1.0}}); }, {"class_weights[1]"});
}

// ---------------------------------------------------------------------------------------------
// BCE with logits

double bce_reference(double x, double t) {
  return -(t * std::log(1 / (1 + std::exp(-x))) + (1 - t) * std::log(1 - 1 / (1 + std::exp(-x))));
}

TEST(BceWithLogits, ConstantTargetValueAndGradient) {
  Tensor<double> x = random_normal(Shape{2, 1, 3, 4}, 20, 2.0);
  for (double t : {0.0, 1.0, 0.3}) {
    double expected = 0;
    for (double v : x.span()) expected += bce_reference(v, t);
    const auto res = loss::bce_with_logits(x, t);
    EXPECT_NEAR(res.value, expected / static_cast<double>(x.numel()), 1e-12);
    labor::testing::expect_gradient("bce constant " + std::to_string(t), x.view(), res.grad.view(),
                                    [&] { return loss::bce_with_logits(x, t).value; });
  }
}

TEST(BceWithLogits, MapTargetGradient) {
  Tensor<double> x = random_normal(Shape{2, 1, 3, 4}, 21, 2.0);
  Tensor<double> t(x.shape());
  Rng rng(22);
  labor::fill_uniform(t.view(), rng);
  double expected = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) expected += bce_reference(x[i], t[i]);
  const auto res = loss::bce_with_logits(x, t);
  EXPECT_NEAR(res.value, expected / static_cast<double>(x.numel()), 1e-12);
  labor::testing::expect_gradient("bce map", x.view(), res.grad.view(),
                                  [&] { return loss::bce_with_logits(x, t).value; });
}

TEST(BceWithLogits, StableForLargeLogits) {
  const auto x = Tensor<float>::from(Shape{4}, {200.f, -200.f, 50.f, -50.f});
  const auto zero = loss::bce_with_logits(x, 0.f);
  EXPECT_NEAR(zero.value, (200.0 + 0.0 + 50.0 + std::log1p(std::exp(-50.0))) / 4, 1e-4);
  const auto one = loss::bce_with_logits(x, 1.0f);
  EXPECT_NEAR(one.value, (0.0 + 200.0 + 0.0 + 50.0) / 4, 1e-4);
  for (float g : one.grad.span()) EXPECT_TRUE(std::isfinite(g));
  EXPECT_NEAR(one.grad[1], -0.25f, 1e-7);
}

TEST(BceWithLogits, BadInputsAreErrors) {
  Tensor<double> x = random_normal(Shape{1, 1, 2, 2}, 23);
  expect_error(
      [&] {
        (void)loss::bce_with_logits(x, Tensor<double>(Shape{1, 1, 2, 3}));
      },
      {"target shape", "[1, 1, 2, 3]"});
  expect_error([&] { (void)loss::bce_with_logits(Tensor<double>(Shape{0, 1, 2, 2}), 1.0); }, {"logits", "non-empty"});
  expect_error([&] { (void)loss::bce_with_logits(x, std::numeric_limits<double>::quiet_NaN()); }, {"target", "finite"});
  Tensor<double> t(x.shape());
  t[3] = std::numeric_limits<double>::infinity();
  expect_error([&] { (void)loss::bce_with_logits(x, t); }, {"target", "(n=0, c=0, y=1, x=1)"});
  x[1] = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { (void)loss::bce_with_logits(x, 0.0); },
               {"bce_with_logits", "logits", "(n=0, c=0, y=0, x=1)", "finite"});
  // A bad logit is reported before a bad target.
  expect_error([&] { (void)loss::bce_with_logits(x, t); }, {"bce_with_logits", "logits", "(n=0, c=0, y=0, x=1)"});
}

// ---------------------------------------------------------------------------------------------
// Discrepancy

TEST(Discrepancy, ValueIsMeanAbsoluteSoftmaxDifference) {
  const Tensor<double> a = random_normal(Shape{2, 3, 2, 3}, 30);
  const Tensor<double> b = random_normal(Shape{2, 3, 2, 3}, 31);
  double sum = 0;
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t r = 0; r < 2; ++r)
      for (std::int64_t c = 0; c < 3; ++c) {
        const auto pa = softmax_at(a, n, r, c), pb = softmax_at(b, n, r, c);
        for (std::size_t k = 0; k < 3; ++k) sum += std::abs(pa[k] - pb[k]);
      }
  EXPECT_NEAR(loss::discrepancy(a, b).value, sum / static_cast<double>(a.numel()), 1e-14);
}

TEST(Discrepancy, GradientsOfBothInputs) {
  Tensor<double> a = random_normal(Shape{2, 4, 3, 3}, 32, 1.5);
  Tensor<double> b = random_normal(Shape{2, 4, 3, 3}, 33, 1.5);
  const auto res = loss::discrepancy(a, b);
  labor::testing::expect_gradient("discrepancy a", a.view(), res.grad_a.view(),
                                  [&] { return loss::discrepancy(a, b).value; });
  labor::testing::expect_gradient("discrepancy b", b.view(), res.grad_b.view(),
                                  [&] { return loss::discrepancy(a, b).value; });
}

TEST(Discrepancy, IdenticalInputsGiveZeroSubgradient) {
  const Tensor<double> a = random_normal(Shape{1, 3, 2, 2}, 34);
  const auto res = loss::discrepancy(a, a);
  EXPECT_EQ(res.value, 0.0);
  for (double g : res.grad_a.span()) EXPECT_EQ(g, 0.0);
  for (double g : res.grad_b.span()) EXPECT_EQ(g, 0.0);
}

TEST(Discrepancy, ProbabilitiesVersion) {
  Tensor<double> p = Tensor<double>::from(Shape{1, 2, 1, 2}, {0.2, 0.5, 0.8, 0.5});
  Tensor<double> q = Tensor<double>::from(Shape{1, 2, 1, 2}, {0.6, 0.5, 0.4, 0.5});
  const auto res = loss::discrepancy_probs(p, q);
  EXPECT_NEAR(res.value, (0.4 + 0.0 + 0.4 + 0.0) / 4, 1e-15);
  const std::vector<double> ga = {-0.25, 0.0, 0.25, 0.0};
  for (std::int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(res.grad_a[i], ga[static_cast<std::size_t>(i)]);
    EXPECT_EQ(res.grad_b[i], -ga[static_cast<std::size_t>(i)]);
  }
  // Same value as the logit version on log-probabilities.
  Tensor<double> la(p.shape()), lb(q.shape());
  for (std::int64_t i = 0; i < 4; ++i) {
    la[i] = std::log(p[i]) + 3.0;
    lb[i] = std::log(q[i]) - 1.0;
  }
  EXPECT_NEAR(loss::discrepancy(la, lb).value, res.value, 1e-14);
}

TEST(Discrepancy, BadInputsAreErrors) {
  Tensor<double> a = random_normal(Shape{1, 3, 2, 2}, 35);
  Tensor<double> b = random_normal(Shape{1, 3, 2, 2}, 36);
  expect_error(
      [&] {
        (void)loss::discrepancy(a, Tensor<double>(Shape{1, 4, 2, 2}));
      },
      {"logits_b shape", "[1, 4, 2, 2]"});
  expect_error(
      [&] {
        (void)loss::discrepancy(Tensor<double>(Shape{0, 3, 2, 2}), Tensor<double>(Shape{0, 3, 2, 2}));
      },
      {"non-empty"});
  expect_error([&] { (void)loss::discrepancy_probs(a, Tensor<double>(Shape{3, 2, 2})); }, {"probs_b shape"});
  b(0, 1, 1, 1) = -std::numeric_limits<double>::infinity();
  expect_error([&] { (void)loss::discrepancy(a, b); }, {"logits_b", "(n=0, c=1, y=1, x=1)"});
  expect_error([&] { (void)loss::discrepancy_probs(a, b); }, {"probs_b", "(n=0, c=1, y=1, x=1)"});
  a(0, 0, 0, 1) = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { (void)loss::discrepancy(a, b); }, {"logits_a", "(n=0, c=0, y=0, x=1)"});
}

// ---------------------------------------------------------------------------------------------
// Entropy

TEST(Entropy, MapOfUniformOneHotAndMixed) {
  Tensor<double> p(Shape{1, 4, 1, 3});
  for (std::int64_t c = 0; c < 4; ++c) p(0, c, 0, 0) = 0.25;
  p(0, 2, 0, 1) = 1.0;
  p(0, 0, 0, 2) = 0.5;
  p(0, 3, 0, 2) = 0.5;
  const Tensor<double> e = loss::entropy_map(p);
  ASSERT_EQ(e.shape(), Shape({1, 1, 3}));
  EXPECT_NEAR(e(0, 0, 0), std::log(4.0), 1e-15);
  EXPECT_EQ(e(0, 0, 1), 0.0);
  EXPECT_NEAR(e(0, 0, 2), std::log(2.0), 1e-15);
}

TEST(Entropy, LossValueAndGradient) {
  Tensor<double> x = random_normal(Shape{2, 5, 2, 3}, 40, 2.0);
  const auto res = loss::entropy_loss(x);
  double sum = 0;
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t r = 0; r < 2; ++r)
      for (std::int64_t c = 0; c < 3; ++c)
        for (double v : softmax_at(x, n, r, c)) sum -= v * std::log(v);
  EXPECT_NEAR(res.value, sum / 12, 1e-13);
  labor::testing::expect_gradient("entropy_loss", x.view(), res.grad.view(),
                                  [&] { return loss::entropy_loss(x).value; });
}

TEST(Entropy, BadInputsAreErrors) {
  Tensor<double> p(Shape{1, 2, 2, 2});
  p.fill(0.5);
  p(0, 1, 1, 0) = -0.1;
  expect_error([&] { (void)loss::entropy_map(p); }, {"entropy_map", "(n=0, c=1, y=1, x=0)", "-0.1"});
  expect_error([&] { (void)loss::entropy_map(Tensor<double>(Shape{2, 2, 2})); }, {"rank 4"});
  Tensor<double> x(Shape{1, 2, 2, 2});
  x[5] = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { (void)loss::entropy_loss(x); }, {"entropy_loss", "logits", "finite"});
}

// ---------------------------------------------------------------------------------------------
// Maps spanning several pixel tiles (with a partial last tile per image) and two images.

TEST(Losses, MultiTileMapsMatchDirectFormulas) {
  const Shape shape{2, 5, 37, 41};
  Tensor<double> a = random_normal(shape, 60, 2.0);
  Tensor<double> b = random_normal(shape, 61, 2.0);
  const auto y = pattern_labels(Shape{2, 37, 41}, 5, 255, 6);
  double ce = 0, dis = 0, ent = 0;
  int valid = 0;
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t r = 0; r < 37; ++r)
      for (std::int64_t c = 0; c < 41; ++c) {
        const auto pa = softmax_at(a, n, r, c), pb = softmax_at(b, n, r, c);
        if (y(n, r, c) != 255) {
          ce -= std::log(pa[static_cast<std::size_t>(y(n, r, c))]);
          ++valid;
        }
        for (std::size_t k = 0; k < 5; ++k) {
          dis += std::abs(pa[k] - pb[k]);
          ent -= pa[k] * std::log(pa[k]);
        }
      }
  const auto rc = loss::cross_entropy(a, y);
  const auto rd = loss::discrepancy(a, b);
  const auto re = loss::entropy_loss(a);
  EXPECT_NEAR(rc.value, ce / valid, 1e-12);
  EXPECT_NEAR(rd.value, dis / static_cast<double>(a.numel()), 1e-14);
  EXPECT_NEAR(re.value, ent / (2 * 37 * 41), 1e-12);
  using labor::testing::expect_gradient;
  constexpr std::int64_t checks = 64;
  expect_gradient(
      "cross_entropy", a.view(), rc.grad.view(), [&] { return loss::cross_entropy(a, y).value; }, 1e-6, 1e-9, 1e-5,
      checks);
  expect_gradient(
      "discrepancy a", a.view(), rd.grad_a.view(), [&] { return loss::discrepancy(a, b).value; }, 1e-6, 1e-9, 1e-5,
      checks);
  expect_gradient(
      "discrepancy b", b.view(), rd.grad_b.view(), [&] { return loss::discrepancy(a, b).value; }, 1e-6, 1e-9, 1e-5,
      checks);
  expect_gradient(
      "entropy_loss", a.view(), re.grad.view(), [&] { return loss::entropy_loss(a).value; }, 1e-6, 1e-9, 1e-5, checks);
  // entropy_map over the same tiles.
  Tensor<double> p(shape);
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t r = 0; r < 37; ++r)
      for (std::int64_t c = 0; c < 41; ++c) {
        const auto pa = softmax_at(a, n, r, c);
        for (std::int64_t k = 0; k < 5; ++k) p(n, k, r, c) = pa[static_cast<std::size_t>(k)];
      }
  const auto e = loss::entropy_map(p);
  double total = 0;
  for (double v : e.span()) total += v;
  EXPECT_NEAR(total / static_cast<double>(e.numel()), re.value, 1e-12);
}

// ---------------------------------------------------------------------------------------------
// Pseudo-labels

// numpy.percentile(values, q) with the default linear method, by a full sort.
double numpy_percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// Probabilities N×C×H×W from random logits; a few pixels set to exact ties.
Tensor<double> pseudo_probs(std::uint64_t seed, int classes, bool absent_last_class) {
  const Shape shape{2, classes, 6, 7};
  Tensor<double> x = random_normal(shape, seed, 2.5);
  if (absent_last_class)
    for (std::int64_t n = 0; n < 2; ++n)
      for (std::int64_t r = 0; r < 6; ++r)
        for (std::int64_t c = 0; c < 7; ++c) x(n, classes - 1, r, c) = -50.0;
  Tensor<double> p(shape);
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t r = 0; r < 6; ++r)
      for (std::int64_t c = 0; c < 7; ++c) {
        const auto s = softmax_at(x, n, r, c);
        for (int k = 0; k < classes; ++k) p(n, k, r, c) = s[static_cast<std::size_t>(k)];
      }
  // Ties: (0.4, 0.4, 0.2, 0...) belongs to class 0; (0, 0.45, 0.45, 0.1...) to class 1.
  for (int k = 0; k < classes; ++k) {
    p(0, k, 0, 0) = k == 0 || k == 1 ? 0.4 : (k == 2 ? 0.2 : 0.0);
    p(1, k, 5, 6) = k == 1 || k == 2 ? 0.45 : (k == 3 ? 0.1 : 0.0);
  }
  return p;
}

struct Reference {
  std::vector<double> thresholds;
  std::vector<std::int32_t> labels;
};

Reference reference_update(const Tensor<double>& p, std::vector<double> theta, const loss::PseudoLabelOptions& o) {
  const std::int64_t n = p.size(0), classes = p.size(1), h = p.size(2), w = p.size(3);
  std::vector<std::vector<double>> conf(static_cast<std::size_t>(classes));
  std::vector<std::int32_t> arg;
  std::vector<double> best;
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t r = 0; r < h; ++r)
      for (std::int64_t c = 0; c < w; ++c) {
        std::int32_t k = 0;
        for (std::int32_t j = 1; j < classes; ++j)
          if (p(b, j, r, c) > p(b, k, r, c)) k = j;
        arg.push_back(k);
        best.push_back(p(b, k, r, c));
        conf[static_cast<std::size_t>(k)].push_back(p(b, k, r, c));
      }
  for (std::size_t k = 0; k < theta.size(); ++k) {
    if (conf[k].empty()) continue;
    const double q = 100.0 * (1.0 - o.alpha * std::pow(theta[k], o.gamma));
    theta[k] = std::min(o.momentum * theta[k] + (1 - o.momentum) * numpy_percentile(conf[k], q), o.max_threshold);
  }
  Reference ref{theta, {}};
  for (std::size_t i = 0; i < arg.size(); ++i)
    ref.labels.push_back(best[i] >= theta[static_cast<std::size_t>(arg[i])] ? arg[i] : o.ignore_index);
  return ref;
}

TEST(PseudoLabeler, ThresholdsAndLabelsAfterOneUpdate) {
  const loss::PseudoLabelOptions opt{.num_classes = 5, .alpha = 0.5, .gamma = 2.0};
  const Tensor<double> p = pseudo_probs(50, 5, /*absent_last_class=*/true);
  loss::PseudoLabeler<double> labeler(opt);
  const std::vector<double> before(5, 0.9);
  EXPECT_EQ(labeler.thresholds(), before);
  const auto ref = reference_update(p, before, opt);
  const Tensor<std::int32_t> labels = labeler.update_and_label(p);
  ASSERT_EQ(labels.shape(), Shape({2, 6, 7}));
  for (std::size_t k = 0; k < 5; ++k) EXPECT_NEAR(labeler.thresholds()[k], ref.thresholds[k], 1e-14) << "class " << k;
  EXPECT_EQ(labeler.thresholds()[4], 0.9) << "an absent class keeps its threshold";
  for (std::size_t k = 0; k < 4; ++k) EXPECT_NE(labeler.thresholds()[k], 0.9) << "class " << k;
  int labelled = 0, ignored = 0;
  for (std::int64_t i = 0; i < labels.numel(); ++i) {
    EXPECT_EQ(labels[i], ref.labels[static_cast<std::size_t>(i)]) << "pixel " << i;
    (labels[i] == 255 ? ignored : labelled)++;
  }
  EXPECT_GT(labelled, 0);
  EXPECT_GT(ignored, 0);
  // The tied pixels: class 0 (0.4 ≥ θ_0?) and class 1.
  EXPECT_EQ(labels(0, 0, 0), 0.4 >= labeler.thresholds()[0] ? 0 : 255);
  EXPECT_EQ(labels(1, 5, 6), 0.45 >= labeler.thresholds()[1] ? 1 : 255);

  // Second update from the new state, default α and γ path through label().
  const Tensor<double> p2 = pseudo_probs(51, 5, false);
  const auto ref2 = reference_update(p2, labeler.thresholds(), opt);
  labeler.update(p2);
  for (std::size_t k = 0; k < 5; ++k) EXPECT_NEAR(labeler.thresholds()[k], ref2.thresholds[k], 1e-14) << "class " << k;
  const auto again = labeler.label(p2);
  for (std::int64_t i = 0; i < again.numel(); ++i) EXPECT_EQ(again[i], ref2.labels[static_cast<std::size_t>(i)]);
}

TEST(PseudoLabeler, TiesGoToTheLowerClass) {
  // Every pixel is a tie between classes 1 and 2: only class 1 gets pixels and a new threshold.
  Tensor<double> p(Shape{1, 3, 2, 2});
  const double vals[] = {0.5, 0.45, 0.4, 0.35};  // class 0 gets 1 − 2v < v
  for (std::int64_t i = 0; i < 4; ++i) {
    p(0, 1, i / 2, i % 2) = vals[i];
    p(0, 2, i / 2, i % 2) = vals[i];
    p(0, 0, i / 2, i % 2) = 1 - 2 * vals[i];
  }
  loss::PseudoLabeler<double> labeler(
      {.num_classes = 3, .alpha = 0.2, .gamma = 8.0, .momentum = 0.9, .init_threshold = 0.4});
  const auto labels = labeler.update_and_label(p);
  const double q = 100 * (1 - 0.2 * std::pow(0.4, 8.0));
  const double expected = 0.9 * 0.4 + 0.1 * numpy_percentile({0.5, 0.45, 0.4, 0.35}, q);
  EXPECT_NEAR(labeler.thresholds()[1], expected, 1e-15);
  EXPECT_EQ(labeler.thresholds()[0], 0.4);
  EXPECT_EQ(labeler.thresholds()[2], 0.4);
  // θ_1 ≈ 0.41: 0.5 and 0.45 pass, 0.4 and 0.35 do not.
  EXPECT_EQ(labels[0], 1);
  EXPECT_EQ(labels[1], 1);
  EXPECT_EQ(labels[2], 255);
  EXPECT_EQ(labels[3], 255);
}

TEST(PseudoLabeler, ThresholdsAreClippedBelowOne) {
  Tensor<float> p(Shape{1, 2, 1, 3});
  for (std::int64_t x = 0; x < 3; ++x) p(0, 0, 0, x) = 1.0f;
  loss::PseudoLabeler<float> labeler({.num_classes = 2, .ignore_index = -1});
  labeler.set_thresholds({1.0, 0.5});
  const auto labels = labeler.update_and_label(p);
  EXPECT_EQ(labeler.thresholds()[0], 0.999);
  EXPECT_EQ(labeler.thresholds()[1], 0.5);
  for (std::int64_t i = 0; i < 3; ++i) EXPECT_EQ(labels[i], 0);
  // A custom clip.
  loss::PseudoLabeler<float> tight({.num_classes = 2, .max_threshold = 0.95});
  for (int k = 0; k < 40; ++k) tight.update(p);
  EXPECT_EQ(tight.thresholds()[0], 0.95);
}

TEST(PseudoLabeler, LabelDoesNotUpdate) {
  const Tensor<double> p = pseudo_probs(52, 4, false);
  loss::PseudoLabeler<double> labeler({.num_classes = 4, .ignore_index = 99});
  labeler.set_thresholds({0.3, 0.6, 0.9, 0.5});
  const auto labels = labeler.label(p);
  EXPECT_EQ(labeler.thresholds(), std::vector<double>({0.3, 0.6, 0.9, 0.5}));
  const std::vector<double> th = {0.3, 0.6, 0.9, 0.5};
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t r = 0; r < 6; ++r)
      for (std::int64_t c = 0; c < 7; ++c) {
        std::int32_t k = 0;
        for (std::int32_t j = 1; j < 4; ++j)
          if (p(n, j, r, c) > p(n, k, r, c)) k = j;
        EXPECT_EQ(labels(n, r, c), p(n, k, r, c) >= th[static_cast<std::size_t>(k)] ? k : 99);
      }
}

TEST(PseudoLabeler, LargeBatchMatchesReference) {
  // Enough pixels for the parallel bucketing path (several parts).
  const Shape shape{2, 3, 256, 300};
  Tensor<double> x = random_normal(shape, 53, 2.0);
  Tensor<double> p(shape);
  const std::int64_t plane = 256 * 300;
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t i = 0; i < plane; ++i) {
      double m = -1e300, s = 0;
      for (int k = 0; k < 3; ++k) m = std::max(m, x[(n * 3 + k) * plane + i]);
      for (int k = 0; k < 3; ++k) s += p[(n * 3 + k) * plane + i] = std::exp(x[(n * 3 + k) * plane + i] - m);
      for (int k = 0; k < 3; ++k) p[(n * 3 + k) * plane + i] /= s;
    }
  const loss::PseudoLabelOptions opt{.num_classes = 3};
  loss::PseudoLabeler<double> labeler(opt);
  const auto ref = reference_update(p, labeler.thresholds(), opt);
  const auto labels = labeler.update_and_label(p);
  for (std::size_t k = 0; k < 3; ++k) EXPECT_NEAR(labeler.thresholds()[k], ref.thresholds[k], 1e-14);
  std::int64_t diff = 0;
  for (std::int64_t i = 0; i < labels.numel(); ++i) diff += labels[i] != ref.labels[static_cast<std::size_t>(i)];
  EXPECT_EQ(diff, 0);
}

TEST(PseudoLabeler, BadInputsAreErrors) {
  expect_error([] { loss::PseudoLabeler<float>({}); }, {"num_classes", ">= 1", "0"});
  expect_error([] { loss::PseudoLabeler<float>({.num_classes = 3, .alpha = 1.5}); }, {"alpha"});
  expect_error([] { loss::PseudoLabeler<float>({.num_classes = 3, .init_threshold = 1.0}); }, {"init_threshold"});
  loss::PseudoLabeler<double> labeler({.num_classes = 3});
  expect_error([&] { labeler.set_thresholds({0.5, 0.5}); }, {"set_thresholds", "3", "2"});
  expect_error([&] { labeler.set_thresholds({0.5, 1.5, 0.5}); }, {"thresholds[1]"});
  expect_error([&] { (void)labeler.update_and_label(Tensor<double>(Shape{1, 4, 2, 2})); }, {"num_classes", "3", "4"});
  expect_error([&] { (void)labeler.label(Tensor<double>(Shape{0, 3, 2, 2})); }, {"non-empty"});
  Tensor<double> p(Shape{1, 3, 2, 2});
  p[7] = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { labeler.update(p); }, {"probs", "(n=0, c=1, y=1, x=1)", "finite"});
  EXPECT_EQ(labeler.thresholds(), std::vector<double>(3, 0.9)) << "failed calls leave the state alone";
}

}  // namespace

namespace {

// Two-branch heads of one architecture (bias and kernel per branch) for the weight-space cosine.
struct TwoConvs {
  using value_type = double;
  using device_type = labor::cpu;
  labor::nn::Conv2d<double> a{{.in_channels = 3, .out_channels = 4, .kernel_size = 3, .padding = 1}};
  labor::nn::Conv2d<double> b{{.in_channels = 3, .out_channels = 4, .kernel_size = 1}};
  Tensor<double> forward(const Tensor<double>& x) { return x; }
  Tensor<double> backward(const Tensor<double>& g) { return g; }
  void set_training(bool) {}
  template <class V>
  void visit(V& v, const std::string& prefix) {
    a.visit(v, prefix + "0.");
    b.visit(v, prefix + "1.");
  }
};

TwoConvs random_convs(std::uint64_t seed) {
  Rng rng(seed);
  TwoConvs t;
  for (auto* p : {&t.a.weight().value, &t.a.bias().value, &t.b.weight().value, &t.b.bias().value})
    labor::fill_normal(p->view(), rng);
  return t;
}

}  // namespace

TEST(WeightCosine, ValueIsTheCosineOfTheConcatenatedKernels) {
  TwoConvs x = random_convs(1), y = random_convs(2);
  double dot = 0, nx = 0, ny = 0;
  for (auto [p, q] : {std::pair{&x.a.weight().value, &y.a.weight().value}, {&x.b.weight().value, &y.b.weight().value}})
    for (std::int64_t i = 0; i < p->numel(); ++i) {
      dot += (*p)[i] * (*q)[i];
      nx += (*p)[i] * (*p)[i];
      ny += (*q)[i] * (*q)[i];
    }
  EXPECT_NEAR(loss::weight_cosine(x, y), dot / std::sqrt(nx * ny), 1e-12);
  EXPECT_NEAR(loss::weight_cosine(x, x), 1.0, 1e-12);
  // Biases are not part of it.
  y.a.bias().value[0] += 100.0;
  EXPECT_NEAR(loss::weight_cosine(x, y), dot / std::sqrt(nx * ny), 1e-12);
}

TEST(WeightCosine, GradientMatchesCentralDifferences) {
  TwoConvs x = random_convs(3), y = random_convs(4);
  const double scale = 0.7;
  (void)loss::weight_cosine(x, y, scale);
  const double eps = 1e-6;
  for (auto* layer : {&x, &y})
    for (auto* p : {&layer->a.weight(), &layer->b.weight(), &layer->a.bias()})
      for (std::int64_t i = 0; i < p->value.numel(); i += 5) {
        const double v = p->value[i];
        p->value[i] = v + eps;
        const double up = loss::weight_cosine(x, y);
        p->value[i] = v - eps;
        const double down = loss::weight_cosine(x, y);
        p->value[i] = v;
        EXPECT_NEAR(p->grad[i], scale * (up - down) / (2 * eps), 1e-7) << i;
      }
}

TEST(WeightCosine, MismatchedOrZeroWeightsAreErrors) {
  TwoConvs x = random_convs(5);
  labor::nn::Conv2d<double> other({.in_channels = 3, .out_channels = 4, .kernel_size = 3, .padding = 1});
  expect_error([&] { (void)loss::weight_cosine(x, other); }, {"weight_cosine", "weight tensors"});
  TwoConvs zero = random_convs(6);
  zero.a.weight().value.zero();
  zero.b.weight().value.zero();
  expect_error([&] { (void)loss::weight_cosine(x, zero); }, {"weight_cosine", "non-zero"});
}
