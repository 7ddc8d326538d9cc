// Conv2d against torch.nn.functional.conv2d: output, input gradient and parameter gradients.
#include <gtest/gtest.h>

#include <labor/io/npy.hpp>
#include <labor/nn/conv2d.hpp>

#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::testing::max_relative_error;

struct Case {
  labor::nn::Conv2dOptions options;
  Shape input;
};

class Conv2dParity : public ::testing::TestWithParam<Case> {};

TEST_P(Conv2dParity, MatchesPyTorch) {
  LABOR_REQUIRE_TORCH();
  const auto& c = GetParam();
  labor::Rng rng(17);
  labor::nn::Conv2d<float> conv(c.options, rng);
  Tensor<float> x(c.input);
  fill_normal(x.view(), rng);
  const auto y = conv.forward(x);
  Tensor<float> gy(y.shape());
  fill_normal(gy.view(), rng);
  const auto dx = conv.backward(gy);

  labor::testing::TempDir dir;
  labor::io::write_npy(dir / "x.npy", x);
  labor::io::write_npy(dir / "weight.npy", conv.weight().value);
  if (c.options.bias) labor::io::write_npy(dir / "bias.npy", conv.bias().value);
  labor::io::write_npy(dir / "grad_out.npy", gy);
  labor::testing::run_torch("conv_ref.py", "conv2d", dir.path(),
                            {std::to_string(c.options.stride), std::to_string(c.options.padding),
                             std::to_string(c.options.dilation), c.options.bias ? "1" : "0"});

  // float32 sums of up to C·k² = 288 products in another order: ≤ 1e-5 of the largest value.
  EXPECT_LE(max_relative_error(y, labor::io::read_npy<float>(dir / "y.npy")), 1e-5);
  EXPECT_LE(max_relative_error(dx, labor::io::read_npy<float>(dir / "dx.npy")), 1e-5);
  EXPECT_LE(max_relative_error(conv.weight().grad, labor::io::read_npy<float>(dir / "dweight.npy")), 1e-5);
  if (c.options.bias) {
    EXPECT_LE(max_relative_error(conv.bias().grad, labor::io::read_npy<float>(dir / "dbias.npy")), 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, Conv2dParity,
    ::testing::Values(
        Case{{.in_channels = 8, .out_channels = 16, .kernel_size = 3, .padding = 1}, Shape{2, 8, 13, 17}},
        Case{{.in_channels = 8, .out_channels = 4, .kernel_size = 3, .stride = 2, .padding = 1}, Shape{3, 8, 15, 12}},
        Case{{.in_channels = 6, .out_channels = 5, .kernel_size = 3, .padding = 6, .dilation = 6}, Shape{1, 6, 20, 19}},
        Case{{.in_channels = 32, .out_channels = 8, .kernel_size = 1, .bias = false}, Shape{2, 32, 9, 9}},
        Case{{.in_channels = 3, .out_channels = 8, .kernel_size = 7, .stride = 2, .padding = 3, .bias = false},
             Shape{2, 3, 23, 21}},
        Case{{.in_channels = 4, .out_channels = 1, .kernel_size = 4, .stride = 2, .padding = 1}, Shape{2, 4, 16, 10}}));

}  // namespace
