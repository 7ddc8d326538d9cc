// GPU parity of the samplers: the same maps through the CUDA fast paths (FastSamplers<cuda>), the
// Thrust CUDA system (Path::generic) and the OMP system give identical queries (pixels, classes and
// PPL scores) and the same errors. Label `gpu`; each test skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <labor/labor.hpp>

#include "support/device_parity.hpp"
#include "support/errors.hpp"
#include "support/gpu.hpp"
#include "support/sampler_maps.hpp"

namespace {

using labor::testing::error_of;

using labor::Shape;
using labor::Tensor;
namespace S = labor::samplers;
using S::detail::Path;

using labor::testing::Maps;
using labor::testing::palette_maps;
using labor::testing::PoisonScope;
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

/// The maps on the device.
struct DeviceMaps {
  explicit DeviceMaps(const Maps& m) : p1(m.p1.to<labor::cuda>()), p2(m.p2.to<labor::cuda>()) {}
  Tensor<float, labor::cuda> p1, p2;
  [[nodiscard]] labor::TensorView<const float, labor::cuda> v1() const { return p1.view(); }
  [[nodiscard]] labor::TensorView<const float, labor::cuda> v2() const { return p2.view(); }
};

/// The sampler on the host (OMP) against the fast path on thrust::cuda::par and on a non-blocking
/// stream of the caller's.
template <class Sampler>
void expect_parity(const Maps& m, const Sampler& s) {
  SCOPED_TRACE(fmt::format("maps {}", m.p1.shape()));
  const DeviceMaps d(m);
  const auto host = s.select(m.p1, m.p2);
  expect_identical(s.select(thrust::cuda::par, d.v1(), d.v2()), host);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  expect_identical(s.select(thrust::cuda::par_nosync.on(stream), d.v1(), d.v2()), host);
  cudaStreamDestroy(stream);
}

/// Maps covering the fast paths' cases: ties on purpose (palette), several images, sizes that end
/// in partial tiles, many tiles per image (the look-back), M empty, one class, and more classes
/// than the PPL sweep keeps in shared memory.
std::vector<Maps> all_maps() {
  std::vector<Maps> all;
  all.push_back(palette_maps(3, 6, 37, 53, 1));
  all.push_back(smooth_maps(2, 19, 64, 96, 2));
  all.push_back(palette_maps(2, 5, 33, 70, 8, 0.3));
  all.push_back(smooth_maps(1, 19, 160, 300, 5));      // 48000 pixels: 24 tiles
  all.push_back(palette_maps(2, 4, 6, 7, 3, 1.0));     // M empty
  all.push_back(palette_maps(1, 1, 9, 11, 4));         // one class: M empty
  all.push_back(smooth_maps(2, 60, 23, 41, 6));        // C > 48: prototype sums in global memory
  all.push_back(palette_maps(2, 6, 30, 40, 9, 0.97));  // few inconsistent pixels: points > |M|
  return all;
}

std::int64_t pixels_of(const Maps& m) {
  return m.p1.size(2) * m.p1.size(3);
}

/// Restores FastSamplers<cuda>::max_chunk_pixels when the test ends.
struct ChunkPixels {
  explicit ChunkPixels(std::int64_t pixels) { S::detail::FastSamplers<labor::cuda>::max_chunk_pixels = pixels; }
  ~ChunkPixels() { S::detail::FastSamplers<labor::cuda>::max_chunk_pixels = 0; }
};

/// Keeps one thread of the GPU busy for `cycles` clock cycles: work still queued on a stream.
__global__ void busy_kernel(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}

/// About 0.1 s of an H100/H200 SM clock.
constexpr long long busy_cycles = 200'000'000;

/// True when the two queries are equal in every field the tests compare.
bool same_query(const S::Query& a, const S::Query& b) {
  if (a.strategy != b.strategy || a.num_classes != b.num_classes || a.images.size() != b.images.size()) return false;
  for (std::size_t i = 0; i < a.images.size(); ++i) {
    const auto &x = a.images[i], &y = b.images[i];
    if (x.height != y.height || x.width != y.width || x.pixels != y.pixels || x.classes != y.classes ||
        x.scores != y.scores)
      return false;
  }
  return true;
}

TEST(SamplersGpu, InconsistencyMaskMatchesHost) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  for (const auto& m : {palette_maps(2, 5, 31, 33, 3), smooth_maps(1, 19, 160, 300, 5)}) {
    const auto host = S::inconsistency_mask(m.p1, m.p2);
    const DeviceMaps d(m);
    for (Path path : {Path::automatic, Path::generic}) {
      const auto dev = S::detail::mask_select(thrust::cuda::par, d.v1(), d.v2(), path).to<labor::cpu>();
      ASSERT_EQ(dev.shape(), host.shape());
      for (std::int64_t i = 0; i < host.numel(); ++i) ASSERT_EQ(dev[i], host[i]) << "pixel " << i;
    }
  }
}

