// models::export_segmenter against tools/load_labor_model.py: a labor Segmenter (SmallBackbone + ASPP,
// and a narrow DeepLab-v2 ResNet-18 + ASPP) exported to safetensors, built and loaded strictly in
// PyTorch from the file's own metadata, and evaluated on the same input: the logits agree to
// max|labor − torch| / max|torch| ≤ 1e-5. Also: the loader's command line predicts the same labels
// from a PNG, and it refuses files whose names, shapes or metadata do not match. The first tests
// need no PyTorch: what export_segmenter writes and what it refuses.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <labor/data/dataset.hpp>
#include <labor/io/npy.hpp>
#include <labor/io/png.hpp>
#include <labor/io/safetensors.hpp>
#include <labor/io/weights.hpp>
#include <labor/models/export.hpp>
#include <labor/nn/upsample.hpp>

#include "support/errors.hpp"
#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::testing::expect_error;
using labor::testing::max_relative_error;
using labor::testing::run_torch;
using labor::testing::TempDir;
namespace models = labor::models;

constexpr double tolerance = 1e-5;
constexpr std::int64_t classes = 5;

using SmallNet = models::Segmenter<models::SmallBackbone<float>, models::AsppHead<float>>;
using DeepLabR18 = models::Segmenter<models::BasicResNet<float>, models::AsppHead<float>>;

/// Batch norm that matters and non-zero biases: every rank-1 state tensor (batch norm weight, bias,
/// running statistics; the ASPP biases) gets random values.
template <class Net>
void randomize_vectors(Net& net, labor::Rng& rng) {
  for (auto& [name, t] : labor::io::state_tensors(net)) {
    if (t->rank() != 1) continue;
    if (name.ends_with("running_var") || name.ends_with("weight"))
      labor::fill_uniform(t->view(), rng, 0.5f, 1.5f);
    else
      labor::fill_normal(t->view(), rng, 0.0f, 0.2f);
  }
}

SmallNet make_small(labor::Rng& rng) {
  models::SmallBackbone<float> backbone({.channels = {8, 16, 16, 24}, .output_stride = 8}, rng);
  models::AsppHead<float> head({.in_channels = 24, .num_classes = classes, .dilations = {1, 2, 4}, .init_std = 0.1},
                               rng);
  SmallNet net(std::move(backbone), std::move(head));
  randomize_vectors(net, rng);
  return net;
}

DeepLabR18 make_deeplab_r18(labor::Rng& rng) {
  auto o = models::resnet_options(18, models::ResNetLayout::deeplabv2);
  o.base_channels = 8;
  models::BasicResNet<float> backbone(o, rng);
  models::AsppHead<float> head({.in_channels = backbone.out_channels(), .num_classes = classes, .init_std = 0.1}, rng);
  DeepLabR18 net(std::move(backbone), std::move(head));
  randomize_vectors(net, rng);
  return net;
}

Tensor<float> write_input(const TempDir& dir, std::int64_t h, std::int64_t w) {
  Tensor<float> x(Shape{1, 3, h, w});
  labor::Rng rng(41);
  labor::fill_normal(x.view(), rng);
  labor::io::write_npy(dir / "x.npy", x);
  return x;
}

template <class Net>
void expect_torch_matches(Net& net, std::int64_t h, std::int64_t w) {
  TempDir dir;
  models::export_segmenter(net, dir / "model.safetensors");
  const auto x = write_input(dir, h, w);
  run_torch("export_ref.py", "forward", dir.path());
  net.set_training(false);
  const auto y = net.forward(x);
  const auto y_ref = labor::io::read_npy<float>(dir / "y.npy");
  ASSERT_EQ(y.shape(), y_ref.shape());
  EXPECT_LE(max_relative_error(y, y_ref), tolerance);
}

TEST(ExportSegmenter, WritesEveryStateTensorAndTheArchitecture) {
  labor::Rng rng(3);
  auto net = make_small(rng);
  TempDir dir;
  models::export_segmenter(net, dir / "m.safetensors");
  const auto file = labor::io::read_safetensors(dir / "m.safetensors");
  const auto names = labor::io::state_tensors(net);
  ASSERT_EQ(file.tensors.size(), names.size());
  for (const auto& [name, t] : names) {
    ASSERT_TRUE(file.contains(name)) << name;
    EXPECT_EQ(max_relative_error(file.to_float(name), *t), 0.0) << name;
  }
  EXPECT_TRUE(file.contains("backbone.layer1.downsample.1.running_var"));
  EXPECT_TRUE(file.contains("head.conv2d_list.2.bias"));
  const auto arch = nlohmann::json::parse(file.metadata.at("labor_model"));
  EXPECT_EQ(arch, models::describe(net));
  EXPECT_EQ(arch.at("backbone"), "small");
  EXPECT_EQ(arch.at("channels"), nlohmann::json({8, 16, 16, 24}));
  EXPECT_EQ(arch.at("output_stride"), 8);
  EXPECT_EQ(arch.at("head"), "aspp");
  EXPECT_EQ(arch.at("feature_channels"), 24);
  EXPECT_EQ(arch.at("num_classes"), classes);
  EXPECT_EQ(arch.at("aspp_dilations"), nlohmann::json({1, 2, 4}));
  EXPECT_EQ(arch.at("format"), 1);
}

