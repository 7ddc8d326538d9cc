// One LabOR training iteration on the GPU (benchmarks/train_iteration.hpp) on fixed random
// batches, timed with CUDA events (Google Benchmark manual time; the step reads its loss values on
// the host, so the events bracket all of its work). Two networks:
//   BM_SmallPresetIterationCuda   labor_train's small preset: SmallBackbone 16-32-64-64 (OS 4),
//                                 ASPP 1/2/4/6, 10 classes, discriminator ndf 16, 4 + 4 images 64×128
//   BM_DeepLabV2IterationCuda     DeepLab-v2 ResNet-101 (frozen batch norm) + ASPP 6/12/18/24,
//                                 19 classes, discriminator ndf 64, 1 + 1 images 256×512
// The same iterations in PyTorch CUDA: benchmarks/compare_torch_gpu.py train.
#include <benchmark/benchmark.h>

#include <labor/labor.hpp>

#include "cuda_timer.cuh"
#include "train_iteration.hpp"

namespace {

using labor::cuda;
using labor::Shape;
using labor::Tensor;
namespace models = labor::models;
namespace train = labor::train;

template <class B>
void time_iterations(benchmark::State& state, B backbone, std::int64_t classes, const std::vector<std::int64_t>& dil,
                     std::int64_t ndf, std::int64_t n, std::int64_t h, std::int64_t w) {
  labor::bench::TrainIteration<B, cuda> it(std::move(backbone), classes, dil, ndf, n, h, w);
  labor::bench::CudaTimer timer;
  for (auto _ : state) {
    timer.start();
    it.step();
    state.SetIterationTime(timer.stop_seconds());
  }
  state.SetItemsProcessed(state.iterations() * 2 * n);  // source + target images
  state.counters["src_loss"] = it.source_loss();
}

void BM_SmallPresetIterationCuda(benchmark::State& state) {
  if (labor::cuda_kernels::device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  labor::Rng rng(1);
  models::SmallBackbone<float, cuda> backbone({.channels = {16, 32, 64, 64}, .output_stride = 4}, rng);
  time_iterations(state, std::move(backbone), 10, {1, 2, 4, 6}, 16, 4, 64, 128);
}

void BM_DeepLabV2IterationCuda(benchmark::State& state) {
  if (labor::cuda_kernels::device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  labor::Rng rng(1);
  auto ro = models::deeplabv2_options(101);
  ro.frozen_bn = true;
  models::BottleneckResNet<float, cuda> backbone(ro, rng);
  time_iterations(state, std::move(backbone), 19, {6, 12, 18, 24}, 64, 1, 256, 512);
}

BENCHMARK(BM_SmallPresetIterationCuda)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DeepLabV2IterationCuda)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
