// GPU tests of the core: device memory round trips and the counter-based RNG stream.
// Label `gpu`; each test skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <string>
#include <type_traits>

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

namespace {

// Runs where there is no GPU (CI): the first device allocation says so in a labor::Error.
TEST(CudaNoDevice, AllocationIsALaborError) {
  if (labor::cuda_kernels::device_count() != 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    Tensor<float, labor::cuda> t(Shape{16});
    FAIL() << "expected labor::Error";
  } catch (const labor::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)labor::cuda_stream(), labor::Error);
}

// Devices are types: a GPU layer does not accept a host tensor (and the reverse), at compile time.
static_assert(!std::is_invocable_v<decltype(&labor::nn::ReLU<float, labor::cuda>::forward),
                                   labor::nn::ReLU<float, labor::cuda>&, const Tensor<float, labor::cpu>&>);
static_assert(!std::is_invocable_v<decltype(&labor::nn::ReLU<float, labor::cpu>::forward),
                                   labor::nn::ReLU<float, labor::cpu>&, const Tensor<float, labor::cuda>&>);
static_assert(std::is_invocable_v<decltype(&labor::nn::ReLU<float, labor::cuda>::forward),
                                  labor::nn::ReLU<float, labor::cuda>&, const Tensor<float, labor::cuda>&>);

TEST(CudaMemory, PoolReusesFreedMemoryAndReportsIt) {
  LABOR_REQUIRE_GPU();
  labor::release_memory_cache<labor::cuda>();
  { Tensor<float, labor::cuda> big(Shape{1 << 24}); }  // 64 MiB back to the pool
  labor::cuda_synchronize();
  EXPECT_GE(labor::cached_memory_bytes<labor::cuda>(), std::size_t{64} << 20);
  labor::release_memory_cache<labor::cuda>();
  EXPECT_LT(labor::cached_memory_bytes<labor::cuda>(), std::size_t{64} << 20);
}

TEST(CudaTensor, FillAndPoison) {
  LABOR_REQUIRE_GPU();
  Tensor<float, labor::cuda> t(Shape{1000003});
  t.fill(2.5f);
  const auto h = t.to<labor::cpu>();
  for (std::int64_t i = 0; i < h.numel(); ++i) ASSERT_EQ(h[i], 2.5f) << i;
  labor::set_poison_uninitialized(true);
  const auto p = Tensor<std::int32_t, labor::cuda>::uninitialized(Shape{77}).to<labor::cpu>();
  labor::set_poison_uninitialized(false);
  for (std::int64_t i = 0; i < p.numel(); ++i) ASSERT_EQ(p[i], -1) << i;
}

}  // namespace
