// io::load_weights / save_weights: round trips, torchvision-style name mapping, converted dtypes,
// and bad files (missing, unexpected, mis-shaped and mis-typed keys, truncated or absent files),
// each refused with one labor::Error naming the file and every offending key, the model untouched.

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <labor/io/weights.hpp>
#include <labor/models/resnet.hpp>

#include "support/errors.hpp"
#include "support/torch.hpp"

namespace {

using labor::Rng;
using labor::Shape;
using labor::Tensor;
using labor::testing::expect_error;
using labor::testing::TempDir;
namespace io = labor::io;
namespace models = labor::models;
using Net = models::BasicResNet<float>;

// A tiny ResNet-18-shaped network: torchvision's names, few channels.
Net tiny_net(std::uint64_t seed) {
  auto o = models::resnet_options(18);
  o.depth = 0;
  o.blocks = {1, 1, 1, 1};
  o.base_channels = 2;
  Rng rng(seed);
  Net net(o, rng);
  for (auto& [name, t] : io::state_tensors(net)) labor::fill_uniform(t->view(), rng, 0.1f, 2.0f);
  return net;
}

// All state of a model, copied.
std::vector<std::pair<std::string, Tensor<float>>> snapshot(Net& net) {
  std::vector<std::pair<std::string, Tensor<float>>> out;
  for (auto& [name, t] : io::state_tensors(net)) out.emplace_back(name, *t);
  return out;
}

void expect_state_equal(Net& net, const std::vector<std::pair<std::string, Tensor<float>>>& expected) {
  const auto now = io::state_tensors(net);
  ASSERT_EQ(now.size(), expected.size());
  for (std::size_t k = 0; k < now.size(); ++k) {
    ASSERT_EQ(now[k].first, expected[k].first);
    ASSERT_EQ(now[k].second->shape(), expected[k].second.shape()) << now[k].first;
    for (std::int64_t i = 0; i < now[k].second->numel(); ++i)
      ASSERT_EQ((*now[k].second)[i], expected[k].second[i]) << now[k].first << " element " << i;
  }
}

// A tensor as it lies in a file: any dtype, raw little-endian bytes.
struct RawTensor {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

RawTensor raw_f32(const std::string& name, const Tensor<float>& t) {
  std::vector<std::int64_t> dims;
  for (int d = 0; d < t.rank(); ++d) dims.push_back(t.size(d));
  return {name, "F32", dims,
          std::string(reinterpret_cast<const char*>(t.data()), static_cast<std::size_t>(t.numel()) * 4)};
}

template <class U>
std::string bytes_of(const std::vector<U>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(U));
}

// Writes a safetensors file by hand (the format of io/safetensors.hpp), any dtypes.
void write_raw(const std::filesystem::path& file, const std::vector<RawTensor>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::int64_t offset = 0;
  for (const auto& t : tensors) {
    const auto n = static_cast<std::int64_t>(t.bytes.size());
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  const std::uint64_t size = json.size();
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&size), 8);
  out.write(json.data(), static_cast<std::streamsize>(json.size()));
  for (const auto& t : tensors) out.write(t.bytes.data(), static_cast<std::streamsize>(t.bytes.size()));
}

// The state of `net` as torchvision would save it: under `prefix`, with a classifier and batch
// norm step counters (I64) beside it.
std::vector<RawTensor> torchvision_style(Net& net, const std::string& prefix) {
  std::vector<RawTensor> out;
  for (auto& [name, t] : io::state_tensors(net)) {
    out.push_back(raw_f32(prefix + name, *t));
    if (name.ends_with("running_var")) {
      const std::string bn = name.substr(0, name.size() - std::string("running_var").size());
      out.push_back({prefix + bn + "num_batches_tracked", "I64", {}, bytes_of(std::vector<std::int64_t>{42})});
    }
  }
  Tensor<float> fc_w(Shape{10, 16}), fc_b(Shape{10});
  out.push_back(raw_f32(prefix + "fc.weight", fc_w));
  out.push_back(raw_f32(prefix + "fc.bias", fc_b));
  return out;
}

TEST(Weights, WildcardPatterns) {
  using io::detail::wildcard_match;
  EXPECT_TRUE(wildcard_match("fc.*", "fc.weight"));
  EXPECT_FALSE(wildcard_match("fc.*", "layer1.fc.weight"));
  EXPECT_TRUE(wildcard_match("*.num_batches_tracked", "layer1.0.bn1.num_batches_tracked"));
  EXPECT_FALSE(wildcard_match("*.num_batches_tracked", "num_batches_tracked"));
  EXPECT_TRUE(wildcard_match("layer*.bn*.weight", "layer3.0.bn2.weight"));
  EXPECT_FALSE(wildcard_match("layer*.bn*.weight", "layer3.0.conv2.weight"));
  EXPECT_TRUE(wildcard_match("*", ""));
  EXPECT_FALSE(wildcard_match("a", "ab"));
}

