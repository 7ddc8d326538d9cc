// CPU/GPU parity of Conv2d: each case is one template over the device, run on the CPU and on the
// GPU with the same random inputs and the same initial parameters (fill_uniform draws the same
// values on both devices); the output, the input gradient and the parameter gradients agree within
// float tolerance. Label `gpu`; skipped without a CUDA device.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <labor/labor.hpp>

#include "support/device_parity.hpp"
#include "support/errors.hpp"

namespace {

using labor::cpu;
using labor::cuda;
using labor::Device;
using labor::Shape;
using labor::Tensor;
using labor::testing::expect_close;
using labor::testing::expect_equal;
using labor::testing::expect_error;
using labor::testing::on;
using labor::testing::PoisonScope;
using labor::testing::random_normal;
namespace nn = labor::nn;

constexpr double tol = 1e-5;

/// Output shape of a convolution with options `o` on an input of shape `in`.
Shape output_shape(const nn::Conv2dOptions& o, const Shape& in) {
  const auto out = [&](std::int64_t size) {
    return (size + 2 * o.padding - o.dilation * (o.kernel_size - 1) - 1) / o.stride + 1;
  };
  return Shape{in[0], o.out_channels, out(in[2]), out(in[3])};
}

/// What a case compares: forward output, input gradient, parameter gradients (db empty without
/// bias), and the initial weights.
template <Device D>
struct ConvOut {
  Tensor<float, D> weight, y, dx, dw, db;
};

/// Options of the layer in a case and what is trainable.
struct ConvCase {
  std::string name;
  nn::Conv2dOptions options;
  Shape input;
  bool weight_trainable = true;
  bool bias_trainable = true;
};

/// Conv2d with `c.options`, initialised from Rng(5) on device D: forward x, backward g.
template <Device D>
ConvOut<D> run_conv(const ConvCase& c, const Tensor<float>& x_host, const Tensor<float>& g_host) {
  labor::Rng rng(5);
  nn::Conv2d<float, D> conv(c.options, rng);
  conv.weight().trainable = c.weight_trainable;
  conv.bias().trainable = c.bias_trainable;
  ConvOut<D> out;
  out.weight = conv.weight().value;
  out.y = conv.forward(on<D>(x_host));
  out.dx = conv.backward(on<D>(g_host));
  out.dw = conv.weight().grad;
  out.db = conv.bias().grad;
  return out;
}

std::vector<ConvCase> parity_cases() {
  using O = nn::Conv2dOptions;
  return {
      {"1x1 s1 p0 (GEMM only)", O{.in_channels = 5, .out_channels = 7, .kernel_size = 1}, Shape{3, 5, 17, 23}},
      {"1x1 s1 p0 no bias", O{.in_channels = 5, .out_channels = 7, .kernel_size = 1, .bias = false},
       Shape{3, 5, 17, 23}},
      {"3x3 s1 p1", O{.in_channels = 5, .out_channels = 6, .kernel_size = 3, .padding = 1}, Shape{3, 5, 17, 23}},
      {"3x3 s1 p1 no bias", O{.in_channels = 5, .out_channels = 6, .kernel_size = 3, .padding = 1, .bias = false},
       Shape{3, 5, 17, 23}},
      {"3x3 s1 p0", O{.in_channels = 5, .out_channels = 6, .kernel_size = 3}, Shape{3, 5, 17, 23}},
      {"3x3 s2 p1", O{.in_channels = 5, .out_channels = 6, .kernel_size = 3, .stride = 2, .padding = 1},
       Shape{3, 5, 17, 23}},
      {"7x7 s2 p3", O{.in_channels = 3, .out_channels = 8, .kernel_size = 7, .stride = 2, .padding = 3},
       Shape{2, 3, 33, 29}},
      {"3x3 d2 p2", O{.in_channels = 5, .out_channels = 6, .kernel_size = 3, .padding = 2, .dilation = 2},
       Shape{3, 5, 17, 23}},
      {"3x3 d4 p4", O{.in_channels = 5, .out_channels = 6, .kernel_size = 3, .padding = 4, .dilation = 4},
       Shape{3, 5, 17, 23}},
      {"3x3 d6 p6 (wider than the input)",
       O{.in_channels = 4, .out_channels = 3, .kernel_size = 3, .padding = 6, .dilation = 6}, Shape{2, 4, 9, 11}},
      {"1x1 s2 p0 (downsample)", O{.in_channels = 5, .out_channels = 9, .kernel_size = 1, .stride = 2, .bias = false},
       Shape{3, 5, 17, 23}},
      {"4x4 s2 p1", O{.in_channels = 5, .out_channels = 6, .kernel_size = 4, .stride = 2, .padding = 1},
       Shape{3, 5, 17, 23}},
      {"3x3 s3 p2 d2",
       O{.in_channels = 2, .out_channels = 3, .kernel_size = 3, .stride = 3, .padding = 2, .dilation = 2},
       Shape{1, 2, 19, 14}},
      {"3x3 s1 p1, 37 channels", O{.in_channels = 37, .out_channels = 33, .kernel_size = 3, .padding = 1},
       Shape{2, 37, 21, 30}},
      {"frozen weight and bias", O{.in_channels = 5, .out_channels = 6, .kernel_size = 3, .padding = 1},
       Shape{3, 5, 17, 23}, false, false},
      {"frozen weight, trainable bias", O{.in_channels = 5, .out_channels = 6, .kernel_size = 3, .padding = 1},
       Shape{3, 5, 17, 23}, false, true},
      {"frozen 1x1", O{.in_channels = 5, .out_channels = 7, .kernel_size = 1}, Shape{3, 5, 17, 23}, false, false},
      {"trainable weight, frozen bias", O{.in_channels = 5, .out_channels = 6, .kernel_size = 3, .padding = 1},
       Shape{3, 5, 17, 23}, true, false},
  };
}

void expect_parity(const ConvCase& c) {
  SCOPED_TRACE(c.name);
  PoisonScope poison;
  labor::Rng rng(17);
  const auto x = random_normal(c.input, rng);
  const auto g = random_normal(output_shape(c.options, c.input), rng);
  const auto want = run_conv<cpu>(c, x, g);
  const auto got = run_conv<cuda>(c, x, g);
  expect_equal(want.weight, got.weight, c.name + ": initial weight");
  expect_close(want.y, got.y, tol, c.name + ": y");
  expect_close(want.dx, got.dx, tol, c.name + ": dx");
  expect_close(want.dw, got.dw, tol, c.name + ": dweight");
  expect_close(want.db, got.db, tol, c.name + ": dbias");
  if (!c.weight_trainable) expect_equal(Tensor<float>(want.dw.shape()), got.dw, c.name + ": frozen dweight");
  if (!c.bias_trainable) expect_equal(Tensor<float>(want.db.shape()), got.db, c.name + ": frozen dbias");
}

TEST(ConvGpu, MatchesCpuOnManyGeometries) {
  LABOR_REQUIRE_GPU();
  for (const auto& c : parity_cases()) expect_parity(c);
}

// The forward and backward passes split the images into chunks whose columns fit the scratch
// bound (256 MiB): 100 MB of columns per image gives chunks of 2 and 1 for 3 images.
TEST(ConvGpu, MatchesCpuAcrossColumnChunks) {
  LABOR_REQUIRE_GPU();
  expect_parity({"7x7 s1 p3, 3 images of 200x320 (chunks 2 + 1)",
                 nn::Conv2dOptions{.in_channels = 8, .out_channels = 4, .kernel_size = 7, .padding = 3},
                 Shape{3, 8, 200, 320}});
}

/// Two forward/backward rounds on different inputs: the parameter gradients add up.
template <Device D>
ConvOut<D> run_twice(const nn::Conv2dOptions& o, const Tensor<float>& x1, const Tensor<float>& g1,
                     const Tensor<float>& x2, const Tensor<float>& g2) {
  labor::Rng rng(9);
  nn::Conv2d<float, D> conv(o, rng);
  ConvOut<D> out;
  (void)conv.forward(on<D>(x1));
  (void)conv.backward(on<D>(g1));
  out.y = conv.forward(on<D>(x2));
  out.dx = conv.backward(on<D>(g2));
  out.dw = conv.weight().grad;
  out.db = conv.bias().grad;
  return out;
}

TEST(ConvGpu, GradientsAccumulateOverBackwardCalls) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  labor::Rng rng(23);
  for (const std::int64_t k : {1, 3}) {
    const nn::Conv2dOptions o{.in_channels = 5, .out_channels = 6, .kernel_size = k, .padding = k / 2};
    const Shape in{3, 5, 17, 23};
    const auto x1 = random_normal(in, rng), x2 = random_normal(in, rng);
    const auto g1 = random_normal(output_shape(o, in), rng), g2 = random_normal(output_shape(o, in), rng);
    const auto want = run_twice<cpu>(o, x1, g1, x2, g2);
    const auto got = run_twice<cuda>(o, x1, g1, x2, g2);
    const std::string what = std::to_string(k) + "x" + std::to_string(k) + " twice: ";
    expect_close(want.y, got.y, tol, what + "y");
    expect_close(want.dx, got.dx, tol, what + "dx");
    expect_close(want.dw, got.dw, tol, what + "dweight");
    expect_close(want.db, got.db, tol, what + "dbias");
  }
}

