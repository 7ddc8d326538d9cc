// GPU tests of the core: device memory round trips and the counter-based RNG stream.
// Label `gpu`; each test skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <labor/labor.hpp>

#include "support/gpu.hpp"

namespace {

using labor::Shape;
using labor::Tensor;

TEST(CudaTensor, HostDeviceRoundTrip) {
  LABOR_REQUIRE_GPU();
  labor::Rng rng(3);
  Tensor<float> host(Shape{2, 3, 17, 5});
  fill_normal(host.view(), rng);
  auto dev = host.to<labor::cuda>();
  Tensor<float, labor::cuda> copy = dev;  // device-to-device deep copy
  dev.zero();
  const auto back = copy.to<labor::cpu>();
  const auto zeros = dev.to<labor::cpu>();
  ASSERT_EQ(back.shape(), host.shape());
  for (std::int64_t i = 0; i < host.numel(); ++i) {
    ASSERT_EQ(back[i], host[i]);
    ASSERT_EQ(zeros[i], 0.0f);
  }
}

TEST(CudaRng, UniformStreamEqualsHostStream) {
  LABOR_REQUIRE_GPU();
  labor::Rng host_rng(42), dev_rng(42);
  host_rng.take(5);
  dev_rng.take(5);
  Tensor<float> host(Shape{100003});
  Tensor<float, labor::cuda> dev(Shape{100003});
  fill_uniform(host.view(), host_rng, -2.0f, 3.0f);
  fill_uniform(dev.view(), dev_rng, -2.0f, 3.0f);
  const auto back = dev.to<labor::cpu>();
  for (std::int64_t i = 0; i < host.numel(); ++i) ASSERT_EQ(back[i], host[i]) << "element " << i;
  EXPECT_EQ(host_rng.offset(), dev_rng.offset());
}

TEST(CudaRng, NormalStreamMatchesHostStream) {
  LABOR_REQUIRE_GPU();
  labor::Rng host_rng(7), dev_rng(7);
  Tensor<double> host(Shape{4096});
  Tensor<double, labor::cuda> dev(Shape{4096});
  fill_normal(host.view(), host_rng);
  fill_normal(dev.view(), dev_rng);
  const auto back = dev.to<labor::cpu>();
  for (std::int64_t i = 0; i < host.numel(); ++i) ASSERT_NEAR(back[i], host[i], 1e-12) << "element " << i;
}

TEST(CudaMemory, OutOfMemoryIsALaborError) {
  LABOR_REQUIRE_GPU();
  EXPECT_THROW((Tensor<float, labor::cuda>(Shape{1ll << 20, 1ll << 20, 1024})), labor::Error);
}

}  // namespace
