// Unit tests of the nn layers other than Conv2d: BatchNorm2d, ReLU, LeakyReLU, MaxPool2d,
// UpsampleBilinear, Softmax, Identity/Residual/add; and NoGradGuard over every layer that keeps
// something for backward (Conv2d included). Gradient checks run in double.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <labor/core.hpp>
#include <labor/nn/activation.hpp>
#include <labor/nn/batch_norm2d.hpp>
#include <labor/nn/conv2d.hpp>
#include <labor/nn/grad_mode.hpp>
#include <labor/nn/layer.hpp>
#include <labor/nn/max_pool2d.hpp>
#include <labor/nn/residual.hpp>
#include <labor/nn/sequential.hpp>
#include <labor/nn/softmax.hpp>
#include <labor/nn/upsample.hpp>

#include "support/errors.hpp"
#include "support/gradcheck.hpp"

namespace {

using labor::testing::expect_error;

using labor::Shape;
using labor::Tensor;
namespace nn = labor::nn;
using labor::testing::expect_layer_gradients;

static_assert(nn::Layer<nn::BatchNorm2d<float>>);
static_assert(nn::Layer<nn::ReLU<float>>);
static_assert(nn::Layer<nn::LeakyReLU<double>>);
static_assert(nn::Layer<nn::MaxPool2d<float>>);
static_assert(nn::Layer<nn::UpsampleBilinear<float>>);
static_assert(nn::Layer<nn::Softmax<float>>);
static_assert(nn::Layer<nn::Identity<float>>);
static_assert(nn::Layer<nn::Residual<nn::BatchNorm2d<float>>>);

Tensor<double> random_tensor(Shape s, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor<double> t(s);
  labor::Rng rng(seed);
  labor::fill_uniform(t.view(), rng, lo, hi);
  return t;
}

/// Expects `f()` to throw labor::Error whose message contains every string of `needles`.
double sum_product(const Tensor<double>& a, const Tensor<double>& b) {
  double s = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) s += a[i] * b[i];
  return s;
}

// ---------------------------------------------------------------------------------------------
// BatchNorm2d

nn::BatchNorm2d<double> make_bn(std::int64_t c, std::uint64_t seed, bool frozen = false) {
  nn::BatchNorm2d<double> bn({.num_features = c, .frozen = frozen});
  labor::Rng rng(seed);
  labor::fill_uniform(bn.weight().value.view(), rng, 0.5, 1.5);
  labor::fill_uniform(bn.bias().value.view(), rng, -0.5, 0.5);
  labor::fill_uniform(bn.running_mean().view(), rng, -0.5, 0.5);
  labor::fill_uniform(bn.running_var().view(), rng, 0.5, 2.0);
  return bn;
}

TEST(BatchNorm2d, GradientTrainingMode) {
  auto bn = make_bn(3, 1);
  auto x = random_tensor(Shape{2, 3, 4, 5}, 2, -2.0, 3.0);
  expect_layer_gradients(bn, x);
}

TEST(BatchNorm2d, GradientTrainingModeSinglePixelPlanes) {
  auto bn = make_bn(4, 3);
  auto x = random_tensor(Shape{5, 4, 1, 1}, 4);
  expect_layer_gradients(bn, x);
}

TEST(BatchNorm2d, GradientTrainingModeWithoutAffine) {
  nn::BatchNorm2d<double> bn({.num_features = 2, .affine = false});
  auto x = random_tensor(Shape{3, 2, 3, 3}, 5);
  EXPECT_TRUE(nn::named_parameters(bn).empty());
  expect_layer_gradients(bn, x);
}

TEST(BatchNorm2d, GradientEvalMode) {
  auto bn = make_bn(3, 6);
  bn.set_training(false);
  auto x = random_tensor(Shape{2, 3, 3, 4}, 7);
  expect_layer_gradients(bn, x);
}

TEST(BatchNorm2d, GradientFrozen) {
  auto bn = make_bn(3, 8, /*frozen=*/true);
  auto x = random_tensor(Shape{2, 3, 3, 4}, 9);
  expect_layer_gradients(bn, x);  // input gradient only: the parameters are not trainable
}

TEST(BatchNorm2d, TrainingForwardAndRunningStatisticsByHand) {
  // One channel, values {1, 2, 3, 6}: mean 3, biased variance 3.5, unbiased 14/3.
  nn::BatchNorm2d<double> bn({.num_features = 1, .eps = 0.0, .momentum = 0.25});
  bn.weight().value[0] = 2.0;
  bn.bias().value[0] = 0.5;
  auto x = Tensor<double>::from(Shape{2, 1, 1, 2}, {1.0, 2.0, 3.0, 6.0});
  auto y = bn.forward(x);
  const double sd = std::sqrt(3.5);
  const double expected[] = {-2.0 / sd, -1.0 / sd, 0.0, 3.0 / sd};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], 2.0 * expected[i] + 0.5, 1e-12);
  EXPECT_NEAR(bn.running_mean()[0], 0.75 * 0.0 + 0.25 * 3.0, 1e-12);
  EXPECT_NEAR(bn.running_var()[0], 0.75 * 1.0 + 0.25 * (14.0 / 3.0), 1e-12);
  // A second step blends again.
  bn.forward(x);
  EXPECT_NEAR(bn.running_mean()[0], 0.75 * 0.75 + 0.25 * 3.0, 1e-12);
  EXPECT_NEAR(bn.running_var()[0], 0.75 * (0.75 + 0.25 * 14.0 / 3.0) + 0.25 * 14.0 / 3.0, 1e-12);
}

