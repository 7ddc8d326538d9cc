// Models: the basic block, the small backbone, the ASPP head and the fc discriminator — gradients
// in double, shapes, parameter names, and bad options.

#include <gtest/gtest.h>

#include <set>
#include <string>

#include <labor/models.hpp>

#include "support/errors.hpp"
#include "support/gradcheck.hpp"

namespace {

using labor::Rng;
using labor::Shape;
using labor::Tensor;
namespace models = labor::models;

Tensor<double> random_input(Shape s, std::uint64_t seed) {
  Tensor<double> x(s);
  Rng rng(seed);
  labor::fill_uniform(x.view(), rng, -1.0, 1.0);
  return x;
}

std::set<std::string> parameter_names(auto& layer) {
  std::set<std::string> out;
  for (auto& [name, p] : labor::nn::named_parameters(layer)) out.insert(name);
  for (auto& [name, t] : labor::nn::named_buffers(layer)) out.insert(name);
  return out;
}

TEST(BasicBlock, GradientWithProjectionShortcut) {
  Rng rng(1);
  models::BasicBlock<double> block({.in_channels = 3, .out_channels = 4, .stride = 2, .dilation = 1}, rng);
  auto x = random_input(Shape{2, 3, 7, 6}, 2);
  EXPECT_EQ(block.forward(x).shape(), Shape({2, 4, 4, 3}));
  labor::testing::expect_layer_gradients(block, x, 3, 1e-6, 1e-6, 1e-4);
}

TEST(BasicBlock, GradientWithIdentityShortcutAndDilation) {
  Rng rng(4);
  models::BasicBlock<double> block({.in_channels = 3, .out_channels = 3, .stride = 1, .dilation = 2}, rng);
  auto x = random_input(Shape{2, 3, 6, 5}, 5);
  EXPECT_EQ(block.forward(x).shape(), x.shape());
  labor::testing::expect_layer_gradients(block, x, 6, 1e-6, 1e-6, 1e-4);
  // Identity shortcut: no downsample parameters.
  for (const auto& n : parameter_names(block)) EXPECT_EQ(n.find("downsample"), std::string::npos) << n;
}

TEST(BasicBlock, TorchvisionNames) {
  Rng rng(1);
  models::BasicBlock<float> block({.in_channels = 2, .out_channels = 4, .stride = 2}, rng);
  const auto names = parameter_names(block);
  for (const char* n : {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "conv2.weight",
                        "bn2.weight", "downsample.0.weight", "downsample.1.weight", "downsample.1.running_var"})
    EXPECT_EQ(names.count(n), 1u) << n;
  EXPECT_EQ(names.count("conv1.bias"), 0u);
}

TEST(SmallBackbone, OutputStrideAndChannels) {
  for (std::int64_t os : {4, 8}) {
    Rng rng(7);
    models::SmallBackbone<float> b({.channels = {4, 6, 8, 10}, .output_stride = os}, rng);
    EXPECT_EQ(b.out_channels(), 10);
    EXPECT_EQ(b.output_stride(), os);
    Tensor<float> x(Shape{1, 3, 32, 64});
    EXPECT_EQ(b.forward(x).shape(), Shape({1, 10, 32 / os, 64 / os})) << "output stride " << os;
  }
}

TEST(SmallBackbone, Gradient) {
  Rng rng(8);
  models::SmallBackbone<double> b({.channels = {2, 3, 3, 4}, .output_stride = 8}, rng);
  auto x = random_input(Shape{2, 3, 16, 16}, 9);
  labor::testing::expect_layer_gradients(b, x, 10, 1e-6, 1e-6, 1e-4);
}

TEST(SmallBackbone, FrozenBatchNormHasNoTrainableNormParameters) {
  Rng rng(8);
  models::SmallBackbone<float> b({.channels = {2, 3, 3, 4}, .frozen_bn = true}, rng);
  for (auto* p : labor::nn::trainable_parameters(b)) EXPECT_EQ(p->value.rank(), 4) << "only conv weights train";
}

TEST(SmallBackbone, Errors) {
  Rng rng(1);
  labor::testing::expect_error([&] { models::SmallBackbone<float>({.output_stride = 16}, rng); },
                               {"output_stride", "4 or 8", "16"});
  labor::testing::expect_error(
      [&] {
        models::SmallBackbone<float>({.channels = {4, 0, 8, 8}}, rng);
      },
      {"channels", "> 0"});
}

TEST(AsppHead, SumOfBranchesAndGradient) {
  Rng rng(11);
  models::AsppHead<double> head({.in_channels = 3, .num_classes = 4, .dilations = {1, 2}, .init_std = 0.3}, rng);
  EXPECT_EQ(head.num_classes(), 4);
  auto x = random_input(Shape{2, 3, 6, 7}, 12);
  const auto y = head.forward(x);
  EXPECT_EQ(y.shape(), Shape({2, 4, 6, 7}));
  // The output is the sum of two convolutions with the same weights.
  labor::nn::Conv2d<double> c0({.in_channels = 3, .out_channels = 4, .kernel_size = 3, .padding = 1, .dilation = 1});
  labor::nn::Conv2d<double> c1({.in_channels = 3, .out_channels = 4, .kernel_size = 3, .padding = 2, .dilation = 2});
  const auto named = labor::nn::named_parameters(head);
  ASSERT_EQ(named.size(), 4u);
  EXPECT_EQ(named[0].first, "conv2d_list.0.weight");
  EXPECT_EQ(named[3].first, "conv2d_list.1.bias");
  c0.weight().value = named[0].second->value;
  c0.bias().value = named[1].second->value;
  c1.weight().value = named[2].second->value;
  c1.bias().value = named[3].second->value;
  const auto a = c0.forward(x), b = c1.forward(x);
  for (std::int64_t i = 0; i < y.numel(); ++i) EXPECT_NEAR(y[i], a[i] + b[i], 1e-12);
  labor::testing::expect_layer_gradients(head, x, 13);
}

TEST(AsppHead, InitialisationAsDeepLab) {
  Rng rng(3);
  models::AsppHead<float> head({.in_channels = 64, .num_classes = 19}, rng);
  const auto named = labor::nn::named_parameters(head);
  ASSERT_EQ(named.size(), 8u);  // four branches by default
  double s = 0, s2 = 0;
  const auto& w = named[0].second->value;
  for (std::int64_t i = 0; i < w.numel(); ++i) {
    s += w[i];
    s2 += double(w[i]) * w[i];
  }
  const double mean = s / double(w.numel()), sd = std::sqrt(s2 / double(w.numel()) - mean * mean);
  EXPECT_NEAR(sd, 0.01, 0.001);
  const auto& b = named[1].second->value;
  for (std::int64_t i = 0; i < b.numel(); ++i) EXPECT_EQ(b[i], 0.0f);
}

TEST(AsppHead, Errors) {
  Rng rng(1);
  labor::testing::expect_error(
      [&] { models::AsppHead<float>({.in_channels = 4, .num_classes = 3, .dilations = {}}, rng); }, "dilations");
  labor::testing::expect_error(
      [&] {
        models::AsppHead<float>({.in_channels = 4, .num_classes = 3, .dilations = {6, 0}}, rng);
      },
      {"dilations", "> 0"});
  labor::testing::expect_error([&] { models::AsppHead<float>({.in_channels = 4, .num_classes = 0}, rng); },
                               "num_classes");
}

TEST(FcDiscriminator, ShapeNamesAndGradient) {
  Rng rng(21);
  models::FcDiscriminator<double> d({.num_classes = 3, .ndf = 2}, rng);
  auto x = random_input(Shape{1, 3, 32, 64}, 22);
  EXPECT_EQ(d.forward(x).shape(), Shape({1, 1, 1, 2}));
  const auto names = parameter_names(d);
  for (const char* n : {"0.weight", "0.bias", "2.weight", "4.weight", "6.weight", "8.weight", "8.bias"})
    EXPECT_EQ(names.count(n), 1u) << n;
  EXPECT_EQ(names.size(), 10u);
  labor::testing::expect_layer_gradients(d, x, 23);
}

TEST(FcDiscriminator, Errors) {
  Rng rng(1);
  labor::testing::expect_error([&] { models::FcDiscriminator<float>({.num_classes = 0}, rng); }, "channels");
  // The input is checked by the discriminator itself, before any convolution sees it.
  models::FcDiscriminator<float> d({.num_classes = 3, .ndf = 2}, rng);
  labor::testing::expect_error([&] { (void)d.forward(Tensor<float>(Shape{1, 3, 31, 64})); },
                               {"FcDiscriminator", "input size", "H, W >= 32", "31×64"});
  labor::testing::expect_error([&] { (void)d.forward(Tensor<float>(Shape{2, 3, 64, 16})); },
                               {"FcDiscriminator", "H, W >= 32", "64×16"});
  labor::testing::expect_error([&] { (void)d.forward(Tensor<float>(Shape{1, 4, 32, 32})); },
                               {"FcDiscriminator", "expected N×3×H×W", "[1, 4, 32, 32]"});
  labor::testing::expect_error([&] { (void)d.forward(Tensor<float>(Shape{3, 32, 32})); },
                               {"FcDiscriminator", "[3, 32, 32]"});
  EXPECT_EQ(d.forward(Tensor<float>(Shape{1, 3, 32, 32})).shape(), Shape({1, 1, 1, 1}));  // the smallest input
}

TEST(Segmenter, ForwardIsHeadOfBackboneAndCopiesAreIndependent) {
  Rng rng(5);
  models::SmallBackbone<float> b({.channels = {2, 3, 4, 4}}, rng);
  models::AsppHead<float> h({.in_channels = 4, .num_classes = 3, .dilations = {1}, .init_std = 0.5}, rng);
  models::Segmenter<models::SmallBackbone<float>, models::AsppHead<float>> seg(b, h);
  Tensor<float> x(Shape{1, 3, 16, 16});
  fill_uniform(x.view(), rng);
  seg.set_training(false);
  b.set_training(false);
  const auto y = seg.forward(x);
  const auto ref = h.forward(b.forward(x));
  ASSERT_EQ(y.shape(), ref.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) EXPECT_EQ(y[i], ref[i]);
  auto copy = seg;
  labor::nn::named_parameters(copy)[0].second->value[0] += 1.0f;
  EXPECT_NE(labor::nn::named_parameters(copy)[0].second->value[0],
            labor::nn::named_parameters(seg)[0].second->value[0]);
  EXPECT_EQ(labor::nn::named_parameters(seg)[0].first, "backbone.conv1.weight");
}

}  // namespace