TEST(SamplersGpu, SplMatchesHost) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  for (const auto& m : all_maps())
    for (std::optional<double> cap :
         {std::optional<double>{}, std::optional<double>{1.0}, std::optional<double>{0.5}, std::optional<double>{0.05},
          std::optional<double>{0.001}, std::optional<double>{1e-5}}) {
      SCOPED_TRACE(cap ? *cap : -1.0);
      expect_parity(m, S::SplSampler{cap});
    }
}

TEST(SamplersGpu, PplMatchesHost) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  for (const auto& m : all_maps()) {
    const std::int64_t hw = pixels_of(m);
    for (std::int64_t points : {std::int64_t{1}, std::int64_t{4}, std::int64_t{40}, std::int64_t{500}, hw / 2, hw}) {
      if (points < 1 || points > hw) continue;
      for (double r : {0.0, 1.0, 3.0, 7.5}) {
        SCOPED_TRACE(fmt::format("points {} min_distance {}", points, r));
        expect_parity(m, S::PplSampler{points, r});
      }
    }
  }
  // Classes whose min-distance walk runs through every candidate (and keeps fewer points).
  const auto big = smooth_maps(1, 3, 160, 200, 12);
  for (double r : {40.0, 70.0}) expect_parity(big, S::PplSampler{300, r});
}

// A larger map: 64 tiles in the look-back (two windows of 32), the sort of every candidate.
TEST(SamplersGpu, LargeMapMatchesHost) {
  LABOR_REQUIRE_GPU();
  const auto m = smooth_maps(1, 19, 256, 512, 21);
  expect_parity(m, S::SplSampler{});
  expect_parity(m, S::SplSampler{0.05});
  expect_parity(m, S::PplSampler{40});
  expect_parity(m, S::PplSampler{40, 3.0});
}

// Batches cut into several chunks (one launch and one copy each) give the same queries.
TEST(SamplersGpu, ChunkedBatchesMatchHost) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  const auto m = palette_maps(5, 6, 37, 53, 17, 0.5);
  for (std::int64_t images_per_chunk : {1, 2}) {
    const ChunkPixels chunk(images_per_chunk * pixels_of(m));
    SCOPED_TRACE(images_per_chunk);
    expect_parity(m, S::SplSampler{});
    expect_parity(m, S::SplSampler{0.05});
    expect_parity(m, S::PplSampler{40});
    expect_parity(m, S::PplSampler{40, 3.0});
  }
}

// The Thrust CUDA system (the reference the fast paths replace) still equals the host.
TEST(SamplersGpu, ThrustPathMatchesHost) {
  LABOR_REQUIRE_GPU();
  for (const auto& m : {palette_maps(3, 6, 37, 53, 1), smooth_maps(2, 19, 64, 96, 2)}) {
    const DeviceMaps d(m);
    for (std::optional<double> cap : {std::optional<double>{}, std::optional<double>{0.05}})
      expect_identical(S::detail::spl_select(thrust::cuda::par, cap, d.v1(), d.v2(), Path::generic),
                       S::SplSampler{cap}.select(m.p1, m.p2));
    for (double r : {0.0, 3.0})
      expect_identical(S::detail::ppl_select(thrust::cuda::par, 40, r, d.v1(), d.v2(), Path::generic),
                       S::PplSampler{40, r}.select(m.p1, m.p2));
  }
}

