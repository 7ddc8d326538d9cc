// The bottleneck block and the ResNet backbones: gradients in double (also through the auxiliary
// layer3 gradient), torchvision's parameter names and counts, output shapes and strides of each
// layout, and bad options.

#include <gtest/gtest.h>

#include <set>
#include <string>

#include <labor/models/backbone.hpp>
#include <labor/models/bottleneck.hpp>
#include <labor/models/resnet.hpp>
#include <labor/nn/max_pool2d.hpp>

#include "support/errors.hpp"
#include "support/gradcheck.hpp"

namespace {

using labor::Rng;
using labor::Shape;
using labor::Tensor;
namespace models = labor::models;
using models::ResNetLayout;

static_assert(models::Backbone<models::BasicResNet<float>>);
static_assert(models::Backbone<models::BottleneckResNet<float>>);
static_assert(labor::nn::Layer<models::Bottleneck<double>>);

Tensor<double> random_input(Shape s, std::uint64_t seed) {
  Tensor<double> x(s);
  Rng rng(seed);
  labor::fill_uniform(x.view(), rng, -1.0, 1.0);
  return x;
}

template <class L>
std::set<std::string> state_names(L& layer) {
  std::set<std::string> out;
  for (auto& [name, p] : labor::nn::named_parameters(layer)) out.insert(name);
  for (auto& [name, t] : labor::nn::named_buffers(layer)) out.insert(name);
  return out;
}

template <class L>
std::int64_t parameter_count(L& layer) {
  std::int64_t n = 0;
  for (auto& [name, p] : labor::nn::named_parameters(layer)) n += p->value.numel();
  return n;
}

// Random running statistics, so that evaluation-mode and frozen batch norm are not the identity.
template <class L>
void randomise_buffers(L& layer, std::uint64_t seed) {
  Rng rng(seed);
  for (auto& [name, t] : labor::nn::named_buffers(layer)) {
    using T = typename L::value_type;
    const bool var = name.ends_with("running_var");
    labor::fill_uniform(t->view(), rng, var ? T(0.5) : T(-0.2), var ? T(1.5) : T(0.2));
  }
}

// ---------------------------------------------------------------------------------------------
// Bottleneck

TEST(Bottleneck, GradientWithProjectionAndStrideOn3x3) {
  Rng rng(1);
  models::Bottleneck<double> block({.in_channels = 3, .planes = 2, .stride = 2}, rng);
  EXPECT_TRUE(block.has_downsample());
  auto x = random_input(Shape{2, 3, 5, 6}, 2);
  EXPECT_EQ(block.forward(x).shape(), (Shape{2, 8, 3, 3}));
  labor::testing::expect_layer_gradients(block, x);
}

TEST(Bottleneck, GradientWithStrideOn1x1) {
  Rng rng(3);
  models::Bottleneck<double> block({.in_channels = 4, .planes = 2, .stride = 2, .stride_in_1x1 = true}, rng);
  auto x = random_input(Shape{2, 4, 6, 5}, 4);
  EXPECT_EQ(block.forward(x).shape(), (Shape{2, 8, 3, 3}));
  labor::testing::expect_layer_gradients(block, x);
}

TEST(Bottleneck, GradientWithIdentityShortcutDilationAndFrozenBatchNorm) {
  Rng rng(5);
  models::Bottleneck<double> block({.in_channels = 8, .planes = 2, .stride = 1, .dilation = 2, .frozen_bn = true}, rng);
  EXPECT_FALSE(block.has_downsample());
  randomise_buffers(block, 6);
  auto x = random_input(Shape{1, 8, 5, 5}, 7);
  EXPECT_EQ(block.forward(x).shape(), (Shape{1, 8, 5, 5}));
  labor::testing::expect_layer_gradients(block, x);
  // Frozen batch norm: only the three convolutions train.
  EXPECT_EQ(labor::nn::trainable_parameters(block).size(), 3u);
}

TEST(Bottleneck, StridePlacementChangesTheResult) {
  // Same weights, stride on the 1×1 or on the 3×3: different functions of the input.
  Rng r1(9), r2(9);
  models::Bottleneck<double> a({.in_channels = 4, .planes = 2, .stride = 2}, r1);
  models::Bottleneck<double> b({.in_channels = 4, .planes = 2, .stride = 2, .stride_in_1x1 = true}, r2);
  auto x = random_input(Shape{1, 4, 6, 6}, 10);
  const auto ya = a.forward(x), yb = b.forward(x);
  ASSERT_EQ(ya.shape(), yb.shape());
  double diff = 0;
  for (std::int64_t i = 0; i < ya.numel(); ++i) diff += std::abs(ya[i] - yb[i]);
  EXPECT_GT(diff, 1e-3);
}

TEST(Bottleneck, TorchvisionNames) {
  Rng rng(1);
  models::Bottleneck<float> block({.in_channels = 4, .planes = 2}, rng);
  const std::set<std::string> expected = {"conv1.weight",
                                          "bn1.weight",
                                          "bn1.bias",
                                          "bn1.running_mean",
                                          "bn1.running_var",
                                          "conv2.weight",
                                          "bn2.weight",
                                          "bn2.bias",
                                          "bn2.running_mean",
                                          "bn2.running_var",
                                          "conv3.weight",
                                          "bn3.weight",
                                          "bn3.bias",
                                          "bn3.running_mean",
                                          "bn3.running_var",
                                          "downsample.0.weight",
                                          "downsample.1.weight",
                                          "downsample.1.bias",
                                          "downsample.1.running_mean",
                                          "downsample.1.running_var"};
  EXPECT_EQ(state_names(block), expected);
  auto named = labor::nn::named_parameters(block);
  EXPECT_EQ(named[0].second->value.shape(), (Shape{2, 4, 1, 1}));
}

// ---------------------------------------------------------------------------------------------
// ResNet: options, names, counts

TEST(ResNet, BadDepthIsRefused) {
  labor::testing::expect_error([] { (void)models::resnet_options(152); }, {"depth", "152"});
  labor::testing::expect_error([] { (void)models::resnet_options(0); }, {"depth", "18, 34, 50 or 101"});
  Rng rng(1);
  labor::testing::expect_error([&] { models::BasicResNet<float> net(models::resnet_options(50), rng); },
                               {"depth 50", "bottleneck"});
  labor::testing::expect_error([&] { models::BottleneckResNet<float> net(models::resnet_options(18), rng); },
                               {"depth 18", "basic"});
  auto o = models::resnet_options(18);
  o.depth = 20;
  labor::testing::expect_error([&] { models::BasicResNet<float> net(o, rng); }, {"depth", "20"});
}

TEST(ResNet, LayoutPresets) {
  const auto tv = models::resnet_options(50);
  EXPECT_EQ(tv.strides, (std::array<std::int64_t, 4>{1, 2, 2, 2}));
  EXPECT_FALSE(tv.stride_in_1x1 || tv.ceil_mode || tv.frozen_bn);
  const auto os8 = models::resnet_options(50, ResNetLayout::torchvision_os8);
  EXPECT_EQ(os8.strides, (std::array<std::int64_t, 4>{1, 2, 1, 1}));
  EXPECT_EQ(os8.first_dilations, (std::array<std::int64_t, 4>{1, 1, 1, 2}));
  EXPECT_EQ(os8.dilations, (std::array<std::int64_t, 4>{1, 1, 2, 4}));
  const auto dl = models::deeplabv2_options();
  EXPECT_EQ(dl.depth, 101);
  EXPECT_EQ(dl.blocks, (std::array<std::int64_t, 4>{3, 4, 23, 3}));
  EXPECT_EQ(dl.strides, (std::array<std::int64_t, 4>{1, 2, 1, 1}));
  EXPECT_EQ(dl.first_dilations, (std::array<std::int64_t, 4>{1, 1, 2, 4}));
  EXPECT_EQ(dl.dilations, (std::array<std::int64_t, 4>{1, 1, 2, 4}));
  EXPECT_TRUE(dl.stride_in_1x1 && dl.ceil_mode && dl.frozen_bn);
}

// torchvision's sum(p.numel() for p in resnetNN().parameters()) without fc.weight and fc.bias, and
// len(state_dict()) without fc.* and *.num_batches_tracked.
struct CountCase {
  std::int64_t depth;
  std::int64_t parameters;
  std::size_t state_keys;
};

class ResNetCounts : public ::testing::TestWithParam<CountCase> {};

TEST_P(ResNetCounts, MatchTorchvision) {
  const auto c = GetParam();
  Rng rng(1);
  const auto o = models::resnet_options(c.depth);
  if (models::resnet_uses_bottleneck(c.depth)) {
    models::BottleneckResNet<float> net(o, rng);
    EXPECT_EQ(parameter_count(net), c.parameters);
    EXPECT_EQ(state_names(net).size(), c.state_keys);
    EXPECT_EQ(net.out_channels(), 2048);
  } else {
    models::BasicResNet<float> net(o, rng);
    EXPECT_EQ(parameter_count(net), c.parameters);
    EXPECT_EQ(state_names(net).size(), c.state_keys);
    EXPECT_EQ(net.out_channels(), 512);
  }
}

INSTANTIATE_TEST_SUITE_P(Depths, ResNetCounts,
                         ::testing::Values(CountCase{18, 11'689'512 - 513'000, 100},
                                           CountCase{34, 21'797'672 - 513'000, 180},
                                           CountCase{50, 25'557'032 - 2'049'000, 265},
                                           CountCase{101, 44'549'160 - 2'049'000, 520}));

TEST(ResNet, TorchvisionNames) {
  Rng rng(1);
  models::BottleneckResNet<float> net(models::resnet_options(50), rng);
  const auto names = state_names(net);
  for (const char* n :
       {"conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_var",
        "layer3.5.conv2.weight", "layer4.2.bn3.bias", "layer2.0.downsample.0.weight"})
    EXPECT_TRUE(names.count(n)) << n;
  for (const char* n : {"layer3.6.conv1.weight", "layer2.1.downsample.0.weight", "fc.weight", "layer1.0.conv4.weight"})
    EXPECT_FALSE(names.count(n)) << n;
  // Depth 18: layer1 keeps 64 channels, no projection; layer2 projects.
  models::BasicResNet<float> r18(models::resnet_options(18), rng);
  const auto n18 = state_names(r18);
  EXPECT_FALSE(n18.count("layer1.0.downsample.0.weight"));
  EXPECT_TRUE(n18.count("layer2.0.downsample.0.weight"));
  EXPECT_TRUE(n18.count("layer4.1.bn2.running_var"));
}

TEST(ResNet, DeepLabV2BatchNormFrozenByDefaultTrainableByOption) {
  Rng rng(1);
  auto o = models::resnet_options(50, ResNetLayout::deeplabv2);
  models::BottleneckResNet<float> frozen(o, rng);
  // Only convolutions train: conv1 plus 3 per block (16 blocks) plus 4 projections.
  EXPECT_EQ(labor::nn::trainable_parameters(frozen).size(), 1u + 3u * 16u + 4u);
  o.frozen_bn = false;
  models::BottleneckResNet<float> trainable(o, rng);
  EXPECT_EQ(labor::nn::trainable_parameters(trainable).size(), labor::nn::named_parameters(trainable).size());
}

// ---------------------------------------------------------------------------------------------
// ResNet: shapes and output strides

std::int64_t conv_out(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p) {
  return (in + 2 * p - k) / s + 1;
}

// Spatial size after the stem (conv 7×7/2 pad 3, max pool 3×3/2 pad 1) and the strided layers.
std::int64_t expected_size(std::int64_t in, const models::ResNetOptions& o) {
  std::int64_t v = labor::nn::max_pool_output_size(conv_out(in, 7, 2, 3), 3, 2, 1, o.ceil_mode);
  for (auto s : o.strides) v = s == 1 ? v : (o.stride_in_1x1 ? conv_out(v, 1, s, 0) : conv_out(v, 3, s, 1));
  return v;
}

struct ShapeCase {
  std::int64_t depth;
  ResNetLayout layout;
  std::int64_t output_stride;
};

class ResNetShapes : public ::testing::TestWithParam<ShapeCase> {};

TEST_P(ResNetShapes, OutputShapeAndStride) {
  const auto c = GetParam();
  Rng rng(2);
  const auto o = models::resnet_options(c.depth, c.layout);
  Tensor<float> x(Shape{1, 3, 50, 70});
  labor::fill_uniform(x.view(), rng, -1.0f, 1.0f);
  const std::int64_t h = expected_size(50, o), w = expected_size(70, o);
  auto check = [&](auto& net, std::int64_t channels) {
    net.set_training(false);
    EXPECT_EQ(net.output_stride(), c.output_stride);
    const auto y = net.forward(x);
    EXPECT_EQ(y.shape(), (Shape{1, channels, h, w}));
    auto o3 = o;  // layer3's output: as if layer4 did not stride
    o3.strides[3] = 1;
    EXPECT_EQ(net.layer3_features().shape(), (Shape{1, channels / 2, expected_size(50, o3), expected_size(70, o3)}));
  };
  if (models::resnet_uses_bottleneck(c.depth)) {
    models::BottleneckResNet<float> net(o, rng);
    check(net, 2048);
  } else {
    models::BasicResNet<float> net(o, rng);
    check(net, 512);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, ResNetShapes,
                         ::testing::Values(ShapeCase{18, ResNetLayout::torchvision, 32},
                                           ShapeCase{18, ResNetLayout::torchvision_os8, 8},
                                           ShapeCase{50, ResNetLayout::torchvision, 32},
                                           ShapeCase{50, ResNetLayout::torchvision_os8, 8},
                                           ShapeCase{50, ResNetLayout::deeplabv2, 8}));

TEST(ResNet, CeilModePoolingChangesTheSize) {
  // 64×96 input: the stem gives 32×48; floor pooling 16×24, ceil pooling 17×25 (DeepLab-v2).
  auto tv = models::resnet_options(50, ResNetLayout::torchvision_os8);
  auto dl = models::resnet_options(50, ResNetLayout::deeplabv2);
  EXPECT_EQ(expected_size(64, tv), 8);
  EXPECT_EQ(expected_size(64, dl), 9);
  EXPECT_EQ(expected_size(96, dl), 13);
}

// ---------------------------------------------------------------------------------------------
// ResNet: gradients (tiny widths; names and structure as the real networks)

models::ResNetOptions tiny(ResNetLayout layout, std::int64_t depth_kind) {
  auto o = models::resnet_options(depth_kind, layout);
  o.depth = 0;
  o.blocks = {1, 2, 1, 1};
  o.base_channels = 2;
  o.frozen_bn = false;
  return o;
}

// Checks backward(r, r3) against central differences of loss = Σ out ⊙ r + Σ layer3 ⊙ r3 (without the
// second term when `aux` is false, using the one-argument backward), for the input and every
// parameter (a seeded subset of 48 elements of each).
template <class Net>
void expect_network_gradients(Net& net, Tensor<double>& x, bool aux) {
  const auto y = net.forward(x);
  Tensor<double> r(y.shape()), r3(net.layer3_features().shape());
  Rng rr(16);
  labor::fill_uniform(r.view(), rr, -1.0, 1.0);
  labor::fill_uniform(r3.view(), rr, -1.0, 1.0);
  auto loss = [&] {
    const auto out = net.forward(x);
    const auto& l3 = net.layer3_features();
    double s = 0;
    for (std::int64_t i = 0; i < out.numel(); ++i) s += out[i] * r[i];
    if (aux)
      for (std::int64_t i = 0; i < l3.numel(); ++i) s += l3[i] * r3[i];
    return s;
  };
  labor::nn::zero_grad(net);
  net.forward(x);
  const auto dx = aux ? net.backward(r, r3) : net.backward(r);
  std::vector<Tensor<double>> grads;
  for (auto& [name, p] : labor::nn::named_parameters(net)) grads.push_back(p->grad);
  labor::testing::expect_gradient("input", x.view(), dx.view(), loss, 1e-6, 1e-7, 1e-5, 48);
  std::size_t k = 0;
  for (auto& [name, p] : labor::nn::named_parameters(net))
    labor::testing::expect_gradient("parameter " + name, p->value.view(), grads[k++].view(), loss, 1e-6, 1e-7, 1e-5,
                                    48);
}

TEST(ResNet, GradientOfBasicNetwork) {
  Rng rng(11);
  models::BasicResNet<double> net(tiny(ResNetLayout::torchvision, 18), rng);
  auto x = random_input(Shape{2, 3, 33, 31}, 12);
  EXPECT_EQ(net.forward(x).shape(), (Shape{2, 16, 2, 1}));
  expect_network_gradients(net, x, false);
}

TEST(ResNet, GradientWithAuxiliaryLayer3Loss) {
  // layer4's parameters do not see the layer3 term; the input, the stem and layer1..3 see both.
  Rng rng(13);
  models::BottleneckResNet<double> net(tiny(ResNetLayout::deeplabv2, 50), rng);
  auto x = random_input(Shape{2, 3, 21, 19}, 15);
  const auto y = net.forward(x);
  EXPECT_EQ(y.shape(), (Shape{2, 64, expected_size(21, net.options()), expected_size(19, net.options())}));
  EXPECT_EQ(net.layer3_features().size(1), 32);
  expect_network_gradients(net, x, true);
}

TEST(ResNet, AuxiliaryGradientOfWrongShapeIsRefused) {
  Rng rng(17);
  models::BottleneckResNet<double> net(tiny(ResNetLayout::torchvision, 50), rng);
  auto x = random_input(Shape{2, 3, 32, 32}, 18);
  const auto y = net.forward(x);
  labor::testing::expect_error(
      [&] {
        (void)net.backward(y, Tensor<double>(Shape{2, 32, 3, 3}));
      },
      {"grad_layer3", "[2, 32, 2, 2]", "[2, 32, 3, 3]"});
}

}  // namespace
