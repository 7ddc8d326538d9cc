#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <labor/nn/conv2d.hpp>
#include <labor/nn/layer.hpp>

#include "support/errors.hpp"
#include "support/gradcheck.hpp"

namespace {

using labor::testing::expect_error;

using labor::Shape;
using labor::Tensor;
using labor::nn::Conv2d;
using labor::nn::Conv2dOptions;

// Direct evaluation of the convolution sum, for comparison with the im2col + GEMM path.
Tensor<double> direct_conv(const Tensor<double>& x, Conv2d<double>& conv) {
  const auto& o = conv.options();
  const auto n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const auto oh = (h + 2 * o.padding - o.dilation * (o.kernel_size - 1) - 1) / o.stride + 1;
  const auto ow = (w + 2 * o.padding - o.dilation * (o.kernel_size - 1) - 1) / o.stride + 1;
  Tensor<double> y(Shape{n, o.out_channels, oh, ow});
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t f = 0; f < o.out_channels; ++f)
      for (std::int64_t yy = 0; yy < oh; ++yy)
        for (std::int64_t xx = 0; xx < ow; ++xx) {
          double s = o.bias ? conv.bias().value[f] : 0.0;
          for (std::int64_t ch = 0; ch < c; ++ch)
            for (std::int64_t i = 0; i < o.kernel_size; ++i)
              for (std::int64_t j = 0; j < o.kernel_size; ++j) {
                const auto iy = yy * o.stride - o.padding + i * o.dilation;
                const auto ix = xx * o.stride - o.padding + j * o.dilation;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                s += conv.weight().value(f, ch, i, j) * x(b, ch, iy, ix);
              }
          y(b, f, yy, xx) = s;
        }
  return y;
}

struct ConvCase {
  Conv2dOptions options;
  Shape input;
};

class Conv2dCases : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dCases, ForwardMatchesDirectSum) {
  labor::Rng rng(1);
  Conv2d<double> conv(GetParam().options, rng);
  Tensor<double> x(GetParam().input);
  fill_normal(x.view(), rng);
  const auto y = conv.forward(x);
  const auto ref = direct_conv(x, conv);
  ASSERT_EQ(y.shape(), ref.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-12) << "element " << i;
}

TEST_P(Conv2dCases, GradientsMatchFiniteDifferences) {
  labor::Rng rng(2);
  Conv2d<double> conv(GetParam().options, rng);
  Tensor<double> x(GetParam().input);
  fill_normal(x.view(), rng);
  labor::testing::expect_layer_gradients(conv, x);
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, Conv2dCases,
    ::testing::Values(
        ConvCase{{.in_channels = 3, .out_channels = 4, .kernel_size = 3, .padding = 1}, Shape{2, 3, 5, 6}},
        ConvCase{{.in_channels = 2, .out_channels = 3, .kernel_size = 3, .stride = 2, .padding = 1}, Shape{3, 2, 7, 6}},
        ConvCase{{.in_channels = 2, .out_channels = 2, .kernel_size = 3, .padding = 2, .dilation = 2},
                 Shape{1, 2, 6, 7}},
        ConvCase{{.in_channels = 3, .out_channels = 2, .kernel_size = 1, .bias = false}, Shape{2, 3, 4, 4}},
        ConvCase{{.in_channels = 2, .out_channels = 3, .kernel_size = 1, .stride = 2}, Shape{1, 2, 5, 5}},
        ConvCase{{.in_channels = 1, .out_channels = 2, .kernel_size = 4, .stride = 2, .padding = 1},
                 Shape{4, 1, 8, 9}}));

TEST(Conv2d, BatchSplitAcrossThreadsMatchesSequential) {
  // Batch of 5 splits images across threads; a single image runs the GEMM threaded. Same numbers.
  labor::Rng rng(3);
  Conv2d<double> conv({.in_channels = 4, .out_channels = 6, .kernel_size = 3, .padding = 1}, rng);
  Tensor<double> x(Shape{5, 4, 9, 9});
  fill_normal(x.view(), rng);
  const auto y = conv.forward(x);
  for (std::int64_t i = 0; i < 5; ++i) {
    Tensor<double> xi(x.slice(i).reshaped(Shape{1, 4, 9, 9}));
    const auto yi = conv.forward(xi);
    for (std::int64_t e = 0; e < yi.numel(); ++e) ASSERT_NEAR(yi[e], y.slice(i).data()[e], 1e-12);
  }
}

