// ResNet-18, ResNet-50 (output stride 32 and 8) and DeepLab-v2 (ResNet-50 + ASPP) against torchvision: weights exported
// by tools/export_safetensors.py, loaded by io::load_weights, evaluation-mode outputs (and layer3's features) compared
// on a 1×3×64×96 input.
//
// Error measure: max |labor − torch| / max |torch| over the whole tensor (max_relative_error),
// required below 1e-4.
#include <gtest/gtest.h>

#include <string>

#include <labor/io/npy.hpp>
#include <labor/io/weights.hpp>
#include <labor/models/aspp.hpp>
#include <labor/models/resnet.hpp>
#include <labor/models/segmenter.hpp>

#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::io::read_npy;
using labor::io::write_npy;
using labor::testing::max_relative_error;
using labor::testing::run_torch;
using labor::testing::TempDir;
namespace models = labor::models;
using models::ResNetLayout;

constexpr double tolerance = 1e-4;

Tensor<float> write_input(const TempDir& dir) {
  Tensor<float> x(Shape{1, 3, 64, 96});
  labor::Rng rng(31);
  labor::fill_normal(x.view(), rng);
  write_npy(dir / "x.npy", x);
  return x;
}

template <class Net>
void expect_matches(Net& net, const TempDir& dir, const Tensor<float>& x) {
  net.set_training(false);
  const auto y = net.forward(x);
  const auto y_ref = read_npy<float>(dir / "y.npy");
  ASSERT_EQ(y.shape(), y_ref.shape());
  EXPECT_LT(max_relative_error(y, y_ref), tolerance);
  const auto l3_ref = read_npy<float>(dir / "layer3.npy");
  ASSERT_EQ(net.layer3_features().shape(), l3_ref.shape());
  EXPECT_LT(max_relative_error(net.layer3_features(), l3_ref), tolerance);
}

TEST(ResNetParity, ResNet18MatchesTorchvision) {
  LABOR_REQUIRE_TORCHVISION();
  TempDir dir;
  const auto x = write_input(dir);
  run_torch("resnet_ref.py", "resnet", dir.path(), {"resnet18"});
  labor::Rng rng(1);
  models::BasicResNet<float> net(models::resnet_options(18), rng);
  labor::io::load_weights(net, dir / "weights.safetensors");
  expect_matches(net, dir, x);
  EXPECT_EQ(net.layer3_features().shape(), (Shape{1, 256, 4, 6}));
}

TEST(ResNetParity, ResNet50MatchesTorchvision) {
  LABOR_REQUIRE_TORCHVISION();
  TempDir dir;
  const auto x = write_input(dir);
  run_torch("resnet_ref.py", "resnet", dir.path(), {"resnet50"});
  labor::Rng rng(1);
  models::BottleneckResNet<float> net(models::resnet_options(50), rng);
  labor::io::load_weights(net, dir / "weights.safetensors");
  expect_matches(net, dir, x);
}

TEST(ResNetParity, ResNet50OutputStride8MatchesTorchvisionDilation) {
  // torchvision's replace_stride_with_dilation=[False, True, True]: the first block of layer3 and
  // layer4 keeps the previous dilation (1 and 2), the others use 2 and 4.
  LABOR_REQUIRE_TORCHVISION();
  TempDir dir;
  const auto x = write_input(dir);
  run_torch("resnet_ref.py", "resnet", dir.path(), {"resnet50", "os8"});
  labor::Rng rng(1);
  models::BottleneckResNet<float> net(models::resnet_options(50, ResNetLayout::torchvision_os8), rng);
  labor::io::load_weights(net, dir / "weights.safetensors");
  expect_matches(net, dir, x);
  EXPECT_EQ(net.forward(x).shape(), (Shape{1, 2048, 8, 12}));
}

TEST(ResNetParity, ExportedTorchvisionInitLoadsAndMatches) {
  LABOR_REQUIRE_TORCHVISION();
  TempDir dir;
  const auto x = write_input(dir);
  run_torch("resnet_ref.py", "torchvision", dir.path(), {"resnet18", "7"});
  labor::Rng rng(1);
  models::BasicResNet<float> net(models::resnet_options(18), rng);
  labor::io::load_weights(net, dir / "weights.safetensors");
  expect_matches(net, dir, x);
}

// DeepLab-v2: ResNet-50 in DeepLab-v2 layout with the four-branch ASPP classifier on top.
using DeepLab = models::Segmenter<models::BottleneckResNet<float>, models::AsppHead<float>>;

TEST(ResNetParity, DeepLabV2WithAsppMatchesPyTorch) {
  LABOR_REQUIRE_TORCHVISION();
  TempDir dir;
  const auto x = write_input(dir);
  constexpr std::int64_t classes = 5;
  run_torch("resnet_ref.py", "deeplabv2", dir.path(), {std::to_string(classes)});
  labor::Rng rng(1);
  DeepLab net(models::BottleneckResNet<float>(models::resnet_options(50, ResNetLayout::deeplabv2), rng),
              models::AsppHead<float>({.in_channels = 2048, .num_classes = classes}, rng));
  // The reference keeps torchvision's classifier inside the backbone: "backbone.fc.*" is skipped.
  labor::io::load_weights(net, dir / "weights.safetensors", {.ignore = {"backbone.fc.*", "*.num_batches_tracked"}});
  net.set_training(false);
  const auto y = net.forward(x);
  const auto y_ref = read_npy<float>(dir / "y.npy");
  ASSERT_EQ(y.shape(), (Shape{1, classes, 9, 13}));  // ceil-mode pooling: 64×96 → 17×25 → 9×13
  ASSERT_EQ(y.shape(), y_ref.shape());
  EXPECT_LT(max_relative_error(y, y_ref), tolerance);
  const auto l3_ref = read_npy<float>(dir / "layer3.npy");
  ASSERT_EQ(net.backbone.layer3_features().shape(), l3_ref.shape());
  EXPECT_LT(max_relative_error(net.backbone.layer3_features(), l3_ref), tolerance);
}

}  // namespace
