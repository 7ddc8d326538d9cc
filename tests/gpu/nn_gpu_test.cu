// CPU/GPU parity of the nn layers: each case is one template over the device, run on the CPU and
// on the GPU with the same random inputs; outputs, input gradients and parameter gradients agree
// within float tolerance. Label `gpu`; skipped without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
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
using labor::testing::expect_error;
using labor::testing::on;
using labor::testing::PoisonScope;
using labor::testing::random_normal;
using labor::testing::random_uniform;
namespace nn = labor::nn;

constexpr double tol = 1e-5;

/// A name for a case in failure messages.
std::string label(const std::string& what, const Shape& s) {
  return what + " " + s.to_string();
}

// ---------------------------------------------------------------------------------------------
// Activations

template <Device D>
struct ActivationOut {
  Tensor<float, D> relu_y, relu_dx, leaky_y, leaky_dx;
};

template <Device D>
ActivationOut<D> run_activations(const Tensor<float>& x_host, const Tensor<float>& g_host) {
  const auto x = on<D>(x_host), g = on<D>(g_host);
  nn::ReLU<float, D> relu;
  nn::LeakyReLU<float, D> leaky(0.2);
  ActivationOut<D> out;
  out.relu_y = relu.forward(x);
  out.relu_dx = relu.backward(g);
  out.leaky_y = leaky.forward(x);
  out.leaky_dx = leaky.backward(g);
  return out;
}

TEST(NnGpu, ActivationsMatchCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  labor::Rng rng(11);
  auto x = random_normal(Shape{3, 5, 17, 19}, rng);
  x[0] = 0.0f;  // the derivative at 0 is PyTorch's 0 for ReLU and the slope for LeakyReLU
  const auto g = random_normal(x.shape(), rng);
  const auto want = run_activations<cpu>(x, g);
  const auto got = run_activations<cuda>(x, g);
  expect_close(want.relu_y, got.relu_y, tol, "relu y");
  expect_close(want.relu_dx, got.relu_dx, tol, "relu dx");
  expect_close(want.leaky_y, got.leaky_y, tol, "leaky y");
  expect_close(want.leaky_dx, got.leaky_dx, tol, "leaky dx");
}

// ---------------------------------------------------------------------------------------------
// BatchNorm2d

struct BatchNormCase {
  Shape shape;
  nn::BatchNorm2dOptions options;
  bool training = true;
  bool freeze_weight = false;  // weight.trainable = false after construction
  bool freeze_bias = false;    // bias.trainable = false after construction
  float offset = 0;            // added to the inputs (a large mean)
};

/// Inputs of one BatchNorm2d case: two batches, the gradient for the second, the affine
/// parameters, the running statistics and the gradients the parameters start from.
struct BatchNormIn {
  Tensor<float> x1, x2, g, weight, bias, running_mean, running_var, weight_grad, bias_grad;
};

template <Device D>
struct BatchNormOut {
  Tensor<float, D> y1, y2, dx, weight_grad, bias_grad, running_mean, running_var;
};

BatchNormIn batch_norm_inputs(const BatchNormCase& c, labor::Rng& rng) {
  const Shape ch{c.shape[1]};
  BatchNormIn in;
  in.x1 = random_normal(c.shape, rng, c.offset, 2.0f);
  in.x2 = random_normal(c.shape, rng, c.offset, 0.5f);
  in.g = random_normal(c.shape, rng);
  in.weight = random_normal(ch, rng, 1.0f, 0.5f);
  in.bias = random_normal(ch, rng);
  in.running_mean = random_normal(ch, rng);
  in.running_var = random_uniform(ch, rng, 0.5f, 2.0f);
  in.weight_grad = random_normal(ch, rng);
  in.bias_grad = random_normal(ch, rng);
  return in;
}

/// Two forwards (the running statistics move twice in training mode), then backward of the second.
template <Device D>
BatchNormOut<D> run_batch_norm(const BatchNormCase& c, const BatchNormIn& in) {
  nn::BatchNorm2d<float, D> bn(c.options);
  if (c.options.affine) {
    bn.weight().value = on<D>(in.weight);
    bn.bias().value = on<D>(in.bias);
    bn.weight().grad = on<D>(in.weight_grad);
    bn.bias().grad = on<D>(in.bias_grad);
    if (c.freeze_weight) bn.weight().trainable = false;
    if (c.freeze_bias) bn.bias().trainable = false;
  }
  bn.running_mean() = on<D>(in.running_mean);
  bn.running_var() = on<D>(in.running_var);
  bn.set_training(c.training);
  BatchNormOut<D> out;
  out.y1 = bn.forward(on<D>(in.x1));
  out.y2 = bn.forward(on<D>(in.x2));
  out.dx = bn.backward(on<D>(in.g));
  if (c.options.affine) {
    out.weight_grad = bn.weight().grad;
    out.bias_grad = bn.bias().grad;
  }
  out.running_mean = bn.running_mean();
  out.running_var = bn.running_var();
  return out;
}