TEST(SamplersGpu, BaselinesMatchHost) {
  LABOR_REQUIRE_GPU();
  for (const auto& m : {palette_maps(3, 6, 37, 53, 1), smooth_maps(2, 19, 64, 96, 2)}) {
    expect_parity(m, S::RandomSampler{50, 7});
    expect_parity(m, S::EntropySampler{50});
    expect_parity(m, S::MarginSampler{50});
  }
}

// RIPU runs its Thrust passes on the device and walks on the host: the same query as the host,
// both modes, radii 1 and 2, more classes than the samplers' shared-memory paths keep.
TEST(SamplersGpu, RipuMatchesHost) {
  LABOR_REQUIRE_GPU();
  using Mode = S::RipuSampler::Mode;
  for (const auto& m : {palette_maps(3, 6, 37, 53, 1), smooth_maps(2, 19, 64, 96, 2), smooth_maps(2, 60, 23, 41, 6)})
    for (const Mode mode : {Mode::region, Mode::pixel})
      for (std::int64_t k : {1, 2}) {
        SCOPED_TRACE(fmt::format("mode {} k {}", static_cast<int>(mode), k));
        expect_parity(m, S::RipuSampler{mode, 60, k});
      }
}

TEST(SamplersGpu, BadInputIsALaborError) {
  LABOR_REQUIRE_GPU();
  auto m = palette_maps(1, 3, 8, 8, 4);
  m.p2[70] = -0.5f;  // channel 1, pixel 6 (y = 0, x = 6)
  const DeviceMaps d(m);
  try {
    (void)S::PplSampler{4}.select(thrust::cuda::par, d.v1(), d.v2());
    ADD_FAILURE() << "expected labor::Error";
  } catch (const labor::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("p2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("y=0, x=6"), std::string::npos) << msg;
    EXPECT_NE(msg.find("-0.5"), std::string::npos) << msg;
  }
}

// The fast paths report the host's first bad pixel (a later one is not it), in any image and
// chunk, for values below 0, NaN and channel sums off 1.
TEST(SamplersGpu, SameErrorsAsHost) {
  LABOR_REQUIRE_GPU();
  const auto m = palette_maps(3, 3, 33, 70, 2);
  const std::int64_t hw = 33 * 70;
  for (std::int64_t images_per_chunk : {0, 1}) {
    const ChunkPixels chunk(images_per_chunk * hw);
    for (std::int64_t px : {std::int64_t{5}, std::int64_t{2100}, hw - 3})
      for (int which = 0; which < 4; ++which) {
        auto p1 = m.p1, p2 = m.p2;
        auto& t = which % 2 == 0 ? p1 : p2;
        const std::int64_t at = (1 * 3 + which % 3) * hw + px;
        t[at] = which == 0 ? -0.25f : which == 1 ? std::nanf("") : which == 2 ? t[at] + 0.01f : 2.0f;
        p1[(2 * 3 + 1) * hw + 7] = -1.0f;  // a later bad pixel is not the one reported
        const Maps bad{p1, p2};
        const DeviceMaps d(bad);
        SCOPED_TRACE(fmt::format("chunk {} pixel {} kind {}", images_per_chunk, px, which));
        auto both = [&](const auto& sampler) {
          const auto want = error_of([&] { (void)sampler.select(bad.p1, bad.p2); });
          EXPECT_NE(want, "no error");
          EXPECT_EQ(error_of([&] { (void)sampler.select(thrust::cuda::par, d.v1(), d.v2()); }), want);
        };
        both(S::SplSampler{});
        both(S::SplSampler{0.05});
        both(S::PplSampler{5});
        EXPECT_EQ(error_of([&] { (void)S::inconsistency_mask(thrust::cuda::par, d.v1(), d.v2()); }),
                  error_of([&] { (void)S::inconsistency_mask(bad.p1, bad.p2); }));
      }
  }
}

// A caller's non-blocking stream must not read what a sampler uploads on labor's stream before the
// copy lands (RandomSampler uploads its pixel indices): labor's stream still busy with earlier work.
TEST(SamplersGpu, ForeignStreamWaitsForUploads) {
  LABOR_REQUIRE_GPU();
  const auto m = palette_maps(2, 6, 37, 53, 1);
  const DeviceMaps d(m);
  const S::RandomSampler sampler{50, 7};
  const auto host = sampler.select(m.p1, m.p2);
  labor::cuda_synchronize();  // the maps are in place; only the busy kernel below is queued
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  busy_kernel<<<1, 1, 0, labor::cuda_stream()>>>(busy_cycles);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const auto got = sampler.select(thrust::cuda::par_nosync.on(stream), d.v1(), d.v2());
  cudaStreamDestroy(stream);
  expect_identical(got, host);
}

// ---------------------------------------------------------------- exclusion (labeling rounds)

using labor::testing::exclusion_mask;

static_assert(S::Sampler<S::SplSampler, labor::cuda> && S::Sampler<S::PplSampler, labor::cuda> &&
              S::Sampler<S::RandomSampler, labor::cuda> && S::Sampler<S::EntropySampler, labor::cuda> &&
              S::Sampler<S::MarginSampler, labor::cuda> && S::Sampler<S::RipuSampler, labor::cuda>);

/// An exclusion mask and its copy on the device.
struct DeviceMask {
  explicit DeviceMask(Tensor<std::uint8_t> m) : host(std::move(m)), device(host.to<labor::cuda>()) {}
  Tensor<std::uint8_t> host;
  Tensor<std::uint8_t, labor::cuda> device;
  [[nodiscard]] S::ExcludeView<labor::cuda> view() const { return device.view(); }
};

/// The sampler with an exclusion on the host (OMP) against the CUDA system (the fast paths where
/// they apply) on thrust::cuda::par and on a non-blocking stream of the caller's; and the empty
/// exclusion on the device against the three-argument select.
template <class Sampler>
void expect_parity_excluding(const Maps& m, const DeviceMask& mask, const Sampler& s) {
  SCOPED_TRACE(fmt::format("maps {}", m.p1.shape()));
  const DeviceMaps d(m);
  const auto host = s.select(m.p1, m.p2, mask.host);
  expect_identical(s.select(thrust::cuda::par, d.v1(), d.v2(), mask.view()), host);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  expect_identical(s.select(thrust::cuda::par_nosync.on(stream), d.v1(), d.v2(), mask.view()), host);
  cudaStreamDestroy(stream);
  expect_identical(s.select(thrust::cuda::par, d.v1(), d.v2(), S::exclude_nothing<labor::cuda>()),
                   s.select(thrust::cuda::par, d.v1(), d.v2()));
}

/// Maps with 4 images or more, so that every kind of exclusion_mask image occurs (none, all, 30%, 90%).
std::vector<Maps> exclusion_maps() {
  std::vector<Maps> all;
  all.push_back(palette_maps(4, 6, 37, 53, 1));
  all.push_back(smooth_maps(4, 19, 64, 96, 2));
  all.push_back(palette_maps(5, 5, 33, 70, 8, 0.3));
  all.push_back(smooth_maps(4, 60, 23, 41, 6));  // C > 48: prototype sums in global memory
  return all;
}

TEST(SamplersGpu, ExclusionMatchesHost) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  std::uint64_t seed = 30;
  for (const auto& m : exclusion_maps()) {
    const DeviceMask mask(exclusion_mask(m.p1.size(0), m.p1.size(2), m.p1.size(3), ++seed));
    const std::int64_t hw = pixels_of(m);
    for (std::optional<double> cap :
         {std::optional<double>{}, std::optional<double>{0.5}, std::optional<double>{0.05}}) {
      SCOPED_TRACE(cap ? *cap : -1.0);
      expect_parity_excluding(m, mask, S::SplSampler{cap});
    }
    for (std::int64_t points : {std::int64_t{1}, std::int64_t{40}, hw})
      for (double r : {0.0, 3.0}) {
        SCOPED_TRACE(fmt::format("points {} min_distance {}", points, r));
        expect_parity_excluding(m, mask, S::PplSampler{points, r});
      }
    for (std::int64_t points : {std::int64_t{50}, hw}) {
      expect_parity_excluding(m, mask, S::RandomSampler{points, 7});
      expect_parity_excluding(m, mask, S::EntropySampler{points});
      expect_parity_excluding(m, mask, S::MarginSampler{points});
      expect_parity_excluding(m, mask, S::RipuSampler{S::RipuSampler::Mode::region, points});
      expect_parity_excluding(m, mask, S::RipuSampler{S::RipuSampler::Mode::pixel, points});
    }
  }
}