// Float forward: the implicit-GEMM kernel (AVX-512 hosts) against the im2col + GEMM path, on
// geometries that are not multiples of the register tile.
struct FloatCase {
  Conv2dOptions options;
  Shape input;
};

class Conv2dFloatPaths : public ::testing::TestWithParam<FloatCase> {};

TEST_P(Conv2dFloatPaths, ImplicitGemmMatchesIm2col) {
  const auto& c = GetParam();
  labor::Rng rng(7);
  Conv2d<float> conv(c.options, rng);
  Tensor<float> x(c.input);
  fill_normal(x.view(), rng);
  conv.set_implicit_gemm(false);
  const auto ref = conv.forward(x);
  conv.set_implicit_gemm(true);
  const auto y = conv.forward(x);
  ASSERT_EQ(y.shape(), ref.shape());
  const double fan_in = static_cast<double>(c.options.in_channels * c.options.kernel_size * c.options.kernel_size);
  for (std::int64_t i = 0; i < y.numel(); ++i)
    ASSERT_NEAR(y[i], ref[i], 2e-6 * std::sqrt(fan_in) * (1 + std::abs(ref[i]))) << "element " << i;
  // Any thread count (one: as inside a parallel region; three: a batch that does not divide
  // evenly) gives the same numbers.
  const int saved = labor::num_threads();
  for (int threads : {1, 3}) {
    labor::set_num_threads(threads);
    const auto other = conv.forward(x);
    for (std::int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(other[i], y[i]) << threads << " threads, element " << i;
  }
  labor::set_num_threads(saved);
}

TEST_P(Conv2dFloatPaths, BackwardMatchesIm2col) {
  // At stride 1 the input gradient runs the forward kernel on flipped weights.
  const auto& c = GetParam();
  labor::Rng rng(8);
  Conv2d<float> conv(c.options, rng);
  Tensor<float> x(c.input);
  fill_normal(x.view(), rng);
  auto run = [&](bool implicit) {
    conv.set_implicit_gemm(implicit);
    conv.weight().grad.zero();
    if (c.options.bias) conv.bias().grad.zero();
    const auto y = conv.forward(x);
    Tensor<float> gy(y.shape());
    labor::Rng grng(9);
    fill_normal(gy.view(), grng);
    auto dx = conv.backward(gy);
    return std::make_pair(std::move(dx), Tensor<float>(conv.weight().grad));
  };
  const auto [dx_ref, dw_ref] = run(false);
  const auto [dx, dw] = run(true);
  ASSERT_EQ(dx.shape(), dx_ref.shape());
  const double fan_out = static_cast<double>(c.options.out_channels * c.options.kernel_size * c.options.kernel_size);
  for (std::int64_t i = 0; i < dx.numel(); ++i)
    ASSERT_NEAR(dx[i], dx_ref[i], 2e-6 * std::sqrt(fan_out) * (1 + std::abs(dx_ref[i]))) << "element " << i;
  for (std::int64_t i = 0; i < dw.numel(); ++i) ASSERT_EQ(dw[i], dw_ref[i]) << "weight gradient element " << i;
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, Conv2dFloatPaths,
    ::testing::Values(
        FloatCase{{.in_channels = 1, .out_channels = 1, .kernel_size = 3, .padding = 1}, Shape{1, 1, 5, 7}},
        FloatCase{{.in_channels = 3, .out_channels = 16, .kernel_size = 3, .padding = 1}, Shape{2, 3, 33, 17}},
        FloatCase{{.in_channels = 5, .out_channels = 11, .kernel_size = 3, .padding = 1}, Shape{3, 5, 20, 21}},
        FloatCase{{.in_channels = 7, .out_channels = 9, .kernel_size = 3, .stride = 2, .padding = 1},
                  Shape{1, 7, 19, 23}},
        FloatCase{{.in_channels = 4, .out_channels = 10, .kernel_size = 3, .padding = 6, .dilation = 6},
                  Shape{2, 4, 25, 30}},
        FloatCase{{.in_channels = 3, .out_channels = 5, .kernel_size = 3, .padding = 2, .dilation = 2},
                  Shape{1, 3, 6, 7}},
        FloatCase{{.in_channels = 6, .out_channels = 8, .kernel_size = 4, .stride = 2, .padding = 1},
                  Shape{3, 6, 16, 15}},
        FloatCase{{.in_channels = 2, .out_channels = 3, .kernel_size = 5, .stride = 3, .padding = 2, .dilation = 2},
                  Shape{1, 2, 17, 18}},
        FloatCase{{.in_channels = 9, .out_channels = 13, .kernel_size = 1}, Shape{2, 9, 7, 9}},
        FloatCase{{.in_channels = 9, .out_channels = 4, .kernel_size = 1, .stride = 2, .bias = false},
                  Shape{1, 9, 9, 8}},
        FloatCase{{.in_channels = 2, .out_channels = 2, .kernel_size = 3, .bias = false}, Shape{1, 2, 3, 3}},
        FloatCase{{.in_channels = 80, .out_channels = 17, .kernel_size = 3, .padding = 1}, Shape{1, 80, 12, 40}},
        FloatCase{{.in_channels = 1, .out_channels = 3, .kernel_size = 2, .padding = 3}, Shape{5, 1, 2, 3}}));

TEST(Conv2d, BackwardAccumulatesParameterGradients) {
  labor::Rng rng(4);
  Conv2d<double> conv({.in_channels = 2, .out_channels = 2, .kernel_size = 3, .padding = 1}, rng);
  Tensor<double> x(Shape{1, 2, 4, 4});
  fill_normal(x.view(), rng);
  const auto y = conv.forward(x);
  Tensor<double> g = Tensor<double>::full(y.shape(), 1.0);
  conv.backward(g);
  const Tensor<double> once = conv.weight().grad;
  conv.backward(g);
  for (std::int64_t i = 0; i < once.numel(); ++i) EXPECT_NEAR(conv.weight().grad[i], 2 * once[i], 1e-12);
  // The bias gradient of a sum of outputs is the number of output pixels per channel.
  EXPECT_NEAR(conv.bias().grad[0], 2 * 16.0, 1e-12);
}

TEST(Conv2d, FrozenWeightsGetNoGradient) {
  labor::Rng rng(5);
  Conv2d<double> conv({.in_channels = 1, .out_channels = 1, .kernel_size = 3, .padding = 1}, rng);
  conv.weight().trainable = false;
  Tensor<double> x(Shape{1, 1, 3, 3});
  fill_normal(x.view(), rng);
  conv.backward(Tensor<double>::full(conv.forward(x).shape(), 1.0));
  for (double v : conv.weight().grad.span()) EXPECT_EQ(v, 0.0);
  EXPECT_NE(conv.bias().grad[0], 0.0);
}

TEST(Conv2d, NamesParametersAsPyTorch) {
  Conv2d<float> with_bias({.in_channels = 1, .out_channels = 1});
  Conv2d<float> without({.in_channels = 1, .out_channels = 1, .bias = false});
  auto a = labor::nn::named_parameters(with_bias, "conv1.");
  auto b = labor::nn::named_parameters(without);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].first, "conv1.weight");
  EXPECT_EQ(a[1].first, "conv1.bias");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].second->value.shape(), (Shape{1, 1, 3, 3}));
}

