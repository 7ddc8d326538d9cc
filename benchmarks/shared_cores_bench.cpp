// labor_train's small-preset training iteration on CPU (benchmarks/train_iteration.hpp):
// SmallBackbone 16-32-64-64 (output stride 4), ASPP 1/2/4/6, 10 classes, discriminator ndf 16,
// 4 + 4 images of 64×128 — a step of many small parallel regions, the work that collapses when
// another process shares the cores. benchmarks/shared_cores.py runs it alone and beside a busy
// process, against the same iteration in PyTorch (benchmarks/torch_train_step.py) in the same run.
#include <benchmark/benchmark.h>

#include <labor/core/parallel.hpp>
#include <labor/models/small_backbone.hpp>

#include "train_iteration.hpp"

namespace {

void BM_SmallPresetIteration(benchmark::State& state) {
  labor::Rng rng(1);
  labor::models::SmallBackbone<float> backbone({.channels = {16, 32, 64, 64}, .output_stride = 4}, rng);
  labor::bench::TrainIteration<labor::models::SmallBackbone<float>> it(std::move(backbone), 10, {1, 2, 4, 6}, 16, 4,
                                                                       64, 128);
  for (auto _ : state) it.step();
  state.SetItemsProcessed(state.iterations() * 8);  // source + target images
  state.counters["threads"] = labor::num_threads();
  state.counters["src_loss"] = it.source_loss();
}

BENCHMARK(BM_SmallPresetIteration)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