TEST(BatchNorm2d, LargeOffsetDoesNotCancel) {
  // Values 1e6 + {−1, 1}: a naive E[x²] − E[x]² in float would lose the variance.
  nn::BatchNorm2d<float> bn({.num_features = 1, .eps = 0.0});
  auto x = Tensor<float>::from(Shape{1, 1, 2, 2}, {1e6f - 1, 1e6f + 1, 1e6f - 1, 1e6f + 1});
  auto y = bn.forward(x);
  EXPECT_NEAR(y[0], -1.0f, 1e-5f);
  EXPECT_NEAR(y[1], 1.0f, 1e-5f);
}

TEST(BatchNorm2d, EvalModeUsesRunningStatistics) {
  auto bn = make_bn(2, 10);
  bn.set_training(false);
  EXPECT_FALSE(bn.uses_batch_statistics());
  const auto rm = bn.running_mean(), rv = bn.running_var();
  auto x = random_tensor(Shape{2, 2, 2, 3}, 11);
  auto y = bn.forward(x);
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t c = 0; c < 2; ++c)
      for (std::int64_t i = 0; i < 6; ++i) {
        const std::int64_t e = (n * 2 + c) * 6 + i;
        const double ref = (x[e] - rm[c]) / std::sqrt(rv[c] + 1e-5) * bn.weight().value[c] + bn.bias().value[c];
        EXPECT_NEAR(y[e], ref, 1e-12);
      }
  for (std::int64_t c = 0; c < 2; ++c) {
    EXPECT_EQ(bn.running_mean()[c], rm[c]);
    EXPECT_EQ(bn.running_var()[c], rv[c]);
  }
  // Eval mode still gives weight and bias gradients.
  nn::zero_grad(bn);
  bn.backward(Tensor<double>::full(x.shape(), 1.0));
  EXPECT_DOUBLE_EQ(bn.bias().grad[0], 12.0);
}

TEST(BatchNorm2d, FrozenIgnoresTrainingModeAndHasNoParameterGradients) {
  auto bn = make_bn(2, 12, /*frozen=*/true);
  EXPECT_FALSE(bn.weight().trainable);
  EXPECT_FALSE(bn.bias().trainable);
  EXPECT_TRUE(nn::trainable_parameters(bn).empty());
  bn.set_training(true);
  EXPECT_FALSE(bn.uses_batch_statistics());
  const auto rm = bn.running_mean(), rv = bn.running_var();
  auto x = random_tensor(Shape{2, 2, 3, 3}, 13);
  auto y = bn.forward(x);
  auto g = random_tensor(x.shape(), 14);
  nn::zero_grad(bn);
  auto dx = bn.backward(g);
  for (std::int64_t c = 0; c < 2; ++c) {
    EXPECT_EQ(bn.running_mean()[c], rm[c]);
    EXPECT_EQ(bn.running_var()[c], rv[c]);
    EXPECT_EQ(bn.weight().grad[c], 0.0);
    EXPECT_EQ(bn.bias().grad[c], 0.0);
  }
  for (std::int64_t e = 0; e < x.numel(); ++e) {
    const std::int64_t c = (e / 9) % 2;
    const double scale = bn.weight().value[c] / std::sqrt(rv[c] + 1e-5);
    EXPECT_NEAR(y[e], (x[e] - rm[c]) * scale + bn.bias().value[c], 1e-12);
    EXPECT_NEAR(dx[e], g[e] * scale, 1e-12);
  }
}

TEST(BatchNorm2d, GradientsAccumulate) {
  auto bn = make_bn(2, 15);
  auto x = random_tensor(Shape{2, 2, 2, 2}, 16);
  auto g = random_tensor(x.shape(), 17);
  nn::zero_grad(bn);
  bn.forward(x);
  bn.backward(g);
  const auto once = bn.weight().grad;
  bn.backward(g);
  for (std::int64_t c = 0; c < 2; ++c) EXPECT_NEAR(bn.weight().grad[c], 2 * once[c], 1e-12);
}

TEST(BatchNorm2d, NamesAsPyTorch) {
  auto bn = make_bn(3, 18);
  auto params = nn::named_parameters(bn, "bn1.");
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "bn1.weight");
  EXPECT_EQ(params[1].first, "bn1.bias");
  auto buffers = nn::named_buffers(bn, "bn1.");
  ASSERT_EQ(buffers.size(), 2u);
  EXPECT_EQ(buffers[0].first, "bn1.running_mean");
  EXPECT_EQ(buffers[1].first, "bn1.running_var");
  nn::BatchNorm2d<float> fresh({.num_features = 3});
  for (std::int64_t c = 0; c < 3; ++c) {
    EXPECT_EQ(fresh.weight().value[c], 1.0f);
    EXPECT_EQ(fresh.bias().value[c], 0.0f);
    EXPECT_EQ(fresh.running_mean()[c], 0.0f);
    EXPECT_EQ(fresh.running_var()[c], 1.0f);
  }
}

