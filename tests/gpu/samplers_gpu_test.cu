// GPU parity of the samplers: the same maps through the Thrust CUDA system and the OMP system
// give identical queries (pixels, classes and PPL scores) for every sampler.
// Label `gpu`; each test skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <labor/labor.hpp>

namespace {

#define LABOR_REQUIRE_GPU()                                                          \
  do {                                                                               \
    if (::labor::cuda_detail::device_count() == 0) GTEST_SKIP() << "no CUDA device"; \
  } while (false)

using labor::Shape;
using labor::Tensor;
namespace S = labor::samplers;

struct Maps {
  Tensor<float> p1, p2;
};

/// Maps from a palette of quantised probability vectors (and their reversals) so that ties occur.
Maps palette_maps(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::uint64_t seed) {
  labor::Rng rng(seed);
  std::vector<std::vector<float>> palette;
  for (int v = 0; v < 8; ++v) {
    std::vector<int> wt(static_cast<std::size_t>(c));
    int sum = 0;
    while (sum == 0) {
      sum = 0;
      for (auto& x : wt) sum += (x = static_cast<int>(rng.uniform_int(4)));
    }
    std::vector<float> p(static_cast<std::size_t>(c));
    for (std::size_t k = 0; k < p.size(); ++k) p[k] = static_cast<float>(wt[k]) / static_cast<float>(sum);
    palette.push_back(p);
    palette.emplace_back(p.rbegin(), p.rend());
  }
  Maps m{Tensor<float>(Shape{n, c, h, w}), Tensor<float>(Shape{n, c, h, w})};
  const std::int64_t hw = h * w;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t px = 0; px < hw; ++px) {
      const auto a = rng.uniform_int(palette.size());
      const auto b = rng.uniform<double>() < 0.5 ? a : rng.uniform_int(palette.size());
      for (std::int64_t k = 0; k < c; ++k) {
        m.p1[(i * c + k) * hw + px] = palette[a][static_cast<std::size_t>(k)];
        m.p2[(i * c + k) * hw + px] = palette[b][static_cast<std::size_t>(k)];
      }
    }
  return m;
}

/// Softmax maps of random logits; p2 a noisy copy of p1.
Maps smooth_maps(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::uint64_t seed) {
  labor::Rng rng(seed);
  Tensor<float> z(Shape{n, c, h, w}), e(Shape{n, c, h, w});
  labor::fill_normal(z.view(), rng, 0.0f, 3.0f);
  labor::fill_normal(e.view(), rng, 0.0f, 0.7f);
  for (std::int64_t i = 0; i < e.numel(); ++i) e[i] += z[i];
  return {labor::nn::softmax_channels(z), labor::nn::softmax_channels(e)};
}

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