// The Thrust CUDA system under an exclusion (the reference of the fast paths) equals the host, and
// batches cut into chunks give the same queries.
TEST(SamplersGpu, ExclusionThrustPathAndChunksMatchHost) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  const auto m = palette_maps(5, 6, 37, 53, 17, 0.5);
  const DeviceMask mask(exclusion_mask(5, 37, 53, 3));
  const DeviceMaps d(m);
  for (std::optional<double> cap : {std::optional<double>{}, std::optional<double>{0.05}})
    expect_identical(S::detail::spl_select(thrust::cuda::par, cap, d.v1(), d.v2(), Path::generic, mask.view()),
                     S::SplSampler{cap}.select(m.p1, m.p2, mask.host));
  for (double r : {0.0, 3.0})
    expect_identical(S::detail::ppl_select(thrust::cuda::par, 40, r, d.v1(), d.v2(), Path::generic, mask.view()),
                     S::PplSampler{40, r}.select(m.p1, m.p2, mask.host));
  const ChunkPixels chunk(2 * pixels_of(m));
  expect_parity_excluding(m, mask, S::SplSampler{0.05});
  expect_parity_excluding(m, mask, S::PplSampler{40, 3.0});
}

// A wrong mask shape and a bad value of p2 at an excluded pixel give the host's errors.
TEST(SamplersGpu, ExclusionErrorsAsHost) {
  LABOR_REQUIRE_GPU();
  auto m = palette_maps(2, 3, 8, 8, 4);
  m.p2[(1 * 3 + 1) * 64 + 6] = -0.5f;  // image 1, channel 1, pixel 6 (y = 0, x = 6)
  const DeviceMaps d(m);
  const DeviceMask all(Tensor<std::uint8_t>::full(Shape{2, 8, 8}, 1)), wide(Tensor<std::uint8_t>(Shape{2, 8, 9}));
  auto both = [&](const auto& sampler) {
    SCOPED_TRACE(std::string(sampler.name()));
    for (const DeviceMask* mask : {&all, &wide}) {
      const auto want = error_of([&] { (void)sampler.select(m.p1, m.p2, mask->host); });
      EXPECT_NE(want.find(mask == &all ? "y=0, x=6" : "exclude"), std::string::npos) << want;
      EXPECT_EQ(error_of([&] { (void)sampler.select(thrust::cuda::par, d.v1(), d.v2(), mask->view()); }), want);
    }
  };
  both(S::SplSampler{});
  both(S::PplSampler{4});
  both(S::RandomSampler{4, 1});
  both(S::EntropySampler{4});
  both(S::MarginSampler{4});
}