TEST(BatchNorm2d, Errors) {
  expect_error([] { nn::BatchNorm2d<float> bn({.num_features = 0}); }, {"BatchNorm2d", "num_features", "got 0"});
  expect_error([] { nn::BatchNorm2d<float> bn({.num_features = 2, .momentum = 1.5}); }, {"BatchNorm2d", "momentum"});
  expect_error([] { nn::BatchNorm2d<float> bn({.num_features = 2, .eps = -1}); }, {"BatchNorm2d", "eps"});
  nn::BatchNorm2d<double> bn({.num_features = 64});
  expect_error(
      [&] {
        bn.forward(Tensor<double>(Shape{2, 32, 4, 4}));
      },
      {"BatchNorm2d: input channels: expected 64, got 32"});
  expect_error([&] { bn.forward(Tensor<double>(Shape{64, 4, 4})); }, {"BatchNorm2d", "rank", "expected 4", "got 3"});
  expect_error([&] { bn.forward(Tensor<double>(Shape{0, 64, 4, 4})); }, {"BatchNorm2d", "non-empty", "[0, 64, 4, 4]"});
  expect_error([&] { bn.forward(Tensor<double>(Shape{2, 64, 0, 4})); }, {"BatchNorm2d", "non-empty", "[2, 64, 0, 4]"});
  expect_error(
      [&] {
        bn.forward(Tensor<double>(Shape{1, 64, 1, 1}));
      },
      {"BatchNorm2d", "values per channel", "expected > 1", "got 1"});
  expect_error(
      [&] {
        bn.backward(Tensor<double>(Shape{2, 64, 4, 4}));
      },
      {"BatchNorm2d", "backward called before forward"});
  bn.forward(random_tensor(Shape{2, 64, 2, 2}, 19));
  expect_error(
      [&] {
        bn.backward(Tensor<double>(Shape{2, 64, 2, 3}));
      },
      {"BatchNorm2d", "grad_out shape", "expected [2, 64, 2, 2]", "got [2, 64, 2, 3]"});
  // In eval mode a single value per channel is fine.
  bn.set_training(false);
  EXPECT_NO_THROW(bn.forward(Tensor<double>(Shape{1, 64, 1, 1})));
}

// ---------------------------------------------------------------------------------------------
// ReLU, LeakyReLU

TEST(Activation, ReluGradient) {
  nn::ReLU<double> relu;
  auto x = random_tensor(Shape{2, 3, 4, 5}, 20);
  expect_layer_gradients(relu, x);
}

TEST(Activation, LeakyReluGradient) {
  nn::LeakyReLU<double> lrelu(0.2);
  auto x = random_tensor(Shape{2, 3, 4, 5}, 21);
  expect_layer_gradients(lrelu, x);
}

TEST(Activation, ValuesAndDerivativeAtZeroAsPyTorch) {
  auto x = Tensor<double>::from(Shape{1, 1, 1, 3}, {-2.0, 0.0, 3.0});
  auto g = Tensor<double>::full(x.shape(), 1.0);
  nn::ReLU<double> relu;
  auto y = relu.forward(x);
  auto dx = relu.backward(g);
  EXPECT_EQ(y[0], 0.0);
  EXPECT_EQ(y[2], 3.0);
  EXPECT_EQ(dx[0], 0.0);
  EXPECT_EQ(dx[1], 0.0);
  EXPECT_EQ(dx[2], 1.0);
  nn::LeakyReLU<double> lrelu;  // default slope 0.01
  EXPECT_EQ(lrelu.options().negative_slope, 0.01);
  nn::LeakyReLU<double> l2({.negative_slope = 0.2});
  y = l2.forward(x);
  dx = l2.backward(g);
  EXPECT_DOUBLE_EQ(y[0], -0.4);
  EXPECT_EQ(y[1], 0.0);
  EXPECT_EQ(y[2], 3.0);
  EXPECT_DOUBLE_EQ(dx[0], 0.2);
  EXPECT_DOUBLE_EQ(dx[1], 0.2);
  EXPECT_EQ(dx[2], 1.0);
}

TEST(Activation, Errors) {
  nn::ReLU<float> relu;
  nn::LeakyReLU<float> lrelu(0.2);
  expect_error([&] { relu.backward(Tensor<float>(Shape{1, 1, 2, 2})); }, {"ReLU", "backward called before forward"});
  expect_error(
      [&] {
        lrelu.backward(Tensor<float>(Shape{1, 1, 2, 2}));
      },
      {"LeakyReLU", "backward called before forward"});
  expect_error([&] { relu.forward(Tensor<float>(Shape{0, 1, 2, 2})); }, {"ReLU", "non-empty"});
  expect_error([&] { lrelu.forward(Tensor<float>(Shape{2, 2})); }, {"LeakyReLU", "rank", "expected 4", "got 2"});
  relu.forward(Tensor<float>(Shape{1, 1, 2, 2}));
  expect_error(
      [&] {
        relu.backward(Tensor<float>(Shape{1, 1, 2, 3}));
      },
      {"ReLU", "grad_out shape", "expected [1, 1, 2, 2]", "got [1, 1, 2, 3]"});
}

// ---------------------------------------------------------------------------------------------
// MaxPool2d

struct PoolCase {
  nn::MaxPool2dOptions options;
  Shape input;
  std::int64_t out_h, out_w;
};

TEST(MaxPool2d, GradientsAndOutputSizes) {
  const PoolCase cases[] = {
      {{.kernel_size = 2}, Shape{2, 2, 6, 5}, 3, 2},
      {{.kernel_size = 2, .ceil_mode = true}, Shape{2, 2, 5, 7}, 3, 4},
      {{.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true}, Shape{1, 3, 7, 8}, 4, 5},
      {{.kernel_size = 3, .stride = 2, .padding = 1}, Shape{1, 3, 7, 8}, 4, 4},
      {{.kernel_size = 3, .stride = 1}, Shape{2, 1, 5, 6}, 3, 4},
      {{.kernel_size = 2, .stride = 3}, Shape{1, 2, 8, 7}, 3, 2},
      // ceil_mode drops a window that would start in the right padding: H = 5, k = 3, s = 3, p = 1
      // gives ⌈4/3⌉ + 1 = 3 rounded up, but (3 − 1)·3 = 6 >= 5 + 1, so 2.
      {{.kernel_size = 3, .stride = 3, .padding = 1, .ceil_mode = true}, Shape{1, 1, 5, 5}, 2, 2},
  };
  std::uint64_t seed = 30;
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "k=" << c.options.kernel_size << " s=" << c.options.stride
                                    << " p=" << c.options.padding << " ceil=" << c.options.ceil_mode);
    nn::MaxPool2d<double> pool(c.options);
    auto x = random_tensor(c.input, seed++);  // continuous values: no ties
    auto y = pool.forward(x);
    EXPECT_EQ(y.shape(), (Shape{c.input[0], c.input[1], c.out_h, c.out_w}));
    EXPECT_EQ(nn::max_pool_output_size(c.input[2], c.options.kernel_size,
                                       c.options.stride ? c.options.stride : c.options.kernel_size, c.options.padding,
                                       c.options.ceil_mode),
              c.out_h);
    expect_layer_gradients(pool, x);
  }
}