/// A host copy of every output.
template <Device D>
BatchNormOut<cpu> host_copy(const BatchNormOut<D>& o) {
  using labor::testing::host;
  return {host(o.y1),        host(o.y2),           host(o.dx),         host(o.weight_grad),
          host(o.bias_grad), host(o.running_mean), host(o.running_var)};
}

template <Device D>
void expect_batch_norm_close(const BatchNormOut<cpu>& want, const BatchNormOut<D>& got, double tolerance,
                             const std::string& what) {
  expect_close(want.y1, got.y1, tolerance, what + " y (first batch)");
  expect_close(want.y2, got.y2, tolerance, what + " y (second batch)");
  expect_close(want.dx, got.dx, tolerance, what + " dx");
  expect_close(want.weight_grad, got.weight_grad, tolerance, what + " dweight");
  expect_close(want.bias_grad, got.bias_grad, tolerance, what + " dbias");
  expect_close(want.running_mean, got.running_mean, tolerance, what + " running_mean");
  expect_close(want.running_var, got.running_var, tolerance, what + " running_var");
}

TEST(NnGpu, BatchNormMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  const std::vector<BatchNormCase> cases = {
      {Shape{2, 3, 5, 7}, {.num_features = 3}},
      {Shape{4, 5, 1, 1}, {.num_features = 5}},  // one pixel per plane, four values per channel
      {Shape{8, 64, 1, 1}, {.num_features = 64, .eps = 1e-3, .momentum = 0.01}},
      {Shape{1, 7, 13, 11}, {.num_features = 7, .eps = 1e-3, .momentum = 0.3}},
      {Shape{3, 17, 33, 35}, {.num_features = 17, .momentum = 1.0}, true, false, false, 100.0f},
      {Shape{2, 6, 9, 10}, {.num_features = 6, .momentum = 0.0}},
      {Shape{2, 6, 9, 10}, {.num_features = 6, .affine = false}},
      {Shape{2, 6, 9, 10}, {.num_features = 6}, false},
      {Shape{2, 6, 9, 10}, {.num_features = 6, .affine = false}, false},
      {Shape{2, 6, 9, 10}, {.num_features = 6, .frozen = true}},
      {Shape{2, 6, 9, 10}, {.num_features = 6, .frozen = true}, false},
      {Shape{3, 4, 7, 5}, {.num_features = 4}, true, true, false},
      {Shape{3, 4, 7, 5}, {.num_features = 4}, true, false, true},
      {Shape{3, 4, 7, 5}, {.num_features = 4}, false, true, false},  // x̂ not kept, bias gradient only
      {Shape{3, 4, 7, 5}, {.num_features = 4}, false, false, true},
      {Shape{1, 3, 1, 1}, {.num_features = 3, .eps = 0.5}, false},  // a single value in evaluation mode
  };
  labor::Rng rng(21);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const std::string what = label("case " + std::to_string(i), c.shape);
    const auto in = batch_norm_inputs(c, rng);
    const auto want = run_batch_norm<cpu>(c, in);
    const auto got = run_batch_norm<cuda>(c, in);
    expect_batch_norm_close(want, got, tol, what);
    // The per-channel reductions run in a fixed order: a second GPU run is bit-identical.
    expect_batch_norm_close(host_copy(got), run_batch_norm<cuda>(c, in), 0.0, what + " rerun");
  }
}

TEST(NnGpu, BatchNormBadInput) {
  LABOR_REQUIRE_GPU();
  nn::BatchNorm2d<float, cuda> bn({.num_features = 4});
  expect_error(
      [&] {
        bn.backward(Tensor<float, cuda>(Shape{2, 4, 3, 3}));
      },
      {"BatchNorm2d", "backward called before forward"});
  expect_error([&] { bn.forward(Tensor<float, cuda>(Shape{4, 3, 3})); }, {"BatchNorm2d", "rank", "got 3"});
  expect_error(
      [&] {
        bn.forward(Tensor<float, cuda>(Shape{2, 5, 3, 3}));
      },
      {"BatchNorm2d: input channels: expected 4, got 5"});
  expect_error(
      [&] {
        bn.forward(Tensor<float, cuda>(Shape{1, 4, 1, 1}));
      },
      {"BatchNorm2d", "values per channel", "got 1"});
  bn.forward(Tensor<float, cuda>(Shape{2, 4, 3, 3}));
  expect_error([&] { bn.backward(Tensor<float, cuda>(Shape{2, 4, 3, 2})); }, {"BatchNorm2d", "grad_out shape"});
}

