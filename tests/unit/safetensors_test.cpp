// safetensors files and layer checkpoints: round trips, conversions, and every way a file can be bad.

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>

#include <labor/io/safetensors.hpp>
#include <labor/models.hpp>
#include <labor/train/checkpoint.hpp>

#include "support/errors.hpp"
#include "support/bytes.hpp"
#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::testing::TempDir;
namespace io = labor::io;
using labor::testing::read_bytes;
using labor::testing::safetensors_bytes;
using labor::testing::write_bytes;


TEST(Safetensors, RoundTripWithMetadata) {
  TempDir dir;
  const auto a = Tensor<float>::from(Shape{2, 3}, {1, 2, 3, 4, 5, -6.5f});
  const auto b = Tensor<std::int32_t>::from(Shape{4}, {7, -8, 9, 255});
  io::write_safetensors(dir.path() / "t.safetensors", {{"a.weight", a.view()}, {"labels", b.view()}},
                        {{"stage", "uda"}});
  const auto f = io::read_safetensors(dir.path() / "t.safetensors");
  EXPECT_EQ(f.metadata.at("stage"), "uda");
  const auto ra = f.to_float("a.weight");
  ASSERT_EQ(ra.shape(), a.shape());
  for (std::int64_t i = 0; i < a.numel(); ++i) EXPECT_EQ(ra[i], a[i]);
  const auto rb = f.to_int32("labels");
  for (std::int64_t i = 0; i < b.numel(); ++i) EXPECT_EQ(rb[i], b[i]);
  // The header is padded to 8 bytes, as the format's writers do.
  std::uint64_t n = 0;
  std::memcpy(&n, read_bytes(dir.path() / "t.safetensors").data(), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, ConvertsHalfBfloatAndDouble) {
  TempDir dir;
  // F16: 1.0 = 0x3c00, -2.5 = 0xc100, 2^-24 (smallest subnormal) = 0x0001; BF16: 1.5 = 0x3fc0.
  const std::uint16_t f16[3] = {0x3c00, 0xc100, 0x0001};
  const std::uint16_t bf16[1] = {0x3fc0};
  const double f64[1] = {0.1};
  std::string data(reinterpret_cast<const char*>(f16), 6);
  data += std::string(reinterpret_cast<const char*>(bf16), 2);
  data += std::string(reinterpret_cast<const char*>(f64), 8);
  write_bytes(dir.path() / "c.safetensors", safetensors_bytes(R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
                                                R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]},)"
                                                R"("d":{"dtype":"F64","shape":[],"data_offsets":[8,16]}})",
                                                data));
  const auto f = io::read_safetensors(dir.path() / "c.safetensors");
  const auto h = f.to_float("h");
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.5f);
  EXPECT_EQ(h[2], std::ldexp(1.0f, -24));
  EXPECT_EQ(f.to_float("b")[0], 1.5f);
  EXPECT_EQ(f.to_float("d")[0], 0.1f);
  labor::testing::expect_error([&] { (void)f.to_int32("h"); }, {"'h'", "I32", "F16"});
  labor::testing::expect_error([&] { (void)f.to_float("missing"); }, {"c.safetensors", "'missing'", "not found"});
}

TEST(Safetensors, BadFilesNameTheFileAndTheProblem) {
  TempDir dir;
  const auto p = dir.path() / "bad.safetensors";
  const auto expect_bad = [&](const std::string& bytes, std::vector<std::string> parts) {
    write_bytes(p, bytes);
    parts.push_back("bad.safetensors");
    labor::testing::expect_error([&] { (void)io::read_safetensors(p); }, parts);
  };
  labor::testing::expect_error([&] { (void)io::read_safetensors(dir.path() / "none.safetensors"); }, "cannot open");
  expect_bad("abc", {"at least 8 bytes"});
  expect_bad(safetensors_bytes("{", ""), {"JSON"});
  std::string huge(8, '\xff');
  expect_bad(huge, {"runs past the end"});
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "1234"), {"'a'", "outside"});
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "12345678"), {"'a'", "byte size"});
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}})", "1"), {"unknown dtype", "Q7"});
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                        "123456"),
             {"overlap"});
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "12345"), {"trailing"});
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1]}})", ""), {"'a'", "data_offsets"});
}

TEST(Safetensors, WriteErrorsLeaveTheOldFile) {
  TempDir dir;
  const auto p = dir.path() / "w.safetensors";
  const auto a = Tensor<float>::from(Shape{1}, {1.0f});
  io::write_safetensors(p, {{"a", a.view()}});
  const std::string before = read_bytes(p);
  labor::testing::expect_error([&] { io::write_safetensors(p, {{"a", a.view()}, {"a", a.view()}}); }, "unique");
  labor::testing::expect_error([&] { io::write_safetensors(p, {{"__metadata__", a.view()}}); }, "__metadata__");
  EXPECT_EQ(read_bytes(p), before);
}

using Block = labor::models::BasicBlock<float>;