TEST(MaxPool2d, PaddingIsMinusInfinityAndTiesGoToTheFirstMaximum) {
  nn::MaxPool2d<double> pool({.kernel_size = 2, .stride = 1, .padding = 1});
  auto x = Tensor<double>::full(Shape{1, 1, 2, 2}, -5.0);
  auto y = pool.forward(x);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  for (std::int64_t i = 0; i < 9; ++i) EXPECT_EQ(y[i], -5.0);
  auto dx = pool.backward(Tensor<double>::full(y.shape(), 1.0));
  // Window (oh, ow) covers input rows oh−1..oh and columns ow−1..ow; its first in-input element
  // takes the gradient: element (0,0) from 4 windows, (0,1) from 2, (1,0) from 2, (1,1) from 1.
  EXPECT_EQ(dx[0], 4.0);
  EXPECT_EQ(dx[1], 2.0);
  EXPECT_EQ(dx[2], 2.0);
  EXPECT_EQ(dx[3], 1.0);
  EXPECT_EQ(pool.options().stride, 1);
  nn::MaxPool2d<float> def({.kernel_size = 3});
  EXPECT_EQ(def.options().stride, 3);
}

TEST(MaxPool2d, NaNPropagatesAndInteriorPathMatchesBorderPath) {
  // Interior windows take a vectorised path, border windows a scalar one: both must agree with a
  // direct evaluation, including NaN (which wins, as in PyTorch).
  nn::MaxPool2d<double> pool({.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true});
  auto x = random_tensor(Shape{1, 2, 9, 12}, 35);
  x(0, 0, 4, 5) = std::nan("");
  x(0, 1, 0, 0) = std::nan("");
  auto y = pool.forward(x);
  ASSERT_EQ(y.shape(), (Shape{1, 2, 5, 7}));
  for (std::int64_t c = 0; c < 2; ++c)
    for (std::int64_t oh = 0; oh < 5; ++oh)
      for (std::int64_t ow = 0; ow < 7; ++ow) {
        double best = -INFINITY;
        for (std::int64_t h = std::max<std::int64_t>(0, 2 * oh - 1); h < std::min<std::int64_t>(9, 2 * oh + 2); ++h)
          for (std::int64_t w = std::max<std::int64_t>(0, 2 * ow - 1); w < std::min<std::int64_t>(12, 2 * ow + 2); ++w)
            if (x(0, c, h, w) > best || std::isnan(x(0, c, h, w))) best = x(0, c, h, w);
        if (std::isnan(best)) {
          EXPECT_TRUE(std::isnan(y(0, c, oh, ow))) << c << " " << oh << " " << ow;
        } else {
          EXPECT_EQ(y(0, c, oh, ow), best) << c << " " << oh << " " << ow;
        }
      }
}

TEST(MaxPool2d, Errors) {
  expect_error([] { nn::MaxPool2d<float> p({.kernel_size = 0}); },
               {"MaxPool2d", "kernel_size", "expected > 0", "got 0"});
  expect_error([] { nn::MaxPool2d<float> p({.kernel_size = -3}); }, {"MaxPool2d", "kernel_size", "got -3"});
  expect_error([] { nn::MaxPool2d<float> p({.kernel_size = 2, .stride = -1}); }, {"MaxPool2d", "stride", "got -1"});
  expect_error([] { nn::MaxPool2d<float> p({.kernel_size = 3, .padding = 2}); }, {"MaxPool2d", "padding", "got 2"});
  nn::MaxPool2d<float> pool({.kernel_size = 3, .stride = 2});
  expect_error(
      [&] {
        pool.backward(Tensor<float>(Shape{1, 1, 2, 2}));
      },
      {"MaxPool2d", "backward called before forward"});
  expect_error([&] { pool.forward(Tensor<float>(Shape{1, 1, 2, 5})); }, {"MaxPool2d", "input size", "2×5"});
  expect_error([&] { pool.forward(Tensor<float>(Shape{1, 0, 5, 5})); }, {"MaxPool2d", "non-empty"});
  expect_error([&] { pool.forward(Tensor<float>(Shape{5, 5})); }, {"MaxPool2d", "rank"});
  pool.forward(Tensor<float>(Shape{1, 1, 5, 5}));
  expect_error(
      [&] {
        pool.backward(Tensor<float>(Shape{1, 1, 5, 5}));
      },
      {"MaxPool2d", "grad_out shape", "expected [1, 1, 2, 2]", "got [1, 1, 5, 5]"});
}

// ---------------------------------------------------------------------------------------------
// UpsampleBilinear