/// Makes labor run on a non-blocking stream of its own for the test's lifetime, then restores it.
struct NonBlockingLaborStream {
  NonBlockingLaborStream() : before(labor::cuda_stream()) {
    EXPECT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    labor::set_cuda_stream(stream);
  }
  ~NonBlockingLaborStream() {
    labor::set_cuda_stream(before);
    cudaStreamDestroy(stream);
  }
  cudaStream_t before = nullptr, stream = nullptr;
};

// The fast paths wait for the work a caller queued on the legacy default stream (thrust::cuda::par)
// also when labor runs on a non-blocking stream (set_cuda_stream), which that stream does not follow:
// here the maps arrive by copies queued behind a busy kernel on the legacy stream.
TEST(SamplersGpu, FastPathsWaitForTheLegacyStream) {
  LABOR_REQUIRE_GPU();
  const auto m = smooth_maps(2, 19, 64, 96, 2);
  const auto bytes = static_cast<std::size_t>(m.p1.numel()) * sizeof(float);
  float* staged[2] = {nullptr, nullptr};  // page-locked, so that the copies are queued, not done at once
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(cudaMallocHost(&staged[i], bytes), cudaSuccess);
    std::copy_n((i == 0 ? m.p1 : m.p2).data(), m.p1.numel(), staged[i]);
  }
  {
    const NonBlockingLaborStream labor_stream;
    auto p1 = Tensor<float, labor::cuda>::uninitialized(m.p1.shape());
    auto p2 = Tensor<float, labor::cuda>::uninitialized(m.p2.shape());
    labor::cuda_synchronize();  // the allocations are in place
    auto upload_late = [&] {
      cudaMemsetAsync(p1.data(), 0xFF, bytes, cudaStreamLegacy);  // NaN until the copies land
      cudaMemsetAsync(p2.data(), 0xFF, bytes, cudaStreamLegacy);
      cudaStreamSynchronize(cudaStreamLegacy);
      busy_kernel<<<1, 1, 0, cudaStreamLegacy>>>(busy_cycles);
      cudaMemcpyAsync(p1.data(), staged[0], bytes, cudaMemcpyHostToDevice, cudaStreamLegacy);
      cudaMemcpyAsync(p2.data(), staged[1], bytes, cudaMemcpyHostToDevice, cudaStreamLegacy);
      ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    };
    const labor::TensorView<const float, labor::cuda> v1 = p1.view(), v2 = p2.view();
    for (std::optional<double> cap : {std::optional<double>{}, std::optional<double>{0.05}}) {
      upload_late();
      expect_identical(S::SplSampler{cap}.select(thrust::cuda::par, v1, v2), S::SplSampler{cap}.select(m.p1, m.p2));
    }
    upload_late();
    expect_identical(S::PplSampler{40, 3.0}.select(thrust::cuda::par, v1, v2),
                     S::PplSampler{40, 3.0}.select(m.p1, m.p2));
    upload_late();
    const auto mask = S::inconsistency_mask(thrust::cuda::par, v1, v2).to<labor::cpu>();
    const auto want = S::inconsistency_mask(m.p1, m.p2);
    for (std::int64_t i = 0; i < want.numel(); ++i) ASSERT_EQ(mask[i], want[i]) << "pixel " << i;
  }
  for (float* p : staged) cudaFreeHost(p);
}