TEST(Conv2d, RejectsBadOptions) {
  expect_error([] { Conv2d<float>({.in_channels = 1, .out_channels = 1, .kernel_size = 0}); },
               "kernel_size: expected > 0, got 0");
  expect_error([] { Conv2d<float>({.in_channels = 0, .out_channels = 1}); }, "in_channels");
  expect_error([] { Conv2d<float>({.in_channels = 1, .out_channels = 1, .stride = 0}); }, "stride");
  expect_error([] { Conv2d<float>({.in_channels = 1, .out_channels = 1, .padding = -1}); }, "padding");
}

TEST(Conv2d, RejectsBadInput) {
  Conv2d<float> conv({.in_channels = 3, .out_channels = 2, .kernel_size = 3});
  expect_error([&] { conv.forward(Tensor<float>(Shape{1, 4, 8, 8})); }, "input channels: expected 3, got 4");
  expect_error([&] { conv.forward(Tensor<float>(Shape{3, 8, 8})); }, "input rank: expected 4");
  expect_error([&] { conv.forward(Tensor<float>(Shape{0, 3, 8, 8})); }, "non-empty batch");
  expect_error([&] { conv.forward(Tensor<float>(Shape{1, 3, 2, 8})); }, "smaller than the dilated kernel");
  expect_error([&] { conv.backward(Tensor<float>(Shape{1, 2, 6, 6})); }, "backward called before forward");
  conv.forward(Tensor<float>(Shape{1, 3, 8, 8}));
  expect_error([&] { conv.backward(Tensor<float>(Shape{1, 2, 5, 6})); }, "grad_out: shape: expected [1, 2, 6, 6]");
}

}  // namespace
