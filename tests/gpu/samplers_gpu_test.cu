// GPU parity of the samplers: the same maps through the Thrust CUDA system and the OMP system
// give identical queries (pixels, classes and PPL scores) for every sampler.
// Label `gpu`; each test skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <labor/labor.hpp>

#include "support/gpu.hpp"
#include "support/sampler_maps.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
namespace S = labor::samplers;

using labor::testing::Maps;
using labor::testing::palette_maps;
using labor::testing::smooth_maps;

void expect_identical(const S::Query& gpu, const S::Query& cpu) {
  EXPECT_EQ(gpu.strategy, cpu.strategy);
  EXPECT_EQ(gpu.num_classes, cpu.num_classes);
  ASSERT_EQ(gpu.images.size(), cpu.images.size());
  for (std::size_t i = 0; i < gpu.images.size(); ++i) {
    EXPECT_EQ(gpu.images[i].height, cpu.images[i].height);
    EXPECT_EQ(gpu.images[i].width, cpu.images[i].width);
    EXPECT_EQ(gpu.images[i].pixels, cpu.images[i].pixels) << "image " << i;
    EXPECT_EQ(gpu.images[i].classes, cpu.images[i].classes) << "image " << i;
    EXPECT_EQ(gpu.images[i].scores, cpu.images[i].scores) << "image " << i;
  }
}

template <class Sampler>
void expect_parity(const Maps& m, const Sampler& s) {
  const auto d1 = m.p1.to<labor::cuda>();
  const auto d2 = m.p2.to<labor::cuda>();
  const auto host = s.select(m.p1, m.p2);
  expect_identical(s.select(thrust::cuda::par, d1.view(), d2.view()), host);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  expect_identical(s.select(thrust::cuda::par_nosync.on(stream), d1.view(), d2.view()), host);
  cudaStreamDestroy(stream);
}

template <class Sampler>
void expect_parity_all_maps(const Sampler& s) {
  expect_parity(palette_maps(3, 6, 37, 53, 1), s);
  expect_parity(smooth_maps(2, 19, 64, 96, 2), s);
}

TEST(SamplersGpu, InconsistencyMaskMatchesHost) {
  LABOR_REQUIRE_GPU();
  const auto m = palette_maps(2, 5, 31, 33, 3);
  const auto host = S::inconsistency_mask(m.p1, m.p2);
  const auto d1 = m.p1.to<labor::cuda>();
  const auto d2 = m.p2.to<labor::cuda>();
  const auto dev = S::inconsistency_mask(thrust::cuda::par, d1.view(), d2.view()).to<labor::cpu>();
  ASSERT_EQ(dev.shape(), host.shape());
  for (std::int64_t i = 0; i < host.numel(); ++i) ASSERT_EQ(dev[i], host[i]) << "pixel " << i;
}

TEST(SamplersGpu, SplMatchesHost) {
  LABOR_REQUIRE_GPU();
  expect_parity_all_maps(S::SplSampler{});
  expect_parity_all_maps(S::SplSampler{0.05});
  expect_parity_all_maps(S::SplSampler{0.001});
}

TEST(SamplersGpu, PplMatchesHost) {
  LABOR_REQUIRE_GPU();
  for (std::int64_t points : {1, 4, 40, 500}) expect_parity_all_maps(S::PplSampler{points});
  expect_parity_all_maps(S::PplSampler{40, 3.0});
}

TEST(SamplersGpu, BaselinesMatchHost) {
  LABOR_REQUIRE_GPU();
  expect_parity_all_maps(S::RandomSampler{50, 7});
  expect_parity_all_maps(S::EntropySampler{50});
  expect_parity_all_maps(S::MarginSampler{50});
}

TEST(SamplersGpu, BadInputIsALaborError) {
  LABOR_REQUIRE_GPU();
  auto m = palette_maps(1, 3, 8, 8, 4);
  m.p2[70] = -0.5f;  // channel 1, pixel 6 (y = 0, x = 6)
  const auto d1 = m.p1.to<labor::cuda>();
  const auto d2 = m.p2.to<labor::cuda>();
  try {
    (void)S::PplSampler{4}.select(thrust::cuda::par, d1.view(), d2.view());
    ADD_FAILURE() << "expected labor::Error";
  } catch (const labor::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("p2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("y=0, x=6"), std::string::npos) << msg;
    EXPECT_NE(msg.find("-0.5"), std::string::npos) << msg;
  }
}

}  // namespace
