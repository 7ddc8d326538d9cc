// BatchNorm2d, bilinear upsampling, MaxPool2d, softmax and (Leaky)ReLU against PyTorch (float32):
// forward output, input gradient and parameter gradients for a random upstream gradient.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include <labor/io/npy.hpp>
#include <labor/nn/activation.hpp>
#include <labor/nn/batch_norm2d.hpp>
#include <labor/nn/max_pool2d.hpp>
#include <labor/nn/softmax.hpp>
#include <labor/nn/upsample.hpp>

#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::io::read_npy;
using labor::io::write_npy;
using labor::testing::max_relative_error;
using labor::testing::run_torch;
using labor::testing::TempDir;
namespace nn = labor::nn;

constexpr double tolerance = 1e-5;

Tensor<float> normal_tensor(Shape s, labor::Rng& rng, float mean = 0.0f, float stddev = 1.0f) {
  Tensor<float> t(s);
  labor::fill_normal(t.view(), rng, mean, stddev);
  return t;
}

Tensor<float> reference(const TempDir& dir, const std::string& name) {
  return read_npy<float>(dir / (name + ".npy"));
}

// ---------------------------------------------------------------------------------------------
// BatchNorm2d

struct BnCase {
  Shape input;
  bool training;
  bool frozen;
  double eps;
  double momentum;
};

class BatchNormParity : public ::testing::TestWithParam<BnCase> {};