TEST(UpsampleBilinear, Gradients) {
  struct Case {
    Shape input;
    std::int64_t h, w;
  };
  const Case cases[] = {{Shape{2, 2, 3, 4}, 7, 9},
                        {Shape{1, 2, 7, 9}, 3, 4},
                        {Shape{1, 1, 5, 6}, 8, 4},
                        {Shape{1, 1, 4, 4}, 1, 1},
                        {Shape{1, 1, 1, 1}, 3, 2}};
  std::uint64_t seed = 40;
  for (const auto& c : cases)
    for (bool align : {false, true}) {
      SCOPED_TRACE(testing::Message() << c.input.to_string() << " -> " << c.h << "x" << c.w << " align=" << align);
      nn::UpsampleBilinear<double> up({.out_height = c.h, .out_width = c.w, .align_corners = align});
      auto x = random_tensor(c.input, seed++);
      auto y = up.forward(x);
      EXPECT_EQ(y.shape(), (Shape{c.input[0], c.input[1], c.h, c.w}));
      expect_layer_gradients(up, x);
    }
}

TEST(UpsampleBilinear, KnownValues) {
  auto x = Tensor<double>::from(Shape{1, 1, 2, 2}, {0.0, 1.0, 2.0, 3.0});
  // align_corners=true: corners kept, interior linear.
  auto a = nn::upsample_bilinear(x, 3, 3, true);
  const double ea[] = {0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0};
  for (int i = 0; i < 9; ++i) EXPECT_DOUBLE_EQ(a[i], ea[i]);
  // align_corners=false, 2× upscale: src = (dst + ½)/2 − ½ clamped at 0 → 0, .25, .75, 1.
  auto b = nn::upsample_bilinear(x, 1, 4, false);
  // One output row: src_y = (0 + ½)·2 − ½ = ½ → average of the rows: {1, 2}.
  const double eb[] = {1.0, 1.25, 1.75, 2.0};
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(b[i], eb[i]);
  // Same size is the identity.
  auto c = nn::upsample_bilinear(x, 2, 2, false);
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(c[i], x[i]);
}

TEST(UpsampleBilinear, BackwardIsTheAdjoint) {
  for (bool align : {false, true}) {
    auto x = random_tensor(Shape{2, 3, 5, 7}, 50);
    auto g = random_tensor(Shape{2, 3, 11, 4}, 51);
    auto y = nn::upsample_bilinear(x, 11, 4, align);
    auto dx = nn::upsample_bilinear_backward(g, 5, 7, align);
    EXPECT_NEAR(sum_product(y, g), sum_product(x, dx), 1e-12);
  }
}

TEST(UpsampleBilinear, Errors) {
  expect_error([] { nn::UpsampleBilinear<float> u({.out_height = 0, .out_width = 4}); },
               {"UpsampleBilinear", "output size", "got 0×4"});
  expect_error(
      [] {
        (void)nn::upsample_bilinear(Tensor<float>(Shape{1, 1, 2, 2}), 3, 0);
      },
      {"upsample_bilinear", "output size", "got 3×0"});
  expect_error(
      [] {
        (void)nn::upsample_bilinear(Tensor<float>(Shape{1, 1, 0, 2}), 3, 3);
      },
      {"upsample_bilinear", "non-empty"});
  expect_error(
      [] {
        (void)nn::upsample_bilinear_backward(Tensor<float>(Shape{1, 1, 2, 2}), 0, 3);
      },
      {"upsample_bilinear_backward", "input size", "got 0×3"});
  expect_error(
      [] {
        (void)nn::upsample_bilinear_backward(Tensor<float>(Shape{2, 2, 2}), 3, 3);
      },
      {"upsample_bilinear_backward", "grad_out", "rank"});
  nn::UpsampleBilinear<float> up({.out_height = 4, .out_width = 6});
  expect_error(
      [&] {
        up.backward(Tensor<float>(Shape{1, 1, 4, 6}));
      },
      {"UpsampleBilinear", "backward called before forward"});
  expect_error([&] { up.forward(Tensor<float>(Shape{0, 1, 2, 2})); }, {"UpsampleBilinear", "non-empty"});
  up.forward(Tensor<float>(Shape{1, 2, 2, 3}));
  expect_error(
      [&] {
        up.backward(Tensor<float>(Shape{1, 2, 2, 3}));
      },
      {"UpsampleBilinear", "grad_out shape", "expected [1, 2, 4, 6]", "got [1, 2, 2, 3]"});
}

// ---------------------------------------------------------------------------------------------
// Softmax

TEST(Softmax, Gradient) {
  nn::Softmax<double> sm;
  auto x = random_tensor(Shape{2, 4, 3, 5}, 60, -3.0, 3.0);
  expect_layer_gradients(sm, x);
}

TEST(Softmax, SumsToOneAndIsStable) {
  // More pixels than one kernel block, and huge logits.
  auto x = random_tensor(Shape{2, 5, 17, 31}, 61, -5.0, 5.0);
  for (std::int64_t i = 0; i < x.numel(); i += 7) x[i] += 1000.0;
  auto y = nn::softmax_channels(x);
  const std::int64_t hw = 17 * 31;
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t p = 0; p < hw; ++p) {
      double s = 0, m = -1e300;
      for (std::int64_t c = 0; c < 5; ++c) m = std::max(m, x[(n * 5 + c) * hw + p]);
      double z = 0;
      for (std::int64_t c = 0; c < 5; ++c) z += std::exp(x[(n * 5 + c) * hw + p] - m);
      for (std::int64_t c = 0; c < 5; ++c) {
        const double v = y[(n * 5 + c) * hw + p];
        ASSERT_TRUE(std::isfinite(v));
        EXPECT_NEAR(v, std::exp(x[(n * 5 + c) * hw + p] - m) / z, 1e-14);
        s += v;
      }
      EXPECT_NEAR(s, 1.0, 1e-12);
    }
}