TEST(ExportSegmenter, DescribesResNetLayouts) {
  const auto j = models::describe(models::resnet_options(101, models::ResNetLayout::deeplabv2), true);
  EXPECT_EQ(j.at("backbone"), "resnet");
  EXPECT_EQ(j.at("block"), "bottleneck");
  EXPECT_EQ(j.at("blocks"), nlohmann::json({3, 4, 23, 3}));
  EXPECT_EQ(j.at("strides"), nlohmann::json({1, 2, 1, 1}));
  EXPECT_EQ(j.at("first_dilations"), nlohmann::json({1, 1, 2, 4}));
  EXPECT_EQ(j.at("dilations"), nlohmann::json({1, 1, 2, 4}));
  EXPECT_EQ(j.at("stride_in_1x1"), true);
  EXPECT_EQ(j.at("ceil_mode"), true);
  EXPECT_EQ(j.at("base_channels"), 64);
  EXPECT_EQ(j.at("image_channels"), 3);
  const auto n = models::describe(labor::data::Normalization::caffe());
  EXPECT_EQ(n.at("bgr"), true);
  EXPECT_EQ(n.at("input_scale"), 255.0);
}

TEST(ExportSegmenter, RefusesAnArchitectureThatDoesNotFitTheModel) {
  labor::Rng rng(3);
  auto net = make_small(rng);
  TempDir dir;
  const auto file = dir / "m.safetensors";
  expect_error([&] { models::export_segmenter(net, file, nlohmann::json::array()); },
               "architecture: expected a JSON object, got an array of 0 elements");
  expect_error(
      [&] {
        models::export_segmenter(net, file, {{"num_classes", classes}});
      },
      "architecture: expected a string field \"backbone\"");
  auto arch = models::describe(net);
  arch["num_classes"] = classes + 1;
  expect_error([&] { models::export_segmenter(net, file, arch); },
               "architecture: num_classes: expected 5 (the model's), got 6");
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST(ExportParity, SmallSegmenterMatchesTorch) {
  LABOR_REQUIRE_TORCH();
  labor::Rng rng(7);
  auto net = make_small(rng);
  expect_torch_matches(net, 40, 56);
}

TEST(ExportParity, DeepLabV2ResNet18MatchesTorch) {
  LABOR_REQUIRE_TORCH();
  labor::Rng rng(8);
  auto net = make_deeplab_r18(rng);
  expect_torch_matches(net, 64, 96);
}

/// Tests of the loader on a small segmenter exported to dir/model.safetensors; skipped without PyTorch.
class ExportLoader : public ::testing::Test {
 protected:
  void SetUp() override { LABOR_REQUIRE_TORCH(); }
  /// The segmenter made from `seed`, exported.
  SmallNet export_small(std::uint64_t seed) {
    labor::Rng rng(seed);
    auto net = make_small(rng);
    models::export_segmenter(net, dir / "model.safetensors");
    return net;
  }
  TempDir dir;
};

TEST_F(ExportLoader, ScriptPredictsTheSameLabels) {
  auto net = export_small(9);
  labor::Rng rng(19);
  const std::int64_t h = 48, w = 64;
  Tensor<std::uint8_t> png(Shape{h, w, 3});
  for (std::int64_t i = 0; i < png.numel(); ++i) png[i] = static_cast<std::uint8_t>(rng.uniform_int(256));
  labor::io::write_png(dir / "image.png", png);
  run_torch("export_ref.py", "predict", dir.path());
  const auto pred = labor::io::read_png_gray(dir / "pred.png");
  ASSERT_EQ(pred.shape(), (Shape{h, w}));

  // labor's prediction of the same bytes: [0, 1], the default normalisation, logits upsampled with
  // align_corners (the trainer's default), argmax.
  Tensor<float> x(Shape{1, 3, h, w});
  const labor::data::Normalization norm;
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t i = 0; i < h * w; ++i)
      x[c * h * w + i] = (static_cast<float>(png[i * 3 + c]) / 255.0f - norm.mean[c]) / norm.std[c];
  net.set_training(false);
  const auto logits = labor::nn::upsample_bilinear(net.forward(x), h, w, true);
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < h * w; ++i) {
    std::int64_t best = 0;
    for (std::int64_t k = 1; k < classes; ++k)
      if (logits[k * h * w + i] > logits[best * h * w + i]) best = k;
    differ += pred[i] != best;
  }
  EXPECT_LE(differ, h * w / 200) << "labels differ at " << differ << " of " << h * w << " pixels";
}

TEST_F(ExportLoader, RefusesFilesThatDoNotMatch) {
  export_small(10);
  run_torch("export_ref.py", "refuse", dir.path());
  std::ifstream in(dir / "refusals.json");
  const auto msg = nlohmann::json::parse(in);
  const auto expect_refused = [&](const char* variant, const std::vector<std::string>& parts) {
    ASSERT_TRUE(msg.at(variant).is_string()) << variant << " was loaded";
    const std::string m = msg.at(variant).get<std::string>();
    for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << variant << ": " << m << "\nmissing: " << p;
  };
  expect_refused("renamed", {"does not match the network its metadata describes (2 problems)",
                             "missing 'head.conv2d_list.0.weight'", "unexpected 'head.classifier.0.weight'"});
  expect_refused("reshaped", {"'backbone.bn1.running_mean' is [7], expected [8]"});
  expect_refused("missing", {"(1 problem)", "missing 'backbone.bn1.running_mean'"});
  expect_refused("no_metadata", {"no 'labor_model' in __metadata__", "models::export_segmenter"});
  expect_refused("unknown_backbone", {"backbone: expected 'small', 'resnet' or 'deeplabv2-resnet', got 'vgg16'"});
}

}  // namespace
