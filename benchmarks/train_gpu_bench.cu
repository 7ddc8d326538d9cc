// One LabOR training iteration on the GPU: LaborTrainer::segmenter_step of the adaptation stage
// (source cross-entropy; target cross-entropy on labeled pixels and the adversarial loss through
// the discriminator; SGD step of the segmenter; Adam step of the discriminator) on fixed random
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

namespace {

using labor::cuda;
using labor::Shape;
using labor::Tensor;
namespace models = labor::models;
namespace train = labor::train;

using Head = models::AsppHead<float, cuda>;
using Disc = models::FcDiscriminator<float, cuda>;

struct Batches {
  Tensor<float, cuda> xs, xt;
  Tensor<std::int32_t, cuda> ys, yt;
};

// Random images and labels in [0, classes) with a few ignored pixels in the target labels.
Batches make_batches(std::int64_t n, std::int64_t classes, std::int64_t h, std::int64_t w, labor::Rng& rng) {
  Tensor<float> xs(Shape{n, 3, h, w}), xt(Shape{n, 3, h, w}), u(Shape{2, n, h, w});
  labor::fill_normal(xs.view(), rng);
  labor::fill_normal(xt.view(), rng);
  labor::fill_uniform(u.view(), rng);
  Tensor<std::int32_t> ys(Shape{n, h, w}), yt(Shape{n, h, w});
  for (std::int64_t i = 0; i < ys.numel(); ++i) {
    ys[i] = static_cast<std::int32_t>(u[i] * static_cast<float>(classes)) % static_cast<std::int32_t>(classes);
    const float v = u[ys.numel() + i];
    yt[i] = v < 0.1f ? 255 : static_cast<std::int32_t>(v * static_cast<float>(classes)) % static_cast<std::int32_t>(classes);
  }
  return {xs.to<cuda>(), xt.to<cuda>(), ys.to<cuda>(), yt.to<cuda>()};
}

template <class B>
void time_iterations(benchmark::State& state, B backbone, std::int64_t classes, const std::vector<std::int64_t>& dil,
                     std::int64_t ndf, std::int64_t n, std::int64_t h, std::int64_t w) {
  labor::Rng rng(7);
  const std::int64_t features = backbone.out_channels();
  auto make_head = [features, classes, dil](labor::Rng& r) {
    return Head({.in_channels = features, .num_classes = classes, .dilations = dil}, r);
  };
  Head head = make_head(rng);
  Disc disc({.num_classes = classes, .ndf = ndf}, rng);
  train::LaborOptions options;
  train::LaborTrainer<B, Head, Disc> trainer({std::move(backbone), std::move(head)}, std::move(disc), make_head,
                                             options);
  const train::SegmenterStageOptions o = options.adapt;
  auto opt = trainer.segmenter_optimizers(o);
  const Batches b = make_batches(n, classes, h, w, rng);
  trainer.model().set_training(true);
  trainer.discriminator().set_training(true);
  train::StepInfo info;
  std::int64_t it = 0;
  for (int warm = 0; warm < 2; ++warm) trainer.segmenter_step(opt, o, it++, b.xs, b.ys, &b.xt, &b.yt, info);
  labor::bench::CudaTimer timer;
  for (auto _ : state) {
    info.losses.clear();
    timer.start();
    trainer.segmenter_step(opt, o, it++ % o.iterations, b.xs, b.ys, &b.xt, &b.yt, info);
    state.SetIterationTime(timer.stop_seconds());
  }
  state.SetItemsProcessed(state.iterations() * 2 * n);  // source + target images
  state.counters["src_loss"] = info.losses.empty() ? 0.0 : info.losses.front().second;
}

void BM_SmallPresetIterationCuda(benchmark::State& state) {
  if (labor::cuda_detail::device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  labor::Rng rng(1);
  models::SmallBackbone<float, cuda> backbone({.channels = {16, 32, 64, 64}, .output_stride = 4}, rng);
  time_iterations(state, std::move(backbone), 10, {1, 2, 4, 6}, 16, 4, 64, 128);
}

void BM_DeepLabV2IterationCuda(benchmark::State& state) {
  if (labor::cuda_detail::device_count() == 0) {
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
