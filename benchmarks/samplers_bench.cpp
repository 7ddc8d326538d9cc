// Pixel samplers on CPU (Thrust OMP system): SPL, SPL with a cap, PPL, entropy and margin top-k and
// RIPU (its region score alone, region and pixel mode) on
// one Cityscapes-sized frame (19×1024×2048) and a batch of 4 at 19×512×1024 (the same pixel count:
// one frame equivalent), next to a plain parallel sum over both maps (reading them once: the
// bandwidth floor). SPL and PPL also run on the generic Thrust passes (…GenericPath), the code the
// GPU runs, which the host fast path replaces on CPU.
// Compare with PyTorch in the same run: benchmarks/compare_torch_samplers.py.
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <optional>
#include <tuple>

#include <labor/core.hpp>
#include <labor/nn/softmax.hpp>
#include <labor/samplers.hpp>

namespace {

using labor::Shape;
using labor::Tensor;

struct Maps {
  Tensor<float> p1, p2;
  double inconsistent = 0;  // fraction of pixels in M
};

/// Probability maps of a two-head selector that mostly agree: p1 = softmax(z), p2 = softmax(z + e)
/// with z ~ 4·N(0, 1) and head noise e ~ 0.5·N(0, 1) (≈ 10% of the pixels in M). Cached per shape.
const Maps& maps(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  static std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>, Maps> cache;
  const auto key = std::make_tuple(n, c, h, w);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  labor::Rng rng(2024);
  Tensor<float> z(Shape{n, c, h, w}), e(Shape{n, c, h, w});
  labor::fill_normal(z.view(), rng, 0.0f, 4.0f);
  labor::fill_normal(e.view(), rng, 0.0f, 0.5f);
  for (std::int64_t i = 0; i < e.numel(); ++i) e[i] += z[i];
  Maps m{labor::nn::softmax_channels(z), labor::nn::softmax_channels(e)};
  const auto mask = labor::samplers::inconsistency_mask(m.p1, m.p2);
  std::int64_t k = 0;
  for (std::int64_t i = 0; i < mask.numel(); ++i) k += mask[i];
  m.inconsistent = static_cast<double>(k) / static_cast<double>(mask.numel());
  return cache.emplace(key, std::move(m)).first->second;
}

template <class Select>
void run_select(benchmark::State& state, const Select& select) {
  const auto& m = maps(state.range(0), state.range(1), state.range(2), state.range(3));
  std::int64_t selected = 0;
  for (auto _ : state) {
    auto q = select(m.p1, m.p2);
    selected = q.selected_pixels();
    benchmark::DoNotOptimize(q.images.data());
  }
  state.counters["frames"] = static_cast<double>(state.range(0));
  state.counters["frame_equivalents"] = static_cast<double>(m.p1.numel() / m.p1.size(1)) / (1024.0 * 2048.0);
  state.counters["selected"] = static_cast<double>(selected);
  state.counters["M_fraction"] = m.inconsistent;
  state.counters["threads"] = labor::num_threads();
  state.SetBytesProcessed(state.iterations() * 2 * m.p1.numel() * static_cast<std::int64_t>(sizeof(float)));
}

template <class Sampler>
void run_sampler(benchmark::State& state, const Sampler& sampler) {
  run_select(state, [&](const auto& p1, const auto& p2) { return sampler.select(p1, p2); });
}

void BM_ReadBothMaps(benchmark::State& state) {
  const auto& m = maps(state.range(0), state.range(1), state.range(2), state.range(3));
  const float* a = m.p1.data();
  const float* b = m.p2.data();
  const std::int64_t n = m.p1.numel();
  for (auto _ : state) {
    double s = 0;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) s += a[i] + b[i];
    benchmark::DoNotOptimize(s);
  }
  state.counters["frames"] = static_cast<double>(state.range(0));
  state.counters["threads"] = labor::num_threads();
  state.SetBytesProcessed(state.iterations() * 2 * n * static_cast<std::int64_t>(sizeof(float)));
}

void BM_Spl(benchmark::State& state) {
  run_sampler(state, labor::samplers::SplSampler{});
}
void BM_SplCap(benchmark::State& state) {
  run_sampler(state, labor::samplers::SplSampler{0.05});
}
void BM_Ppl(benchmark::State& state) {
  run_sampler(state, labor::samplers::PplSampler{40});
}
void BM_SplGenericPath(benchmark::State& state) {
  run_select(state, [](const Tensor<float>& p1, const Tensor<float>& p2) {
    return labor::samplers::detail::spl_select(thrust::omp::par, std::nullopt, p1.view(), p2.view(),
                                               labor::samplers::detail::Path::generic);
  });
}
void BM_PplGenericPath(benchmark::State& state) {
  run_select(state, [](const Tensor<float>& p1, const Tensor<float>& p2) {
    return labor::samplers::detail::ppl_select(thrust::omp::par, 40, 0.0, p1.view(), p2.view(),
                                               labor::samplers::detail::Path::generic);
  });
}
void BM_Entropy(benchmark::State& state) {
  run_sampler(state, labor::samplers::EntropySampler{40});
}
void BM_Margin(benchmark::State& state) {
  run_sampler(state, labor::samplers::MarginSampler{40});
}
/// RIPU's region score alone (3×3 windows, k = 1): the pixel pass and the sliding-window row pass,
/// the part whose cost grows with the map (the walk only visits the best pixels).
void BM_RipuRegionScore(benchmark::State& state) {
  namespace d = labor::samplers::detail;
  run_select(state, [](const Tensor<float>& p1, const Tensor<float>& p2) {
    const auto policy = d::host_policy();
    const auto g = d::blocked<decltype(policy)>(d::check_probability_pair("ripu", p1.shape(), p2.shape()));
    const auto key = d::ripu_scores<labor::cpu>(policy, g, d::map_pair<labor::cpu>(g, p1.view(), p2.view()), {},
                                                {.region = true, .budget = 40, .radius = 1}, "ripu");
    benchmark::DoNotOptimize(key.data());
    return labor::samplers::Query{};
  });
}
/// RIPU region mode at RIPU's 2.2 % budget (⌈0.022·H·W / 9⌉ windows per image) and pixel mode at
/// 40 pixels per image, the whole selection.
void BM_RipuRegion(benchmark::State& state) {
  run_sampler(state, labor::samplers::RipuSampler{labor::samplers::RipuSampler::Mode::region,
                                                  state.range(2) * state.range(3) * 22 / 1000});
}
void BM_RipuPixel(benchmark::State& state) {
  run_sampler(state, labor::samplers::RipuSampler{labor::samplers::RipuSampler::Mode::pixel, 40});
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "c", "h", "w"});
  b->Args({1, 19, 1024, 2048});
  b->Args({4, 19, 512, 1024});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_ReadBothMaps)->Apply(shapes);
BENCHMARK(BM_Spl)->Apply(shapes);
BENCHMARK(BM_SplCap)->Apply(shapes);
BENCHMARK(BM_Ppl)->Apply(shapes);
BENCHMARK(BM_SplGenericPath)->Apply(shapes);
BENCHMARK(BM_PplGenericPath)->Apply(shapes);
BENCHMARK(BM_Entropy)->Apply(shapes);
BENCHMARK(BM_Margin)->Apply(shapes);
BENCHMARK(BM_RipuRegionScore)->Apply(shapes);
BENCHMARK(BM_RipuRegion)->Apply(shapes);
BENCHMARK(BM_RipuPixel)->Apply(shapes);

}  // namespace