TEST(Softmax, Errors) {
  nn::Softmax<float> sm;
  expect_error([&] { sm.backward(Tensor<float>(Shape{1, 2, 2, 2})); }, {"Softmax", "backward called before forward"});
  expect_error([&] { sm.forward(Tensor<float>(Shape{1, 2, 0, 2})); }, {"Softmax", "non-empty"});
  expect_error([&] { sm.forward(Tensor<float>(Shape{2, 2})); }, {"Softmax", "rank"});
  expect_error([] { (void)nn::softmax_channels(Tensor<float>(Shape{2, 3, 4})); }, {"softmax_channels", "rank"});
  expect_error(
      [] {
        (void)nn::softmax_channels_backward(Tensor<float>(Shape{1, 2, 2, 2}), Tensor<float>(Shape{1, 3, 2, 2}));
      },
      {"softmax_channels_backward", "grad_out shape", "expected [1, 2, 2, 2]", "got [1, 3, 2, 2]"});
  sm.forward(Tensor<float>(Shape{1, 2, 2, 2}));
  expect_error([&] { sm.backward(Tensor<float>(Shape{1, 2, 2, 1})); }, {"Softmax", "grad_out shape"});
}

// ---------------------------------------------------------------------------------------------
// Residual, add, Sequential composition

/// A body that names its members as torchvision's BasicBlock (without the convolutions).
struct TwoNormBody {
  using value_type = double;
  using device_type = labor::cpu;
  nn::BatchNorm2d<double> bn1{{.num_features = 2}};
  nn::LeakyReLU<double> relu{0.2};
  nn::BatchNorm2d<double> bn2{{.num_features = 2}};

  Tensor<double> forward(const Tensor<double>& x) { return bn2.forward(relu.forward(bn1.forward(x))); }
  Tensor<double> backward(const Tensor<double>& g) { return bn1.backward(relu.backward(bn2.backward(g))); }
  void set_training(bool t) {
    bn1.set_training(t);
    bn2.set_training(t);
  }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    bn1.visit(v, prefix + "bn1.");
    bn2.visit(v, prefix + "bn2.");
  }
};

TEST(Residual, GradientIdentityShortcut) {
  nn::Residual<nn::Sequential<nn::BatchNorm2d<double>, nn::LeakyReLU<double>>> block(
      nn::Sequential<nn::BatchNorm2d<double>, nn::LeakyReLU<double>>(make_bn(3, 70), nn::LeakyReLU<double>(0.2)));
  auto x = random_tensor(Shape{2, 3, 3, 3}, 71);
  expect_layer_gradients(block, x);
  // body(x) + x
  auto y = block.forward(x);
  auto b = block.body().forward(x);
  for (std::int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(y[i], b[i] + x[i], 1e-12);
}

TEST(Residual, GradientWithShortcutAndPostAndPyTorchNames) {
  using Block = nn::Residual<TwoNormBody, nn::Sequential<nn::BatchNorm2d<double>>, nn::ReLU<double>>;
  Block block(TwoNormBody{}, nn::Sequential<nn::BatchNorm2d<double>>(make_bn(2, 72)));
  labor::Rng rng(73);
  for (auto& [name, p] : nn::named_parameters(block)) labor::fill_uniform(p->value.view(), rng, 0.5, 1.5);
  auto x = random_tensor(Shape{2, 2, 3, 3}, 74);
  expect_layer_gradients(block, x);

  std::vector<std::string> names;
  for (auto& [name, p] : nn::named_parameters(block, "layer1.0.")) names.push_back(name);
  const std::vector<std::string> expected = {"layer1.0.bn1.weight",          "layer1.0.bn1.bias",
                                             "layer1.0.bn2.weight",          "layer1.0.bn2.bias",
                                             "layer1.0.downsample.0.weight", "layer1.0.downsample.0.bias"};
  EXPECT_EQ(names, expected);
  auto buffers = nn::named_buffers(block, "layer1.0.");
  ASSERT_EQ(buffers.size(), 6u);
  EXPECT_EQ(buffers[4].first, "layer1.0.downsample.0.running_mean");

  block.set_training(false);
  EXPECT_FALSE(block.body().bn1.is_training());
  EXPECT_FALSE(block.shortcut().get<0>().is_training());
}

TEST(Residual, AddAndErrors) {
  auto a = random_tensor(Shape{2, 3}, 80), b = random_tensor(Shape{2, 3}, 81);
  auto s = labor::add(a, b);
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(s[i], a[i] + b[i]);
  expect_error([&] { (void)labor::add(a, random_tensor(Shape{3, 2}, 82)); }, {"add", "shapes", "[2, 3]", "[3, 2]"});
  nn::Residual<nn::MaxPool2d<double>> shrinking(nn::MaxPool2d<double>({.kernel_size = 2}));
  expect_error(
      [&] {
        shrinking.backward(Tensor<double>(Shape{1, 1, 2, 2}));
      },
      {"Residual", "backward called before forward"});
  expect_error(
      [&] {
        shrinking.forward(Tensor<double>(Shape{1, 1, 4, 4}));
      },
      {"Residual", "body output shape", "expected [1, 1, 4, 4]", "got [1, 1, 2, 2]"});
  nn::Identity<double> id;
  expect_error([&] { id.backward(Tensor<double>(Shape{1})); }, {"Identity", "backward called before forward"});
}

TEST(Sequential, CompositionNamesAndTraining) {
  using Net = nn::Sequential<nn::BatchNorm2d<double>, nn::ReLU<double>, nn::MaxPool2d<double>, nn::BatchNorm2d<double>,
                             nn::UpsampleBilinear<double>, nn::Softmax<double>>;
  Net net(make_bn(3, 90), nn::ReLU<double>{}, nn::MaxPool2d<double>({.kernel_size = 2}), make_bn(3, 91),
          nn::UpsampleBilinear<double>({.out_height = 6, .out_width = 6}), nn::Softmax<double>{});
  std::vector<std::string> names;
  for (auto& [name, p] : nn::named_parameters(net)) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias"}));
  std::vector<std::string> bnames;
  for (auto& [name, t] : nn::named_buffers(net)) bnames.push_back(name);
  EXPECT_EQ(bnames, (std::vector<std::string>{"0.running_mean", "0.running_var", "3.running_mean", "3.running_var"}));
  auto x = random_tensor(Shape{2, 3, 6, 6}, 92, -2.0, 2.0);
  EXPECT_EQ(net.forward(x).shape(), x.shape());
  expect_layer_gradients(net, x);
  net.set_training(false);
  EXPECT_FALSE(net.get<0>().is_training());
  EXPECT_FALSE(net.get<3>().is_training());
  expect_layer_gradients(net, x);
}

TEST(Layers, FloatForwardMatchesDouble) {
  // The float instantiations compute what the double ones do (up to float rounding).
  auto xd = random_tensor(Shape{2, 3, 9, 10}, 100, -2.0, 2.0);
  Tensor<float> xf(xd.shape());
  for (std::int64_t i = 0; i < xd.numel(); ++i) xf[i] = static_cast<float>(xd[i]);
  auto close = [](const Tensor<float>& f, const Tensor<double>& d, double tol) {
    ASSERT_EQ(f.shape(), d.shape());
    for (std::int64_t i = 0; i < d.numel(); ++i) ASSERT_NEAR(f[i], d[i], tol) << i;
  };
  nn::BatchNorm2d<float> bnf({.num_features = 3});
  nn::BatchNorm2d<double> bnd({.num_features = 3});
  close(bnf.forward(xf), bnd.forward(xd), 1e-5);
  close(nn::upsample_bilinear(xf, 13, 7, false), nn::upsample_bilinear(xd, 13, 7, false), 1e-5);
  close(nn::softmax_channels(xf), nn::softmax_channels(xd), 1e-6);
  nn::MaxPool2d<float> pf({.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true});
  nn::MaxPool2d<double> pd({.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true});
  close(pf.forward(xf), pd.forward(xd), 1e-6);
}

// ---------------------------------------------------------------------------------------------
// NoGradGuard

/// Bitwise equality of two tensors (shape and every element's bytes).
template <class T>
void expect_bitwise_equal(const Tensor<T>& a, const Tensor<T>& b) {
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.numel()) * sizeof(T)), 0);
}