TEST(NnGpu, ParametersAndZeroGradOnDevice) {
  LABOR_REQUIRE_GPU();
  nn::BatchNorm2d<float, cuda> bn({.num_features = 5});
  EXPECT_EQ(labor::testing::host(bn.running_var())[4], 1.0f);
  EXPECT_EQ(labor::testing::host(bn.weight().value)[0], 1.0f);
  labor::Rng rng(5);
  bn.weight().grad = on<cuda>(random_normal(Shape{5}, rng));
  bn.bias().grad = on<cuda>(random_normal(Shape{5}, rng));
  const auto names = nn::named_parameters(bn, "bn.");
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].first, "bn.weight");
  EXPECT_EQ(nn::trainable_parameters(bn).size(), 2u);
  nn::zero_grad(bn);
  expect_close(Tensor<float>(Shape{5}), bn.weight().grad, 0.0, "weight grad after zero_grad");
  expect_close(Tensor<float>(Shape{5}), bn.bias().grad, 0.0, "bias grad after zero_grad");
}

// ---------------------------------------------------------------------------------------------
// MaxPool2d

struct PoolCase {
  Shape shape;
  nn::MaxPool2dOptions options;
  bool ties = false;  // inputs rounded to integers: many equal values in overlapping windows
};

template <Device D>
struct PoolOut {
  Tensor<float, D> y, dx;
};

template <Device D>
PoolOut<D> run_max_pool(const PoolCase& c, const Tensor<float>& x, const Tensor<float>& g) {
  nn::MaxPool2d<float, D> pool(c.options);
  PoolOut<D> out;
  out.y = pool.forward(on<D>(x));
  out.dx = pool.backward(on<D>(g));
  return out;
}

TEST(NnGpu, MaxPoolMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  const std::vector<PoolCase> cases = {
      {Shape{2, 3, 17, 19}, {.kernel_size = 3, .stride = 2, .padding = 1}},  // ResNet's stem
      {Shape{2, 3, 17, 19}, {.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true}},
      {Shape{1, 2, 16, 16}, {.kernel_size = 2, .stride = 2}},
      {Shape{1, 2, 15, 13}, {.kernel_size = 2, .stride = 2, .ceil_mode = true}},
      {Shape{2, 2, 9, 11}, {.kernel_size = 3, .stride = 1, .padding = 1}, true},
      {Shape{1, 3, 10, 12}, {.kernel_size = 3, .stride = 2, .padding = 1}, true},
      {Shape{1, 1, 5, 6}, {.kernel_size = 4, .stride = 2, .padding = 2, .ceil_mode = true}, true},
      {Shape{1, 2, 7, 7}, {.kernel_size = 2, .stride = 3}},  // stride > kernel: some inputs in no window
      {Shape{1, 1, 2, 2}, {.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true}},
      {Shape{2, 3, 65, 67}, {.kernel_size = 3, .stride = 2, .padding = 1}, true},
  };
  labor::Rng rng(31);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    auto x = random_normal(c.shape, rng, 0.0f, 3.0f);
    if (c.ties)
      for (std::int64_t j = 0; j < x.numel(); ++j) x[j] = std::floor(x[j]);
    nn::MaxPool2d<float> shape_of(c.options);
    const auto g = random_normal(shape_of.forward(x).shape(), rng);
    const std::string what = label("case " + std::to_string(i), c.shape);
    const auto want = run_max_pool<cpu>(c, x, g);
    const auto got = run_max_pool<cuda>(c, x, g);
    // Same comparisons and the same additions in the same order: bit-identical.
    expect_close(want.y, got.y, 0.0, what + " y");
    expect_close(want.dx, got.dx, 0.0, what + " dx");
  }
  // A constant input: every window ties everywhere; the first element of each (clipped) window wins.
  const PoolCase flat{Shape{1, 2, 6, 7}, {.kernel_size = 3, .stride = 1, .padding = 1}};
  const auto x = Tensor<float>::full(flat.shape, -2.0f);
  const auto g = random_normal(Shape{1, 2, 6, 7}, rng);
  expect_close(run_max_pool<cpu>(flat, x, g).dx, run_max_pool<cuda>(flat, x, g).dx, 0.0, "constant input dx");
}