TEST(Weights, SaveThenLoadRestoresEveryTensorExactly) {
  TempDir dir;
  auto a = tiny_net(1), b = tiny_net(2);
  io::save_weights(a, dir / "a.safetensors");
  const auto expected = snapshot(a);
  io::load_weights(b, dir / "a.safetensors");
  expect_state_equal(b, expected);
}

TEST(Weights, TorchvisionFileWithPrefixClassifierAndCounters) {
  TempDir dir;
  auto a = tiny_net(1);
  write_raw(dir / "tv.safetensors", torchvision_style(a, "module."));
  auto b = tiny_net(2);
  const auto before = snapshot(b);
  // Without stripping "module.", nothing matches: every model key is missing.
  expect_error([&] { io::load_weights(b, dir / "tv.safetensors"); },
               {"tv.safetensors", "missing 'conv1.weight'", "unexpected 'module.conv1.weight'"});
  // Without the default ignore list the classifier and the counters are unexpected.
  expect_error([&] { io::load_weights(b, dir / "tv.safetensors", {.strip_prefix = "module.", .ignore = {}}); },
               {"unexpected 'module.fc.weight'", "unexpected 'module.fc.bias'",
                "unexpected 'module.layer2.0.bn1.num_batches_tracked'"});
  expect_state_equal(b, before);
  io::load_weights(b, dir / "tv.safetensors", {.strip_prefix = "module."});
  expect_state_equal(b, snapshot(a));
}

// A model holding the network under "backbone.".
struct Holder {
  using value_type = float;
  using device_type = labor::cpu;
  Net net = tiny_net(3);
  template <class V>
  void visit(V& v, const std::string& prefix) {
    net.visit(v, prefix + "backbone.");
  }
};

TEST(Weights, AddPrefixMapsOntoANestedNetwork) {
  TempDir dir;
  auto a = tiny_net(1);
  io::save_weights(a, dir / "a.safetensors");
  Holder h;
  expect_error([&] { io::load_weights(h, dir / "a.safetensors"); }, {"missing 'backbone.conv1.weight'"});
  io::load_weights(h, dir / "a.safetensors", {.add_prefix = "backbone."});
  expect_state_equal(h.net, snapshot(a));
}

// A model with two parts, under "backbone." and "head.".
struct TwoNets {
  using value_type = float;
  using device_type = labor::cpu;
  Net backbone = tiny_net(2), head = tiny_net(3);
  template <class V>
  void visit(V& v, const std::string& prefix) {
    backbone.visit(v, prefix + "backbone.");
    head.visit(v, prefix + "head.");
  }
};

TEST(Weights, RenameRulesSplitOneFileOntoTwoParts) {
  // As AdaptSeg's DeepLab-v2 checkpoint: the backbone under "Scale.", the classifier under
  // "Scale.layer5.". Here the second part is a second tiny network.
  TempDir dir;
  auto a = tiny_net(1), c = tiny_net(4);
  std::vector<RawTensor> tensors;
  for (auto& [name, t] : io::state_tensors(a)) tensors.push_back(raw_f32("Scale." + name, *t));
  for (auto& [name, t] : io::state_tensors(c)) tensors.push_back(raw_f32("Scale.layer5." + name, *t));
  write_raw(dir / "adaptseg.safetensors", tensors);
  TwoNets pair;
  io::load_weights(pair, dir / "adaptseg.safetensors",
                   {.rename = {{"Scale.layer5.", "head."}, {"Scale.", "backbone."}}});
  expect_state_equal(pair.backbone, snapshot(a));
  expect_state_equal(pair.head, snapshot(c));
  // In the other order "Scale." catches everything: the head's keys land under "backbone.layer5.".
  expect_error(
      [&] {
        io::load_weights(pair, dir / "adaptseg.safetensors",
                         {.rename = {{"Scale.", "backbone."}, {"Scale.layer5.", "head."}}});
      },
      {"missing 'head.conv1.weight'", "unexpected 'Scale.layer5.conv1.weight'"});
}