TEST(Checkpoint, RestoresParametersAndBuffersExactly) {
  TempDir dir;
  labor::Rng rng(1), other(2);
  Block a({.in_channels = 2, .out_channels = 3, .stride = 2}, rng);
  Tensor<float> x(Shape{2, 2, 6, 6});
  fill_uniform(x.view(), rng);
  a.forward(x);  // running statistics move away from their initial values
  labor::train::StateDict sa;
  sa.add(a, "m.");
  sa.save(dir.path() / "a.safetensors", {{"stage", "test"}, {"n", 3}});
  Block b({.in_channels = 2, .out_channels = 3, .stride = 2}, other);
  labor::train::StateDict sb;
  sb.add(b, "m.");
  const auto meta = sb.load(dir.path() / "a.safetensors");
  EXPECT_EQ(meta.at("n"), 3);
  const auto ta = labor::train::state_tensors(a, ""), tb = labor::train::state_tensors(b, "");
  ASSERT_EQ(ta.size(), tb.size());
  for (std::size_t k = 0; k < ta.size(); ++k) {
    ASSERT_EQ(ta[k].second->shape(), tb[k].second->shape());
    for (std::int64_t i = 0; i < ta[k].second->numel(); ++i)
      ASSERT_EQ((*ta[k].second)[i], (*tb[k].second)[i]) << ta[k].first;
  }
}

TEST(Checkpoint, MismatchNamesEveryKeyAndLoadsNothing) {
  TempDir dir;
  labor::Rng rng(1);
  Block small({.in_channels = 2, .out_channels = 3, .stride = 1}, rng);  // has downsample (2 → 3)
  labor::train::StateDict s;
  s.add(small, "");
  s.save(dir.path() / "s.safetensors", {{"x", 1}});
  Block other({.in_channels = 3, .out_channels = 3, .stride = 1}, rng);  // no downsample, conv1 3→3
  const auto before = labor::train::state_tensors(other, "")[0].second->span()[0];
  labor::train::StateDict so;
  so.add(other, "");
  labor::testing::expect_error([&] { (void)so.load(dir.path() / "s.safetensors"); },
                               {"s.safetensors", "'conv1.weight'", "unexpected 'downsample.0.weight'"});
  EXPECT_EQ(labor::train::state_tensors(other, "")[0].second->span()[0], before);
  Block prefixed({.in_channels = 2, .out_channels = 3, .stride = 1}, rng);
  labor::train::StateDict sp;
  sp.add(prefixed, "model.");
  labor::testing::expect_error([&] { (void)sp.load(dir.path() / "s.safetensors"); },
                               {"missing 'model.conv1.weight'", "unexpected 'conv1.weight'"});
}

}  // namespace

TEST(Checkpoint, StageStateRoundTrip) {
  TempDir dir;
  labor::Rng rng(3);
  labor::train::StageState st;
  st.iteration = 17;
  st.sgd.resize(3);
  st.sgd[0].momentum_buffer = Tensor<float>(Shape{2, 3});
  st.sgd[2].momentum_buffer = Tensor<float>(Shape{4});  // index 1 has no buffer yet
  st.adam.resize(2);
  st.adam[0] = {.step = 5, .exp_avg = Tensor<float>(Shape{3}), .exp_avg_sq = Tensor<float>(Shape{3})};
  st.adam[1] = {.step = 0, .exp_avg = {}, .exp_avg_sq = {}};
  for (auto* t : {&st.sgd[0].momentum_buffer, &st.sgd[2].momentum_buffer, &st.adam[0].exp_avg, &st.adam[0].exp_avg_sq})
    fill_uniform(t->view(), rng);
  labor::train::StateDict out;
  out.add(st, "optim.");
  const auto file = dir.path() / "s.safetensors";
  out.save(file, {{"optimizer", st.describe()}});

  const auto f = io::read_safetensors(file);
  const auto meta = nlohmann::json::parse(f.metadata.at("labor"));
  auto back = labor::train::StageState::shaped_like(meta.at("optimizer"), f, "optim.", file.string());
  labor::train::StateDict in;
  in.add(back, "optim.");
  (void)in.load(file);
  EXPECT_EQ(back.iteration, 17);
  ASSERT_EQ(back.sgd.size(), 3u);
  EXPECT_TRUE(back.sgd[1].momentum_buffer.empty());
  ASSERT_EQ(back.adam.size(), 2u);
  EXPECT_EQ(back.adam[0].step, 5);
  EXPECT_EQ(back.adam[1].step, 0);
  EXPECT_TRUE(back.adam[1].exp_avg.empty());
  const auto same = [](const Tensor<float>& a, const Tensor<float>& b) {
    if (a.shape() != b.shape()) return false;
    for (std::int64_t i = 0; i < a.numel(); ++i)
      if (a[i] != b[i]) return false;
    return true;
  };
  EXPECT_TRUE(same(back.sgd[0].momentum_buffer, st.sgd[0].momentum_buffer));
  EXPECT_TRUE(same(back.sgd[2].momentum_buffer, st.sgd[2].momentum_buffer));
  EXPECT_TRUE(same(back.adam[0].exp_avg, st.adam[0].exp_avg));
  EXPECT_TRUE(same(back.adam[0].exp_avg_sq, st.adam[0].exp_avg_sq));
  // A malformed description is an error naming the file.
  labor::testing::expect_error(
      [&] { (void)labor::train::StageState::shaped_like(nlohmann::json{{"sgd", 1}}, f, "optim.", file.string()); },
      {file.string(), "iteration"});
}