TEST(NnGpu, MaxPoolBadInput) {
  LABOR_REQUIRE_GPU();
  nn::MaxPool2d<float, cuda> pool({.kernel_size = 3, .stride = 2});
  expect_error(
      [&] {
        pool.backward(Tensor<float, cuda>(Shape{1, 1, 2, 2}));
      },
      {"MaxPool2d", "backward called before forward"});
  expect_error([&] { pool.forward(Tensor<float, cuda>(Shape{5, 5})); }, {"MaxPool2d", "rank"});
  expect_error([&] { pool.forward(Tensor<float, cuda>(Shape{1, 1, 2, 5})); }, {"MaxPool2d", "input size"});
  pool.forward(Tensor<float, cuda>(Shape{1, 1, 5, 5}));
  expect_error([&] { pool.backward(Tensor<float, cuda>(Shape{1, 1, 5, 5})); }, {"MaxPool2d", "grad_out shape"});
}

// ---------------------------------------------------------------------------------------------
// Bilinear resizing

struct UpsampleCase {
  Shape input;
  std::int64_t height, width;
};

template <Device D>
struct UpsampleOut {
  Tensor<float, D> y, dx, layer_y, layer_dx;
};

template <Device D>
UpsampleOut<D> run_upsample(const UpsampleCase& c, bool align, const Tensor<float>& x, const Tensor<float>& g) {
  UpsampleOut<D> out;
  out.y = nn::upsample_bilinear(on<D>(x), c.height, c.width, align);
  out.dx = nn::upsample_bilinear_backward(on<D>(g), c.input[2], c.input[3], align);
  nn::UpsampleBilinear<float, D> layer({.out_height = c.height, .out_width = c.width, .align_corners = align});
  out.layer_y = layer.forward(on<D>(x));
  out.layer_dx = layer.backward(on<D>(g));
  return out;
}

TEST(NnGpu, UpsampleBilinearMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  const std::vector<UpsampleCase> cases = {
      {Shape{2, 3, 9, 11}, 33, 41},    // up, non-integer ratios
      {Shape{1, 2, 31, 29}, 8, 7},     // down
      {Shape{1, 3, 7, 5}, 12, 13},     // up in one axis by a ratio below 2, more in the other
      {Shape{1, 3, 12, 13}, 7, 5},     // down by ratios below 2
      {Shape{2, 2, 1, 1}, 5, 4},       // a 1×1 input
      {Shape{1, 2, 6, 7}, 1, 1},       // a 1×1 output
      {Shape{1, 1, 5, 6}, 5, 6},       // same size
      {Shape{1, 2, 8, 9}, 64, 72},     // by 8, as logits to labels
      {Shape{1, 2, 65, 65}, 513, 513}  // DeepLab's 1/8 logits to a 513 crop
  };
  labor::Rng rng(41);
  for (const auto& c : cases)
    for (const bool align : {false, true}) {
      const auto x = random_normal(c.input, rng);
      const auto g = random_normal(Shape{c.input[0], c.input[1], c.height, c.width}, rng);
      const std::string what = label(align ? "align_corners" : "half-pixel", c.input) + " -> " +
                               std::to_string(c.height) + "x" + std::to_string(c.width);
      const auto want = run_upsample<cpu>(c, align, x, g);
      const auto got = run_upsample<cuda>(c, align, x, g);
      expect_close(want.y, got.y, tol, what + " y");
      expect_close(want.dx, got.dx, tol, what + " dx");
      expect_close(want.layer_y, got.layer_y, tol, what + " layer y");
      expect_close(want.layer_dx, got.layer_dx, tol, what + " layer dx");
      // The backward gathers per input element: a second run is bit-identical.
      expect_close(labor::testing::host(got.dx), run_upsample<cuda>(c, align, x, g).dx, 0.0, what + " dx rerun");
    }
}

TEST(NnGpu, UpsampleBilinearBadInput) {
  LABOR_REQUIRE_GPU();
  const Tensor<float, cuda> x(Shape{1, 1, 2, 2});
  expect_error([&] { (void)nn::upsample_bilinear(x, 3, 0); }, {"upsample_bilinear", "output size", "got 3×0"});
  expect_error(
      [&] {
        (void)nn::upsample_bilinear(Tensor<float, cuda>(Shape{2, 2, 2}), 3, 3);
      },
      {"upsample_bilinear", "rank"});
  expect_error([&] { (void)nn::upsample_bilinear_backward(x, 0, 2); }, {"upsample_bilinear_backward", "input size"});
  nn::UpsampleBilinear<float, cuda> layer({.out_height = 4, .out_width = 4});
  expect_error(
      [&] {
        layer.backward(Tensor<float, cuda>(Shape{1, 1, 4, 4}));
      },
      {"UpsampleBilinear", "backward called before forward"});
}