TEST(Weights, HalfBFloatAndDoubleAreConverted) {
  TempDir dir;
  auto a = tiny_net(1);
  auto tensors = torchvision_style(a, "");
  // bn1.weight (2 channels) as F16 {1, −2.5}, bn1.bias as BF16 {0.75, −3}, conv1.weight as F64.
  for (auto& t : tensors) {
    if (t.name == "bn1.weight") t = {t.name, "F16", {2}, bytes_of(std::vector<std::uint16_t>{0x3C00, 0xC100})};
    if (t.name == "bn1.bias") t = {t.name, "BF16", {2}, bytes_of(std::vector<std::uint16_t>{0x3F40, 0xC040})};
    if (t.name == "conv1.weight") {
      std::vector<double> d(t.bytes.size() / 4);
      for (std::size_t i = 0; i < d.size(); ++i) {
        float f;
        std::memcpy(&f, t.bytes.data() + 4 * i, 4);
        d[i] = static_cast<double>(f) + 1.0;  // exactly representable in float again
      }
      t = {t.name, "F64", t.shape, bytes_of(d)};
    }
  }
  write_raw(dir / "mixed.safetensors", tensors);
  auto b = tiny_net(2);
  io::load_weights(b, dir / "mixed.safetensors");
  auto sa = snapshot(a), sb = snapshot(b);
  for (std::size_t k = 0; k < sa.size(); ++k) {
    const auto& name = sa[k].first;
    const auto &x = sa[k].second, &y = sb[k].second;
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      if (name == "bn1.weight") {
        EXPECT_EQ(y[i], i == 0 ? 1.0f : -2.5f);
      } else if (name == "bn1.bias") {
        EXPECT_EQ(y[i], i == 0 ? 0.75f : -3.0f);
      } else if (name == "conv1.weight") {
        ASSERT_EQ(y[i], x[i] + 1.0f) << i;
      } else {
        ASSERT_EQ(y[i], x[i]) << name;
      }
    }
  }
}

TEST(Weights, EveryProblemIsListedInOneErrorAndNothingIsLoaded) {
  TempDir dir;
  auto a = tiny_net(1);
  std::vector<RawTensor> tensors;
  for (auto& t : torchvision_style(a, "")) {
    if (t.name == "layer4.0.conv2.weight") continue;     // missing
    if (t.name == "layer1.0.bn2.running_var") continue;  // missing
    if (t.name == "conv1.weight") t.shape = {2, 3, 49};  // wrong shape, same byte count
    if (t.name == "bn1.running_mean")
      t = {t.name, "I64", {2}, bytes_of(std::vector<std::int64_t>{1, 2})};  // wrong dtype
    tensors.push_back(t);
  }
  tensors.push_back(raw_f32("layer5.0.conv1.weight", Tensor<float>(Shape{2, 2})));  // unexpected
  write_raw(dir / "bad.safetensors", tensors);
  auto b = tiny_net(2);
  const auto before = snapshot(b);
  expect_error(
      [&] { io::load_weights(b, dir / "bad.safetensors"); },
      {"load_weights", "bad.safetensors", "5 problems", "missing 'layer4.0.conv2.weight'",
       "missing 'layer1.0.bn2.running_var'", "'conv1.weight' is F32 [2, 3, 49], expected F32/F16/BF16/F64 [2, 3, 7, 7]",
       "'bn1.running_mean' is I64 [2], expected", "unexpected 'layer5.0.conv1.weight'"});
  expect_state_equal(b, before);
}

TEST(Weights, TwoKeysMappingToOneNameAreRefused) {
  TempDir dir;
  auto a = tiny_net(1);
  auto tensors = torchvision_style(a, "");
  tensors.push_back(raw_f32("module.conv1.weight", *io::state_tensors(a)[0].second));
  write_raw(dir / "dup.safetensors", tensors);
  auto b = tiny_net(2);
  const auto before = snapshot(b);
  expect_error([&] { io::load_weights(b, dir / "dup.safetensors", {.strip_prefix = "module."}); },
               {"dup.safetensors", "'conv1.weight' and 'module.conv1.weight' both map to 'conv1.weight'"});
  expect_state_equal(b, before);
}

TEST(Weights, TruncatedOrAbsentFileIsRefusedNamingIt) {
  TempDir dir;
  auto a = tiny_net(1);
  io::save_weights(a, dir / "full.safetensors");
  std::string bytes;
  {
    std::ifstream in(dir / "full.safetensors", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto b = tiny_net(2);
  const auto before = snapshot(b);
  for (std::size_t keep : {bytes.size() - 12, std::size_t{40}, std::size_t{5}}) {
    {
      std::ofstream out(dir / "cut.safetensors", std::ios::binary);
      out.write(bytes.data(), static_cast<std::streamsize>(keep));
    }
    expect_error([&] { io::load_weights(b, dir / "cut.safetensors"); }, "cut.safetensors");
    expect_state_equal(b, before);
  }
  expect_error([&] { io::load_weights(b, dir / "nowhere.safetensors"); }, "nowhere.safetensors");
  expect_state_equal(b, before);
}

}  // namespace