// The GPU path has no atomics: the same backward twice gives bit-identical gradients.
TEST(ConvGpu, BackwardIsDeterministic) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  labor::Rng rng(29);
  const nn::Conv2dOptions o{
      .in_channels = 16, .out_channels = 12, .kernel_size = 3, .stride = 2, .padding = 2, .dilation = 2};
  const Shape in{4, 16, 45, 38};
  const auto x = random_normal(in, rng);
  const auto g = random_normal(output_shape(o, in), rng);
  const auto first = run_conv<cuda>({"first", o, in}, x, g);
  const auto second = run_conv<cuda>({"second", o, in}, x, g);
  expect_equal(labor::testing::host(first.y), second.y, "y");
  expect_equal(labor::testing::host(first.dx), second.dx, "dx");
  expect_equal(labor::testing::host(first.dw), second.dw, "dweight");
  expect_equal(labor::testing::host(first.db), second.db, "dbias");
}

TEST(ConvGpu, BadInputIsALaborError) {
  LABOR_REQUIRE_GPU();
  labor::Rng rng(31);
  nn::Conv2d<float, cuda> conv({.in_channels = 5, .out_channels = 6, .kernel_size = 3, .padding = 1}, rng);
  expect_error([&] { (void)conv.backward(Tensor<float, cuda>(Shape{2, 6, 8, 8})); }, "backward called before forward");
  expect_error(
      [&] {
        (void)conv.forward(Tensor<float, cuda>(Shape{2, 4, 8, 8}));
      },
      {"Conv2d forward", "input channels", "expected 5", "got 4"});
  expect_error([&] { (void)conv.forward(Tensor<float, cuda>(Shape{2, 5, 8})); }, "input rank");
  (void)conv.forward(Tensor<float, cuda>(Shape{2, 5, 8, 8}));
  expect_error([&] { (void)conv.backward(Tensor<float, cuda>(Shape{2, 6, 8, 7})); }, "grad_out");
  nn::Conv2d<float, cuda> wide({.in_channels = 1, .out_channels = 1, .kernel_size = 5, .dilation = 3}, rng);
  expect_error([&] { (void)wide.forward(Tensor<float, cuda>(Shape{1, 1, 8, 20})); }, "smaller than the dilated kernel");
}

}  // namespace