TEST_P(BatchNormParity, MatchesPyTorch) {
  LABOR_REQUIRE_TORCH();
  const auto& c = GetParam();
  labor::Rng rng(5);
  const std::int64_t ch = c.input[1];
  nn::BatchNorm2d<float> bn({.num_features = ch, .eps = c.eps, .momentum = c.momentum, .frozen = c.frozen});
  labor::fill_uniform(bn.weight().value.view(), rng, 0.5f, 1.5f);
  labor::fill_uniform(bn.bias().value.view(), rng, -0.5f, 0.5f);
  labor::fill_uniform(bn.running_mean().view(), rng, 0.5f, 1.5f);
  labor::fill_uniform(bn.running_var().view(), rng, 0.5f, 2.0f);
  bn.set_training(c.training);
  // Offset and scaled input, so the statistics are far from the running ones.
  const auto x = normal_tensor(c.input, rng, 1.0f, 2.0f);
  const auto gy = normal_tensor(c.input, rng);

  TempDir dir;
  write_npy(dir / "x.npy", x);
  write_npy(dir / "weight.npy", bn.weight().value);
  write_npy(dir / "bias.npy", bn.bias().value);
  write_npy(dir / "running_mean.npy", bn.running_mean());
  write_npy(dir / "running_var.npy", bn.running_var());
  write_npy(dir / "grad_out.npy", gy);
  // Frozen batch norm is PyTorch's evaluation mode whatever our training flag says.
  const bool torch_training = c.training && !c.frozen;
  run_torch("nn_ref.py", "batch_norm", dir.path(),
            {torch_training ? "1" : "0", fmt::format("{}", c.eps), fmt::format("{}", c.momentum)});

  nn::zero_grad(bn);
  const auto y = bn.forward(x);
  const auto dx = bn.backward(gy);
  // Float32 data; our statistics are summed in double, PyTorch's in float: the remaining differences
  // are a few float roundings of values of order 1.
  EXPECT_LE(max_relative_error(y, reference(dir, "y")), tolerance);
  EXPECT_LE(max_relative_error(dx, reference(dir, "dx")), tolerance);
  EXPECT_LE(max_relative_error(bn.running_mean(), reference(dir, "running_mean_out")), tolerance);
  EXPECT_LE(max_relative_error(bn.running_var(), reference(dir, "running_var_out")), tolerance);
  if (c.frozen) {
    // No parameter gradients at all.
    for (std::int64_t k = 0; k < ch; ++k) {
      EXPECT_EQ(bn.weight().grad[k], 0.0f);
      EXPECT_EQ(bn.bias().grad[k], 0.0f);
    }
  } else {
    EXPECT_LE(max_relative_error(bn.weight().grad, reference(dir, "dweight")), tolerance);
    EXPECT_LE(max_relative_error(bn.bias().grad, reference(dir, "dbias")), tolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, BatchNormParity,
                         ::testing::Values(BnCase{Shape{4, 8, 16, 16}, true, false, 1e-5, 0.1},
                                           BnCase{Shape{2, 3, 7, 5}, true, false, 1e-3, 0.3},
                                           BnCase{Shape{8, 5, 1, 1}, true, false, 1e-5, 0.1},
                                           BnCase{Shape{4, 8, 16, 16}, false, false, 1e-5, 0.1},
                                           BnCase{Shape{2, 3, 7, 5}, true, true, 1e-5, 0.1}));

// ---------------------------------------------------------------------------------------------
// Bilinear upsampling

struct UpCase {
  Shape input;
  std::int64_t height, width;
  bool align_corners;
};

class UpsampleParity : public ::testing::TestWithParam<UpCase> {};

TEST_P(UpsampleParity, MatchesPyTorch) {
  LABOR_REQUIRE_TORCH();
  const auto& c = GetParam();
  labor::Rng rng(6);
  const auto x = normal_tensor(c.input, rng);
  const auto gy = normal_tensor(Shape{c.input[0], c.input[1], c.height, c.width}, rng);
  TempDir dir;
  write_npy(dir / "x.npy", x);
  write_npy(dir / "grad_out.npy", gy);
  run_torch("nn_ref.py", "upsample", dir.path(),
            {std::to_string(c.height), std::to_string(c.width), c.align_corners ? "1" : "0"});

  nn::UpsampleBilinear<float> up({.out_height = c.height, .out_width = c.width, .align_corners = c.align_corners});
  const auto y = up.forward(x);
  const auto dx = up.backward(gy);
  EXPECT_LE(max_relative_error(y, reference(dir, "y")), tolerance);
  EXPECT_LE(max_relative_error(dx, reference(dir, "dx")), tolerance);
  // The free functions are what the layer runs.
  EXPECT_EQ(max_relative_error(nn::upsample_bilinear(x, c.height, c.width, c.align_corners), y), 0.0);
  EXPECT_EQ(max_relative_error(nn::upsample_bilinear_backward(gy, c.input[2], c.input[3], c.align_corners), dx), 0.0);
}

std::vector<UpCase> upsample_cases() {
  const UpCase base[] = {
      {Shape{2, 3, 8, 10}, 16, 20, false},      // integer upscale
      {Shape{2, 3, 7, 9}, 17, 23, false},       // non-integer upscale
      {Shape{1, 4, 21, 17}, 8, 6, false},       // non-integer downscale
      {Shape{1, 2, 16, 16}, 8, 8, false},       // integer downscale
      {Shape{1, 2, 5, 13}, 11, 4, false},       // up in H, down in W
      {Shape{1, 3, 6, 6}, 1, 1, false},         // single output pixel
      {Shape{2, 19, 33, 65}, 257, 513, false},  // label-size upscale of logits, DeepLab-like ratio
  };
  std::vector<UpCase> out;
  for (const auto& c : base)
    for (bool align : {false, true}) out.push_back({c.input, c.height, c.width, align});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Sizes, UpsampleParity, ::testing::ValuesIn(upsample_cases()));

// ---------------------------------------------------------------------------------------------
// MaxPool2d

struct PoolCase {
  nn::MaxPool2dOptions options;
  Shape input;
};

class MaxPoolParity : public ::testing::TestWithParam<PoolCase> {};

TEST_P(MaxPoolParity, MatchesPyTorch) {
  LABOR_REQUIRE_TORCH();
  const auto& c = GetParam();
  labor::Rng rng(7);
  const auto x = normal_tensor(c.input, rng);  // continuous values: no ties
  nn::MaxPool2d<float> pool(c.options);
  const auto y = pool.forward(x);
  const auto gy = normal_tensor(y.shape(), rng);
  const auto dx = pool.backward(gy);
  TempDir dir;
  write_npy(dir / "x.npy", x);
  write_npy(dir / "grad_out.npy", gy);
  run_torch("nn_ref.py", "max_pool", dir.path(),
            {std::to_string(c.options.kernel_size), std::to_string(pool.options().stride),
             std::to_string(c.options.padding), c.options.ceil_mode ? "1" : "0"});
  // Selection is exact; dx sums at most ⌈k/s⌉² gradients per element.
  EXPECT_LE(max_relative_error(y, reference(dir, "y")), tolerance);
  EXPECT_LE(max_relative_error(dx, reference(dir, "dx")), tolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, MaxPoolParity,
    ::testing::Values(PoolCase{{.kernel_size = 2}, Shape{2, 3, 9, 11}},
                      PoolCase{{.kernel_size = 2, .ceil_mode = true}, Shape{2, 3, 9, 11}},
                      PoolCase{{.kernel_size = 3, .stride = 2, .padding = 1}, Shape{2, 4, 17, 14}},
                      PoolCase{{.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true}, Shape{2, 4, 17, 14}},
                      PoolCase{{.kernel_size = 3, .stride = 1, .padding = 1}, Shape{1, 2, 10, 7}},
                      PoolCase{{.kernel_size = 2, .stride = 3, .ceil_mode = true}, Shape{1, 3, 11, 13}},
                      PoolCase{{.kernel_size = 3, .stride = 3, .padding = 1, .ceil_mode = true}, Shape{1, 2, 5, 8}},
                      PoolCase{{.kernel_size = 4, .stride = 2, .padding = 2, .ceil_mode = true}, Shape{1, 2, 12, 9}}));

// ---------------------------------------------------------------------------------------------
// Softmax and activations

TEST(SoftmaxParity, MatchesPyTorch) {
  LABOR_REQUIRE_TORCH();
  labor::Rng rng(8);
  const auto x = normal_tensor(Shape{2, 19, 9, 33}, rng, 0.0f, 10.0f);  // peaked distributions
  const auto gy = normal_tensor(x.shape(), rng);
  TempDir dir;
  write_npy(dir / "x.npy", x);
  write_npy(dir / "grad_out.npy", gy);
  run_torch("nn_ref.py", "softmax", dir.path());
  nn::Softmax<float> sm;
  const auto y = sm.forward(x);
  const auto dx = sm.backward(gy);
  EXPECT_LE(max_relative_error(y, reference(dir, "y")), tolerance);
  EXPECT_LE(max_relative_error(dx, reference(dir, "dx")), tolerance);
}

class LeakyReluParity : public ::testing::TestWithParam<double> {};

TEST_P(LeakyReluParity, MatchesPyTorch) {
  LABOR_REQUIRE_TORCH();
  labor::Rng rng(9);
  auto x = normal_tensor(Shape{2, 5, 7, 9}, rng);
  x[0] = 0.0f;  // the derivative at 0
  const auto gy = normal_tensor(x.shape(), rng);
  TempDir dir;
  write_npy(dir / "x.npy", x);
  write_npy(dir / "grad_out.npy", gy);
  run_torch("nn_ref.py", "leaky_relu", dir.path(), {fmt::format("{}", GetParam())});
  nn::LeakyReLU<float> act(GetParam());
  const auto y = act.forward(x);
  const auto dx = act.backward(gy);
  EXPECT_LE(max_relative_error(y, reference(dir, "y")), tolerance);
  EXPECT_LE(max_relative_error(dx, reference(dir, "dx")), tolerance);
}

INSTANTIATE_TEST_SUITE_P(Slopes, LeakyReluParity, ::testing::Values(0.2, 0.01));

TEST(ReluParity, MatchesPyTorch) {
  LABOR_REQUIRE_TORCH();
  labor::Rng rng(10);
  auto x = normal_tensor(Shape{2, 5, 7, 9}, rng);
  x[0] = 0.0f;
  const auto gy = normal_tensor(x.shape(), rng);
  TempDir dir;
  write_npy(dir / "x.npy", x);
  write_npy(dir / "grad_out.npy", gy);
  run_torch("nn_ref.py", "relu", dir.path());
  nn::ReLU<float> act;
  const auto y = act.forward(x);
  const auto dx = act.backward(gy);
  EXPECT_EQ(max_relative_error(y, reference(dir, "y")), 0.0);
  EXPECT_EQ(max_relative_error(dx, reference(dir, "dx")), 0.0);
}

}  // namespace