/// A forward under NoGradGuard gives the bits of a forward with gradients; a backward after it
/// throws an error naming `name` and the guard; after the guard, forward and backward give the
/// bits they gave before.
template <class L, class T>
void expect_no_grad_forward(L& layer, const Tensor<T>& x, const char* name) {
  const auto y = layer.forward(x);
  Tensor<T> g(y.shape());
  labor::Rng rng(5);
  labor::fill_uniform(g.view(), rng, T(-1), T(1));
  const auto dx = layer.backward(g);
  {
    const nn::NoGradGuard no_grad;
    EXPECT_FALSE(nn::grad_enabled());
    expect_bitwise_equal(layer.forward(x), y);
    expect_error([&] { (void)layer.backward(g); }, {name, "backward called", "NoGradGuard"});
  }
  EXPECT_TRUE(nn::grad_enabled());
  expect_bitwise_equal(layer.forward(x), y);
  expect_bitwise_equal(layer.backward(g), dx);
}

TEST(NoGradGuard, NestsRestoresAndIsPerThread) {
  EXPECT_TRUE(nn::grad_enabled());
  {
    const nn::NoGradGuard outer;
    EXPECT_FALSE(nn::grad_enabled());
    bool other_thread = false;
    std::thread([&] { other_thread = nn::grad_enabled(); }).join();
    EXPECT_TRUE(other_thread);  // the mode belongs to the thread that set it
    {
      const nn::NoGradGuard inner;
      EXPECT_FALSE(nn::grad_enabled());
    }
    EXPECT_FALSE(nn::grad_enabled());  // the inner guard restores the outer mode, not "enabled"
  }
  EXPECT_TRUE(nn::grad_enabled());
}

TEST(NoGradGuard, EveryLayerThatKeepsStateKeepsNothing) {
  const auto x = random_tensor(Shape{2, 3, 7, 6}, 200);
  {
    labor::Rng rng(1);
    nn::Conv2d<double> conv({.in_channels = 3, .out_channels = 4, .kernel_size = 3, .padding = 1}, rng);
    expect_no_grad_forward(conv, x, "Conv2d");
  }
  {
    // float on AVX-512 hosts: the implicit-GEMM kernel, which copies the input as it reads it.
    Tensor<float> xf(x.shape());
    for (std::int64_t i = 0; i < x.numel(); ++i) xf[i] = static_cast<float>(x[i]);
    labor::Rng rng(2);
    nn::Conv2d<float> conv({.in_channels = 3, .out_channels = 5, .kernel_size = 3, .stride = 2, .padding = 1}, rng);
    expect_no_grad_forward(conv, xf, "Conv2d");
  }
  auto bn = make_bn(3, 201);
  expect_no_grad_forward(bn, x, "BatchNorm2d");  // training mode: batch statistics
  bn.set_training(false);
  expect_no_grad_forward(bn, x, "BatchNorm2d");  // evaluation mode, trainable weight (x̂ kept)
  auto frozen = make_bn(3, 202, true);
  expect_no_grad_forward(frozen, x, "BatchNorm2d");  // frozen: nothing but the statistics kept
  nn::ReLU<double> relu;
  expect_no_grad_forward(relu, x, "ReLU");
  nn::LeakyReLU<double> leaky(0.2);
  expect_no_grad_forward(leaky, x, "LeakyReLU");
  nn::Softmax<double> softmax;
  expect_no_grad_forward(softmax, x, "Softmax");
  nn::MaxPool2d<double> pool({.kernel_size = 3, .stride = 2, .padding = 1});
  expect_no_grad_forward(pool, x, "MaxPool2d");
  // A composite: its parts decide, and the first that kept nothing names itself.
  nn::Residual<nn::Sequential<nn::BatchNorm2d<double>, nn::ReLU<double>>> block(
      nn::Sequential<nn::BatchNorm2d<double>, nn::ReLU<double>>(make_bn(3, 203), nn::ReLU<double>{}));
  expect_no_grad_forward(block, x, "ReLU");
}