// One sampler object called from two host threads at once, SPL and PPL alternating in each, with
// batches cut into several chunks: the shared page-locked stage serves one chunk at a time.
TEST(SamplersGpu, ConcurrentHostThreadsMatchHost) {
  LABOR_REQUIRE_GPU();
  const std::vector<Maps> maps{smooth_maps(3, 19, 64, 96, 2), palette_maps(3, 6, 37, 53, 1, 0.5)};
  const S::SplSampler spl{0.05};
  const S::PplSampler ppl{40, 3.0};
  std::vector<S::Query> want_spl, want_ppl;
  for (const auto& m : maps) {
    want_spl.push_back(spl.select(m.p1, m.p2));
    want_ppl.push_back(ppl.select(m.p1, m.p2));
  }
  const std::vector<DeviceMaps> dev(maps.begin(), maps.end());
  const ChunkPixels chunk(pixels_of(maps[0]));  // one image per chunk of the first maps
  int mismatches[2] = {0, 0};
  std::exception_ptr failure[2];
  auto work = [&](int t) {
    try {
      for (int round = 0; round < 12; ++round) {
        const auto i = static_cast<std::size_t>((round + t) % 2);
        if (!same_query(spl.select(thrust::cuda::par, dev[i].v1(), dev[i].v2()), want_spl[i])) ++mismatches[t];
        if (!same_query(ppl.select(thrust::cuda::par, dev[i].v1(), dev[i].v2()), want_ppl[i])) ++mismatches[t];
      }
    } catch (...) {
      failure[t] = std::current_exception();
    }
  };
  std::thread other(work, 1);
  work(0);
  other.join();
  for (int t = 0; t < 2; ++t) {
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
    EXPECT_FALSE(failure[t]) << "thread " << t << " threw";
  }
}

}  // namespace