// ---------------------------------------------------------------------------------------------
// Softmax over channels

template <Device D>
struct SoftmaxOut {
  Tensor<float, D> y, dx, layer_y, layer_dx;
};

template <Device D>
SoftmaxOut<D> run_softmax(const Tensor<float>& x, const Tensor<float>& g) {
  SoftmaxOut<D> out;
  out.y = nn::softmax_channels(on<D>(x));
  out.dx = nn::softmax_channels_backward(out.y, on<D>(g));
  nn::Softmax<float, D> layer;
  out.layer_y = layer.forward(on<D>(x));
  out.layer_dx = layer.backward(on<D>(g));
  return out;
}

TEST(NnGpu, SoftmaxMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  struct Case {
    Shape shape;
    float scale, offset;  // logits scale·N(0, 1) + offset
  };
  const std::vector<Case> cases = {
      {Shape{2, 5, 13, 17}, 1.0f, 0.0f},
      {Shape{1, 19, 33, 31}, 3.0f, 0.0f},
      {Shape{3, 1, 4, 4}, 1.0f, 0.0f},
      {Shape{2, 2, 1, 1}, 1.0f, 0.0f},
      {Shape{2, 7, 9, 11}, 1000.0f, 0.0f},   // nearly one-hot: the maximum must
                                             // be subtracted
      {Shape{2, 7, 9, 11}, 1.0f, 10000.0f},  // large logits
      {Shape{1, 4, 5, 3}, 50.0f, -30000.0f},
  };
  labor::Rng rng(51);
  for (const auto& c : cases) {
    const auto x = random_normal(c.shape, rng, c.offset, c.scale);
    const auto g = random_normal(c.shape, rng);
    const std::string what = label("softmax", c.shape) + " scale " + std::to_string(c.scale);
    const auto want = run_softmax<cpu>(x, g);
    const auto got = run_softmax<cuda>(x, g);
    expect_close(want.y, got.y, tol, what + " y");
    expect_close(want.dx, got.dx, tol, what + " dx");
    expect_close(want.layer_y, got.layer_y, tol, what + " layer y");
    expect_close(want.layer_dx, got.layer_dx, tol, what + " layer dx");
    const auto y = labor::testing::host(got.y);
    for (std::int64_t i = 0; i < y.numel(); ++i) ASSERT_TRUE(std::isfinite(y[i])) << what << " element " << i;
  }
}

TEST(NnGpu, SoftmaxBadInput) {
  LABOR_REQUIRE_GPU();
  expect_error([] { (void)nn::softmax_channels(Tensor<float, cuda>(Shape{3, 4})); }, {"softmax_channels", "rank"});
  const Tensor<float, cuda> y(Shape{1, 3, 2, 2});
  expect_error(
      [&] {
        (void)nn::softmax_channels_backward(y, Tensor<float, cuda>(Shape{1, 3, 2, 3}));
      },
      {"softmax_channels_backward", "grad_out shape"});
  nn::Softmax<float, cuda> layer;
  expect_error([&] { layer.backward(y); }, {"Softmax", "backward called before forward"});
}

// ---------------------------------------------------------------------------------------------
// Residual sums

template <Device D>
Tensor<float, D> run_add(const Tensor<float>& a, const Tensor<float>& b) {
  auto sum = labor::add(on<D>(a), on<D>(b));
  labor::add_inplace(sum, on<D>(b));
  return sum;  // a + 2b
}

TEST(NnGpu, AddMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  labor::Rng rng(61);
  for (const Shape& s : {Shape{3, 5, 17, 19}, Shape{7}, Shape{100003}}) {
    const auto a = random_normal(s, rng), b = random_normal(s, rng);
    expect_close(run_add<cpu>(a, b), run_add<cuda>(a, b), 0.0, label("a + 2b", s));
  }
  Tensor<float, cuda> a(Shape{2, 3});
  expect_error([&] { labor::add_inplace(a, Tensor<float, cuda>(Shape{3, 2})); }, {"add: shapes"});
  expect_error([&] { (void)labor::add(a, Tensor<float, cuda>(Shape{6})); }, {"add: shapes"});
}

}  // namespace