TEST(NoGradGuard, BatchNormStillUpdatesRunningStatisticsInTrainingMode) {
  // The guard is about gradients, not about the mode (as torch.no_grad): training-mode batch norm
  // under it normalises with the batch and updates its running averages exactly as without it.
  auto a = make_bn(3, 210), b = make_bn(3, 210);
  const auto x = random_tensor(Shape{2, 3, 4, 4}, 211);
  (void)a.forward(x);
  {
    const nn::NoGradGuard no_grad;
    (void)b.forward(x);
  }
  expect_bitwise_equal(a.running_mean(), b.running_mean());
  expect_bitwise_equal(a.running_var(), b.running_var());
  EXPECT_NE(a.running_mean()[0], make_bn(3, 210).running_mean()[0]);
}

TEST(Softmax, OfATemporaryIsComputedInItsStorage) {
  for (const Shape s : {Shape{2, 3, 5, 7}, Shape{1, 19, 16, 300}}) {
    auto x = random_tensor(s, 220, -8.0, 8.0);
    const auto expected = nn::softmax_channels(x);
    const double* storage = x.data();
    const auto y = nn::softmax_channels(std::move(x));
    EXPECT_EQ(y.data(), storage);  // no new tensor
    expect_bitwise_equal(y, expected);
  }
}

// ---------------------------------------------------------------------------------------------
// The Layer contract: backward may run twice after one forward

/// After one forward, backward(g1) then backward(g2): the second returns the bits a backward of g2
/// alone returns, and the parameters hold the sum of both gradients (to rounding).
template <class L, class T>
void expect_backward_twice(L& layer, const Tensor<T>& x, double tol) {
  const auto shape = layer.forward(x).shape();
  Tensor<T> g1(shape), g2(shape);
  labor::Rng rng(300);
  labor::fill_uniform(g1.view(), rng, T(-1), T(1));
  labor::fill_uniform(g2.view(), rng, T(-1), T(1));
  const auto grads = [&] {
    std::vector<Tensor<T>> out;
    for (auto& [name, p] : nn::named_parameters(layer)) out.push_back(p->grad);
    return out;
  };
  nn::zero_grad(layer);
  (void)layer.forward(x);
  (void)layer.backward(g1);
  const auto alone1 = grads();
  nn::zero_grad(layer);
  (void)layer.forward(x);
  const auto dx2 = layer.backward(g2);
  const auto alone2 = grads();
  nn::zero_grad(layer);
  (void)layer.forward(x);
  (void)layer.backward(g1);
  expect_bitwise_equal(layer.backward(g2), dx2);
  const auto both = grads();
  ASSERT_EQ(both.size(), alone1.size());
  for (std::size_t k = 0; k < both.size(); ++k)
    for (std::int64_t i = 0; i < both[k].numel(); ++i) {
      const double expected = static_cast<double>(alone1[k][i]) + static_cast<double>(alone2[k][i]);
      ASSERT_NEAR(both[k][i], expected, tol * (1 + std::abs(expected))) << "parameter " << k << " element " << i;
    }
}

TEST(Layers, BackwardRunsTwiceAfterOneForward) {
  const auto x = random_tensor(Shape{2, 3, 7, 6}, 310);
  labor::Rng rng(311);
  nn::Conv2d<double> conv({.in_channels = 3, .out_channels = 4, .kernel_size = 3, .padding = 1}, rng);
  expect_backward_twice(conv, x, 1e-12);
  Tensor<float> xf(x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) xf[i] = static_cast<float>(x[i]);
  nn::Conv2d<float> convf({.in_channels = 3, .out_channels = 5, .kernel_size = 3, .padding = 1}, rng);
  expect_backward_twice(convf, xf, 1e-5);  // the AVX-512 kernels on hosts that have them
  auto bn = make_bn(3, 312);
  expect_backward_twice(bn, x, 1e-12);
  bn.set_training(false);
  expect_backward_twice(bn, x, 1e-12);
  nn::ReLU<double> relu;
  expect_backward_twice(relu, x, 1e-12);
  nn::LeakyReLU<double> leaky(0.2);
  expect_backward_twice(leaky, x, 1e-12);
  nn::Softmax<double> softmax;
  expect_backward_twice(softmax, x, 1e-12);
  nn::MaxPool2d<double> pool({.kernel_size = 3, .stride = 2, .padding = 1});
  expect_backward_twice(pool, x, 1e-12);
  nn::UpsampleBilinear<double> up({.out_height = 11, .out_width = 9});
  expect_backward_twice(up, x, 1e-12);
  nn::Residual<nn::Sequential<nn::BatchNorm2d<double>, nn::LeakyReLU<double>>> block(
      nn::Sequential<nn::BatchNorm2d<double>, nn::LeakyReLU<double>>(make_bn(3, 313), nn::LeakyReLU<double>(0.2)));
  expect_backward_twice(block, x, 1e-12);
}

}  // namespace
